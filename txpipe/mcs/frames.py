"""
Display frames: rising-edge detection on the frame-sync channel and frame ↔ sample helpers.

The lab's rule (reference ``lab-pipeline.md`` §1.3 step 5) is kept: the trace is normalised by
its 99.9th percentile, a rising edge is a jump of more than ``threshold`` (0.1) of that level
between two consecutive samples, and the first ``drop_first`` (4) detected edges are dropped.
Two differences, both deliberate (W-D4):

* the timestamp of a frame is the **first high sample** of its rising edge; the lab reported the
  sample just before the jump (one sample earlier);
* edges closer than ``min_interval_s`` to the previous kept edge are merged (noise on an edge),
  and :func:`check_frame_intervals` reports implausible inter-frame intervals.

Units: samples at the acquisition rate (``fs`` in Hz); display frames are indices into the
frame-timestamp array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from txpipe.errors import FrameSyncError, ParameterError, RecordingTooShortError

DROP_FIRST_EDGES = 4
EDGE_THRESHOLD = 0.1
NORMALISE_PERCENTILE = 99.9
MIN_INTERVAL_S = 0.004
NOMINAL_FRAME_RATE_HZ = 60.0
_CHUNK = 1 << 22


def rising_edges(trace: np.ndarray, threshold: float) -> np.ndarray:
    """
    First high sample of every rising edge of *trace*.

    A rising edge is a run of consecutive sample-to-sample increases greater than *threshold*
    (same units as *trace*); its onset is the sample right after the largest increase of the run.

    Args:
        trace: 1-D numeric array (any dtype).
        threshold: minimum increase between two consecutive samples.

    Returns:
        Sample indices, int64, increasing.
    """
    x = np.asarray(trace)
    n = x.shape[0]
    idx_parts, val_parts = [], []
    for a in range(0, max(n - 1, 0), _CHUNK):  # chunked: bounded temporary memory
        b = min(n, a + _CHUNK + 1)
        d = np.diff(x[a:b].astype(np.float64))
        hit = np.flatnonzero(d > threshold)
        idx_parts.append(hit + a)
        val_parts.append(d[hit])
    if not idx_parts:
        return np.zeros(0, np.int64)
    idx = np.concatenate(idx_parts).astype(np.int64)
    val = np.concatenate(val_parts)
    if idx.size == 0:
        return idx
    # group consecutive indices into runs, keep the largest increase of each run
    new_run = np.r_[True, np.diff(idx) > 1]
    run_id = np.cumsum(new_run) - 1
    order = np.lexsort((-val, run_id))  # per run: largest value first
    first_of_run = np.r_[True, np.diff(run_id[order]) > 0]
    peaks = np.sort(idx[order][first_of_run])
    return peaks + 1


def thin_edges(edges: np.ndarray, min_distance: int) -> np.ndarray:
    """
    Keep the first edge, then every edge at least *min_distance* samples after the last kept one.

    Loops once per *kept* edge (``np.searchsorted`` jumps over the dropped ones).
    """
    e = np.asarray(edges, np.int64)
    if min_distance <= 1 or e.size < 2:
        return e
    if np.all(np.diff(e) >= min_distance):
        return e
    keep = []
    i = 0
    while i < e.size:
        keep.append(i)
        i = int(np.searchsorted(e, e[i] + min_distance, side="left"))
    return e[np.asarray(keep, np.int64)]


def detect_frame_onsets(
    sync: np.ndarray,
    *,
    threshold: float = EDGE_THRESHOLD,
    drop_first: int = DROP_FIRST_EDGES,
    min_interval_samples: int = 0,
) -> np.ndarray:
    """
    Display-frame timestamps from the frame-sync trace.

    Args:
        sync: frame-sync trace, 1-D, ADC counts (any numeric dtype).
        threshold: edge threshold as a fraction of the trace's 99.9th percentile (the lab's 0.1);
            when that percentile is ≤ 0 the threshold is in raw units, as in the lab's code.
        drop_first: leading edges to drop (the lab's legacy rule: 4 spurious start pulses).
        min_interval_samples: edges closer than this to the previous kept edge are merged.

    Returns:
        uint64 (n_frames,): the first high sample of each kept rising edge.

    Raises:
        ParameterError: a negative *drop_first* or a non-positive *threshold*.
        FrameSyncError: no rising edge remains after dropping *drop_first*.
    """
    if not (isinstance(drop_first, (int, np.integer)) and drop_first >= 0):
        raise ParameterError(f"drop_first must be an int >= 0, got {drop_first!r}")
    if not (np.isfinite(threshold) and threshold > 0):
        raise ParameterError(f"frame-edge threshold must be a positive fraction, got {threshold!r}")
    x = np.asarray(sync)
    if x.ndim != 1 or x.size < 2:
        raise FrameSyncError(f"frame-sync trace must be 1-D with at least 2 samples, got shape {x.shape}")
    p = float(np.percentile(x, NORMALISE_PERCENTILE))
    raw_threshold = threshold * p if p > 0 else threshold
    edges = thin_edges(rising_edges(x, raw_threshold), min_interval_samples)
    if edges.size <= drop_first:
        raise FrameSyncError(
            f"frame-sync trace has {edges.size} rising edge(s) above {threshold:g} of its "
            f"{NORMALISE_PERCENTILE}th percentile ({p:g} ADC counts); at least {drop_first + 1} are "
            f"needed (the first {drop_first} are dropped)"
        )
    return edges[drop_first:].astype(np.uint64)


@dataclass(frozen=True)
class FrameCheck:
    """Inter-frame interval statistics (samples) and the problems found (human-readable)."""

    n_frames: int
    median_interval_samples: float
    frame_rate_hz: float
    n_short_intervals: int
    n_long_intervals: int
    problems: tuple[str, ...]


def check_frame_intervals(
    frame_timestamps: np.ndarray, fs: float, *, nominal_rate_hz: float = NOMINAL_FRAME_RATE_HZ, tolerance: float = 0.1
) -> FrameCheck:
    """
    Sanity check of the inter-frame intervals.

    Problems reported: a median frame rate more than *tolerance* (relative) from
    *nominal_rate_hz*; intervals shorter than half the median (double detections); intervals
    longer than 1.5 × the median (dropped frames or pauses between playbacks).
    """
    ft = np.asarray(frame_timestamps, np.int64)
    if ft.size < 2:
        return FrameCheck(int(ft.size), float("nan"), float("nan"), 0, 0, ("fewer than 2 frames",))
    d = np.diff(ft)
    med = float(np.median(d))
    rate = fs / med if med > 0 else float("inf")
    short = int(np.count_nonzero(d < 0.5 * med))
    long_ = int(np.count_nonzero(d > 1.5 * med))
    problems = []
    if abs(rate - nominal_rate_hz) > tolerance * nominal_rate_hz:
        problems.append(f"median frame rate {rate:.3f} Hz differs from the nominal {nominal_rate_hz:g} Hz")
    if short:
        problems.append(f"{short} inter-frame interval(s) shorter than half the median {med:.1f} samples")
    if long_:
        problems.append(f"{long_} inter-frame interval(s) longer than 1.5 x the median {med:.1f} samples")
    return FrameCheck(int(ft.size), med, rate, short, long_, tuple(problems))


def floor_frame(samples: np.ndarray | int, frame_timestamps: np.ndarray) -> np.ndarray:
    """
    The display frame showing at each sample: the last frame whose timestamp is ≤ the sample.

    Raises:
        RecordingTooShortError: a sample lies before the first frame.
    """
    ft = np.asarray(frame_timestamps, np.int64)
    s = np.asarray(samples, np.int64)
    f = np.searchsorted(ft, s, side="right") - 1
    if np.any(f < 0):
        raise RecordingTooShortError(f"sample(s) {s[f < 0][:5].tolist()} lie before the first display frame {ft[:1].tolist()}")
    return f


def frames_to_samples(frames: np.ndarray, frame_timestamps: np.ndarray, *, what: str = "frame") -> np.ndarray:
    """
    Map display-frame indices to acquisition samples (no clipping).

    Args:
        frames: frame indices, int, any shape.
        frame_timestamps: sample of each display frame, (n_frames,).
        what: words naming the frames in the error message.

    Returns:
        int64 samples, same shape as *frames*.

    Raises:
        RecordingTooShortError: a frame index is negative or ≥ n_frames (the recording has too
            few display frames).
    """
    ft = np.asarray(frame_timestamps)
    f = np.asarray(frames, np.int64)
    bad = (f < 0) | (f >= ft.size)
    if np.any(bad):
        raise RecordingTooShortError(
            f"{what}: frame index {int(f[bad].max() if np.any(f[bad] >= ft.size) else f[bad].min())} is outside "
            f"the recording's {ft.size} display frames (0..{ft.size - 1})"
        )
    return ft[f].astype(np.int64)


__all__ = [
    "DROP_FIRST_EDGES",
    "EDGE_THRESHOLD",
    "FrameCheck",
    "MIN_INTERVAL_S",
    "check_frame_intervals",
    "detect_frame_onsets",
    "floor_frame",
    "frames_to_samples",
    "rising_edges",
    "thin_edges",
]
