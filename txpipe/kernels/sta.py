"""
Spike-triggered average (STA) of a dense-noise movie: the pure algorithm, no state, no I/O.

Conventions (see ``docs/sta.md``):

* A spike's *movie frame* ``f`` is the display frame shown when it occurred (the last frame whose
  first high sample is at or before the spike), counted from the movie's first content frame.
* ``cover_range=(c0, c1)`` (display frames, ``c0 < c1``) selects the frames ``f+c0 … f+c1-1``;
  the lab's default ``(-60, 0)`` is the second before the spike, the spike's own frame excluded.
* A spike is *used* when its whole window lies in the movie (``0 <= f+c0`` and ``f+c1 <= T``);
  the others are *excluded*. The STA is the mean of the used windows in raw pixel units (0…255),
  not normalised; with no used spike it is all-NaN.

The fast method never materialises one window per spike. With ``n[t]`` the number of used
spikes in movie frame ``t`` (``t`` from ``-c0`` to ``T-c1``) and ``M`` the movie as a
``(T, h*w)`` matrix, lag ``k`` of the summed window is::

    S[k] = sum_t n[t] * M[t + c0 + k] = n @ M[k : k + T - W + 1]

Frames repeat (the lab's 15 Hz noise is shown at 60 Hz, each frame held 4×), so the movie is cut
into R runs of identical frames and ``S[k] = Σ_r mass[k, r] · M_r``, where ``mass[k, r]`` — the
used spikes whose lag-k frame falls in run r — is a difference of two prefix sums of the counts.
For a block of units this is ONE BLAS matrix product ``(units·W × R) @ (R × h·w)``, with R = T
for a movie without repeats and R = T/4 for the lab's noise. It runs in float32 while every sum
stays an exact integer (< 2**24), else in float64; blocks are sized to ``max_temp_bytes``.
Sums are exact, so the result equals the straightforward
mean of materialised windows (:func:`sta_reference`) bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from txpipe.errors import ParameterError

_F32_EXACT = float(2**24)  # float32 holds every integer below this exactly


@dataclass(frozen=True)
class StaResult:
    """STAs of several units.

    Attributes:
        sta: float32 (n_units, W, h, w), raw pixel units; all-NaN rows for units with no used spike.
        n_used: int64 (n_units,), spikes whose window lies in the movie.
        n_excluded: int64 (n_units,), the other spikes.
    """

    sta: np.ndarray
    n_used: np.ndarray
    n_excluded: np.ndarray


def check_cover_range(cover_range: Sequence[int]) -> tuple[int, int]:
    """Return *cover_range* as two ints ``(c0, c1)`` with ``c0 < c1``; raise ParameterError otherwise."""
    try:
        c0, c1 = (int(x) for x in cover_range)
        ok = all(float(x) == int(x) for x in cover_range)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ParameterError(f"cover_range must be two whole numbers of display frames, got {cover_range!r}")
    if c0 >= c1:
        raise ParameterError(f"cover_range=({c0}, {c1}): the first frame offset must be below the second")
    return c0, c1


def _used(frames: np.ndarray, c0: int, c1: int, n_movie_frames: int) -> np.ndarray:
    f = np.asarray(frames, dtype=np.int64)
    return f[(f + c0 >= 0) & (f + c1 <= n_movie_frames)]


def sta_counts(
    spike_frames: Sequence[np.ndarray], movie: np.ndarray, cover_range: Sequence[int] = (-60, 0),
    *, chunk_units: int = 128, max_temp_bytes: int = 16 << 20,
    on_units: Callable[[int], object] | None = None,
) -> StaResult:
    """
    STAs of many units from frame counts (no window per spike is materialised).

    Args:
        spike_frames: per unit, int64 movie-frame index of each spike (any order; out-of-range
            frames are allowed and counted as excluded).
        movie: (T, h, w) uint8 (any real dtype works), display frames from the content start.
        cover_range: ``(c0, c1)`` display frames, ``c0 < c1``.
        chunk_units: units counted per pass (count matrix ``chunk_units × T``).
        max_temp_bytes: bound on the (units × W × runs) count block of one matrix product.
        on_units: called with the number of units finished after each pass (progress).

    Returns:
        :class:`StaResult` for the units in the given order.
    """
    c0, c1 = check_cover_range(cover_range)
    if movie.ndim != 3:
        raise ParameterError(f"movie must be (frames, h, w), got shape {movie.shape}")
    T, h, w = movie.shape
    W = c1 - c0
    n_units = len(spike_frames)
    out = np.full((n_units, W, h, w), np.nan, dtype=np.float32)
    n_total = np.array([np.asarray(f).size for f in spike_frames], dtype=np.int64)
    n_used = np.zeros(n_units, dtype=np.int64)
    L = T - W + 1  # number of spike frames whose window fits
    if L <= 0 or n_units == 0:
        return StaResult(out, n_used, n_total - n_used)
    flat = movie.reshape(T, h * w)
    # runs of identical consecutive frames (a 15 Hz noise shown at 60 Hz holds each frame 4×):
    # every lag needs only one product per run, not per frame
    starts = np.flatnonzero(np.r_[True, np.any(flat[1:] != flat[:-1], axis=1)])
    ends = np.r_[starts[1:], T]
    R = starts.size
    use_runs = R <= 0.75 * T
    runs = flat[starts] if use_runs else flat
    runs32 = runs.astype(np.float32)
    runs64: np.ndarray | None = None
    peak = float(flat.max()) if flat.size else 0.0
    k = np.arange(W)[:, None]
    hi_idx = np.clip(ends[None, :] - k, 0, L)  # (W, R) prefix indices
    lo_idx = np.clip(starts[None, :] - k, 0, L)
    lo = -c0
    per_block = max(1, min(chunk_units, max_temp_bytes // (W * (R if use_runs else T) * 16)))
    for a in range(0, n_units, chunk_units):
        b = min(n_units, a + chunk_units)
        # (units, L) counts of used spikes per frame t = lo + j, via one bincount
        idx_parts = []
        for i in range(a, b):
            f = _used(spike_frames[i], c0, c1, T)
            n_used[i] = f.size
            idx_parts.append(f - lo + (i - a) * L)
        counts = np.bincount(np.concatenate(idx_parts) if idx_parts else np.zeros(0, np.int64),
                             minlength=(b - a) * L).reshape(b - a, L)
        exact32 = float(n_used[a:b].max(initial=0)) * peak < _F32_EXACT
        if exact32:
            cm_dtype, mm = np.float32, runs32
        else:
            if runs64 is None:
                runs64 = runs.astype(np.float64)
            cm_dtype, mm = np.float64, runs64
        # prefix sums of the counts: the spikes whose lag-k frame falls in run r are
        # P[clip(run_end - k)] - P[clip(run_start - k)] (exact integers)
        prefix = np.zeros((b - a, L + 1), dtype=np.int64)
        np.cumsum(counts, axis=1, out=prefix[:, 1:])
        sums = np.empty((b - a, W, h * w), dtype=cm_dtype)
        for a2 in range(0, b - a, per_block):
            b2 = min(b - a, a2 + per_block)
            if use_runs:
                mass = (prefix[a2:b2][:, hi_idx] - prefix[a2:b2][:, lo_idx]).astype(cm_dtype)  # (u, W, R)
            else:  # few repeats: a Hankel block (row (u, k) = counts shifted right by k) is cheaper
                mass = np.zeros((b2 - a2, W, T), dtype=cm_dtype)
                for kk in range(W):
                    mass[:, kk, kk : kk + L] = counts[a2:b2]
            np.matmul(mass.reshape(-1, mm.shape[0]), mm, out=sums[a2:b2].reshape(-1, h * w))
        have = n_used[a:b] > 0
        if have.any():
            mean = sums[have].astype(np.float64) / n_used[a:b][have, None, None]
            out[a:b][have] = mean.reshape(-1, W, h, w).astype(np.float32)
        if on_units is not None:
            on_units(b - a)
    return StaResult(out, n_used, n_total - n_used)


def sta_reference(spike_frames: np.ndarray, movie: np.ndarray, cover_range: Sequence[int] = (-60, 0)) -> tuple[np.ndarray, int, int]:
    """
    The straightforward STA of one unit: materialise one window per used spike and average.

    This is the lab's method (memory ``n_used × W × h × w`` bytes); it is kept for tests and
    benchmarks only. Returns ``(sta float32 (W, h, w), n_used, n_excluded)``.
    """
    c0, c1 = check_cover_range(cover_range)
    T, h, w = movie.shape
    f_all = np.asarray(spike_frames, dtype=np.int64)
    f = _used(f_all, c0, c1, T)
    if f.size == 0:
        return np.full((c1 - c0, h, w), np.nan, np.float32), 0, int(f_all.size)
    windows = movie[f[:, None] + np.arange(c0, c1)]  # (n, W, h, w)
    return windows.mean(axis=0).astype(np.float32), int(f.size), int(f_all.size - f.size)


__all__ = ["StaResult", "check_cover_range", "sta_counts", "sta_reference"]
