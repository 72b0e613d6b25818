"""Tests for the frif extractor against hand-computed values (samples, not µs)."""

from __future__ import annotations

import numpy as np
import pytest

from handmade_state import state_from_dict
from txpipe.steps.extract_features import extract_features_step


def leaves(ch) -> dict:
    return {str(op.path): op for op in ch.ops if hasattr(op, "value")}


def run(spikes: np.ndarray, ft: np.ndarray, fs: float = 20000.0, **params):
    st = state_from_dict({
        "/units/unit_001/spike_times": np.asarray(spikes, np.uint64),
        "/metadata/frame_timestamps": np.asarray(ft, np.uint64),
        "/metadata/acquisition_rate": fs,
    })
    return leaves(extract_features_step(st, features=["frif"], params={"frif": params} if params else None))


class TestFrif:
    """Firing rate per display-frame interval in spikes/s, x axis in seconds."""

    def test_hand_computed(self) -> None:
        """Counts per [ft[i], ft[i+1]) divided by the interval in seconds."""
        ft = np.array([1000, 1200, 1600, 2000])  # intervals 200, 400, 400 samples = 10, 20, 20 ms
        spikes = np.array([999, 1000, 1100, 1199, 1200, 1599, 2000, 2500])
        p = run(spikes, ft)
        frif = p["/units/unit_001/features/frif/FRIF"]
        assert frif.value.dtype == np.float32 and frif.attrs["unit"] == "spikes/s"
        # [1000,1200): 1000,1100,1199 -> 3 / 0.01 s; [1200,1600): 1200,1599 -> 2 / 0.02 s; [1600,2000): 0
        assert frif.value.tolist() == [300.0, 100.0, 0.0]
        x = p["/units/unit_001/features/frif/FRIF_x_axis"].value
        assert x.dtype == np.float64 and x.tolist() == [0.05, 0.06, 0.08]

    def test_not_microseconds(self) -> None:
        """A 10 Hz unit over 20 s reads 10 spikes/s on average, spread over the whole axis."""
        fs = 20000.0
        ft = np.arange(0, 20 * 20000 + 1, 20000 // 60 * 1)  # ~60 Hz frames over 20 s
        spikes = np.arange(1000, 20 * 20000, 2000)  # 10 Hz
        frif = run(spikes, ft, fs)["/units/unit_001/features/frif/FRIF"].value
        dur = np.diff(ft) / fs
        assert float((frif * dur).sum() / dur.sum()) == pytest.approx(10.0, rel=0.01)
        assert np.count_nonzero(frif[: frif.size // 2]) > 0 and np.count_nonzero(frif[frif.size // 2 :]) > 0

    def test_no_spikes_and_too_few_frames(self) -> None:
        """No spikes gives zeros; fewer than two frames gives empty arrays."""
        assert run(np.zeros(0), np.array([0, 10, 20]))["/units/unit_001/features/frif/FRIF"].value.tolist() == [0.0, 0.0]
        p = run(np.array([5]), np.array([0]))
        assert p["/units/unit_001/features/frif/FRIF"].value.shape == (0,)

    def test_without_x_axis(self) -> None:
        """include_x_axis=False stores an empty x axis."""
        p = run(np.array([5]), np.array([0, 10, 20]), include_x_axis=False)
        assert p["/units/unit_001/features/frif/FRIF_x_axis"].value.shape == (0,)
