"""
Export a txpipe file to NWB 2.x (pynwb), ready for DANDI, Neurosift, matnwb and SpikeInterface.

``to_nwb(h5, nwb, metadata)`` reads one committed txpipe file and writes one NWB file atomically
(temporary file beside the target, then rename). The mapping and its decisions are in
``docs/interop.md``. Large arrays (the light reference, the noise movie) are streamed with hdmf's
``DataChunkIterator`` from the HDF5 / ``.npy`` file, so memory stays near one buffer plus the
spike trains.

Units: NWB times in seconds from the session start (``samples / fs``), waveforms in volts (only
when the recording carries the sensor ADC conversion), positions in µm.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import structlog

from txpipe.core import atomic, codec
from txpipe.core.store import check_file
from txpipe.errors import ExportError, MissingExtraError, NotATxpipeFileError
from txpipe.export.extras import require
from txpipe.export.source import TxpipeFile, feature_column
from txpipe.mcs.chip import SENSOR_PITCH_UM, sensor_positions_um, sensor_row_col
from txpipe.mcs.reader import N_SENSORS
from txpipe.runner.progress import progress
from txpipe.version import __version__

log = structlog.get_logger("txpipe")

EXTRA = "nwb"
MCS_DATETIME_FORMAT = "%d.%m.%Y %H:%M:%S"
STREAM_BUFFER_ELEMENTS = 1 << 20
"""Elements per block when streaming a large array into the NWB file (4 MiB of float32)."""

METADATA_FIELDS = (
    "session_description", "experimenter", "lab", "institution", "experiment_description",
    "keywords", "related_publications", "protocol", "notes", "session_id", "stimulus_notes",
    "pharmacology", "surgery", "virus", "data_collection",
)
OWN_KEYS = frozenset({"timezone", "subject", "location", "chip", "identifier"})
SUBJECT_FIELDS = ("subject_id", "species", "sex", "age", "date_of_birth", "description", "strain",
                  "genotype", "weight")
UNIT_COLUMNS_RESERVED = frozenset({"spike_times", "spike_times_index", "electrodes", "electrodes_index",
                                   "electrode_group", "waveform_mean", "waveform_sd", "waveforms",
                                   "obs_intervals", "id"})


def require_nwb() -> tuple[Any, Any]:
    """Import pynwb and hdmf, or raise :class:`MissingExtraError` naming the ``nwb`` extra."""
    return require("pynwb", EXTRA, "NWB export"), require("hdmf", EXTRA, "NWB export")


# --- metadata ------------------------------------------------------------------------------------


def load_metadata(metadata: str | Path | Mapping[str, Any] | None) -> dict[str, Any]:
    """The export metadata as a dict: a mapping as given, or a YAML/JSON file (YAML needs pyyaml,
    part of the ``nwb`` extra).

    Raises:
        ExportError: unreadable file, not a mapping, or an unknown key.
    """
    if metadata is None:
        return {}
    if isinstance(metadata, Mapping):
        meta = dict(metadata)
        where = "metadata"
    else:
        p = Path(metadata)
        where = str(p)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ExportError(f"{p}: cannot read the metadata file ({exc.strerror or exc})", path=str(p)) from exc
        if p.suffix.lower() == ".json":
            try:
                meta = json.loads(text)
            except ValueError as exc:
                raise ExportError(f"{p}: not valid JSON ({exc})", path=str(p)) from exc
        else:
            try:
                import yaml
            except ImportError as exc:
                raise MissingExtraError(f"{p}: reading a YAML metadata file needs pyyaml: pip install "
                                        "'txpipe[nwb]' (or give the metadata as JSON)", extra=EXTRA) from exc
            try:
                meta = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise ExportError(f"{p}: not valid YAML ({exc})", path=str(p)) from exc
        if meta is None:
            meta = {}
        if not isinstance(meta, dict):
            raise ExportError(f"{p}: the metadata file must hold a mapping (key: value), got {type(meta).__name__}",
                              path=str(p))
    unknown = sorted(set(meta) - set(METADATA_FIELDS) - OWN_KEYS)
    if unknown:
        raise ExportError(f"{where}: unknown metadata key(s) {unknown}; known: "
                          f"{sorted(set(METADATA_FIELDS) | OWN_KEYS)}", path=where)
    chip = meta.get("chip")
    if chip is not None:
        pitch = chip.get("pitch_um") if isinstance(chip, dict) else None
        if not isinstance(chip, dict) or set(chip) != {"pitch_um"} or isinstance(pitch, bool) \
                or not isinstance(pitch, (int, float)) or not pitch > 0:
            raise ExportError(f"{where}: 'chip' must be {{pitch_um: a positive number of um}}, got {chip!r}",
                              path=where)
    subject = meta.get("subject")
    if subject is not None:
        if not isinstance(subject, dict):
            raise ExportError(f"{where}: 'subject' must be a mapping of {list(SUBJECT_FIELDS)}", path=where)
        bad = sorted(set(subject) - set(SUBJECT_FIELDS))
        if bad:
            raise ExportError(f"{where}: unknown subject field(s) {bad}; known: {list(SUBJECT_FIELDS)}", path=where)
    return meta


def _tzinfo(name: Any, where: str) -> dt.tzinfo:
    if not isinstance(name, str) or not name.strip():
        raise ExportError(f"{where}: 'timezone' must be an IANA zone name (e.g. Europe/Berlin) or an offset "
                          f"like +02:00, got {name!r}", path=where)
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", name.strip())
    if m:
        sign = 1 if m.group(1) == "+" else -1
        return dt.timezone(sign * dt.timedelta(hours=int(m.group(2)), minutes=int(m.group(3))))
    if name.strip().upper() == "UTC":
        return dt.timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ExportError(f"{where}: unknown time zone {name!r} (use an IANA name such as Europe/Berlin, "
                          "or an offset like +02:00)", path=where) from exc


def session_start(date_text: Any, timezone: Any, path: str) -> dt.datetime:
    """The session start: the MCS ``DateTime`` (``dd.mm.yyyy HH:MM:SS``, local time without a zone)
    in *timezone* (from the metadata: the file does not say, and txpipe does not guess).

    Raises:
        ExportError: no or malformed DateTime, or no/unknown time zone.
    """
    if not isinstance(date_text, str) or not date_text.strip():
        raise ExportError(f"{path}: the .cmcr has no DateTime attribute; cannot set the NWB session start",
                          path=path)
    try:
        naive = dt.datetime.strptime(date_text.strip(), MCS_DATETIME_FORMAT)
    except ValueError as exc:
        raise ExportError(f"{path}: the .cmcr DateTime {date_text!r} is not dd.mm.yyyy HH:MM:SS", path=path) from exc
    if timezone is None:
        raise ExportError(
            f"{path}: the recording's start {date_text!r} has no time zone and NWB needs one; give it in the "
            "metadata file, e.g. 'timezone: Europe/Berlin' (txpipe export nwb --metadata meta.yaml)",
            path=path,
        )
    return naive.replace(tzinfo=_tzinfo(timezone, path))


# --- column helpers ------------------------------------------------------------------------------


def column_name(name: str) -> str:
    """A units-table column name: characters other than letters, digits and ``_`` become ``_``;
    a trailing ``_index`` becomes ``_idx`` (SpikeInterface's NWB reader drops ``*_index`` columns,
    which hdmf uses for ragged-array indices)."""
    out = re.sub(r"[^0-9A-Za-z_]", "_", name)
    if out.endswith("_index"):
        out = out[: -len("_index")] + "_idx"
    return out


def _collect_unit_columns(src: TxpipeFile, uids: list[str]) -> list[dict[str, Any]]:
    """Per-unit columns for ``DynamicTable.add_column``: identity, quality measures (unit_info)
    and features (STA included). Scalars are read here; per-unit arrays of one shape become
    fixed-shape columns streamed from the txpipe file unit by unit when the NWB file is written,
    1-D arrays of varied length become ragged columns."""
    n = len(uids)
    cols: dict[str, dict[str, Any]] = {}

    def put(name: str, i: int, value: Any, description: str) -> None:
        c = cols.setdefault(name, {"name": name, "description": description, "values": [None] * n})
        c["values"][i] = value

    for i, uid in enumerate(uids):
        a = src.unit_attrs(uid)
        put("unit_name", i, uid, "txpipe unit id (group name under /units of the txpipe file)")
        put("unit_num", i, a.get("unit_num", -1), "unit number in the MCS spike sorter (.cmtr)")
        put("sensor_id", i, a.get("sensor_id", -1), "MCS SensorID (1..4225) of the unit's main sensor")
        put("sensor_row", i, a.get("row", -1), "chip row (1..65) of the unit's main sensor")
        put("sensor_column", i, a.get("col", -1), "chip column (1..65) of the unit's main sensor")
        put("spike_count", i, a.get("spike_count", -1), "number of spikes (included peaks)")
        put("n_excluded_peaks", i, a.get("n_excluded_peaks", -1),
            "peaks the spike sorter detected but excluded (not in spike_times)")
        for k, v in src.unit_info(uid).items():
            if k in ("UnitID", "SensorID", "Row", "Column") or isinstance(v, (str, bytes)) or v is None:
                continue
            put(column_name(k), i, v, f"spike-sorter quality measure {k} (MCS CMOS-MEA-Tools Unit Info)")
        for feature, key, ds in src.feature_datasets(uid):
            attrs = codec.read_attrs(ds)
            value = np.asarray(ds[()]) if ds.ndim == 0 else ds  # arrays stay on disk until written
            if feature.startswith("sta_") and key == "sta":
                cr = attrs.get("cover_range")
                lags = f"lags {int(cr[0])}..{int(cr[1]) - 1} display frames relative to the spike's frame" \
                    if cr is not None else "lags in display frames"
                put(column_name(feature), i, value,
                    f"spike-triggered average of movie {attrs.get('movie', feature[4:])!r}, axes (lag, stimulus row, "
                    f"stimulus column): {lags}; values in movie pixel units (0-255); NaN when no spike was usable")
                continue
            if feature == "eimage_sta" and key == "data":
                put(column_name(feature), i, value, _eimage_description(attrs, src.sensor_conversion()))
                continue
            unit = attrs.get("unit")
            desc = f"txpipe feature {feature!r}, output {key!r}" + (f", in {unit}" if unit else "")
            if attrs.get("axes"):
                desc += f"; axes ({attrs['axes']})"
            put(column_name(feature_column(feature, key)), i, value, desc)
    out = []
    for c in cols.values():
        c["name"] = c["name"] if c["name"] not in UNIT_COLUMNS_RESERVED else c["name"] + "_txpipe"
        col = _finish_column(c, n)
        if col is not None:
            out.append(col)
    return out


def _eimage_description(attrs: dict[str, Any], conv: dict[str, Any] | None) -> str:
    """Description of the electrical-image column: axes, lag origin, unit, how to get volts."""
    lag0 = attrs.get("lag0_index")
    scale = _conversion(conv)
    volts = (f"multiply by {scale[0]:.6g} for volts (sensor ADC conversion; the high-passed image has no "
             "offset)") if scale else "the recording carries no sensor ADC conversion, so volts are unknown"
    return ("electrical image: mean high-passed sensor signal around the unit's spikes, axes (lag, chip row - 1, "
            f"chip column - 1), lag in samples with the spike at lag index {lag0}; sensor ADC counts ({volts}); "
            "NaN for units without an image")


class _UnitRows:
    """Rows of a fixed-shape unit column, read one unit at a time while the NWB file is written
    (an hdmf ``DataChunkIterator`` that also knows its length, which ``add_column`` checks)."""

    @staticmethod
    def make(datasets: list[Any], shape: tuple[int, ...], dtype: np.dtype) -> Any:
        from hdmf.data_utils import DataChunkIterator

        class Rows(DataChunkIterator):  # type: ignore[misc]
            def __len__(self) -> int:
                return len(datasets)

        def rows() -> Any:
            for d in datasets:
                yield np.full(shape, np.nan, dtype) if d is None else np.asarray(d[()], dtype)

        return Rows(data=rows(), maxshape=(len(datasets), *shape), dtype=dtype, buffer_size=1)


def _finish_column(c: dict[str, Any], n: int) -> dict[str, Any] | None:
    """Turn collected per-unit values into ``{name, description, data[, index]}``: scalars → one
    value per unit (NaN where missing); arrays of one shape → a fixed-shape column (NaN where
    missing), streamed; 1-D arrays of varied length → a ragged column. Anything else is left out
    (logged)."""
    vals = c.pop("values")
    present = [v for v in vals if v is not None]
    if all(isinstance(v, str) for v in present):
        return {**c, "data": [v if v is not None else "" for v in vals]}
    shapes = {tuple(np.shape(v)) for v in present}
    if shapes == {()}:
        kinds = {np.asarray(v).dtype.kind for v in present}
        if len(present) < n or kinds - set("biu"):
            data = np.array([np.nan if v is None else float(v) for v in vals], np.float64)
        elif kinds == {"b"}:
            data = np.array([bool(v) for v in vals])
        else:
            data = np.array([int(v) for v in vals], np.int64)
        return {**c, "data": data}
    dtypes = {np.dtype(v.dtype) for v in present}
    dtype = dtypes.pop() if len(dtypes) == 1 and len(present) == n else \
        np.result_type(np.float32, *{np.dtype(v.dtype) for v in present})
    if len(shapes) == 1:
        return {**c, "data": _UnitRows.make(vals, shapes.pop(), np.dtype(dtype))}
    if all(len(s) == 1 for s in shapes):
        flat = [np.zeros(0, dtype) if v is None else np.asarray(v[()], dtype) for v in vals]
        index = np.cumsum([a.size for a in flat]).astype(np.int64)
        return {**c, "data": np.concatenate(flat), "index": index}
    log.warning("nwb_column_skipped", column=c["name"], shapes=sorted(str(s) for s in shapes),
                reason="per-unit arrays of different multi-dimensional shapes")
    return None


def _stream(dataset: Any) -> Any:
    from hdmf.data_utils import DataChunkIterator

    return DataChunkIterator(data=dataset, buffer_size=STREAM_BUFFER_ELEMENTS)


def _conversion(conv: dict[str, Any] | None) -> tuple[float, float, str] | None:
    """(conversion, offset, unit) so that value = raw · conversion + offset in volts, or None."""
    if not conv or str(conv.get("unit", "")).strip() != "V":
        return None
    scale = float(conv["conversion_factor"]) * 10.0 ** int(conv["exponent"])
    return scale, -float(conv.get("ad_zero", 0)) * scale, "volts"


def _noise_movies(src: TxpipeFile) -> dict[str, Path]:
    """``{movie: .npy path}`` of the movies compute_sta used, where the file still exists unchanged
    (same size as the journal recorded)."""
    out: dict[str, Path] = {}
    for e in src.journal_entries():
        if e.get("step") != "compute_sta":
            continue
        movie = (e.get("notes") or {}).get("movie")
        for inp in e.get("inputs", []):
            p = Path(str(inp.get("path", "")))
            if movie and p.suffix == ".npy" and p.is_file() and p.stat().st_size == inp.get("size"):
                out[str(movie)] = p
    return out


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """``(dotted name, JSON text of a non-container value)`` pairs of a nested dict/list: dicts
    and lists holding containers are unpacked member by member, so no value is a dict."""
    if isinstance(value, dict):
        if not value:
            return [(prefix, "{}")] if prefix else []
        return [kv for k, v in value.items() for kv in _flatten(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return [kv for i, v in enumerate(value) for kv in _flatten(v, f"{prefix}.{i}")]
    return [(prefix, json.dumps(value, sort_keys=True))]


JOURNAL_TABLES = {
    "journal": ("the txpipe pipeline journal of the exported file: one row per step, in order",
                (("seq", "step sequence number"), ("step", "step name"), ("step_version", "step version"),
                 ("txpipe_version", "txpipe version that ran the step"), ("started_at", "UTC start, ISO-8601"),
                 ("duration_s", "run time of the step, s"))),
    "journal_params": ("parameters of each journal step, one row per (nested) parameter",
                       (("seq", "step sequence number (journal.seq)"), ("parameter", "parameter name, dotted when nested"),
                        ("value", "parameter value, JSON"))),
    "journal_notes": ("notes each journal step recorded (counts, warnings), one row per (nested) note",
                      (("seq", "step sequence number (journal.seq)"), ("note", "note name, dotted when nested"),
                       ("value", "note value, JSON"))),
    "journal_inputs": ("input files each journal step read, with their fingerprints",
                       (("seq", "step sequence number (journal.seq)"), ("path", "file path when the step ran"),
                        ("size", "file size, bytes"), ("mtime_ns", "modification time, ns since the epoch"),
                        ("data_digest", "digest of the data read (empty if none)"),
                        ("sample_digest", "digest of sampled file blocks (empty if none)"))),
    "journal_changes": ("state changes of each journal step", (("seq", "step sequence number (journal.seq)"),
                        ("op", "kind of change"), ("path", "txpipe file path changed"),
                        ("digest", "digest of the new value (empty if none)"))),
}


def _journal_tables(entries: list[dict[str, Any]], table_cls: Any) -> list[Any]:
    """The journal as DynamicTables (empty ones left out)."""
    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in JOURNAL_TABLES}
    for e in entries:
        seq = int(e.get("seq", 0))
        rows["journal"].append({"seq": seq, "step": str(e.get("step", "")), "step_version": str(e.get("step_version", "")),
                                "txpipe_version": str(e.get("txpipe_version", "")),
                                "started_at": str(e.get("started_at", "")), "duration_s": float(e.get("duration_s") or 0.0)})
        for key, col in (("params", "parameter"), ("notes", "note")):
            rows[f"journal_{key}"].extend({"seq": seq, col: n, "value": v} for n, v in _flatten(e.get(key) or {}))
        for inp in e.get("inputs") or []:
            rows["journal_inputs"].append({"seq": seq, "path": str(inp.get("path", "")), "size": int(inp.get("size") or 0),
                                           "mtime_ns": int(inp.get("mtime_ns") or 0),
                                           "data_digest": str(inp.get("data_digest") or ""),
                                           "sample_digest": str(inp.get("sample_digest") or "")})
        for c in e.get("changed") or []:
            rows["journal_changes"].append({"seq": seq, "op": str(c.get("op", "")), "path": str(c.get("path", "")),
                                            "digest": str(c.get("digest") or "")})
    out = []
    for name, (desc, columns) in JOURNAL_TABLES.items():
        if not rows[name]:
            continue
        from hdmf.common import VectorData

        out.append(table_cls(name=name, description=desc, id=np.arange(len(rows[name])),
                             columns=[VectorData(name=c, description=d, data=[r[c] for r in rows[name]])
                                      for c, d in columns]))
    return out


def _electrodes_table(group: Any, location: str, pitch_um: float) -> Any:
    """All 4,225 sensors, row i = SensorID i + 1, built column-wise (pynwb's per-row
    ``add_electrode`` is quadratic: ~75 s for the whole chip)."""
    from hdmf.common import VectorData
    from pynwb.ecephys import ElectrodesTable

    sid = np.arange(1, N_SENSORS + 1)
    row, col = sensor_row_col(sid)
    pos = sensor_positions_um(pitch_um)
    cols = [
        ("location", "location of the chip's sensors", [location] * N_SENSORS),
        ("group", "the electrode group (the chip)", [group] * N_SENSORS),
        ("group_name", "name of the electrode group", [group.name] * N_SENSORS),
        ("rel_x", f"sensor x on the chip in um: (column - 1) * pitch, pitch {pitch_um:g} um", pos[:, 0]),
        ("rel_y", f"sensor y on the chip in um: (row - 1) * pitch, pitch {pitch_um:g} um", pos[:, 1]),
        ("sensor_id", "MCS SensorID (1..4225); the row index is SensorID - 1", sid),
        ("sensor_row", "chip row, 1..65", row),
        ("sensor_column", "chip column, 1..65", col),
    ]
    table = ElectrodesTable(id=np.arange(N_SENSORS),
                            columns=[VectorData(name=n, description=d, data=v) for n, d, v in cols])
    return table


def build_nwbfile(src: TxpipeFile, meta: Mapping[str, Any]) -> Any:
    """The in-memory ``pynwb.NWBFile`` for *src* (large arrays as iterators over *src*'s file)."""
    pynwb, _ = require_nwb()
    from hdmf.common import DynamicTable, DynamicTableRegion, VectorData, VectorIndex
    from pynwb import NWBFile, ProcessingModule, TimeSeries
    from pynwb.file import Subject
    from pynwb.image import ImageSeries
    from pynwb.misc import Units

    where = str(src.path)
    fs = src.fs_hz
    did = src.dataset_id
    cmcr = src.sys_meta("cmcr")
    start = session_start(cmcr.get("DateTime"), meta.get("timezone"), where)
    identifier = cmcr.get("ID.InstanceID") or meta.get("identifier")
    if not identifier:
        raise ExportError(f"{where}: no .cmcr ID.InstanceID recorded; give 'identifier' in the metadata file",
                          path=where)
    kwargs = {k: meta[k] for k in METADATA_FIELDS if k in meta}
    for k in ("experimenter", "keywords", "related_publications"):
        if isinstance(kwargs.get(k), str):
            kwargs[k] = [kwargs[k]]
    kwargs.setdefault("session_description", f"Retina recording {did} on an MCS CMOS-MEA chip, processed by txpipe")
    kwargs.setdefault("session_id", did)
    try:
        nwb = NWBFile(
            identifier=str(identifier),
            session_start_time=start,
            source_script=f"txpipe {__version__}: txpipe.export.to_nwb; the pipeline journal is in "
            "processing/txpipe/journal",
            source_script_file_name=src.path.name,
            was_generated_by=[("txpipe", __version__), ("pynwb", pynwb.__version__)],
            **kwargs,
        )
        if meta.get("subject"):
            subj = dict(meta["subject"])
            d = subj.get("date_of_birth")
            if isinstance(d, (dt.date, str)) and not isinstance(d, dt.datetime):
                d = dt.date.fromisoformat(d) if isinstance(d, str) else d
                subj["date_of_birth"] = dt.datetime(d.year, d.month, d.day, tzinfo=start.tzinfo)
            nwb.subject = Subject(**{k: (str(v) if k in ("age", "subject_id", "sex") else v) for k, v in subj.items()})
    except (TypeError, ValueError) as exc:
        raise ExportError(f"{where}: the metadata does not fit NWB: {exc}", path=where) from exc

    # electrodes: every sensor of the chip, row i = SensorID i + 1
    pitch = float(meta.get("chip", {}).get("pitch_um", SENSOR_PITCH_UM))
    model = nwb.create_device_model(name="CMOS-MEA5000", manufacturer="Multi Channel Systems",
                                    description="CMOS-MEA chip: 65 x 65 sensors on a square grid")
    device = nwb.create_device(name="CMOS-MEA", description=f"MCS CMOS-MEA chip, 65 x 65 sensors at {pitch:g} um "
                               "pitch", model=model)
    group = nwb.create_electrode_group(name="chip", description="the 4,225 sensors of the CMOS-MEA chip",
                                       location=str(meta.get("location", "retina")), device=device)
    nwb.electrodes = _electrodes_table(group, str(meta.get("location", "retina")), pitch)

    # units
    uids = src.unit_ids()
    conv = _conversion(src.sensor_conversion())
    waveforms = [src.waveform(u) for u in uids]
    n_cut = max((w.size for w in waveforms), default=0)
    if conv is None and n_cut:
        log.warning("nwb_waveform_units_unknown", path=where,
                    message="the recording has no sensor ADC conversion (SensorMeta): waveform_mean is left out and "
                    "the mean cutouts go to the column waveform_mean_raw in the spike sorter's units")
    trains = [src.spike_samples(u) for u in progress(uids, desc="nwb units", unit="unit")]
    spike_times = VectorData(name="spike_times", description="spike times in s from the session start: sample "
                             f"index / {fs:g} Hz", data=np.concatenate(trains).astype(np.float64) / fs
                             if trains else np.zeros(0))
    spike_index = np.cumsum([t.size for t in trains]).astype(np.int64)
    del trains
    main_sensor = np.array([src.unit_attrs(u)["sensor_id"] - 1 for u in uids], np.int64)
    electrodes = DynamicTableRegion(name="electrodes", description="the unit's main sensor (electrodes row "
                                    "SensorID - 1)", data=main_sensor, table=nwb.electrodes)
    columns = [spike_times, VectorIndex(name="spike_times_index", data=spike_index, target=spike_times),
               electrodes, VectorIndex(name="electrodes_index", data=np.arange(1, len(uids) + 1), target=electrodes),
               VectorData(name="electrode_group", description="the electrode group of the unit's sensor",
                          data=[group] * len(uids))]
    units = Units(name="units", id=np.arange(len(uids)), columns=columns,
                  description=f"units of the MCS spike sorter for recording {did}; spike times in s from the session "
                  f"start (sample index / {fs:g} Hz)", resolution=1.0 / fs, waveform_rate=fs,
                  waveform_unit="volts", electrode_table=nwb.electrodes)
    nwb.units = units
    if n_cut:
        stacked = np.full((len(uids), n_cut), np.nan, np.float64)
        for i, w in enumerate(waveforms):
            if w.size == n_cut:
                stacked[i] = w
        if conv is not None:
            units.add_column("waveform_mean", "mean spike cutout in volts: (mean - ADZero) * ConversionFactor * "
                             f"10^Exponent of the sensor stream; {n_cut} samples at {fs:g} Hz",
                             data=stacked * conv[0] + conv[1])
        else:
            units.add_column("waveform_mean_raw", "mean spike cutout in the spike sorter's raw units: the recording "
                             f"carries no ADC conversion, so the physical unit is unknown; {n_cut} samples at "
                             f"{fs:g} Hz", data=stacked.astype(np.float32))
    for col in _collect_unit_columns(src, uids):
        units.add_column(**col)

    # stimulus: light reference (ADC counts with the conversion to volts), frame onsets, movies
    light = src.light_reference("ch1")
    if light is not None:
        lc = _conversion(src.analog_conversion("ch1"))
        extra = {"conversion": lc[0], "offset": lc[1]} if lc else {}
        nwb.add_stimulus(TimeSeries(
            name="light_reference", data=_stream(light), unit=lc[2] if lc else "ADC counts", rate=fs,
            starting_time=0.0, **extra,
            description="photodiode light reference (analog channel 1), raw ADC counts; "
            + ("data * conversion + offset gives volts" if lc else
               "the recording carries no ADC conversion for this channel, so the values stay ADC counts")))
    onsets = src.frame_onsets()
    if onsets.size:
        nwb.add_stimulus(TimeSeries(
            name="frame_onsets", data=np.arange(onsets.size, dtype=np.int64), timestamps=onsets.astype(np.float64) / fs,
            unit="frame", description="display frame number at each frame onset (rising edge of the frame-sync "
            "pulse, analog channel 2)"))
    frame_rate = src.frame_rate_hz()
    for movie, npy in _noise_movies(src).items():
        mv = np.load(npy, mmap_mode="r")
        if mv.ndim != 3 or not frame_rate:
            continue
        nwb.add_stimulus_template(ImageSeries(
            name=movie, data=_stream(mv), unit="n.a.", rate=float(frame_rate), starting_time=0.0,
            description=f"noise movie {movie!r} from {npy.name}: axes (frame, stimulus row, stimulus column), pixel "
            "values as stored (0-255); one movie frame per display frame, shown from the content start of each "
            "section of this movie (see epochs)"))

    # epochs (sections) and trials
    rows = sorted((int(b[0]), int(b[1]), m) for m, bounds in src.sections().items() for b in bounds)
    for s, e, m in rows:
        nwb.add_epoch(start_time=s / fs, stop_time=e / fs, tags=[m])
    trials = src.trials()
    if trials:
        nwb.add_trial_column("movie", "movie (stimulus section) the trial belongs to")
        nwb.add_trial_column("trial_index", "index of the trial within its movie, from 0")
        nwb.add_trial_column("pre_pad_s", "margin before start_time included in the sectioned spike trains, s")
        nwb.add_trial_column("post_pad_s", "margin after stop_time included in the sectioned spike trains, s")
        for t in trials:
            nwb.add_trial(start_time=t.start / fs, stop_time=t.stop / fs, movie=t.movie, trial_index=t.trial_index,
                          pre_pad_s=t.pre_samples / fs, post_pad_s=t.post_samples / fs)

    # provenance: the txpipe journal as tables (steps; their parameters, notes, inputs, changes)
    mod = ProcessingModule(name="txpipe", description=f"provenance: how txpipe {__version__} made the exported "
                           f"file {src.path.name} from the MCS recording (its pipeline journal)")
    for table in _journal_tables(src.journal_entries(), DynamicTable):
        mod.add(table)
    nwb.add_processing_module(mod)
    return nwb


def to_nwb(h5: str | Path, nwb: str | Path, metadata: str | Path | Mapping[str, Any] | None = None, *,
           overwrite: bool = True) -> Path:
    """
    Export one txpipe file to NWB 2.x.

    Args:
        h5: a committed txpipe file.
        nwb: the NWB file to write (replaced atomically: it is the old file or the new one).
        metadata: a mapping, or a YAML/JSON file, with ``timezone`` (required: the MCS DateTime has
            none), ``subject`` (subject_id, species, sex, age or date_of_birth: what DANDI requires),
            ``experimenter``, ``institution``, ``lab``, ``session_description`` …, optionally
            ``location`` (default "retina") and ``chip: {pitch_um}``. See ``docs/interop.md``.
        overwrite: False: fail if *nwb* exists.

    Returns:
        The NWB file's path.

    Raises:
        MissingExtraError: pynwb is not installed (``pip install -e '.[nwb]'`` in the txpipe clone).
        NotATxpipeFileError / FileNotFoundError: *h5* is not a complete txpipe file.
        ExportError: metadata missing or malformed (e.g. no time zone), or *nwb* is *h5*.
        FileExistsError: *nwb* exists and *overwrite* is False.
    """
    require_nwb()
    from pynwb import NWBHDF5IO

    h5, target = Path(h5), Path(nwb)
    meta = load_metadata(metadata)
    if target.exists() and target.resolve() == h5.resolve():
        raise ExportError(f"{target}: refusing to write the NWB file over its input", path=str(target))
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target}: exists (pass overwrite=True to replace it)")
    t0 = time.perf_counter()
    with TxpipeFile(h5) as src:
        nwbfile = build_nwbfile(src, meta)
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic.atomic_replace(target) as tmp:
            with warnings.catch_warnings():  # the temporary name does not end in .nwb; the target does
                warnings.filterwarnings("ignore", message=r"The file path provided: .* does not end in '\.nwb'")
                io = NWBHDF5IO(str(tmp), "w")
            with io:
                io.write(nwbfile)
    log.info("nwb_exported", source=str(h5), target=str(target), seconds=round(time.perf_counter() - t0, 3))
    return target


def to_nwb_many(source: str | Path, out: str | Path | None = None,
                metadata: str | Path | Mapping[str, Any] | None = None) -> list[Path]:
    """
    Export every txpipe ``*.h5`` file of folder *source* (not recursive) to ``out/{stem}.nwb``
    (default: beside each input). Files that are not complete txpipe files are skipped with a
    warning; the first export error stops the run.

    Returns:
        The NWB files written.
    """
    src_dir = Path(source)
    out_dir = Path(out) if out is not None else src_dir
    meta = load_metadata(metadata)
    written = []
    for h5 in progress(sorted(src_dir.glob("*.h5")), desc="export nwb", unit="file"):
        try:
            check_file(h5)
        except NotATxpipeFileError as exc:
            log.warning("nwb_export_skipped", path=str(h5), reason=str(exc))
            continue
        written.append(to_nwb(h5, out_dir / f"{h5.stem}.nwb", meta))
    return written


__all__ = ["build_nwbfile", "column_name", "load_metadata", "require_nwb", "session_start", "to_nwb", "to_nwb_many"]
