"""
``step_response``: ON/OFF responses to full-field steps, per trial of a sectioned step movie.

Each trial of ``spike_times_sectioned/{movie}/trials_start_end`` (samples, unpadded) is one step
cycle: the step *onset* at the trial start and the step *offset* at ``onset + step_s`` (default:
mid-trial, ``step_s = trial length / 2``; the lab's ``step_up_5s_5i_b0_3x`` holds the step for 5 s
of a 10 s trial). Responses are counted in ``window_s`` after each event (default: the whole
phase up to the next event, i.e. ``min(step_s, trial − step_s)``)::

    on_rate  = Σ spikes in [onset,  onset  + window) / (n_trials · window_s)     spikes/s
    off_rate = Σ spikes in [offset, offset + window) / (n_trials · window_s)     spikes/s
    on_off_index = (on_rate − off_rate) / (on_rate + off_rate)                  −1…1, NaN if both 0
    on_latency_ms / off_latency_ms = median over trials of (first spike in the window − event), ms;
                                     NaN if no trial has a spike in its window

"ON" and "OFF" name the step's onset and offset; for a decrement step (the lab's b0_3x movie is a
step *to 0* on a 127 baseline) an OFF-type cell therefore answers in the "on" window. Samples are
converted with ``fs`` (no µs assumption, lab-pipeline.md W-D1); windows are derived from the
section, never fixed times from the recording start.
"""

from __future__ import annotations

import numpy as np

from typing import Any

from txpipe.core.paths import SECTION_TIME, UNITS
from txpipe.core.tree import StateView
from txpipe.errors import ConfigurationError, ParameterError
from txpipe.features.common import count_in, first_after, sorted_samples, trials_array
from txpipe.features.registry import UnitInputs, extractor
from txpipe.mcs.movies import step_movie


def _choose_movie(state: StateView, params: dict[str, Any]) -> dict[str, Any]:
    """``movie=None``: the step movie among the sectioned movies (:func:`txpipe.mcs.movies.step_movie`)."""
    if params["movie"] is not None:
        return params
    movies = dict.fromkeys(state.keys(SECTION_TIME) if state.is_group(SECTION_TIME) else [])
    for uid in state.keys(UNITS) if state.is_group(UNITS) else []:
        if state.is_group(UNITS / uid / "spike_times_sectioned"):
            movies.update(dict.fromkeys(state.keys(UNITS / uid / "spike_times_sectioned")))
    movie = step_movie(movies)
    if movie is None:
        raise ConfigurationError(
            f"feature 'step_response': no single step movie among the sectioned movies {list(movies)}; "
            "pass params={'step_response': {'movie': NAME}}"
        )
    return {**params, "movie": movie}


@extractor(
    "step_response",
    version="1",
    inputs=("spike_times", "spike_times_sectioned/{movie}/trials_start_end", "/metadata/acquisition_rate"),
    resolve=_choose_movie,
    outputs={
        "on_rate": ("float", "spikes/s"),
        "off_rate": ("float", "spikes/s"),
        "on_off_index": ("float", "1"),
        "on_latency_ms": ("float", "ms"),
        "off_latency_ms": ("float", "ms"),
        "n_trials": ("int", "trials"),
        "window_s": ("float", "s"),
    },
)
def step_response(
    unit: UnitInputs,
    *,
    movie: str | None = None,
    step_s: float | None = None,
    window_s: float | None = None,
) -> dict[str, float | int]:
    """ON/OFF rates, ON–OFF index and first-spike latencies over the step movie's trials."""
    for name, v in (("step_s", step_s), ("window_s", window_s)):
        if v is not None and not (isinstance(v, (int, float)) and v > 0):
            raise ParameterError(f"step_response: {name} must be None or > 0 s, got {v!r}")
    fs = unit.fs_hz
    trials = trials_array(unit[f"spike_times_sectioned/{movie}/trials_start_end"], f"{unit.unit_id}/{movie}")
    spikes = sorted_samples(unit["spike_times"])
    n_trials = int(trials.shape[0])
    nan = float("nan")
    if n_trials == 0:
        return {"on_rate": nan, "off_rate": nan, "on_off_index": nan, "on_latency_ms": nan,
                "off_latency_ms": nan, "n_trials": 0, "window_s": nan}
    onset = trials[:, 0]
    length = trials[:, 1] - trials[:, 0]
    step_n = np.full(n_trials, step_s * fs) if step_s is not None else length / 2.0
    offset = onset + np.round(step_n).astype(np.int64)
    win_n = np.full(n_trials, window_s * fs) if window_s is not None else np.minimum(step_n, length - step_n)
    win_n = np.round(win_n).astype(np.int64)
    if np.any(win_n <= 0):
        raise ParameterError(f"step_response on {unit.unit_id}: empty response window (trial lengths {length.tolist()} samples)")
    win_total_s = float(win_n.sum() / fs)
    on_rate = float(count_in(spikes, onset, onset + win_n).sum() / win_total_s)
    off_rate = float(count_in(spikes, offset, offset + win_n).sum() / win_total_s)
    tot = on_rate + off_rate
    on_lat = first_after(spikes, onset, onset + win_n)
    off_lat = first_after(spikes, offset, offset + win_n)

    def med_ms(x: np.ndarray) -> float:
        x = x[np.isfinite(x)]
        return float(np.median(x) * 1000.0 / fs) if x.size else nan

    return {
        "on_rate": on_rate,
        "off_rate": off_rate,
        "on_off_index": (on_rate - off_rate) / tot if tot > 0 else nan,
        "on_latency_ms": med_ms(on_lat),
        "off_latency_ms": med_ms(off_lat),
        "n_trials": n_trials,
        "window_s": float(win_n.mean() / fs),
    }
