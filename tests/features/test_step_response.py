"""Tests for the step_response extractor against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from handmade_state import state_from_dict
from txpipe.errors import ParameterError
from txpipe.steps.extract_features import extract_features_step

FS = 20000.0
MOVIE = "step_up_5s_5i_b0_3x"


def run(spikes, trials, **params) -> dict:
    st = state_from_dict({
        "/units/unit_001/spike_times": np.asarray(spikes, np.uint64),
        f"/units/unit_001/spike_times_sectioned/{MOVIE}/trials_start_end": np.asarray(trials, np.int64),
        "/metadata/acquisition_rate": FS,
    })
    ch = extract_features_step(st, features=["step_response"], params={"step_response": params} if params else None)
    return {str(op.path).rsplit("/", 1)[1]: op.value for op in ch.ops if hasattr(op, "value")}


class TestStepResponse:
    """ON window after the trial start, OFF window after mid-trial, rates in spikes/s, latency in ms."""

    def test_hand_computed_defaults(self) -> None:
        """Two 2-s trials, 1-s phases: ON 6 spikes, OFF 2 spikes over 2 s of window each."""
        trials = [[0, 40000], [100000, 140000]]
        spikes = [200, 1000, 5000, 30000,          # trial 0: ON 200,1000,5000 (first at 10 ms); OFF 30000 (500 ms)
                  100400, 101000, 110000, 120100]  # trial 1: ON first at 20 ms; OFF 120100 (5 ms)
        r = run(spikes, trials)
        assert r["n_trials"] == 2 and r["window_s"] == 1.0
        assert r["on_rate"] == 3.0 and r["off_rate"] == 1.0
        assert r["on_off_index"] == 0.5
        assert r["on_latency_ms"] == 15.0       # median of 10 and 20 ms
        assert r["off_latency_ms"] == 252.5     # median of 500 and 5 ms

    def test_explicit_step_and_window(self) -> None:
        """step_s and window_s in seconds override the mid-trial split and the phase length."""
        r = run([100, 2100, 12000], [[0, 40000]], step_s=0.5, window_s=0.1)
        # onset window [0, 2000): 100; offset at 10000, window [10000, 12000): none (12000 excluded)
        assert r["on_rate"] == 10.0 and r["off_rate"] == 0.0 and r["on_off_index"] == 1.0
        assert r["on_latency_ms"] == 5.0 and math.isnan(r["off_latency_ms"])

    def test_silent_unit(self) -> None:
        """No spikes: rates 0, index and latencies NaN."""
        r = run([], [[0, 40000]])
        assert r["on_rate"] == 0.0 and math.isnan(r["on_off_index"]) and math.isnan(r["on_latency_ms"])

    def test_bad_window(self) -> None:
        """window_s must be positive."""
        with pytest.raises(ParameterError, match="window_s"):
            run([], [[0, 40000]], window_s=-1.0)
