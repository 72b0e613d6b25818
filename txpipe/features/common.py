"""Vectorised helpers shared by the spike-based extractors (samples in, counts out)."""

from __future__ import annotations

import numpy as np


def sorted_samples(spike_times: np.ndarray) -> np.ndarray:
    """Spike times as sorted int64 samples (a copy only if they were unsorted or not int64)."""
    s = np.asarray(spike_times).astype(np.int64, copy=False)
    if s.size > 1 and np.any(s[1:] < s[:-1]):
        s = np.sort(s)
    return s


def count_in(spikes: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Spikes in each half-open window ``[lo, hi)`` (samples), int64, same shape as *lo*."""
    return np.searchsorted(spikes, hi, side="left") - np.searchsorted(spikes, lo, side="left")


def first_after(spikes: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """First spike in each ``[lo, hi)`` minus *lo* (samples), float64; NaN where there is none."""
    i = np.searchsorted(spikes, lo, side="left")
    ok = (i < spikes.size) & (i < np.searchsorted(spikes, hi, side="left"))
    out = np.full(np.shape(lo), np.nan)
    out[ok] = spikes[i[ok]] - np.asarray(lo)[ok]
    return out


def trials_array(trials_start_end: np.ndarray, where: str) -> np.ndarray:
    """*trials_start_end* as int64 (n, 2) samples; ValueError naming *where* otherwise."""
    t = np.asarray(trials_start_end)
    if t.ndim != 2 or t.shape[1] != 2:
        raise ValueError(f"{where}: expected (n_trials, 2) samples, got shape {t.shape}")
    return t.astype(np.int64)
