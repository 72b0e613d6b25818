"""
Read MCS CMOS-MEA files (``.cmcr`` raw data, ``.cmtr`` spike sorter) into plain numpy + dicts.

This is the only txpipe module that imports McsPyDataTools (lazily: the import costs ~0.3 s).
Both files are opened with ``McsCMOSMEAData`` (which validates type and version) and the root
object is kept alive while reading (McsPy closes the file in ``__del__``, P13). Analog data are
read through McsPy's attribute API. The spike sorter is read through item access on the same
object (``data["Spike Sorter"]``): one read of ``Peaks`` per unit, decoded in bulk. McsPy's
``Spike_Sorter`` wrapper is avoided: it fails on numpy ≥ 2.4 (P1), one bad unit breaks all units
(P9), and its cutout path costs ~16 µs per spike (P12).

Units: spike timestamps in µs (integers, as stored); analog data in raw ADC counts; ticks in µs;
durations in µs. Every bad input raises a :mod:`txpipe.errors` error naming the file; McsPy's
stdout/stderr chatter is captured and put into the message instead of the user's terminal.
See ``docs/mcs.md``.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Iterator

import h5py
import numpy as np
import numpy.lib.recfunctions as rfn

from txpipe.errors import McsFileError, McsFormatError, McsPairError

CHIP_SIDE = 65
N_SENSORS = CHIP_SIDE * CHIP_SIDE
UNIT_TYPE_ID = "0e5a97df-9de0-4a22-ab8c-54845c1ff3b9"
PEAK_FIELDS = ("Timestamp", "PeakAmplitude", "IncludePeak")
UNIT_INFO_LEAD = ("UnitID", "SensorID", "RoiID", "Row", "Column")


@dataclass(frozen=True, eq=False)
class UnitRecord:
    """One sorted unit of a ``.cmtr``.

    ``spike_times_us`` (int64, sorted) and ``amplitudes`` (float64) hold the IncludePeak == 1 rows
    only. ``waveform`` is the float32 mean cutout, shape (n_cut,), or (0,) when the unit has no
    included peak. ``row``, ``col`` and ``sensor_id`` are 1-based on the 65 × 65 chip, from
    ``Unit Info``. ``measures`` are the numeric quality measures (``Unit Info`` fields after the
    first five); ``info`` is the whole ``Unit Info`` row (bytes decoded).
    """

    unit_num: int
    spike_times_us: np.ndarray = field(repr=False)
    amplitudes: np.ndarray = field(repr=False)
    waveform: np.ndarray = field(repr=False)
    row: int
    col: int
    sensor_id: int
    measures: dict[str, float] = field(repr=False)
    n_excluded: int
    info: dict[str, object] = field(default_factory=dict, repr=False)

    @property
    def n_spikes(self) -> int:
        """Number of included peaks (spikes)."""
        return int(self.spike_times_us.size)


@dataclass(frozen=True, eq=False)
class CmtrData:
    """A spike-sorter file. ``units`` are sorted by ``unit_num``. ``duration_us`` is the root
    ``LB.RecordingDuration`` (None if absent). ``acquisition_link`` is the file name the
    ``/Acquisition`` external link points to (None if there is no such link) and
    ``acquisition_link_ok`` whether that file exists beside the ``.cmtr``."""

    path: Path
    attributes: dict[str, object] = field(repr=False)
    units: tuple[UnitRecord, ...] = field(repr=False)
    duration_us: int | None
    acquisition_link: str | None
    acquisition_link_ok: bool

    def unit(self, unit_num: int) -> UnitRecord:
        """The unit with CMTR number *unit_num* (KeyError if absent)."""
        for u in self.units:
            if u.unit_num == unit_num:
                return u
        raise KeyError(f"{self.path}: no unit {unit_num}")


@dataclass(frozen=True, eq=False)
class CmcrData:
    """A raw-data file. ``analog`` is ``ChannelData 1`` as stored: (n_channels, n_samples) raw
    ADC counts (int32 in MCS files); row 0 is the light reference, row 1 the frame sync.
    ``tick_us`` is the sample interval in µs from ``ChannelMeta``; ``duration_us`` the root
    ``LB.RecordingDuration`` (None if absent). ``sensor_meta`` is the sensor stream's
    ``SensorMeta`` table (None when the file has no sensor stream); with ``channel_meta`` it
    gives the ADC conversion (:func:`conversion`)."""

    path: Path
    attributes: dict[str, object] = field(repr=False)
    analog: np.ndarray = field(repr=False)
    tick_us: int
    duration_us: int | None
    channel_labels: tuple[str, ...]
    channel_meta: np.ndarray = field(repr=False)
    sensor_meta: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_samples(self) -> int:
        """Samples per analog channel."""
        return int(self.analog.shape[1])

    @property
    def fs_hz(self) -> float:
        """Sampling rate in Hz (1e6 / tick_us)."""
        return 1e6 / self.tick_us

    @property
    def analog_duration_us(self) -> int:
        """n_samples × tick_us, in µs (compare with ``duration_us``)."""
        return self.n_samples * self.tick_us


# --- opening ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet() -> Iterator[io.StringIO]:
    """Capture stdout and stderr (McsPy prints errors instead of raising) into one buffer.

    Not thread-safe (it swaps ``sys.stdout``/``sys.stderr``); txpipe parallelises with processes.
    """
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        yield buf


def _chatter(buf: io.StringIO) -> str:
    text = " ".join(buf.getvalue().split())
    return f" (McsPy said: {text[:300]})" if text else ""


def _precheck(path: str | Path, suffix: str) -> Path:
    """Existence, suffix, HDF5 signature, readable, CMOS-MEA root attributes. Returns the Path."""
    p = Path(path)
    if p.suffix.lower() != suffix:
        raise McsFileError(f"{p}: expected a {suffix} file, got suffix {p.suffix or '(none)'!r}",
                           path=str(p))
    if not p.is_file():
        raise McsFileError(f"{p}: file not found" if not p.exists() else f"{p}: not a regular file",
                           path=str(p))
    if not h5py.is_hdf5(p):
        raise McsFormatError(f"{p}: not an MCS file (not HDF5)", path=str(p))
    try:
        with h5py.File(p, "r") as f:
            attrs = dict(f.attrs.items())
    except OSError as exc:
        raise McsFormatError(f"{p}: cannot open as HDF5, truncated or corrupt ({exc})",
                             path=str(p)) from exc
    if "McsHdf5ProtocolType" in attrs:
        raise McsFormatError(f"{p}: not a CMOS-MEA file (legacy MCS "
                             f"{_decode(attrs['McsHdf5ProtocolType'])!r} format)", path=str(p))
    for key in ("ID.Type", "ID.TypeID", "ID.Instance", "ID.InstanceID", "FileVersion"):
        if key not in attrs:
            raise McsFormatError(f"{p}: not a CMOS-MEA file (root attribute {key} missing)",
                                 path=str(p))
    for key in ("ID.Type", "ID.TypeID", "ID.Instance", "ID.InstanceID"):
        if not isinstance(attrs[key], bytes):
            raise McsFormatError(f"{p}: root attribute {key} is a {type(attrs[key]).__name__}, "
                                 "expected a fixed-length ASCII string (McsPy cannot decode it)",
                                 path=str(p))
    fv = np.asarray(attrs["FileVersion"])
    if fv.dtype.kind not in "iu" or fv.size != 1:
        raise McsFormatError(f"{p}: root attribute FileVersion must be one integer, got {fv!r}",
                             path=str(p))
    return p


@contextlib.contextmanager
def _open(p: Path) -> Iterator[object]:
    """Open *p* with ``McsCMOSMEAData``; keep the object alive; close the file on exit."""
    try:
        from McsPy.McsCMOSMEA import McsCMOSMEAData
    except ImportError as exc:  # pragma: no cover - McsPyDataTools is a hard dependency
        raise ImportError("txpipe needs McsPyDataTools (pip install McsPyDataTools)") from exc
    with _quiet() as buf:
        try:
            data = McsCMOSMEAData(str(p))
        except (OSError, KeyError, AttributeError, TypeError, ValueError) as exc:
            raise McsFormatError(f"{p}: McsPyDataTools cannot open it: {type(exc).__name__}: "
                                 f"{exc}{_chatter(buf)}", path=str(p)) from exc
    try:
        yield data
    finally:
        data.h5_file.close()


def _decode(v: object) -> object:
    """bytes → str (stripped), 1-element arrays → Python scalar, numpy scalars → Python."""
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace").rstrip("\x00").rstrip()
    if isinstance(v, np.ndarray):
        if v.size == 1:
            return _decode(v.reshape(-1)[0])
        return v
    if isinstance(v, np.generic):
        return _decode(v.item())
    return v


def _attributes(obj: h5py.HLObject) -> dict[str, object]:
    return {k: _decode(v) for k, v in obj.attrs.items()}


def _duration(attrs: dict[str, object], p: Path) -> int | None:
    d = attrs.get("LB.RecordingDuration")
    if d is None:
        return None
    if not isinstance(d, (int, float)) or isinstance(d, bool) or d < 0:
        raise McsFormatError(f"{p}: LB.RecordingDuration must be a non-negative number of µs, "
                             f"got {d!r}", path=str(p))
    return int(d)


# --- .cmcr -----------------------------------------------------------------------------------------


def read_cmcr(path: str | Path) -> CmcrData:
    """
    Read a ``.cmcr``: root attributes and the analog data ``Acquisition/Analog Data/ChannelData 1``.

    Returns:
        :class:`CmcrData` with ``analog`` (n_channels, n_samples) raw ADC counts and ``tick_us``.

    Raises:
        McsFileError: missing file or wrong suffix.
        McsFormatError: not HDF5, truncated, not CMOS-MEA, no analog stream, bad ChannelMeta.
    """
    p = _precheck(path, ".cmcr")
    with _open(p) as data, _quiet() as buf:
        attrs = _attributes(data)
        try:
            stream = data.Acquisition.Analog_Data
            entity = stream.ChannelData_1
            meta = stream.ChannelMeta[()]
            analog = entity[()]
            sensor_meta = data.h5_file.get("Acquisition/Sensor Data/SensorMeta")
            sensor_meta = sensor_meta[()] if isinstance(sensor_meta, h5py.Dataset) else None
        except (AttributeError, KeyError) as exc:
            raise McsFormatError(f"{p}: no analog data at /Acquisition/Analog Data/ChannelData 1 "
                                 f"({exc}){_chatter(buf)}", path=str(p)) from exc
        except OSError as exc:
            raise McsFormatError(f"{p}: cannot read the analog data, truncated or corrupt ({exc})",
                                 path=str(p)) from exc
    if analog.ndim != 2:
        raise McsFormatError(f"{p}: ChannelData 1 must be (n_channels, n_samples), got shape "
                             f"{analog.shape}", path=str(p))
    if meta.dtype.names is None or "Tick" not in meta.dtype.names or meta.size != analog.shape[0]:
        raise McsFormatError(f"{p}: ChannelMeta must have a Tick field and one row per channel "
                             f"({analog.shape[0]}), got {meta.dtype} × {meta.size}", path=str(p))
    ticks = np.unique(meta["Tick"])
    if ticks.size != 1 or ticks[0] <= 0:
        raise McsFormatError(f"{p}: ChannelMeta ticks must be one positive value in µs, got "
                             f"{ticks.tolist()}", path=str(p))
    labels = tuple(_decode(x) for x in meta["Label"]) if "Label" in meta.dtype.names else ()
    return CmcrData(path=p, attributes=attrs, analog=analog, tick_us=int(ticks[0]),
                    duration_us=_duration(attrs, p), channel_labels=labels, channel_meta=meta,
                    sensor_meta=sensor_meta)


CONVERSION_FIELDS = ("ConversionFactor", "Exponent", "Unit")


def conversion(meta: np.ndarray | None) -> dict[str, object] | None:
    """
    The ADC conversion of a ``ChannelMeta`` / ``SensorMeta`` table (or one row of it).

    MCS convention: physical value = (raw − ADZero) · ConversionFactor · 10^Exponent [Unit].

    Returns:
        ``{"conversion_factor": int|float, "exponent": int, "ad_zero": int|float, "unit": str}``,
        or None when *meta* is None, empty, lacks one of ConversionFactor / Exponent / Unit, has a
        zero factor, or its rows disagree (no single conversion to report).
    """
    if meta is None or meta.dtype.names is None or meta.size == 0:
        return None
    names = meta.dtype.names
    if not set(CONVERSION_FIELDS) <= set(names):
        return None
    rows = {(_decode(r["ConversionFactor"]), int(r["Exponent"]),
             _decode(r["ADZero"]) if "ADZero" in names else 0, _decode(r["Unit"]))
            for r in np.atleast_1d(meta)}
    if len(rows) != 1:
        return None
    factor, exponent, ad_zero, unit = rows.pop()
    if not isinstance(factor, (int, float)) or factor == 0 or not unit:
        return None
    return {"conversion_factor": factor, "exponent": exponent, "ad_zero": ad_zero, "unit": str(unit)}


# --- .cmtr -----------------------------------------------------------------------------------------


def read_cmtr(path: str | Path) -> CmtrData:
    """
    Read a ``.cmtr``: root attributes, the ``/Acquisition`` link, and every unit of
    ``/Spike Sorter`` (bulk: one ``Peaks`` read per unit).

    Returns:
        :class:`CmtrData`; units sorted by unit number; a unit without included peaks is kept
        with empty arrays (and ``waveform`` of shape (0,)).

    Raises:
        McsFileError: missing file or wrong suffix.
        McsFormatError: not HDF5, truncated, not CMOS-MEA, no ``Spike Sorter``, a unit whose
            ``Peaks`` or ``Unit Info`` is malformed, an out-of-range SensorID, or a unit name
            that disagrees with its UnitID.
    """
    p = _precheck(path, ".cmtr")
    with _open(p) as data:
        attrs = _attributes(data)
        link = data.get("Acquisition", getlink=True)
        link_name = PureWindowsPath(link.filename).name if isinstance(link, h5py.ExternalLink) \
            else None
        if "Spike Sorter" not in data:
            raise McsFormatError(f"{p}: no /Spike Sorter group (not a spike-sorter file)",
                                 path=str(p))
        sorter = data["Spike Sorter"]
        units = []
        try:
            for name in sorter:
                obj = sorter[name]
                if isinstance(obj, h5py.Group) and _decode(obj.attrs.get("ID.TypeID")) == UNIT_TYPE_ID:
                    units.append(_read_unit(p, name, obj))
        except OSError as exc:
            raise McsFormatError(f"{p}: cannot read the spike sorter, truncated or corrupt ({exc})",
                                 path=str(p)) from exc
    units.sort(key=lambda u: u.unit_num)
    nums = [u.unit_num for u in units]
    if len(set(nums)) != len(nums):
        raise McsFormatError(f"{p}: duplicate UnitID in {nums}", path=str(p))
    return CmtrData(path=p, attributes=attrs, units=tuple(units), duration_us=_duration(attrs, p),
                    acquisition_link=link_name,
                    acquisition_link_ok=link_name is not None and (p.parent / link_name).is_file())


def _scalar_attr(p: Path, g: h5py.Group, key: str) -> int:
    if key not in g.attrs:
        raise McsFormatError(f"{p}: {g.name} has no {key} attribute", path=str(p))
    v = np.asarray(g.attrs[key])
    if v.size != 1 or v.dtype.kind not in "iu":
        raise McsFormatError(f"{p}: {g.name} attribute {key} must be one integer, got {v!r}",
                             path=str(p))
    return int(v.reshape(-1)[0])


def _read_unit(p: Path, name: str, g: h5py.Group) -> UnitRecord:
    """Decode one ``Unit <k>`` group: Peaks (one read) and Unit Info."""
    unit_num = _scalar_attr(p, g, "UnitID")
    where = f"{p}: unit {unit_num} ({g.name})"
    if name != f"Unit {unit_num}":
        raise McsFormatError(f"{where}: group name disagrees with UnitID {unit_num}", path=str(p))
    for dname in ("Peaks", "Unit Info"):
        if not isinstance(g.get(dname), h5py.Dataset):
            raise McsFormatError(f"{where}: no {dname!r} dataset", path=str(p))
    info_arr = g["Unit Info"][()]
    names = info_arr.dtype.names or ()
    if info_arr.shape != (1,) or not set(UNIT_INFO_LEAD) <= set(names[:5]):
        raise McsFormatError(f"{where}: 'Unit Info' must be one row starting with "
                             f"{UNIT_INFO_LEAD}, got {names[:5]} × {info_arr.shape}", path=str(p))
    info = {k: _decode(info_arr[k][0]) for k in names}
    sensor_id = int(info["SensorID"])
    if not 1 <= sensor_id <= N_SENSORS:
        raise McsFormatError(f"{where}: SensorID {sensor_id} is outside 1..{N_SENSORS} "
                             f"(65 × 65 chip)", path=str(p))
    row, col = int(info["Row"]), int(info["Column"])
    if (row, col) != ((sensor_id - 1) % CHIP_SIDE + 1, (sensor_id - 1) // CHIP_SIDE + 1):
        raise McsFormatError(f"{where}: Row/Column ({row}, {col}) disagree with SensorID "
                             f"{sensor_id} (expected 65·(Column−1) + Row)", path=str(p))
    if int(info["UnitID"]) != unit_num:
        raise McsFormatError(f"{where}: Unit Info UnitID {info['UnitID']} disagrees with the "
                             f"group's UnitID {unit_num}", path=str(p))
    measures = {k: float(v) for k, v in info.items()
                if k in names[5:] and isinstance(v, (int, float))}
    peaks = g["Peaks"][()]
    pn = peaks.dtype.names or ()
    if pn[:3] != PEAK_FIELDS or len(pn) < 4 or peaks.ndim != 1:
        raise McsFormatError(f"{where}: 'Peaks' must be 1-D with fields {PEAK_FIELDS} then one "
                             f"field per cutout sample, got {pn[:4]}...", path=str(p))
    keep = peaks["IncludePeak"] == 1
    times = peaks["Timestamp"][keep].astype(np.int64)
    amps = peaks["PeakAmplitude"][keep].astype(np.float64)
    if keep.any():
        cut = rfn.structured_to_unstructured(peaks[list(pn[3:])], copy=False)
        waveform = cut[keep].mean(axis=0, dtype=np.float64).astype(np.float32)
    else:
        waveform = np.zeros(0, np.float32)
    if times.size > 1 and np.any(np.diff(times) < 0):
        order = np.argsort(times, kind="stable")
        times, amps = times[order], amps[order]
    return UnitRecord(unit_num=unit_num, spike_times_us=times, amplitudes=amps, waveform=waveform,
                      row=row, col=col, sensor_id=sensor_id, measures=measures,
                      n_excluded=int(keep.size - np.count_nonzero(keep)), info=info)


# --- sensor stream (raw full-chip data) --------------------------------------------------------------

SENSOR_DATA = ("Acquisition", "Sensor Data", "SensorData 1 1")


class SensorStream:
    """
    The full-chip sensor stream of a ``.cmcr``, ``/Acquisition/Sensor Data/SensorData 1 1``:
    (frames, 65, 65) int16 raw ADC counts, indexed ``[t, Row-1, Column-1]`` (an assumption the
    lab's code also makes; see ``docs/eimage.md``). Read in blocks, never whole: use
    :meth:`read` or :meth:`blocks` inside ``with open_sensor_stream(path) as s``.

    Attributes: ``path``; ``n_frames`` (samples); ``shape`` (frames, 65, 65); ``dtype``;
    ``tick_us`` (µs per frame from ``SensorMeta`` ``Tick``, None if absent).
    """

    def __init__(self, path: Path, dataset: h5py.Dataset, tick_us: int | None) -> None:
        self.path = path
        self._ds = dataset
        self.shape = tuple(int(x) for x in dataset.shape)
        self.dtype = dataset.dtype
        self.n_frames = self.shape[0]
        self.tick_us = tick_us

    def read(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """Frames ``[start, stop)`` as (n, 65·65) (row-major: channel ``(Row-1)·65 + Column-1``),
        raw dtype; into *out* (C-contiguous, that shape and dtype) if given.

        Raises:
            McsFormatError: a read error (truncated or corrupt file), naming the file.
        """
        if not 0 <= start <= stop <= self.n_frames:
            raise ValueError(f"{self.path}: frames [{start}, {stop}) outside the sensor stream's 0..{self.n_frames}")
        n = stop - start
        if out is None:
            out = np.empty((n, N_SENSORS), self.dtype)
        try:
            if n:
                self._ds.read_direct(out.reshape(n, CHIP_SIDE, CHIP_SIDE), np.s_[start:stop], np.s_[0:n])
        except OSError as exc:
            raise McsFormatError(f"{self.path}: cannot read sensor frames {start}..{stop}, truncated or "
                                 f"corrupt ({exc})", path=str(self.path)) from exc
        return out

    def blocks(self, start: int, stop: int, block: int) -> Iterator[tuple[int, np.ndarray]]:
        """``(first_frame, (n, 65·65) block)`` over ``[start, stop)`` in blocks of *block* frames."""
        for a in range(start, stop, block):
            b = min(stop, a + block)
            yield a, self.read(a, b)


@contextlib.contextmanager
def open_sensor_stream(path: str | Path) -> Iterator[SensorStream]:
    """
    Open the sensor stream of a ``.cmcr`` for block reads (the file stays open inside the block).

    Raises:
        McsFileError: missing file or wrong suffix.
        McsFormatError: not a CMOS-MEA file, no sensor stream, or not (frames, 65, 65) integers.
    """
    p = _precheck(path, ".cmcr")
    with _open(p) as data:
        with _quiet() as buf:
            ds, tick = _sensor_dataset(p, data, buf)
        yield SensorStream(p, ds, tick)


def _sensor_dataset(p: Path, data: object, buf: io.StringIO) -> tuple[h5py.Dataset, int | None]:
    """The sensor dataset and its SensorMeta tick (µs, None if absent) of an open McsPy file."""
    try:
        stream = data.Acquisition.Sensor_Data  # type: ignore[attr-defined]
        ds = stream.SensorData_1_1
    except (AttributeError, KeyError) as exc:
        raise McsFormatError(f"{p}: no sensor stream at /{'/'.join(SENSOR_DATA)} (recorded without "
                             f"raw sensor data?){_chatter(buf)}", path=str(p)) from exc
    if ds.ndim != 3 or tuple(ds.shape[1:]) != (CHIP_SIDE, CHIP_SIDE) or ds.dtype.kind not in "iu":
        raise McsFormatError(f"{p}: {ds.name} must be (frames, {CHIP_SIDE}, {CHIP_SIDE}) integers, got "
                             f"{ds.shape} {ds.dtype}", path=str(p))
    tick = None
    try:
        meta = stream.SensorMeta[()]
        if meta.dtype.names and "Tick" in meta.dtype.names and meta.size:
            ticks = np.unique(meta["Tick"])
            if ticks.size != 1 or ticks[0] <= 0:
                raise McsFormatError(f"{p}: SensorMeta ticks must be one positive value in µs, got "
                                     f"{ticks.tolist()}", path=str(p))
            tick = int(ticks[0])
    except (AttributeError, KeyError):  # no SensorMeta: the caller falls back to the analog tick
        tick = None
    return ds, tick


# --- pairs -----------------------------------------------------------------------------------------


def read_pair(cmcr_path: str | Path, cmtr_path: str | Path, *,
              duration_tol_us: int = 1000) -> tuple[CmcrData, CmtrData]:
    """
    Read a ``.cmcr`` and its ``.cmtr`` and check that they belong together.

    Checks: both ``LB.RecordingDuration`` values (µs) agree within *duration_tol_us*; a
    ``/Acquisition`` external link in the ``.cmtr`` names the given ``.cmcr`` (file name,
    case-insensitive).

    Raises:
        McsPairError: the durations or the link disagree.
        McsFileError / McsFormatError: as :func:`read_cmcr` / :func:`read_cmtr`.
    """
    cmcr = read_cmcr(cmcr_path)
    cmtr = read_cmtr(cmtr_path)
    if cmtr.acquisition_link is not None and \
            cmtr.acquisition_link.casefold() != cmcr.path.name.casefold():
        state = "" if cmtr.acquisition_link_ok else ", which does not exist"
        raise McsPairError(f"{cmtr.path}: /Acquisition links to {cmtr.acquisition_link!r}{state}, "
                           f"not to {cmcr.path.name!r}: the files do not belong together",
                           path=str(cmtr.path))
    if cmcr.duration_us is not None and cmtr.duration_us is not None and \
            abs(cmcr.duration_us - cmtr.duration_us) > duration_tol_us:
        raise McsPairError(f"{cmtr.path}: LB.RecordingDuration {cmtr.duration_us} µs disagrees "
                           f"with {cmcr.path.name}'s {cmcr.duration_us} µs "
                           f"(tolerance {duration_tol_us} µs)", path=str(cmtr.path))
    return cmcr, cmtr


__all__ = ["CmcrData", "CmtrData", "SensorStream", "UnitRecord", "conversion", "open_sensor_stream", "read_cmcr",
           "read_cmtr", "read_pair", "instance_id"]


def instance_id(path: str | Path) -> str | None:
    """
    The MCS ``ID.InstanceID`` root attribute of a ``.cmcr``/``.cmtr`` file (a UUID string that
    identifies the recording, whatever the file is called or wherever it lies), or None when the
    file cannot be opened or has no such attribute. Reads only the root attributes.
    """
    try:
        with h5py.File(Path(path), "r") as f:
            v = f.attrs.get("ID.InstanceID")
    except (OSError, ValueError):
        return None
    if v is None:
        return None
    v = _decode(v)
    return str(v) if v is not None else None
