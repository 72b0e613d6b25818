"""
Step 1, ``load_recording``: a ``.cmcr`` + ``.cmtr`` pair into the state (layout: ``docs/layout.md``).

Writes (replacing any previous recording data wholesale): ``/units/{unit_id}`` (attrs row, col,
sensor_id, unit_num, spike_count, n_excluded_peaks; leaves spike_times uint64 samples, waveform
float32, firing_rate_10hz float32 spikes/s, unit_info dict), ``/stimulus/light_reference/*``
float32 ADC counts, ``/metadata/{acquisition_rate, sample_interval, n_samples,
recording_duration_s, frame_timestamps, frame_time, dataset_id}``, ``/metadata/sys_meta/{cmcr,
cmtr}`` (file attributes), ``/metadata/sensor_conversion`` and ``/metadata/analog_conversion/{ch1,
ch2}`` (the MCS ADC conversions, when the ``.cmcr`` has them) and ``/source_files`` attrs. Differences from the lab's pipeline are
listed in ``docs/steps.md``.
"""

from __future__ import annotations

import inspect
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from txpipe.mcs import frames

from txpipe.mcs import reader as mcs
from txpipe.core.changes import Changes
from txpipe.errors import ConfigurationError, FrameSyncError, McsFormatError, ParameterError
from txpipe.core.fingerprint import file_fingerprint, value_digest
from txpipe.core.paths import (
    ACQUISITION_RATE,
    ANALOG_CONVERSION,
    DATASET_ID,
    FRAME_TIME,
    FRAME_TIMESTAMPS,
    LIGHT_REFERENCE,
    METADATA,
    SAMPLE_INTERVAL,
    SENSOR_CONVERSION,
    SOURCE_FILES,
    STIMULUS,
    SYS_META,
    UNITS,
    unit_id_for,
    unit_path,
)
from txpipe.core.dataset_id import check_dataset_id, dataset_id_for
from txpipe.core.journal import encode_param
from txpipe.core.params import Param, as_path
from txpipe.core.session import PipelineSession
from txpipe.core.step import step
from txpipe.steps.classic import classic_signature, given_params

log = structlog.get_logger("txpipe")

RATE_BIN_US = 100_000  # firing_rate_10hz bins: 100 ms
TYPICAL_FS_HZ = (1000.0, 100000.0)
DURATION_ERROR_REL = 0.01  # analog length vs LB.RecordingDuration: > 1 % is an error
DOWNSAMPLED = (("10hz", 10.0), ("1khz", 1000.0))


@dataclass(frozen=True)
class LoadResult:
    """What a classic ``load_recording`` call did: the file, the dataset id, the unit count and
    the warnings raised on the way (a cached result says so here)."""

    hdf5_path: Path
    dataset_id: str
    num_units: int
    warnings: list[str] = field(default_factory=list)


# --- helpers -------------------------------------------------------------------------------------


def block_mean(x: np.ndarray, factor: int) -> np.ndarray:
    """Means of consecutive blocks of *factor* samples; a shorter last block is averaged too.

    Returns float32 of length ``ceil(len(x) / factor)``.
    """
    n = x.shape[0]
    full = n // factor
    out = np.empty(-(-n // factor), np.float32)
    if full:
        out[:full] = x[: full * factor].reshape(full, factor).mean(axis=1, dtype=np.float64)
    if n % factor:
        out[full] = x[full * factor :].mean(dtype=np.float64)
    return out


def firing_rate_10hz(t_us: np.ndarray, duration_us: int) -> tuple[np.ndarray, int]:
    """
    Spikes/s in 100 ms bins from t = 0 over the whole recording (the lab's histogram rule).

    ``n_bins = ceil(duration_us / 100 000)``; a spike exactly on the last edge counts in the last
    bin (numpy ``histogram`` semantics); spikes beyond it are dropped and counted.

    Returns:
        (float32 (n_bins,), number of spikes dropped).
    """
    n_bins = max(1, math.ceil(duration_us / RATE_BIN_US))
    t = np.asarray(t_us, np.int64)
    idx = t // RATE_BIN_US
    idx[t == n_bins * RATE_BIN_US] = n_bins - 1
    ok = (idx >= 0) & (idx < n_bins)
    counts = np.bincount(idx[ok], minlength=n_bins)
    return (counts * (1e6 / RATE_BIN_US)).astype(np.float32), int(t.size - np.count_nonzero(ok))


def _plain(v: Any) -> Any:
    """An MCS attribute value as the state can hold it (string arrays become lists of str)."""
    if isinstance(v, np.ndarray):
        if v.dtype.kind in "biuf":
            return v
        return [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in v.reshape(-1)]
    if isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def _sys_meta(attrs: dict[str, object]) -> dict[str, Any]:
    return {str(k).replace("/", "_") or "_": _plain(v) for k, v in attrs.items()}


def _check_min_interval(v: Any) -> None:
    if isinstance(v, bool) or not (isinstance(v, (int, float)) and 0 <= v < 1):
        raise ParameterError(f"min_frame_interval_s must be in [0, 1) s, got {v!r}")


def _check_fs(cmcr: mcs.CmcrData, warnings: list[str]) -> float:
    fs = 1e6 / cmcr.tick_us
    if not TYPICAL_FS_HZ[0] <= fs <= TYPICAL_FS_HZ[1]:
        warnings.append(f"{cmcr.path}: acquisition rate {fs:g} Hz is outside the typical {TYPICAL_FS_HZ[0]:g}-{TYPICAL_FS_HZ[1]:g} Hz")
    if cmcr.duration_us is None:
        warnings.append(f"{cmcr.path}: no LB.RecordingDuration; fs {fs:g} Hz from the ChannelMeta tick was not cross-checked")
        return fs
    diff_us = cmcr.analog_duration_us - cmcr.duration_us
    if abs(diff_us) > cmcr.tick_us:
        msg = (
            f"{cmcr.path}: {cmcr.n_samples} analog samples x {cmcr.tick_us} us tick = {cmcr.analog_duration_us} us, "
            f"but LB.RecordingDuration is {cmcr.duration_us} us (fs from the tick {fs:g} Hz; from the duration "
            f"{cmcr.n_samples / (cmcr.duration_us / 1e6) if cmcr.duration_us else float('inf'):g} Hz)"
        )
        if cmcr.duration_us == 0 or abs(diff_us) > DURATION_ERROR_REL * cmcr.duration_us:
            raise McsFormatError(msg + f": they disagree by more than {DURATION_ERROR_REL:.0%}", path=str(cmcr.path))
        warnings.append(msg)
    return fs


# --- the step ------------------------------------------------------------------------------------


def _preflight(params: dict[str, Any]) -> None:
    """Both input files exist (before any work)."""
    for what, key in (("recording (.cmcr)", "cmcr_path"), ("spike-sorter file (.cmtr)", "cmtr_path")):
        if not Path(params[key]).is_file():
            raise FileNotFoundError(f"{params[key]}: no such {what}")
    dataset_id_for(params["cmtr_path"], params["dataset_id"])


@step("load_recording", version="1", method=True, preflight=_preflight)
def load_recording_step(
    state: Any,
    cmcr_path: str = Param(help="raw recording (.cmcr)", normalize=as_path),
    cmtr_path: str = Param(help="spike-sorter result (.cmtr)", normalize=as_path),
    dataset_id: str | None = Param(None, help="dataset id (default: the .cmtr name without trailing '-')",
                                   check=check_dataset_id),
    *,
    frame_threshold: float = Param(frames.EDGE_THRESHOLD, unit="fraction of the sync trace's 99.9th percentile",
                                   help="frame-edge threshold"),
    drop_first_edges: int = Param(frames.DROP_FIRST_EDGES, unit="edges", help="leading frame-sync edges dropped"),
    min_frame_interval_s: float = Param(frames.MIN_INTERVAL_S, unit="s", help="frame edges closer than this are merged",
                                        check=_check_min_interval),
    require_frame_sync: bool = Param(True, help="no frame-sync pulses is an error (else a warning)"),
) -> Changes:
    """
    Read a recording pair into the state (SPEC §5.1).

    Args:
        cmcr_path, cmtr_path: the raw-data and spike-sorter files.
        dataset_id: default: the CMTR stem without trailing ``-``.
        frame_threshold: frame-edge threshold, fraction of the sync trace's 99.9th percentile.
        drop_first_edges: leading frame-sync edges dropped (the lab's 4 start pulses).
        min_frame_interval_s: frame edges closer than this (s) to the previous one are merged.
        require_frame_sync: True: no frame-sync pulses is a FrameSyncError; False: a WARNING and
            an empty ``frame_timestamps``.

    Raises:
        McsFileError, McsFormatError, McsPairError: unusable or mismatched input files.
        FrameSyncError: no frame-sync channel or pulses (with ``require_frame_sync``).
        ConfigurationError: a bad dataset id. ParameterError: bad frame parameters.
    """
    did = dataset_id_for(cmtr_path, dataset_id)
    warnings: list[str] = []
    cmcr, cmtr = mcs.read_pair(cmcr_path, cmtr_path)
    fs = _check_fs(cmcr, warnings)
    n = cmcr.n_samples
    duration_us = cmcr.analog_duration_us

    ch = Changes()
    for p in (UNITS, STIMULUS, METADATA, SOURCE_FILES):
        ch.delete(p, missing_ok=True)

    # The int32 analog block is the largest transient: digest it and detect frames on it first,
    # then convert the channels and drop it, so it never coexists with the detector's temporaries
    # and the float32 copies at once.
    analog = cmcr.analog
    cmcr_file, cmcr_attributes = cmcr.path, cmcr.attributes
    sensor_conv = mcs.conversion(cmcr.sensor_meta)
    analog_conv = {f"ch{c + 1}": conv for c in range(min(2, cmcr.channel_meta.size))
                   if (conv := mcs.conversion(cmcr.channel_meta[c:c + 1])) is not None}
    analog_digest = value_digest(analog)
    # frame timestamps from the frame-sync channel (row 1)
    min_interval = int(round(min_frame_interval_s * fs))
    ft_attrs: dict[str, Any] = {"unit": "sample_index", "onset": "first_high_sample", "threshold": float(frame_threshold),
                                "drop_first_edges": int(drop_first_edges), "min_interval_samples": min_interval}
    try:
        if analog.shape[0] < 2:
            raise FrameSyncError(f"{cmcr_file}: the analog stream has {analog.shape[0]} channel(s); no frame-sync channel (row 1)")
        try:
            ft = frames.detect_frame_onsets(analog[1], threshold=frame_threshold, drop_first=drop_first_edges,
                                            min_interval_samples=min_interval)
        except FrameSyncError as exc:
            raise FrameSyncError(f"{cmcr_file}: {exc}") from exc
    except FrameSyncError as exc:
        if require_frame_sync:
            raise
        warnings.append(f"{exc}; frame_timestamps left empty (require_frame_sync=False)")
        ft = np.zeros(0, np.uint64)
    check = frames.check_frame_intervals(ft, fs)
    if ft.size >= 2:
        warnings.extend(f"{cmcr_file}: frame sync: {p}" for p in check.problems)
        ft_attrs.update(median_interval_samples=check.median_interval_samples, frame_rate_hz=check.frame_rate_hz,
                        n_short_intervals=check.n_short_intervals, n_long_intervals=check.n_long_intervals)

    # light reference (ADC counts) and its block means
    for c in range(min(2, analog.shape[0])):
        raw = analog[c].astype(np.float32)
        ch.put(LIGHT_REFERENCE / f"raw_ch{c + 1}", raw, unit="adc_counts", rate_hz=fs)
        for tag, target in DOWNSAMPLED:
            factor = max(1, int(round(fs / target)))
            if abs(fs / factor - target) > 1e-9 * target:
                warnings.append(f"{tag}_ch{c + 1}: fs {fs:g} Hz is not a multiple of {target:g} Hz; blocks of {factor} samples give {fs / factor:g} Hz")
            ch.put(LIGHT_REFERENCE / f"{tag}_ch{c + 1}", block_mean(raw, factor), unit="adc_counts", rate_hz=fs / factor,
                   block_samples=factor, partial_last_block=bool(n % factor))
        del raw

    del analog, cmcr  # the state keeps only the float32 channels

    ch.put(ACQUISITION_RATE, float(fs), unit="Hz", source="ChannelMeta tick")
    ch.put(SAMPLE_INTERVAL, 1.0 / fs, unit="s")
    ch.put(METADATA / "n_samples", int(n))
    ch.put(METADATA / "recording_duration_s", duration_us / 1e6, unit="s")
    ch.put(FRAME_TIMESTAMPS, ft, **ft_attrs)
    ch.put(FRAME_TIME, ft.astype(np.float64) / fs, unit="s")
    ch.put(DATASET_ID, did)
    ch.put(SYS_META / "cmcr", _sys_meta(cmcr_attributes))
    # ADC conversions, value = (raw - ad_zero) * conversion_factor * 10**exponent [unit]: the
    # sensor one applies to the spike cutouts (waveforms), the analog ones to the light reference
    # (absent when the .cmcr has no sensor stream: the waveforms' physical unit is then unknown)
    if sensor_conv is not None:
        ch.put(SENSOR_CONVERSION, sensor_conv, source="SensorMeta")
    if analog_conv:
        ch.put(ANALOG_CONVERSION, analog_conv, source="ChannelMeta")
    ch.put(SYS_META / "cmtr", _sys_meta(cmtr.attributes))
    ch.set_attrs(SOURCE_FILES, cmcr_path=str(cmcr_path), cmtr_path=str(cmtr_path))

    # units, in CMTR unit-number order
    n_dropped = 0
    for u in cmtr.units:
        t_us = u.spike_times_us
        if t_us.size and t_us[0] < 0:
            raise McsFormatError(f"{cmtr.path}: unit {u.unit_num} has negative spike timestamps", path=str(cmtr.path))
        samples = np.round(t_us * fs / 1e6).astype(np.uint64)
        rate, dropped = firing_rate_10hz(t_us, duration_us)
        n_dropped += dropped
        up = unit_path(unit_id_for(u.unit_num))
        ch.set_attrs(up, row=int(u.row), col=int(u.col), sensor_id=int(u.sensor_id), unit_num=int(u.unit_num),
                     spike_count=int(samples.size), n_excluded_peaks=int(u.n_excluded))
        ch.put(up / "spike_times", samples, unit="sample_index")
        ch.put(up / "waveform", u.waveform.astype(np.float32), unit="cutout_mean")
        ch.put(up / "firing_rate_10hz", rate, unit="spikes/s", bin_s=RATE_BIN_US / 1e6)
        ch.put(up / "unit_info", {str(k): _plain(v) for k, v in u.info.items()})
    if n_dropped:
        warnings.append(f"{cmtr.path}: {n_dropped} spike(s) lie after the end of the analog recording; not counted in firing_rate_10hz")

    ch.add_input(file_fingerprint(cmcr_file, analog_digest))
    ch.add_input(file_fingerprint(cmtr.path, value_digest([(u.unit_num, u.spike_times_us, u.waveform) for u in cmtr.units])))
    ch.note(n_units=len(cmtr.units), n_frames=int(ft.size), acquisition_rate_hz=float(fs), warnings=warnings)
    for w in warnings:
        log.warning("load_recording_warning", dataset_id=did, message=w)
    log.info("recording_loaded", dataset_id=did, n_units=len(cmtr.units), n_frames=int(ft.size), n_samples=int(n),
             acquisition_rate_hz=float(fs))
    return ch


# --- the classic function ------------------------------------------------------------------------


def _cached(target: Path, params: dict[str, Any]) -> PipelineSession | None:
    """The loaded session if *target*'s journal has a load_recording with the same params and
    unchanged input files (size, mtime, sampled digest), else None."""
    s = PipelineSession.load(target, defer=True)
    want = {k: encode_param(v, k) for k, v in sorted(params.items())}
    for e in s.journal:
        if e.step != "load_recording":
            continue
        if dict(e.params) != want:
            break
        for inp in e.inputs:
            try:
                now = file_fingerprint(inp["path"])
            except OSError:
                break
            if any(now[k] != inp.get(k) for k in ("size", "mtime_ns", "sample_digest")):
                break
        else:
            return s
        break
    s.close()
    return None


def load_recording(
    *args: Any,
    output_dir: str | os.PathLike[str] = "artifacts",
    force: bool = False,
    defer_save: bool = False,
    session: Any = None,
    **params: Any,
) -> "LoadResult | Any":
    """
    Classic, path-based ``load_recording``; takes the step's parameters (see
    :func:`load_recording_step`).

    * default: load into a new session and save ``output_dir/{dataset_id}.h5`` atomically; return
      :class:`LoadResult`. If that file exists and ``force=False``: when its journal holds a
      ``load_recording`` with identical parameters and unchanged input files, the cached result is
      returned (a note in ``warnings``); otherwise :class:`FileExistsError`. ``force=True``
      replaces it atomically.
    * ``defer_save=True``: return the DEFERRED session; nothing is written.
    * ``session=s``: run on *s* and return it (``output_dir``, ``force`` unused).
    """
    sp = given_params(load_recording_step, args, params)
    if session is not None:
        if not isinstance(session, PipelineSession):
            raise TypeError(f"load_recording: session= must be a PipelineSession, got {type(session).__name__}")
        return session.run(load_recording_step, **sp)
    did = dataset_id_for(sp["cmtr_path"], sp["dataset_id"])
    if defer_save:
        return PipelineSession(output_dir=output_dir).run(load_recording_step, **sp)
    target = Path(output_dir) / f"{did}.h5"
    if target.exists() and not force:
        cached = _cached(target, sp)
        if cached is None:
            raise FileExistsError(
                f"{target}: exists and was not made by load_recording from the same inputs and parameters; "
                "pass force=True to replace it"
            )
        n_units = len(cached.units)
        cached.close()
        msg = f"using cached {target} (same inputs and parameters; skipped loading)"
        log.info("load_recording_cached", path=str(target), dataset_id=did)
        return LoadResult(target.absolute(), did, n_units, [msg])
    s = PipelineSession(output_dir=output_dir)
    s.run(load_recording_step, **sp)
    path = s.save(target, overwrite=True)
    warnings = list(s.journal[-1].notes.get("warnings", []))
    return LoadResult(path, did, len(s.units), warnings)


load_recording.__signature__ = classic_signature(  # type: ignore[attr-defined]
    load_recording_step, [],
    [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d)
     for n, d in (("output_dir", "artifacts"), ("force", False), ("defer_save", False), ("session", None))])


__all__ = ["LoadResult", "block_mean", "firing_rate_10hz", "load_recording", "load_recording_step"]
