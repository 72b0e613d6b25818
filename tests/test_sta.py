"""Tests for txpipe.kernels.sta: the count-matrix STA against the one-window-per-spike reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handmade_state import state_from_truth
from txpipe import synth
from txpipe.errors import ParameterError
from txpipe.kernels.sta import check_cover_range, sta_counts, sta_reference
from txpipe.steps.compute_sta import compute_sta_step


def _movie(rng: np.random.Generator, T: int, h: int, w: int) -> np.ndarray:
    return rng.integers(0, 256, size=(T, h, w), dtype=np.uint8)


@pytest.fixture(scope="module")
def rf_truth(tmp_path_factory: pytest.TempPathFactory) -> synth.GroundTruth:
    """A synthetic recording with 12 units, half of them with a planted receptive field."""
    kinds = ["rf", "on", "rf", "off", "rf", "none", "rf", "rf", "on", "rf", "off", "rf"]
    return synth.make_recording(tmp_path_factory.mktemp("sta_rf"), n_units=12, response_kinds=kinds, seed=11)


class TestExactAgreement:
    """The fast STA equals the straightforward reference bit for bit."""

    @pytest.mark.parametrize("cover", [(-60, 0), (-10, 3), (2, 7), (-1, 0)])
    def test_random_units(self, cover: tuple[int, int]) -> None:
        """Random spikes (some outside the movie) give identical STAs and counts for every unit."""
        rng = np.random.default_rng(1)
        mv = _movie(rng, 400, 6, 5)
        frames = [rng.integers(-80, 480, size=n) for n in (0, 1, 2, 37, 500, 3000)]
        res = sta_counts(frames, mv, cover, chunk_units=4)
        for i, f in enumerate(frames):
            ref, used, excl = sta_reference(f, mv, cover)
            assert np.array_equal(res.sta[i], ref, equal_nan=True)
            assert (res.n_used[i], res.n_excluded[i]) == (used, excl)

    def test_float64_path_when_float32_is_not_exact(self) -> None:
        """Sums beyond 2**24 switch to float64 and stay exact."""
        rng = np.random.default_rng(2)
        mv = np.full((50, 2, 2), 255, np.uint8)
        mv[::3] = rng.integers(0, 256, size=(17, 2, 2), dtype=np.uint8)
        f = np.repeat(np.arange(10, 50), 2000)  # 80,000 spikes × 255 > 2**24
        res = sta_counts([f], mv, (-10, 0))
        ref, used, _ = sta_reference(f, mv, (-10, 0))
        assert used == f.size
        assert np.array_equal(res.sta[0], ref)

    @settings(max_examples=40, deadline=None)
    @given(
        T=st.integers(1, 40),
        c0=st.integers(-12, 5),
        width=st.integers(1, 12),
        seed=st.integers(0, 2**31),
        n_units=st.integers(0, 5),
    )
    def test_property(self, T: int, c0: int, width: int, seed: int, n_units: int) -> None:
        """Any movie length, window and spike set agrees with the reference."""
        rng = np.random.default_rng(seed)
        mv = _movie(rng, T, 3, 2)
        frames = [rng.integers(-15, T + 15, size=int(rng.integers(0, 30))) for _ in range(n_units)]
        res = sta_counts(frames, mv, (c0, c0 + width), chunk_units=2)
        assert res.sta.shape == (n_units, width, 3, 2) and res.sta.dtype == np.float32
        for i, f in enumerate(frames):
            ref, used, excl = sta_reference(f, mv, (c0, c0 + width))
            assert np.array_equal(res.sta[i], ref, equal_nan=True)
            assert res.n_used[i] == used and res.n_excluded[i] == excl


class TestEdgeCases:
    """Windows outside the movie, empty units and bad cover ranges."""

    def test_no_usable_spike_is_nan(self) -> None:
        """A unit whose windows never fit gets an all-NaN STA and n_used 0."""
        mv = np.zeros((30, 2, 2), np.uint8)
        res = sta_counts([np.array([0, 1, 2]), np.zeros(0, np.int64)], mv, (-60, 0))
        assert np.isnan(res.sta).all()
        assert res.n_used.tolist() == [0, 0] and res.n_excluded.tolist() == [3, 0]

    def test_spike_at_movie_end_is_used(self) -> None:
        """With c1 = 0 a spike in frame T (just after the content) still has its window inside."""
        mv = np.arange(10, dtype=np.uint8).reshape(10, 1, 1)
        res = sta_counts([np.array([10, 11])], mv, (-2, 0))
        assert res.n_used[0] == 1 and res.sta[0].ravel().tolist() == [8.0, 9.0]

    @pytest.mark.parametrize("bad", [(0, 0), (5, -5), (1.5, 3), ("a", 2), (1,)])
    def test_bad_cover_range(self, bad: tuple) -> None:
        """cover_range must be two whole numbers with c0 < c1."""
        with pytest.raises(ParameterError, match="cover_range"):
            check_cover_range(bad)

    def test_chunking_does_not_change_results(self) -> None:
        """Chunk sizes 1 and many give identical arrays."""
        rng = np.random.default_rng(4)
        mv = _movie(rng, 120, 4, 4)
        frames = [rng.integers(0, 130, size=60) for _ in range(7)]
        a = sta_counts(frames, mv, (-20, 0), chunk_units=1)
        b = sta_counts(frames, mv, (-20, 0), chunk_units=100)
        assert np.array_equal(a.sta, b.sta, equal_nan=True)


class TestPlantedReceptiveFields:
    """On a synthetic recording the STA peak is at the planted pixel and lag."""

    def test_peak_at_planted_pixel_and_lag(self, rf_truth: synth.GroundTruth) -> None:
        """Every RF unit's largest deviation from the mean is at (60 - lag, y, x) with its polarity."""
        state = state_from_truth(rf_truth)
        ch = compute_sta_step(state, stimuli_dir=rf_truth.paths["stimuli_dir"])
        stas = {str(op.path).split("/")[2]: op for op in ch.ops if str(op.path).endswith("/sta")}
        n_rf = 0
        for u in rf_truth.units:
            if u.kind != "rf":
                continue
            n_rf += 1
            op = stas[f"unit_{u.unit_num:03d}"]
            sta = op.value
            dev = sta - np.nanmean(sta)
            w, y, x = np.unravel_index(np.nanargmax(np.abs(dev)), sta.shape)
            assert (int(y), int(x)) == u.rf_pixel, u
            assert 60 - int(w) == u.latency_frames, u
            assert np.sign(dev[w, y, x]) == u.rf_polarity
            assert op.attrs["n_spikes_used"] > 100
        assert n_rf == 7
