"""
Synthetic MCS CMOS-MEA recordings with known ground truth.

``make_recording(out_dir)`` writes a ``{name}.cmcr`` + ``{name}-.cmtr`` pair that McsPyDataTools
opens (layout: ``docs/mcs.md`` and ``reference/mcs-format.md``), plus the lab's side files
(``playlist.csv``, ``movie_length.csv``, ``stimuli/{movie}.json``, ``stimuli/{noise}.npy``), and
returns a :class:`GroundTruth` (saved as ``{name}.truth.npz`` + ``{name}.truth.json``).

Timing model (matches the lab's frame arithmetic): the playlist's movies occupy consecutive display
frames from frame 0; each movie is a block of ``pad + L + 1 + pad`` frames whose content starts at
``block_start + pad`` (pad = 180); frames outside content are gray (0.5). Each display frame has one
frame-sync pulse (rising edge at the frame onset, ~2 ms high), preceded by ``n_spurious_pulses``
spurious pulses. Units fire Poisson spikes per display frame at a rate driven by the frame's
full-field intensity (ON/OFF units) or by one noise pixel (RF units). Everything is O(frames +
spikes); the only per-sample work is writing the analog data, built from reused noise blocks.

Units: samples at ``fs_hz``; µs for MCS timestamps; display frames at 60 Hz; ADC counts for analog.
See ``docs/synthetic-data.md``.
"""

from __future__ import annotations

import csv
import json
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import h5py
import numpy as np

from txpipe.errors import ConfigurationError, InputFileError

FRAME_RATE_HZ = 60.0
PAD_FRAMES = 180
GRAY = 0.5
CHIP_SIDE = 65
N_SENSORS = CHIP_SIDE * CHIP_SIDE

EDGE_SWITCHES = frozenset({
    "zero_spike_unit",         # extra unit with no Peaks rows at all
    "only_excluded_unit",      # extra unit whose Peaks rows all have IncludePeak = 0
    "spikes_at_bounds",        # the first unit also spikes at sample 0 and at sample n_samples - 1
    "unit_gaps",               # unit numbers 1, 2, 4, 5, 7, ... (gaps; lexical != numeric order)
    "no_frame_sync",           # analog data has only the light-reference channel
    "duration_mismatch",       # the .cmtr's LB.RecordingDuration is 1 s longer than the .cmcr's
    "dangling_link",           # the .cmtr's /Acquisition links to a .cmcr that does not exist
    "vlen_str_attrs",          # root string attributes written as variable-length str (McsPy P3)
    "sensor_id_out_of_range",  # the last regular unit has SensorID 4226 (McsPy P9)
})
RESPONSE_KINDS = ("on", "off", "rf", "none")
DEFAULT_KINDS = ("on", "off", "rf", "rf", "on", "off", "rf", "none")

# --- MCS type ids (reference/mcs-format.md §2-§3) -----------------------------------------------
_TYPE_IDS = {
    "CmosMeaFile": "cabb6cdd-47e0-417a-8e04-5664cbbc449b",
    "Acquisition": "650d88ce-9f24-4b20-ac2b-254defd12761",
    "ChannelStream": "9217aeb4-59a0-4d7f-bdcd-0371c9fd66eb",
    "ChannelData": "5efe7932-dcfe-49ff-ba53-25accff5d622",
    "ChannelMeta": "9e8ac9cd-5571-4ee5-bbfa-8e9d9c436daa",
    "SpikeSorter": "7263d1b7-f57a-42de-8f51-5d6326d22f2a",
    "SingleUnit": "0e5a97df-9de0-4a22-ab8c-54845c1ff3b9",
}
_PLACEHOLDER_NS = uuid.UUID("00000000-0000-0000-0000-00000000cafe")
MEASURE_FIELDS = ("SDScore", "AmplitudeSD", "RSTD", "Separability", "IsoINN", "IsoIBg", "NoiseStd",
                  "SNR", "Skewness", "Kurtosis", "IcaConverged", "IcaIterations")
UNIT_INFO_DTYPE = np.dtype(
    [(n, "<i4") for n in ("UnitID", "SensorID", "RoiID", "Row", "Column")]
    + [(n, "<f8") for n in MEASURE_FIELDS[:10]] + [("IcaConverged", "<i4"), ("IcaIterations", "<i4")]
)
_CHANNEL_META_DTYPE = np.dtype([
    ("ChannelID", "<i4"), ("RowIndex", "<i4"), ("GroupID", "<i4"), ("ElectrodeGroupID", "<i4"),
    ("Label", "S32"), ("RawDataType", "S16"), ("Unit", "S8"), ("Exponent", "<i4"), ("ADZero", "<i4"),
    ("Tick", "<i8"), ("ConversionFactor", "<i8"), ("ADCBits", "<i4"), ("HighPassFilterType", "S16"),
    ("HighPassFilterCutOffFrequency", "S16"), ("HighPassFilterOrder", "<i4"),
    ("LowPassFilterType", "S16"), ("LowPassFilterCutOffFrequency", "S16"),
    ("LowPassFilterOrder", "<i4"),
])


def peaks_dtype(cutout_len: int = 60, cutout_dtype: str = "<f8") -> np.dtype:
    """The ``Peaks`` compound dtype: Timestamp (µs), PeakAmplitude, IncludePeak, '1'..'n' samples."""
    return np.dtype([("Timestamp", "<i8"), ("PeakAmplitude", "<f8"), ("IncludePeak", "<i4")]
                    + [(str(i + 1), cutout_dtype) for i in range(cutout_len)])


# --- stimulus protocol --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Movie:
    """One playlist movie.

    ``intensity`` is the full-field mean intensity (0..1) of each content display frame, shape
    (L,). ``pixels`` is the (L, h, w) uint8 0/255 noise movie for noise movies (else None).
    ``config`` is the stimulus JSON written to ``stimuli/{name}.json`` (None: none written).
    """

    name: str
    intensity: np.ndarray
    config: Mapping[str, object] | None = None
    pixels: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        """Content length L in display frames."""
        return int(self.intensity.shape[0])


@dataclass(frozen=True, eq=False)
class Protocol:
    """An ordered playlist of movies shown at ``frame_rate_hz`` with ``pad_frames`` gray padding."""

    movies: tuple[Movie, ...]
    playlist_name: str = "synthetic_playlist"
    pad_frames: int = PAD_FRAMES
    frame_rate_hz: float = FRAME_RATE_HZ

    def block_starts(self) -> np.ndarray:
        """First display frame of each movie block, int64 (n_movies,)."""
        sizes = [2 * self.pad_frames + m.n_frames + 1 for m in self.movies]
        return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)

    def content_starts(self) -> np.ndarray:
        """First content display frame of each movie, int64 (n_movies,)."""
        return self.block_starts() + self.pad_frames

    @property
    def n_frames(self) -> int:
        """Total display frames of the playlist."""
        return int(sum(2 * self.pad_frames + m.n_frames + 1 for m in self.movies))

    def frame_intensity(self) -> np.ndarray:
        """Full-field intensity of every display frame, float64 (n_frames,)."""
        out = np.full(self.n_frames, GRAY)
        for m, c in zip(self.movies, self.content_starts()):
            out[c:c + m.n_frames] = m.intensity
        return out


def _config(name: str, start: int, trial: int, repeat: int, desc: str, **extra: int) -> dict:
    return {"name": name, "description": desc,
            "section_kwargs": {"start_frame": start, "trial_length_frame": trial, "repeat": repeat,
                               **extra}}


def gray_movie(name: str, n_frames: int, *, level: float = GRAY,
               config: Mapping[str, object] | None = None) -> Movie:
    """A uniform movie of *n_frames* display frames at *level* (0..1)."""
    if config is None:
        config = _config(name, 0, n_frames, 1, "uniform gray")
    return Movie(name, np.full(n_frames, float(level)), config)


def step_movie(name: str, *, pre_frames: int = 60, on_frames: int = 60, off_frames: int = 60,
               repeat: int = 3, post_frames: int = 60, on_level: float = 1.0,
               off_level: float = 0.0, base_level: float = GRAY) -> Movie:
    """Full-field steps: *pre_frames* at base, *repeat* × (on, off), *post_frames* at base (frames)."""
    trial = np.concatenate([np.full(on_frames, on_level), np.full(off_frames, off_level)])
    inten = np.concatenate([np.full(pre_frames, base_level), np.tile(trial, repeat),
                            np.full(post_frames, base_level)])
    cfg = _config(name, pre_frames, on_frames + off_frames, repeat,
                  f"full-field ON/OFF steps: {on_frames} on + {off_frames} off frames, {repeat}x")
    return Movie(name, inten, cfg)


def noise_movie(name: str, *, n_frames: int = 1200, size: int = 15, hold_frames: int = 4,
                seed: int = 0, config: Mapping[str, object] | None = None) -> Movie:
    """Binary dense noise (size × size, 0/255), each noise frame held *hold_frames* display frames."""
    rng = np.random.default_rng([seed, 0x4E015E])
    n_noise = -(-n_frames // hold_frames)
    frames = (rng.random((n_noise, size, size)) < 0.5).astype(np.uint8) * np.uint8(255)
    pixels = np.repeat(frames, hold_frames, axis=0)[:n_frames]
    if config is None:
        config = _config(name, 0, n_frames, 1, f"binary dense noise {size}x{size}, "
                         f"{FRAME_RATE_HZ / hold_frames:g} Hz, seed {seed}")
    return Movie(name, pixels.mean(axis=(1, 2)) / 255.0, config, pixels)


def intensity_movie(name: str, intensity: Sequence[float] | np.ndarray, *,
                    config: Mapping[str, object] | None = None) -> Movie:
    """A generic movie given as one full-field intensity (0..1) per content display frame."""
    inten = np.asarray(intensity, dtype=np.float64)
    if inten.ndim != 1 or inten.size == 0 or np.any((inten < 0) | (inten > 1)):
        raise ConfigurationError(f"movie {name!r}: intensity must be a non-empty 1-D array in 0..1")
    if config is None:
        config = _config(name, 0, inten.size, 1, "generic full-field movie")
    return Movie(name, inten, config)


def shipped_config_names() -> tuple[str, ...]:
    """Names (= movie keys) of the lab stimulus configs shipped in ``txpipe/stimuli``."""
    root = resources.files("txpipe") / "stimuli"
    return tuple(sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".json")))


def load_shipped_config(name: str) -> dict:
    """The shipped lab stimulus config ``txpipe/stimuli/{name}.json`` as a dict."""
    res = resources.files("txpipe") / "stimuli" / f"{name}.json"
    if not res.is_file():
        raise InputFileError(f"{res}: no shipped stimulus config {name!r} "
                             f"(have: {', '.join(shipped_config_names())})", path=str(res))
    return json.loads(res.read_text(encoding="utf-8"))


def lab_movie(name: str, *, seed: int = 0) -> Movie:
    """A movie for one shipped lab config, with plausible content and the config's exact values.

    Content length L = start_frame + trials + group gaps + start_frame (frames). The content is
    synthetic (e.g. the noise movie uses our own RNG, not the lab's r42 movie).
    """
    cfg = load_shipped_config(name)
    sk = cfg["section_kwargs"]
    start, trial, rep = sk["start_frame"], sk["trial_length_frame"], sk["repeat"]
    gc, gap = sk.get("group_count", 1), sk.get("group_gap", 0)
    n = 2 * start + gc * rep * trial + (gc - 1) * gap
    if "noise" in name:
        return noise_movie(name, n_frames=n, seed=seed, config=cfg)
    base, trial_i = GRAY, np.full(trial, GRAY)
    levels = [1.0] * gc
    if name.startswith("step_up") and "b0_30x" in name:
        base, trial_i = 0.0, np.r_[np.full(trial // 2, 1.0), np.zeros(trial - trial // 2)]
    elif name.startswith("step_up"):
        base, trial_i = GRAY, np.r_[np.zeros(trial // 2), np.full(trial - trial // 2, GRAY)]
    elif name.startswith("freq_step"):
        t = np.arange(trial // 5) / FRAME_RATE_HZ
        trial_i = np.concatenate([GRAY + GRAY * np.sign(np.sin(2 * np.pi * f * t) + 1e-12)
                                  for f in (0.5, 1, 2, 4, 10)])
        trial_i = np.r_[trial_i, np.full(trial - trial_i.size, GRAY)]
    elif name.startswith("green_blue"):
        q = trial // 4
        base, trial_i = 0.0, np.r_[np.ones(q), np.zeros(q), np.ones(q), np.zeros(trial - 3 * q)]
        if gc == 3:
            levels = [64 / 255, 128 / 255, 1.0]
    elif name.startswith("moving"):
        base = 0.0
        blk = trial // 8
        one = np.r_[np.full(blk // 2, 0.1), np.zeros(blk - blk // 2)]
        trial_i = np.r_[np.tile(one, 8), np.zeros(trial - 8 * blk)]
    inten = [np.full(start, base)]
    for g in range(gc):
        inten += [np.tile(trial_i * (levels[g] if base == 0.0 else 1.0), rep)]
        inten += [np.full(gap, base)] if g < gc - 1 else []
    inten.append(np.full(start, base))
    return Movie(name, np.clip(np.concatenate(inten), 0.0, 1.0), cfg)


def default_protocol(seed: int = 0) -> Protocol:
    """The small test protocol: ``baseline_127`` (180 frames), ``step_up_demo`` (480),
    ``dense_noise_15x15_15hz_demo`` (1200 frames = 20 s); 2,943 display frames ≈ 49 s."""
    return Protocol((lab_movie("baseline_127"), step_movie("step_up_demo"),
                     noise_movie("dense_noise_15x15_15hz_demo", n_frames=1200, seed=seed)))


def full_protocol(duration_s: float, *, seed: int = 0) -> Protocol:
    """A protocol filling roughly *duration_s* seconds (≥ 60 s): baseline, ON/OFF steps repeated
    (about a quarter of the time), and a dense-noise movie taking the rest."""
    avail = int(duration_s * FRAME_RATE_HZ) - 3 * (2 * PAD_FRAMES + 1) - 180 - 120 - 300
    if avail < 1200:
        raise ConfigurationError(f"full_protocol: duration_s={duration_s} is too short (need ≥ 60 s)")
    n_rep = max(3, int(0.25 * avail) // 120)
    n_noise = (avail - n_rep * 120) // 4 * 4
    return Protocol((lab_movie("baseline_127"), step_movie("step_up_on_off", repeat=n_rep),
                     noise_movie("dense_noise_15x15_15hz", n_frames=n_noise, seed=seed)))


# --- ground truth ---------------------------------------------------------------------------------


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


# --- the generator --------------------------------------------------------------------------------


def make_recording(
    out_dir: str | Path,
    *,
    name: str = "synthetic-Rec",
    duration_s: float | None = None,
    fs_hz: float = 20000.0,
    n_units: int = 8,
    rate_range_hz: tuple[float, float] = (2.0, 15.0),
    response_kinds: Sequence[str] | None = None,
    response_gain_hz: float = 40.0,
    rf_gain_hz: float = 80.0,
    protocol: Protocol | None = None,
    n_spurious_pulses: int = 4,
    frame_jitter: bool = True,
    cutout_len: int = 60,
    cutout_dtype: str = "<f8",
    excluded_frac: float = 0.2,
    light_lo_adc: int = 2000,
    light_hi_adc: int = 120000,
    light_noise_adc: float = 200.0,
    sync_high_adc: int = 80000,
    sync_noise_adc: float = 50.0,
    unit_attr_style: str = "array",
    edge: Iterable[str] = (),
    seed: int = 0,
    write_truth: bool = True,
) -> GroundTruth:
    """
    Write a synthetic ``.cmcr`` + ``.cmtr`` pair and the lab's side files into *out_dir*.

    Args:
        out_dir: Folder (created if missing). Files: ``{name}.cmcr``, ``{name}-.cmtr``,
            ``playlist.csv``, ``movie_length.csv``, ``stimuli/{movie}.json``,
            ``stimuli/{noise}.npy``, and ``{name}.truth.npz`` / ``.json`` if *write_truth*.
        name: Recording stem; the dataset id is ``name`` (the .cmtr stem minus its trailing ``-``).
        duration_s: Recording length in s; None: the protocol plus ~3 s. Shorter than the
            protocol needs is a ConfigurationError.
        fs_hz: Sampling rate in Hz; 1e6 / fs_hz must be an integer tick in µs.
        n_units: Regular units (edge switches may add up to two more).
        rate_range_hz: Baseline rates drawn uniformly per unit, spikes/s.
        response_kinds: Kind per regular unit ("on", "off", "rf", "none"); default cycles
            ``DEFAULT_KINDS``.
        response_gain_hz: Extra rate of ON/OFF units at full contrast, spikes/s.
        rf_gain_hz: Extra rate of RF units while their pixel has their polarity, spikes/s.
        protocol: The playlist; default :func:`default_protocol` (49 s of display frames).
        n_spurious_pulses: Frame-sync pulses before the first real frame (the lab drops 4).
        frame_jitter: Add ±1-sample jitter to frame onsets (else the ideal 333.3-sample grid).
        cutout_len: Samples per cutout; cutout_dtype: its numpy dtype string.
        excluded_frac: Extra IncludePeak = 0 rows per unit, as a fraction of its spikes.
        light_lo_adc, light_hi_adc, light_noise_adc: ch1 = lo + I·(hi − lo) + N(0, noise), ADC counts.
        sync_high_adc, sync_noise_adc: frame-sync pulse level and noise, ADC counts.
        unit_attr_style: "array" (faithful int32[1] unit attributes) or "scalar" (0-d; lets
            McsPy's ``Spike_Sorter`` wrapper work on numpy ≥ 2.4, mcs-format.md P1/P2).
        edge: Edge switches, a subset of ``EDGE_SWITCHES``.
        seed: Seeds everything (spikes, noise movie, GUIDs).
        write_truth: Save the ground truth beside the files.

    Returns:
        The :class:`GroundTruth`.
    """
    edge = tuple(sorted(set(edge)))
    bad = set(edge) - EDGE_SWITCHES
    if bad:
        raise ConfigurationError(f"unknown edge switch(es) {sorted(bad)}; known: {sorted(EDGE_SWITCHES)}")
    if unit_attr_style not in ("array", "scalar"):
        raise ConfigurationError(f"unit_attr_style must be 'array' or 'scalar', got {unit_attr_style!r}")
    tick_us = 1e6 / fs_hz
    if abs(tick_us - round(tick_us)) > 1e-9 or tick_us < 1:
        raise ConfigurationError(f"fs_hz={fs_hz}: 1e6/fs_hz must be a whole number of µs")
    tick_us = int(round(tick_us))
    protocol = protocol if protocol is not None else default_protocol(seed)
    kinds = list(response_kinds) if response_kinds is not None else \
        [DEFAULT_KINDS[i % len(DEFAULT_KINDS)] for i in range(n_units)]
    if len(kinds) != n_units or not set(kinds) <= set(RESPONSE_KINDS):
        raise ConfigurationError(f"response_kinds must hold {n_units} of {RESPONSE_KINDS}, got {kinds}")
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    (out / "stimuli").mkdir(parents=True, exist_ok=True)

    timing = _frame_timing(protocol, fs_hz, duration_s, n_spurious_pulses, frame_jitter, rng)
    n_samples = timing["n_samples"]
    duration_us = n_samples * tick_us
    paths = _write_side_files(out, protocol)
    cmcr, cmtr = out / f"{name}.cmcr", out / f"{name}-.cmtr"
    _write_cmcr(cmcr, timing, protocol, tick_us, light_lo_adc, light_hi_adc, light_noise_adc,
                sync_high_adc, sync_noise_adc, "no_frame_sync" not in edge,
                "vlen_str_attrs" in edge, seed, rng)
    plans = _plan_units(n_units, kinds, rate_range_hz, response_gain_hz, rf_gain_hz, edge, protocol,
                        cutout_len, rng)
    link = f"{name}_missing.cmcr" if "dangling_link" in edge else cmcr.name
    cmtr_dur = duration_us + (1_000_000 if "duration_mismatch" in edge else 0)
    units = _write_cmtr(cmtr, plans, timing, protocol, fs_hz, tick_us, link, cmtr_dur,
                        peaks_dtype(cutout_len, cutout_dtype), excluded_frac, unit_attr_style,
                        "vlen_str_attrs" in edge, "spikes_at_bounds" in edge, seed, rng)
    paths.update(cmcr=str(cmcr), cmtr=str(cmtr))
    noise = [m.name for m in protocol.movies if m.pixels is not None]
    truth = GroundTruth(
        name=name, dataset_id=cmtr.stem.rstrip("-"), seed=seed, fs_hz=float(fs_hz),
        tick_us=tick_us, n_samples=n_samples, duration_us=duration_us,
        frame_rate_hz=protocol.frame_rate_hz, n_spurious_pulses=n_spurious_pulses,
        frame_onsets=timing["onsets"], spurious_onsets=timing["spurious"],
        frame_intensity=protocol.frame_intensity(), playlist_name=protocol.playlist_name,
        movies=tuple(m.name for m in protocol.movies),
        movie_lengths=tuple(m.n_frames for m in protocol.movies),
        content_start_frames=tuple(int(x) for x in protocol.content_starts()),
        block_start_frames=tuple(int(x) for x in protocol.block_starts()),
        noise_movie=noise[0] if noise else None, pad_frames=protocol.pad_frames,
        light_lo_adc=light_lo_adc, light_hi_adc=light_hi_adc, sync_high_adc=sync_high_adc,
        edge=edge, units=tuple(units), paths=paths)
    if write_truth:
        truth.paths["truth"] = str(out / f"{name}.truth.npz")
        truth.save(out / f"{name}.truth.npz")
    return truth


def _frame_timing(protocol: Protocol, fs: float, duration_s: float | None, n_spurious: int,
                  jitter: bool, rng: np.random.Generator) -> dict:
    """Frame onsets (samples) with a silent lead-in, spurious pulses before, and a tail after."""
    period = fs / protocol.frame_rate_hz
    lead = int(0.5 * fs)
    spurious = lead + np.arange(n_spurious, dtype=np.int64) * int(0.1 * fs)
    first = lead + n_spurious * int(0.1 * fs) + int(0.2 * fs)
    k = np.arange(protocol.n_frames)
    onsets = first + np.round(k * period).astype(np.int64)
    if jitter:
        onsets += rng.choice(np.array([-1, 0, 0, 0, 1]), size=k.size)
        onsets[0] = first
    last_end = int(onsets[-1] + round(period))
    need = last_end + 1
    n = last_end + int(2.0 * fs) if duration_s is None else int(round(duration_s * fs))
    if n < need:
        raise ConfigurationError(f"duration_s={duration_s} is shorter than the protocol needs "
                                 f"({need / fs:.3f} s for {protocol.n_frames} display frames)")
    return dict(onsets=onsets, spurious=spurious, last_end=last_end, n_samples=n,
                period=period, fs=fs)


def _write_side_files(out: Path, protocol: Protocol) -> dict[str, str]:
    """playlist.csv, movie_length.csv, stimuli/{movie}.json and the noise .npy (lab formats)."""
    names = [m.name for m in protocol.movies]
    paths = {"playlist": str(out / "playlist.csv"), "movie_length": str(out / "movie_length.csv"),
             "stimuli_dir": str(out / "stimuli")}
    with open(out / "playlist.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["playlist_name", "movie_names"])
        w.writerow([protocol.playlist_name, repr([f"{n}.mov" for n in names])])
    with open(out / "movie_length.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["movie_name", "movie_length"])
        w.writerows([m.name, m.n_frames] for m in protocol.movies)
    for m in protocol.movies:
        if m.config is not None:
            p = out / "stimuli" / f"{m.name}.json"
            p.write_text(json.dumps(m.config, indent=4) + "\n")
            paths[f"config:{m.name}"] = str(p)
        if m.pixels is not None:
            p = out / "stimuli" / f"{m.name}.npy"
            np.save(p, m.pixels)
            paths[f"movie:{m.name}"] = str(p)
    return paths


# --- HDF5 writing helpers ---------------------------------------------------------------------------


def _ids(obj: h5py.HLObject, mcs_type: str, seed: int, vlen: bool = False) -> None:
    """The four ID.* attributes McsPy needs, as fixed-length ASCII (or vlen str if *vlen*)."""
    type_id = _TYPE_IDS.get(mcs_type) or str(uuid.uuid5(_PLACEHOLDER_NS, mcs_type))
    inst_id = str(uuid.uuid5(_PLACEHOLDER_NS, f"{seed}:{obj.file.filename}:{obj.name}"))
    inst = obj.name.rsplit("/", 1)[-1] or "root"
    for key, val in (("ID.Type", mcs_type), ("ID.TypeID", type_id), ("ID.Instance", inst),
                     ("ID.InstanceID", inst_id)):
        obj.attrs[key] = val if vlen else np.bytes_(val)


def _root_attrs(f: h5py.File, program: str, duration_us: int, seed: int, vlen: bool) -> None:
    _ids(f, "CmosMeaFile", seed, vlen)
    for key, val in (("ID.Instance", "C:\\Data\\" + Path(f.filename).name),
                     ("DateTime", "10.04.2025 11:12:57"), ("ProgramName", program),
                     ("ProgramVersion", "2.7.3")):
        f.attrs[key] = val if vlen else np.bytes_(val)
    f.attrs["FileVersion"] = np.array([1], np.int32)
    f.attrs["LB.RecordingDuration"] = np.array([duration_us], np.int64)


def _write_cmcr(path: Path, t: dict, protocol: Protocol, tick_us: int, lo: int, hi: int,
                light_noise: float, sync_hi: int, sync_noise: float, with_sync: bool, vlen: bool,
                seed: int, rng: np.random.Generator) -> None:
    """The raw file: root attributes, /Acquisition/Analog Data/ChannelData 1 (int32) + ChannelMeta."""
    n = t["n_samples"]
    n_ch = 2 if with_sync else 1
    onsets, last_end = t["onsets"], t["last_end"]
    bounds = np.concatenate([[0], onsets, [last_end, n]]).astype(np.int64)
    levels = np.round(lo + np.concatenate([[GRAY], protocol.frame_intensity(), [GRAY]])
                      * (hi - lo)).astype(np.int32)
    pulses = np.concatenate([t["spurious"], onsets])
    width = int(round(0.002 * t["fs"]))
    block = 1 << 17
    noise1 = np.round(rng.normal(0, light_noise, block)).astype(np.int32)
    noise2 = np.round(rng.normal(0, sync_noise, block)).astype(np.int32)
    with h5py.File(path, "w") as f:
        _root_attrs(f, "CMOS-MEA-Control", n * tick_us, seed, vlen)
        acq = f.create_group("Acquisition")
        _ids(acq, "Acquisition", seed)
        ad = acq.create_group("Analog Data")
        _ids(ad, "ChannelStream", seed)
        ad.attrs["SubType"] = np.bytes_("Auxiliary")
        meta = np.zeros(n_ch, _CHANNEL_META_DTYPE)
        meta["ChannelID"] = meta["RowIndex"] = np.arange(n_ch)
        meta["GroupID"], meta["Tick"], meta["ConversionFactor"] = 1, tick_us, 1
        meta["Label"] = [b"Light reference", b"Frame sync"][:n_ch]
        meta["RawDataType"], meta["Unit"], meta["Exponent"], meta["ADCBits"] = b"Int", b"V", -9, 24
        ds = ad.create_dataset("ChannelData 1", shape=(n_ch, n), dtype="<i4")
        _ids(ds, "ChannelData", seed)
        md = ad.create_dataset("ChannelMeta", data=meta)
        _ids(md, "ChannelMeta", seed)
        chunk = 1 << 21
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            i0 = np.searchsorted(bounds, a, "right") - 1
            i1 = np.searchsorted(bounds, b - 1, "right") - 1
            seg = np.clip(bounds[i0:i1 + 2], a, b)
            data = np.empty((n_ch, b - a), np.int32)
            data[0] = np.repeat(levels[i0:i1 + 1], np.diff(seg))
            data[0] += np.resize(np.roll(noise1, int(rng.integers(block))), b - a)
            if with_sync:
                edges = np.bincount(np.clip(pulses - a, 0, b - a), minlength=b - a + 1)
                edges -= np.bincount(np.clip(pulses + width - a, 0, b - a), minlength=b - a + 1)
                data[1] = (np.cumsum(edges)[:-1] > 0) * np.int32(sync_hi)
                data[1] += np.resize(np.roll(noise2, int(rng.integers(block))), b - a)
            ds[:, a:b] = data


@dataclass
class _UnitPlan:
    unit_num: int
    kind: str
    note: str
    sensor_id: int
    base: float
    gain: float
    lag: int
    pixel: tuple[int, int] | None
    polarity: int
    amp: float
    template: np.ndarray


def _plan_units(n_units: int, kinds: list[str], rate_range: tuple[float, float], gain: float,
                rf_gain: float, edge: tuple[str, ...], protocol: Protocol, n_cut: int,
                rng: np.random.Generator) -> list[_UnitPlan]:
    """Unit numbers, sensors, rates, response models and templates (regular units, then edge units)."""
    extra = [e for e in ("zero_spike_unit", "only_excluded_unit") if e in edge]
    total = n_units + len(extra)
    nums = [i + 1 + (i // 2 if "unit_gaps" in edge else 0) for i in range(total)]
    sensors = rng.choice(N_SENSORS, total, replace=False) + 1
    noise = next((m for m in protocol.movies if m.pixels is not None), None)
    h, w = noise.pixels.shape[1:] if noise is not None else (15, 15)
    pix = rng.choice(h * w, total, replace=total > h * w)
    t = np.arange(n_cut) * 60.0 / n_cut
    plans = []
    for i in range(total):
        kind = kinds[i] if i < n_units else "none"
        note = extra[i - n_units] if i >= n_units else ""
        c = 20 + rng.uniform(-1, 1)
        wid = rng.uniform(1.5, 3.0)
        tpl = -np.exp(-((t - c) / wid) ** 2) + 0.35 * np.exp(-((t - c - 4 * wid) / (2 * wid)) ** 2)
        tpl /= -tpl.min()
        pol = (1 if (i % 2 == 0) else -1) if kind == "rf" else 0
        plans.append(_UnitPlan(
            unit_num=nums[i], kind=kind, note=note, sensor_id=int(sensors[i]),
            base=float(rng.uniform(*rate_range)), gain=rf_gain if kind == "rf" else
            (gain if kind in ("on", "off") else 0.0),
            lag=int(rng.integers(3, 9)) if kind == "rf" else int(rng.integers(2, 6)),
            pixel=(int(pix[i] // w), int(pix[i] % w)) if kind == "rf" else None, polarity=pol,
            amp=float(rng.uniform(40, 200)), template=tpl))
    if "sensor_id_out_of_range" in edge and n_units:
        plans[n_units - 1].sensor_id = N_SENSORS + 1
        plans[n_units - 1].note = "sensor_id_out_of_range"
    return plans


def _unit_rates(p: _UnitPlan, protocol: Protocol, inten: np.ndarray) -> np.ndarray:
    """Rate of unit *p* in every display frame, spikes/s, float64 (n_frames,)."""
    if p.kind in ("on", "off"):
        drive = np.full(inten.size, GRAY)
        drive[p.lag:] = inten[:inten.size - p.lag]
        sign = 1.0 if p.kind == "on" else -1.0
        return p.base + p.gain * np.clip(2 * sign * (drive - GRAY), 0, None)
    if p.kind == "rf":
        v = np.full(inten.size, GRAY)
        for m, c in zip(protocol.movies, protocol.content_starts()):
            if m.pixels is not None:
                v[c:c + m.n_frames] = m.pixels[:, p.pixel[0], p.pixel[1]] / 255.0
        drive = np.full(inten.size, GRAY)
        drive[p.lag:] = v[:v.size - p.lag]
        return p.base + p.gain * np.clip(2 * p.polarity * (drive - GRAY), 0, None)
    return np.full(inten.size, p.base)


def _draw_spikes(rates: np.ndarray, base: float, t: dict, rng: np.random.Generator) -> np.ndarray:
    """Poisson spikes per frame interval (+ lead-in and tail at *base*), unique sorted samples."""
    fs, onsets, n = t["fs"], t["onsets"], t["n_samples"]
    starts = np.concatenate([[0], onsets, [t["last_end"]]])
    ends = np.concatenate([onsets, [t["last_end"], n]])
    lens = ends - starts
    lam = np.concatenate([[base], rates, [base]]) * lens / fs
    counts = rng.poisson(lam)
    pos = np.repeat(starts, counts) + (rng.random(counts.sum()) * np.repeat(lens, counts)).astype(np.int64)
    return np.unique(pos)


def _write_cmtr(path: Path, plans: list[_UnitPlan], t: dict, protocol: Protocol, fs: float,
                tick_us: int, link: str, duration_us: int, pdtype: np.dtype, excluded_frac: float,
                attr_style: str, vlen: bool, at_bounds: bool, seed: int,
                rng: np.random.Generator) -> list[UnitTruth]:
    """The spike-sorter file, one unit at a time (memory O(one unit)); returns the unit truths."""
    n, n_cut = t["n_samples"], len(pdtype.names) - 3
    inten = protocol.frame_intensity()
    cut_noise = rng.normal(0, 0.05, (4096, n_cut))
    infos, truths = [], []
    with h5py.File(path, "w") as f:
        _root_attrs(f, "CMOS-MEA-Tools", duration_us, seed, vlen)
        f["Acquisition"] = h5py.ExternalLink(link, "/Acquisition")
        ss = f.create_group("Spike Sorter")
        _ids(ss, "SpikeSorter", seed)
        for k, p in enumerate(plans):
            if p.note == "zero_spike_unit":
                inc = np.zeros(0, np.int64)
            elif p.note == "only_excluded_unit":
                inc = np.zeros(0, np.int64)
            else:
                inc = _draw_spikes(_unit_rates(p, protocol, inten), p.base, t, rng)
                if at_bounds and k == 0:
                    inc = np.union1d(inc, [0, n - 1])
            n_exc = 0 if p.note == "zero_spike_unit" else \
                max(int(rng.poisson(excluded_frac * inc.size)), 20 if p.note == "only_excluded_unit" else 0)
            exc = np.setdiff1d(rng.integers(0, n, n_exc), inc)
            samples = np.concatenate([inc, exc])
            flag = np.r_[np.ones(inc.size, np.int32), np.zeros(exc.size, np.int32)]
            order = np.argsort(samples, kind="stable")
            samples, flag = samples[order], flag[order]
            scale = np.where(flag == 1, 1.0, 0.3) * p.amp * (1 + 0.1 * rng.standard_normal(samples.size))
            peaks = np.empty(samples.size, pdtype)
            peaks["Timestamp"] = samples * tick_us
            peaks["PeakAmplitude"] = -scale
            peaks["IncludePeak"] = flag
            cut = np.resize(np.roll(cut_noise, int(rng.integers(len(cut_noise))), axis=0),
                            (samples.size, n_cut))
            cut = (cut + p.template) * scale[:, None]
            cut_view = _cutout_view(peaks)
            cut_view[...] = cut
            m = flag == 1
            wf = np.asarray(cut_view[m], np.float64).mean(axis=0).astype(np.float32) if m.any() \
                else np.zeros(0, np.float32)
            row, col = (p.sensor_id - 1) % CHIP_SIDE + 1, (p.sensor_id - 1) // CHIP_SIDE + 1
            meas = _measures(p, rng)
            info = np.zeros(1, UNIT_INFO_DTYPE)
            info[0] = (p.unit_num, p.sensor_id, 1, row, col, *meas.values())
            infos.append(info)
            g = ss.create_group(f"Unit {p.unit_num}")
            _ids(g, "SingleUnit", seed)
            for key, val in (("UnitID", p.unit_num), ("SensorID", p.sensor_id), ("RoiID", 1),
                             ("Row", row), ("Column", col)):
                g.attrs[key] = np.int32(val) if attr_style == "scalar" else np.array([val], np.int32)
            for dname, data in (("Peaks", peaks), ("Unit Info", info),
                                ("RoiSTAs", np.zeros((9, n_cut), np.float32)),
                                ("Source", np.zeros(1000, np.float32)),
                                ("Unmixing", np.eye(9, dtype=np.float32))):
                d = g.create_dataset(dname, data=data)
                _ids(d, dname.replace(" ", ""), seed)
            t_us = inc * tick_us
            truths.append(UnitTruth(
                unit_num=p.unit_num, kind=p.kind, note=p.note, spike_times_us=t_us,
                spike_samples=np.round(t_us * fs / 1e6).astype(np.int64),
                amplitudes=peaks["PeakAmplitude"][m].astype(np.float64), waveform=wf,
                template=p.template, n_excluded=int((~m).sum()), row=row, col=col,
                sensor_id=p.sensor_id, base_rate_hz=p.base, gain_hz=p.gain, latency_frames=p.lag,
                rf_pixel=p.pixel, rf_polarity=p.polarity, measures=meas))
        units = ss.create_dataset("Units", data=np.concatenate(infos) if infos
                                  else np.zeros(0, UNIT_INFO_DTYPE))
        _ids(units, "Units", seed)
    return truths


def _cutout_view(peaks: np.ndarray) -> np.ndarray:
    """A writable (n, n_cut) view of the cutout fields of a packed Peaks array."""
    n_cut = len(peaks.dtype.names) - 3
    ft = peaks.dtype.fields["1"][0]
    off = peaks.dtype.fields["1"][1]
    raw = peaks.view(np.uint8).reshape(peaks.size, peaks.dtype.itemsize)
    return raw[:, off:off + n_cut * ft.itemsize].view(ft)


def _measures(p: _UnitPlan, rng: np.random.Generator) -> dict[str, float]:
    """Plausible quality measures in Unit Info order (floats; IcaConverged/IcaIterations whole)."""
    noise_std = float(rng.uniform(8, 15))
    return {"SDScore": float(rng.uniform(5, 20)), "AmplitudeSD": float(0.1 * p.amp),
            "RSTD": float(rng.uniform(0.05, 0.3)), "Separability": float(rng.uniform(0.5, 1)),
            "IsoINN": float(rng.uniform(0.5, 1)), "IsoIBg": float(rng.uniform(0.5, 1)),
            "NoiseStd": noise_std, "SNR": float(p.amp / noise_std),
            "Skewness": float(rng.normal(0, 0.5)), "Kurtosis": float(rng.uniform(2, 5)),
            "IcaConverged": 1.0, "IcaIterations": float(rng.integers(5, 60))}


__all__ = [
    "DEFAULT_KINDS", "EDGE_SWITCHES", "FRAME_RATE_HZ", "GroundTruth", "Movie", "PAD_FRAMES",
    "Protocol", "UnitTruth", "default_protocol", "full_protocol", "gray_movie", "intensity_movie",
    "lab_movie", "load_shipped_config", "make_recording", "noise_movie", "peaks_dtype",
    "shipped_config_names", "step_movie",
]
