"""Tests for the baseline_127 extractor against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from handmade_state import state_from_dict
from txpipe.errors import MissingPrerequisiteError, ParameterError
from txpipe.features.baseline import quality_index
from txpipe.steps.extract_features import extract_features_step

FS = 20000.0


def run(spikes, trials, movie: str = "baseline_127", **params) -> dict:
    st = state_from_dict({
        "/units/unit_001/spike_times": np.asarray(spikes, np.uint64),
        f"/units/unit_001/spike_times_sectioned/{movie}/trials_start_end": np.asarray(trials, np.int64),
        "/metadata/acquisition_rate": FS,
    })
    if movie != "baseline_127":
        params["movie"] = movie
    ch = extract_features_step(st, features=["baseline_127"], params={"baseline_127": params} if params else None)
    return {str(op.path).rsplit("/", 1)[1]: op.value for op in ch.ops if hasattr(op, "value")}


class TestBaseline:
    """Rates in spikes/s, ISIs in ms, over the trials only."""

    def test_hand_computed(self) -> None:
        """Two 1-s trials; spikes outside them are ignored; ISIs never cross trials."""
        trials = [[20000, 40000], [100000, 120000]]
        # trial 0: 3 spikes (ISIs 100, 300 samples = 5, 15 ms); trial 1: 2 spikes (ISI 2000 = 100 ms)
        spikes = [0, 20000, 20100, 20400, 40000, 100000, 102000, 130000]
        r = run(spikes, trials)
        assert r["spike_count"] == 5 and isinstance(r["spike_count"], int)
        assert r["duration_s"] == 2.0
        assert r["mean_firing_rate"] == 2.5
        assert r["median_isi_ms"] == 15.0
        isi = np.array([5.0, 15.0, 100.0])
        assert r["cv_isi"] == pytest.approx(isi.std() / isi.mean())
        assert r["std_firing_rate"] == pytest.approx(np.std([3.0, 2.0]))  # per-second bins
        assert r["quality_index"] == 0.0  # fewer than 10 spikes

    def test_quality_index_formula(self) -> None:
        """The lab's scores: rate, CV and count, averaged."""
        assert quality_index(10.0, 0.5, 200) == 1.0
        assert quality_index(0.25, 1.5, 50) == pytest.approx((0.5 + 0.5 + 0.5) / 3)
        assert quality_index(75.0, 3.0, 100) == pytest.approx((0.5 + 0.0 + 1.0) / 3)
        assert quality_index(10.0, float("nan"), 100) == pytest.approx(2 / 3)
        assert quality_index(10.0, 0.5, 9) == 0.0

    def test_regular_train(self) -> None:
        """A 20 Hz regular train over 3 s: rate 20, ISI 50 ms, CV 0, quality 1."""
        spikes = np.arange(500, 60000, 1000)
        r = run(spikes, [[0, 60000]])
        assert r["mean_firing_rate"] == 20.0 and r["median_isi_ms"] == 50.0 and r["cv_isi"] == 0.0
        assert r["std_firing_rate"] == 0.0 and r["quality_index"] == pytest.approx((1 + 1 + 0.6) / 3)

    def test_no_spikes(self) -> None:
        """No spikes: rate 0, NaN ISI statistics."""
        r = run([], [[0, 20000]])
        assert r["mean_firing_rate"] == 0.0 and math.isnan(r["median_isi_ms"]) and math.isnan(r["cv_isi"])

    def test_movie_parameter_and_missing_input(self) -> None:
        """The movie is a parameter; a movie that was not sectioned names the step to run."""
        assert run([100], [[0, 20000]], movie="other_gray")["spike_count"] == 1
        st = state_from_dict({"/units/unit_001/spike_times": np.zeros(0, np.uint64), "/metadata/acquisition_rate": FS})
        with pytest.raises(MissingPrerequisiteError, match="unit_001.*spike_times_sectioned/baseline_127.*section_spike_times"):
            extract_features_step(st, features=["baseline_127"])

    def test_bad_bin(self) -> None:
        """bin_s must be positive."""
        with pytest.raises(ParameterError, match="bin_s"):
            run([1], [[0, 20000]], bin_s=0.0)
