"""Tests of txpipe.mcs.frames: rising-edge detection, the inter-frame check, frame ↔ sample helpers."""

from __future__ import annotations

import numpy as np
import pytest

from txpipe.errors import FrameSyncError, ParameterError, RecordingTooShortError
from txpipe.mcs.frames import (
    check_frame_intervals,
    detect_frame_onsets,
    floor_frame,
    frames_to_samples,
    rising_edges,
    thin_edges,
)


def pulses(onsets, n, width=40, high=80000, low=0):
    x = np.full(n, low, np.int32)
    for o in onsets:
        x[o : o + width] = high
    return x


class TestRisingEdges:
    def test_first_high_sample(self):
        """Each edge is reported at its first high sample (the lab reported the sample before)."""
        x = pulses([10, 400, 733], 1000)
        assert rising_edges(x, 1000).tolist() == [10, 400, 733]

    def test_two_sample_ramp_is_one_edge(self):
        """A rise spread over two samples is one edge, at the sample after the steepest step."""
        x = np.zeros(100)
        x[50], x[51:] = 0.3, 1.0
        assert rising_edges(x, 0.1).tolist() == [51]

    def test_falling_edges_ignored(self):
        """Only rising edges count."""
        x = np.r_[np.ones(10), np.zeros(10)]
        assert rising_edges(x, 0.1).size == 0

    def test_chunk_boundary(self, monkeypatch):
        """Edges on chunk boundaries are found once."""
        import txpipe.mcs.frames as fr

        monkeypatch.setattr(fr, "_CHUNK", 64)
        x = pulses([63, 64 * 3, 64 * 5 + 1], 1000, width=5)
        assert rising_edges(x, 1000).tolist() == [63, 192, 321]


class TestThinEdges:
    def test_keeps_first_of_close_edges(self):
        """Edges closer than min_distance to the last kept one are dropped."""
        assert thin_edges(np.array([0, 5, 12, 30, 31, 60]), 20).tolist() == [0, 30, 60]

    def test_noop(self):
        """Well-spaced edges are unchanged."""
        assert thin_edges(np.array([0, 100, 200]), 50).tolist() == [0, 100, 200]


class TestDetectFrameOnsets:
    def test_drops_first_four(self):
        """The lab's rule: the first 4 detected edges are dropped; onsets are uint64."""
        on = [100, 300, 500, 700] + [1000 + 333 * k for k in range(20)]
        ft = detect_frame_onsets(pulses(on, 9000))
        assert ft.dtype == np.uint64
        assert ft.tolist() == on[4:]

    def test_drop_first_parameter(self):
        """drop_first is a parameter."""
        on = [1000 + 333 * k for k in range(5)]
        assert detect_frame_onsets(pulses(on, 4000), drop_first=0).tolist() == on

    def test_noise_spike_merged_by_min_interval(self):
        """A second rise within min_interval_samples of an edge is merged into it."""
        x = pulses([1000, 1333, 1666, 2000, 2333], 4000).astype(np.float64)
        x[1010] = 0  # a dropout inside the pulse makes a second rise at 1011
        assert detect_frame_onsets(x, drop_first=0, min_interval_samples=80).tolist() == [1000, 1333, 1666, 2000, 2333]
        assert 1011 in detect_frame_onsets(x, drop_first=0, min_interval_samples=0).tolist()

    def test_no_pulses(self):
        """A flat or noise-only trace raises FrameSyncError."""
        with pytest.raises(FrameSyncError, match="0 rising edge"):
            detect_frame_onsets(np.zeros(1000, np.int32))
        with pytest.raises(FrameSyncError, match="at least 5"):
            detect_frame_onsets(pulses([10, 400, 800], 1000))

    def test_bad_parameters(self):
        """A non-positive threshold or negative drop_first is a ParameterError."""
        with pytest.raises(ParameterError, match="threshold"):
            detect_frame_onsets(pulses([10], 100), threshold=0)
        with pytest.raises(ParameterError, match="drop_first"):
            detect_frame_onsets(pulses([10], 100), drop_first=-1)


class TestCheckFrameIntervals:
    def test_clean(self):
        """Regular 60 Hz frames at 20 kHz raise no problem."""
        ft = np.round(np.arange(600) * 20000 / 60).astype(np.int64)
        c = check_frame_intervals(ft, 20000.0)
        assert c.problems == () and abs(c.frame_rate_hz - 60) < 0.2

    def test_double_and_dropped(self):
        """Short intervals (double detections) and long ones (dropped frames) are counted."""
        ft = np.round(np.arange(600) * 20000 / 60).astype(np.int64)
        ft = np.sort(np.r_[np.delete(ft, [100, 200]), ft[300] + 3])
        c = check_frame_intervals(ft, 20000.0)
        assert c.n_short_intervals == 1 and c.n_long_intervals == 2 and len(c.problems) == 2

    def test_wrong_rate(self):
        """A median rate far from 60 Hz is reported."""
        ft = np.arange(100) * 1000
        assert "nominal" in check_frame_intervals(ft, 20000.0).problems[0]


class TestFrameHelpers:
    ft = np.array([100, 433, 766, 1100], np.uint64)

    def test_floor_frame(self):
        """floor_frame is the last frame at or before the sample."""
        assert floor_frame(np.array([100, 432, 433, 5000]), self.ft).tolist() == [0, 0, 1, 3]

    def test_floor_frame_before_first(self):
        """A sample before the first frame is an error, not frame 0."""
        with pytest.raises(RecordingTooShortError):
            floor_frame(50, self.ft)

    def test_frames_to_samples(self):
        """Frames map to their timestamps; out-of-range frames raise instead of saturating."""
        assert frames_to_samples(np.array([[0, 3]]), self.ft).tolist() == [[100, 1100]]
        with pytest.raises(RecordingTooShortError, match="frame index 4"):
            frames_to_samples(np.array([1, 4]), self.ft)
