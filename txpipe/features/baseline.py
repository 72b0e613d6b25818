"""
``baseline_127``: spontaneous activity over the trials of the baseline movie (uniform gray).

Inputs: the unit's ``spike_times`` and ``spike_times_sectioned/{movie}/trials_start_end`` (both
samples) and ``/metadata/acquisition_rate`` (Hz). Only spikes inside the unpadded trials count
(half-open ``[start, end)``); durations add up over trials. Outputs (all scalars):

==================  ========  ===============================================================
key                 unit      definition
==================  ========  ===============================================================
mean_firing_rate    spikes/s  n / total trial duration
std_firing_rate     spikes/s  std (ddof 0) of rates in consecutive ``bin_s`` bins from each
                              trial start (whole bins only; NaN if none fits)
median_isi_ms       ms        median inter-spike interval within trials (NaN if < 1 ISI)
cv_isi              1         std/mean of those ISIs (NaN if < 2 ISIs)
spike_count         spikes    n
duration_s          s         total trial duration
quality_index       0…1       mean of rate, CV and count scores (lab formula); 0 if n < 10
==================  ========  ===============================================================

Scores (the lab's): rate 1 in 0.5–50 Hz, ``r/0.5`` below, ``max(0, 1-(r-50)/50)`` above;
CV 1 below 1, ``2-cv`` below 2, else 0 (NaN counts as 0); count ``min(1, n/100)``.
Everything is in correct units: samples are divided by ``fs`` (lab-pipeline.md W-D1).
"""

from __future__ import annotations

import numpy as np

from txpipe.errors import ParameterError
from txpipe.features.common import count_in, sorted_samples, trials_array
from txpipe.features.registry import UnitInputs, extractor


def quality_index(rate_hz: float, cv: float, n: int) -> float:
    """The lab's baseline quality index (0…1) from rate (spikes/s), ISI CV and spike count."""
    if n < 10:
        return 0.0
    if 0.5 <= rate_hz <= 50:
        rate_score = 1.0
    elif rate_hz < 0.5:
        rate_score = rate_hz / 0.5
    else:
        rate_score = max(0.0, 1.0 - (rate_hz - 50.0) / 50.0)
    if not np.isfinite(cv):
        cv_score = 0.0
    elif cv < 1:
        cv_score = 1.0
    elif cv < 2:
        cv_score = 2.0 - cv
    else:
        cv_score = 0.0
    count_score = min(1.0, n / 100.0)
    return float((rate_score + cv_score + count_score) / 3.0)


@extractor(
    "baseline_127",
    version="1",
    inputs=("spike_times", "spike_times_sectioned/{movie}/trials_start_end", "/metadata/acquisition_rate"),
    outputs={
        "mean_firing_rate": ("float", "spikes/s"),
        "std_firing_rate": ("float", "spikes/s"),
        "median_isi_ms": ("float", "ms"),
        "cv_isi": ("float", "1"),
        "spike_count": ("int", "spikes"),
        "duration_s": ("float", "s"),
        "quality_index": ("float", "1"),
    },
)
def baseline_127(unit: UnitInputs, *, movie: str = "baseline_127", bin_s: float = 1.0) -> dict[str, float | int]:
    """Spontaneous rate, its variability, ISI statistics and a quality index over the baseline trials."""
    if not bin_s > 0:
        raise ParameterError(f"baseline_127: bin_s must be > 0 s, got {bin_s}")
    fs = unit.fs_hz
    trials = trials_array(unit[f"spike_times_sectioned/{movie}/trials_start_end"], f"{unit.unit_id}/{movie}")
    spikes = sorted_samples(unit["spike_times"])
    lo, hi = trials[:, 0], trials[:, 1]
    n_per = count_in(spikes, lo, hi)
    n = int(n_per.sum())
    duration_s = float(np.clip(hi - lo, 0, None).sum() / fs)
    rate = n / duration_s if duration_s > 0 else float("nan")
    # ISIs within trials: consecutive in-trial spikes, never across a trial boundary
    i0 = np.searchsorted(spikes, lo, side="left")
    idx = np.concatenate([np.arange(a, a + k) for a, k in zip(i0, n_per)]) if n else np.zeros(0, np.int64)
    trial_of = np.repeat(np.arange(trials.shape[0]), n_per)
    sp = spikes[idx]
    same = trial_of[1:] == trial_of[:-1]
    isi_ms = (np.diff(sp)[same]) * 1000.0 / fs
    median_isi = float(np.median(isi_ms)) if isi_ms.size >= 1 else float("nan")
    cv = float(isi_ms.std() / isi_ms.mean()) if isi_ms.size >= 2 and isi_ms.mean() > 0 else float("nan")
    # rate variability in whole bins of bin_s from each trial start
    bin_n = bin_s * fs
    n_bins = np.floor((hi - lo) / bin_n).astype(np.int64)
    if n_bins.sum() > 0:
        starts = np.concatenate([lo[t] + np.arange(k) * bin_n for t, k in enumerate(n_bins)])
        edges_lo = np.ceil(starts).astype(np.int64)
        edges_hi = np.ceil(starts + bin_n).astype(np.int64)
        std_rate = float((count_in(spikes, edges_lo, edges_hi) / bin_s).std())
    else:
        std_rate = float("nan")
    return {
        "mean_firing_rate": rate,
        "std_firing_rate": std_rate,
        "median_isi_ms": median_isi,
        "cv_isi": cv,
        "spike_count": n,
        "duration_s": duration_s,
        "quality_index": quality_index(rate, cv, n),
    }
