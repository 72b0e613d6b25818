"""Tests of the add_section_time_analog step: onsets from the light reference."""

from __future__ import annotations

import numpy as np
import pytest
from structlog.testing import capture_logs

import txpipe
from txpipe import synth
from txpipe.errors import ConfigurationError, MissingPrerequisiteError, ParameterError, RecordingTooShortError, StepError


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    d = tmp_path_factory.mktemp("analog")
    gt = synth.make_recording(d, n_units=2, seed=7)
    s = txpipe.PipelineSession().load_recording(gt.paths["cmcr"], gt.paths["cmtr"])
    return gt, s


def planted_rises(gt):
    """Frames of step_up_demo where the light steps up: 0.5→1 at trial 0, 0→1 at trials 1-2, 0→0.5 after."""
    c = gt.content_start_frames[gt.movies.index("step_up_demo")]
    return gt.frame_onsets[[c + 60, c + 180, c + 300, c + 420]]


class TestOnsets:
    def test_onsets_equal_planted_rises(self, rec):
        """Sections start at the first high sample of each planted light rise and last plot_duration."""
        gt, s = rec
        s.add_section_time_analog(3e4, "flash", 1.0)
        st = s.state["stimulus/section_time/flash"]
        np.testing.assert_array_equal(st[:, 0], planted_rises(gt))
        np.testing.assert_array_equal(st[:, 1] - st[:, 0], 20000)
        a = s.state.attrs("stimulus/section_time/flash")
        assert a["kind"] == "analog" and a["n_detected"] == 4 and a["min_distance_s"] == 0.8
        assert s.state["stimulus/light_template/flash"].shape == (20000,)
        s.undo()

    def test_repeat_limits_sections_and_template(self, rec):
        """repeat keeps the first N onsets for the sections and the template alike."""
        gt, s = rec
        s.add_section_time_analog(3e4, "flash", 1.0, repeat=2)
        st = s.state["stimulus/section_time/flash"]
        raw = s.state["stimulus/light_reference/raw_ch1"]
        np.testing.assert_array_equal(st[:, 0], planted_rises(gt)[:2])
        expect = (raw[st[0, 0] : st[0, 1]].astype(np.float64) + raw[st[1, 0] : st[1, 1]]) / 2
        np.testing.assert_allclose(s.state["stimulus/light_template/flash"], expect, rtol=1e-6)
        s.undo()

    def test_min_distance(self, rec):
        """Onsets closer than min_distance_s to the previous kept one are dropped."""
        gt, s = rec
        s.add_section_time_analog(3e4, "flash", 1.0, min_distance_s=2.5)
        np.testing.assert_array_equal(s.state["stimulus/section_time/flash"][:, 0], planted_rises(gt)[[0, 2]])
        s.undo()

    def test_after_last_frame(self, rec):
        """after_last_frame=True searches only after the video: here nothing is found."""
        gt, s = rec
        with pytest.raises(StepError, match="after sample"):
            s.add_section_time_analog(3e4, "flash", 1.0, after_last_frame=True)


class TestErrors:
    @pytest.mark.parametrize("kw", [{"threshold": 0}, {"threshold": float("nan")}, {"plot_duration": -1}, {"repeat": 0},
                                    {"min_distance_s": -0.1}])
    def test_bad_parameters(self, rec, kw):
        """Non-positive thresholds or durations and bad repeat/min_distance are ParameterErrors."""
        _, s = rec
        args = {"threshold": 3e4, "movie_name": "flash", "plot_duration": 1.0, **kw}
        with pytest.raises(ParameterError):
            s.add_section_time_analog(**args)

    def test_bad_movie_name(self, rec):
        """An empty movie name is a ConfigurationError."""
        _, s = rec
        with pytest.raises(ConfigurationError):
            s.add_section_time_analog(3e4, "", 1.0)

    def test_no_onsets(self, rec):
        """A threshold above every rise is a StepError saying so."""
        _, s = rec
        with pytest.raises(StepError, match="no rise of raw_ch1 above 1e\\+07"):
            s.add_section_time_analog(1e7, "flash", 1.0)

    def test_too_short(self, rec):
        """Sections running past the end raise; lenient skips them with a WARNING."""
        gt, s = rec
        dur = (gt.n_samples - planted_rises(gt)[2]) / gt.fs_hz  # the last two sections do not fit
        with pytest.raises(RecordingTooShortError, match="2 section"):
            s.add_section_time_analog(3e4, "flash", dur, min_distance_s=0.5)
        with capture_logs() as logs:
            s.add_section_time_analog(3e4, "flash", dur, min_distance_s=0.5, lenient=True)
        assert s.state["stimulus/section_time/flash"].shape == (2, 2)
        assert sum(e["event"] == "section_skipped" for e in logs) == 2
        s.undo()

    def test_prerequisite(self):
        """Without load_recording the error names the missing step."""
        with pytest.raises(MissingPrerequisiteError, match="load_recording"):
            txpipe.PipelineSession().add_section_time_analog(3e4, "flash", 1.0)
