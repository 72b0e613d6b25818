"""
The generator: :func:`make_recording` writes a synthetic ``.cmcr`` + ``.cmtr`` pair, the lab's side
files and the ground truth, using the frame-timing model in ``_frame_timing``.

Timing model (matches the lab's frame arithmetic): each display frame has one frame-sync pulse
(rising edge at the frame onset, ~2 ms high), preceded by ``n_spurious_pulses`` spurious pulses,
after a silent lead-in and followed by a tail. Units: samples at ``fs_hz``; display frames at 60 Hz.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import h5py
import numpy as np

from txpipe.errors import ConfigurationError
from txpipe.synth import sensor as _sensor
from txpipe.synth.mcs_writer import _ids, _write_cmcr, _write_cmtr, peaks_dtype
from txpipe.synth.protocol import Protocol, _write_side_files, default_protocol
from txpipe.synth.spikes import DEFAULT_KINDS, RESPONSE_KINDS, _plan_units
from txpipe.synth.truth import GroundTruth

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
    sensor_seconds: float | None = None,
    sensor_noise_adc: float = 8.0,
    axon_step_samples: int = 2,
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
        sensor_seconds: Also write the full-chip sensor stream for the first *sensor_seconds* s
            (169 MB per s at 20 kHz) with planted footprints (soma, neighbours, axon), DC offsets,
            slow drift and noise (``txpipe.synth.sensor``); None or 0: no sensor stream.
        sensor_noise_adc: Sensor noise sd, ADC counts.
        axon_step_samples: Delay added per axon sensor along a unit's axon, samples.

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
    sensor_truth, footprints = None, ()
    if sensor_seconds:
        n_sensor = int(round(float(sensor_seconds) * fs_hz))
        if not 0 < n_sensor <= n_samples:
            raise ConfigurationError(f"sensor_seconds={sensor_seconds} must be in (0, {n_samples / fs_hz:g}] s")
        live = [(u.unit_num, u.row, u.col, u.spike_samples) for u in units
                if 1 <= u.sensor_id <= 65 * 65 and u.spike_samples.size]
        fps = _sensor.plan_footprints(live, rng, axon_step=axon_step_samples)
        with h5py.File(cmcr, "a") as f:
            sensor_truth = _sensor.write_sensor_stream(
                f, n_sensor, tick_us, fps, rng, noise_adc=sensor_noise_adc,
                ids=lambda obj, kind: _ids(obj, kind, seed))
        footprints = tuple(fp.to_json() for fp in fps)
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
        edge=edge, units=tuple(units), paths=paths, sensor=sensor_truth, footprints=footprints)
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
