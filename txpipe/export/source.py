"""
A read-only view of a committed txpipe file for exporters and readers.

Opens the file with h5py in read mode (after :func:`txpipe.core.store.check_file`), answers what
the exporters need (rate, units, their spike trains and features, sections, trials, ADC
conversions, the journal) and hands large arrays out as h5py datasets so callers can stream them.
Nothing here writes. Units: spike times in samples at ``fs_hz``; conversions as the MCS files
give them (``(raw − ad_zero) · conversion_factor · 10**exponent`` in ``unit``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

from txpipe.core import codec
from txpipe.core.paths import (
    ACQUISITION_RATE,
    ANALOG_CONVERSION,
    DATASET_ID,
    FRAME_TIMESTAMPS,
    JOURNAL,
    LIGHT_REFERENCE,
    METADATA,
    SECTION_TIME,
    SENSOR_CONVERSION,
    SYS_META,
    UNITS,
)
from txpipe.core.store import check_file
from txpipe.errors import ExportError

UNIT_ATTRS = ("unit_num", "sensor_id", "row", "col", "spike_count", "n_excluded_peaks")


def feature_column(feature: str, key: str) -> str:
    """The table column name of output *key* of feature group *feature*: ``{feature}_{key}``."""
    return f"{feature}_{key}"


@dataclass(frozen=True)
class Trial:
    """One trial of a sectioned movie: [start, stop) in samples, its pads in samples."""

    movie: str
    trial_index: int
    start: int
    stop: int
    pre_samples: int
    post_samples: int


class TxpipeFile:
    """Read-only access to one txpipe file; use as a context manager (closes the HDF5 file)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        check_file(self.path)
        self.h5 = h5py.File(self.path, "r")

    def __enter__(self) -> "TxpipeFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HDF5 file."""
        self.h5.close()

    # --- scalars and metadata -------------------------------------------------------------------

    def _value(self, path: Any, default: Any = None) -> Any:
        obj = self.h5.get(str(path))
        return default if obj is None else codec.read_value(obj)

    def require(self, path: Any, what: str) -> Any:
        """The value at *path*, or an ExportError naming *what* is missing."""
        obj = self.h5.get(str(path))
        if obj is None:
            raise ExportError(f"{self.path}: no {path} ({what}); run load_recording first", path=str(self.path))
        return codec.read_value(obj)

    @property
    def fs_hz(self) -> float:
        """Acquisition rate in Hz."""
        return float(self.require(ACQUISITION_RATE, "acquisition rate"))

    @property
    def dataset_id(self) -> str:
        """The recording's dataset id."""
        v = self._value(DATASET_ID)
        if v is None:
            v = self.h5.attrs.get("dataset_id", self.path.stem)
        return str(v)

    def duration_s(self) -> float | None:
        """Recording length in s (None if not recorded)."""
        v = self._value(METADATA / "recording_duration_s")
        return None if v is None else float(v)

    def sys_meta(self, which: str) -> dict[str, Any]:
        """Root attributes of the ``.cmcr`` or ``.cmtr`` (``which``), as recorded by load_recording."""
        v = self._value(SYS_META / which, {})
        return dict(v) if isinstance(v, dict) else {}

    def sensor_conversion(self) -> dict[str, Any] | None:
        """The sensor stream's ADC conversion (applies to waveforms), or None if not recorded."""
        return self._value(SENSOR_CONVERSION)

    def analog_conversion(self, channel: str) -> dict[str, Any] | None:
        """The ADC conversion of analog channel ``ch1``/``ch2``, or None if not recorded."""
        v = self._value(ANALOG_CONVERSION, {}) or {}
        return v.get(channel)

    def frame_onsets(self) -> np.ndarray:
        """Display-frame onsets, samples (uint64); empty if there are none."""
        return np.asarray(self._value(FRAME_TIMESTAMPS, np.zeros(0, np.uint64)))

    def frame_rate_hz(self) -> float | None:
        """Display frame rate recorded with the frame onsets (None if unknown)."""
        obj = self.h5.get(str(FRAME_TIMESTAMPS))
        v = None if obj is None else obj.attrs.get("frame_rate_hz")
        return None if v is None else float(v)

    def light_reference(self, channel: str) -> h5py.Dataset | None:
        """``raw_ch1`` / ``raw_ch2`` (float32 ADC counts at fs) as an h5py dataset, or None."""
        obj = self.h5.get(str(LIGHT_REFERENCE / f"raw_{channel}"))
        return obj if isinstance(obj, h5py.Dataset) else None

    def journal_text(self) -> str:
        """The pipeline journal, JSON text."""
        return self.h5[str(JOURNAL)].asstr()[()]

    def journal_entries(self) -> list[dict[str, Any]]:
        """The journal's entries (dicts), oldest first."""
        return list(json.loads(self.journal_text()).get("entries", []))

    # --- units ----------------------------------------------------------------------------------

    def unit_ids(self) -> list[str]:
        """Unit ids (``unit_001`` …) in CMTR unit-number order."""
        g = self.h5.get(str(UNITS))
        if g is None:
            return []
        return sorted(g.keys(), key=lambda u: (int(g[u].attrs.get("unit_num", 0)), u))

    def unit(self, uid: str) -> h5py.Group:
        """The HDF5 group of unit *uid*."""
        return self.h5[str(UNITS / uid)]

    def unit_attrs(self, uid: str) -> dict[str, int]:
        """unit_num, sensor_id, row, col (1-based), spike_count, n_excluded_peaks."""
        a = self.unit(uid).attrs
        return {k: int(a[k]) for k in UNIT_ATTRS if k in a}

    def spike_samples(self, uid: str) -> np.ndarray:
        """Spike times of *uid* in samples (uint64, sorted)."""
        return np.asarray(self.unit(uid)["spike_times"][()])

    def waveform(self, uid: str) -> np.ndarray:
        """Mean spike cutout of *uid* (float32, spike-sorter units); (0,) when the unit has none."""
        d = self.unit(uid).get("waveform")
        return np.zeros(0, np.float32) if d is None else np.asarray(d[()])

    def unit_info(self, uid: str) -> dict[str, Any]:
        """The spike sorter's per-unit row (quality measures and ids)."""
        obj = self.unit(uid).get("unit_info")
        return {} if obj is None else dict(codec.read_value(obj))

    def feature_datasets(self, uid: str) -> Iterator[tuple[str, str, h5py.Dataset]]:
        """``(feature, key, dataset)`` for every numeric dataset under ``features/`` of *uid*
        (STA included), unread."""
        g = self.unit(uid).get("features")
        if g is None:
            return
        for fname, fg in g.items():
            if not isinstance(fg, h5py.Group):
                continue
            for key, obj in fg.items():
                if isinstance(obj, h5py.Dataset) and obj.dtype.kind in codec.NUMERIC_KINDS:
                    yield fname, key, obj

    def features(self, uid: str) -> Iterator[tuple[str, str, np.ndarray, dict[str, Any]]]:
        """``(feature, key, value, attrs)`` for every dataset under ``features/`` of *uid* (STA
        included), values read as numpy arrays (0-d for scalars)."""
        for fname, key, obj in self.feature_datasets(uid):
            yield fname, key, np.asarray(obj[()]), codec.read_attrs(obj)

    # --- sections and trials --------------------------------------------------------------------

    def sections(self) -> dict[str, np.ndarray]:
        """``{movie: int64 (n, 2)}`` [start, end) samples of every section."""
        g = self.h5.get(str(SECTION_TIME))
        if g is None:
            return {}
        return {m: np.asarray(d[()], np.int64).reshape(-1, 2) for m, d in g.items() if isinstance(d, h5py.Dataset)}

    def trials(self) -> list[Trial]:
        """The trials of every sectioned movie (taken from the first unit that has the movie:
        trial bounds are the same for all units), sorted by start."""
        out: list[Trial] = []
        seen: set[str] = set()
        for uid in self.unit_ids():
            g = self.unit(uid).get("spike_times_sectioned")
            if g is None:
                continue
            for movie, mg in g.items():
                if movie in seen or "trials_start_end" not in mg:
                    continue
                seen.add(movie)
                b = np.asarray(mg["trials_start_end"][()], np.int64).reshape(-1, 2)
                pre, post = int(mg.attrs.get("pre_samples", 0)), int(mg.attrs.get("post_samples", 0))
                out.extend(Trial(movie, i, int(s), int(e), pre, post) for i, (s, e) in enumerate(b))
        out.sort(key=lambda t: (t.start, t.stop, t.movie, t.trial_index))
        return out


__all__ = ["Trial", "TxpipeFile", "UNIT_ATTRS", "feature_column"]
