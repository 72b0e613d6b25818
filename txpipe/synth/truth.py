"""
Ground truth of a synthetic recording: what was planted per unit (:class:`UnitTruth`) and in the
whole recording (:class:`GroundTruth`), saved as ``{name}.truth.npz`` (arrays) + ``.json`` (scalars).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from txpipe.errors import InputFileError


@dataclass(frozen=True, eq=False)
class UnitTruth:
    """What was planted for one unit. Times in µs and samples; RF pixel (y, x) in the noise grid;
    lags in display frames (a spike in frame f is driven by the stimulus of frame f - lag)."""

    unit_num: int
    kind: str                          # "on" | "off" | "rf" | "none"
    note: str                          # "" or the edge switch that made this unit special
    spike_times_us: np.ndarray         # int64, sorted, included peaks only
    spike_samples: np.ndarray          # int64, round(t_us * fs / 1e6)
    amplitudes: np.ndarray             # float64, PeakAmplitude of included peaks
    waveform: np.ndarray               # float32 (n_cut,) mean included cutout; (0,) if none
    template: np.ndarray               # float64 (n_cut,) unit template (trough = -1)
    n_excluded: int                    # IncludePeak = 0 rows
    row: int
    col: int
    sensor_id: int
    base_rate_hz: float
    gain_hz: float
    latency_frames: int                # ON/OFF latency, or RF lag
    rf_pixel: tuple[int, int] | None   # (y, x) for RF units
    rf_polarity: int                   # +1 (fires on white), -1 (on black), 0 (not RF)
    measures: dict[str, float] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"UnitTruth(unit_num={self.unit_num}, kind={self.kind!r}, note={self.note!r}, "
                f"n_spikes={self.spike_times_us.size}, n_excluded={self.n_excluded}, "
                f"sensor_id={self.sensor_id}, rf_pixel={self.rf_pixel}, "
                f"latency_frames={self.latency_frames})")


@dataclass(frozen=True, eq=False)
class GroundTruth:
    """Everything planted in one synthetic recording (see ``docs/synthetic-data.md``)."""

    name: str
    dataset_id: str
    seed: int
    fs_hz: float
    tick_us: int
    n_samples: int
    duration_us: int
    frame_rate_hz: float
    n_spurious_pulses: int
    frame_onsets: np.ndarray           # int64 (n_frames,) first high sample of each REAL frame pulse
    spurious_onsets: np.ndarray        # int64 (n_spurious,) samples
    frame_intensity: np.ndarray        # float64 (n_frames,) 0..1
    playlist_name: str
    movies: tuple[str, ...]
    movie_lengths: tuple[int, ...]     # frames
    content_start_frames: tuple[int, ...]
    block_start_frames: tuple[int, ...]
    noise_movie: str | None
    pad_frames: int
    light_lo_adc: int
    light_hi_adc: int
    sync_high_adc: int
    edge: tuple[str, ...]
    units: tuple[UnitTruth, ...]
    paths: dict[str, str]
    sensor: dict[str, object] | None = None      # the sensor stream's model (None: no stream)
    footprints: tuple[dict[str, object], ...] = ()  # planted electrical footprints, one per unit

    def __repr__(self) -> str:
        return (f"GroundTruth(name={self.name!r}, fs_hz={self.fs_hz}, n_samples={self.n_samples}, "
                f"n_frames={self.n_frames}, movies={self.movies}, n_units={len(self.units)}, "
                f"edge={self.edge})")

    @property
    def n_frames(self) -> int:
        """Number of real display frames."""
        return int(self.frame_onsets.size)

    def unit(self, unit_num: int) -> UnitTruth:
        """The unit with CMTR number *unit_num*."""
        for u in self.units:
            if u.unit_num == unit_num:
                return u
        raise KeyError(f"no unit {unit_num} in {self.name}")

    def save(self, path: str | Path) -> Path:
        """Write ``{path}.npz`` (arrays) and ``.json`` beside it (scalars); returns the npz path."""
        p = Path(path)
        npz = p if p.suffix == ".npz" else p.with_name(p.name + ".npz")
        us = self.units
        counts = np.array([u.spike_times_us.size for u in us], np.int64)
        n_cut = max((u.template.size for u in us), default=0)
        wf = np.full((len(us), n_cut), np.nan, np.float32)
        for i, u in enumerate(us):
            wf[i, :u.waveform.size] = u.waveform
        arrays = dict(
            frame_onsets=self.frame_onsets, spurious_onsets=self.spurious_onsets,
            frame_intensity=self.frame_intensity, spike_counts=counts,
            spike_times_us=_cat([u.spike_times_us for u in us], np.int64),
            spike_samples=_cat([u.spike_samples for u in us], np.int64),
            amplitudes=_cat([u.amplitudes for u in us], np.float64),
            waveforms=wf, templates=np.array([u.template for u in us]).reshape(len(us), n_cut),
        )
        np.savez(npz, **arrays)
        scal = {k: getattr(self, k) for k in self.__dataclass_fields__
                if k not in ("units", *arrays.keys())}
        scal["units"] = [{k: getattr(u, k) for k in u.__dataclass_fields__
                          if k not in ("spike_times_us", "spike_samples", "amplitudes",
                                       "waveform", "template")} for u in us]
        npz.with_suffix(".json").write_text(json.dumps(scal, indent=1, default=_jsonable))
        return npz

    @classmethod
    def load(cls, path: str | Path) -> "GroundTruth":
        """Read a ground truth written by :meth:`save` (give the ``.npz`` or ``.json`` path)."""
        p = Path(path)
        npz, js = p.with_suffix(".npz"), p.with_suffix(".json")
        try:
            meta = json.loads(js.read_text())
            with np.load(npz) as z:
                arr = {k: z[k] for k in z.files}
        except (OSError, ValueError, KeyError) as exc:
            raise InputFileError(f"{npz}: cannot read ground truth ({exc})", path=str(npz)) from exc
        bounds = np.concatenate([[0], np.cumsum(arr["spike_counts"])])
        units = []
        for i, um in enumerate(meta.pop("units")):
            sl = slice(bounds[i], bounds[i + 1])
            wf = arr["waveforms"][i]
            units.append(UnitTruth(
                spike_times_us=arr["spike_times_us"][sl], spike_samples=arr["spike_samples"][sl],
                amplitudes=arr["amplitudes"][sl], waveform=wf[~np.isnan(wf)],
                template=arr["templates"][i],
                **{**um, "rf_pixel": tuple(um["rf_pixel"]) if um["rf_pixel"] else None}))
        for k in ("movies", "movie_lengths", "content_start_frames", "block_start_frames", "edge"):
            meta[k] = tuple(meta[k])
        meta["footprints"] = tuple(meta.get("footprints", ()))
        return cls(units=tuple(units), frame_onsets=arr["frame_onsets"],
                   spurious_onsets=arr["spurious_onsets"], frame_intensity=arr["frame_intensity"],
                   **meta)


def _cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)


def _jsonable(o: object) -> object:
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    if isinstance(o, (tuple, frozenset, set)):
        return list(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")
