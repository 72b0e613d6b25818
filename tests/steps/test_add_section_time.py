"""Tests of the add_section_time step: sections from the planted protocol, errors, lenient mode."""

from __future__ import annotations

import numpy as np
import pytest
from structlog.testing import capture_logs

import txpipe
from txpipe import synth
from txpipe.errors import ConfigurationError, FrameSyncError, InputFileError, MissingPrerequisiteError, RecordingTooShortError
from txpipe.core.replay import verify


def expected_sections(gt, movie, pre=60, post=120):
    """Section samples computed independently from the planted protocol."""
    rows = []
    for name, L, c in zip(gt.movies, gt.movie_lengths, gt.content_start_frames):
        if name == movie:
            rows.append([gt.frame_onsets[c - pre], gt.frame_onsets[c + L + post + 1]])
    return np.array(rows, np.int64)


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    """A protocol showing step_a twice (a repeated movie) around a gray movie."""
    d = tmp_path_factory.mktemp("ast")
    a = synth.step_movie("step_a", repeat=2)
    proto = synth.Protocol((a, synth.gray_movie("gray_b", 240), a))
    gt = synth.make_recording(d, n_units=3, protocol=proto, seed=5)
    s = txpipe.PipelineSession()
    s.load_recording(gt.paths["cmcr"], gt.paths["cmtr"])
    return gt, s


def run(gt, s, **kw):
    kw.setdefault("playlist_file", gt.paths["playlist"])
    kw.setdefault("movie_length_file", gt.paths["movie_length"])
    return s.add_section_time(kw.pop("playlist_name", gt.playlist_name), **kw)


class TestSections:
    def test_boundaries_equal_protocol(self, rec):
        """Every occurrence's [start, end] equals frame onsets at content_start-60 and content_start+L+121."""
        gt, s = rec
        run(gt, s)
        for m in ("step_a", "gray_b"):
            st = s.state[f"stimulus/section_time/{m}"]
            assert st.dtype == np.int64
            np.testing.assert_array_equal(st, expected_sections(gt, m))
        assert s.state["stimulus/section_time/step_a"].shape == (2, 2)
        a = s.state.attrs("stimulus/section_time/step_a")
        assert a["kind"] == "playlist" and a["pre_margin_frame_num"] == 60
        assert a["content_start_frames"].tolist() == [c for n, c in zip(gt.movies, gt.content_start_frames) if n == "step_a"]
        s.undo()

    def test_light_template_is_mean(self, rec):
        """The template is the mean of raw_ch1 over the occurrences, as long as the longest."""
        gt, s = rec
        run(gt, s)
        raw = s.state["stimulus/light_reference/raw_ch1"]
        b = s.state["stimulus/section_time/step_a"]
        n = b[:, 1] - b[:, 0]
        tpl = s.state["stimulus/light_template/step_a"]
        assert tpl.dtype == np.float32 and tpl.shape == (n.max(),)
        m = n.min()
        np.testing.assert_allclose(tpl[:m], (raw[b[0, 0] : b[0, 0] + m].astype(np.float64) + raw[b[1, 0] : b[1, 0] + m]) / 2, rtol=1e-6)
        s.undo()

    def test_custom_margins_recorded(self, rec):
        """Non-default margins change the sections and are stored on them."""
        gt, s = rec
        run(gt, s, pre_margin_frame_num=30, post_margin_frame_num=10)
        np.testing.assert_array_equal(s.state["stimulus/section_time/gray_b"], expected_sections(gt, "gray_b", 30, 10))
        assert s.state.attrs("stimulus/section_time/gray_b")["pre_margin_frame_num"] == 30
        s.undo()

    def test_repeats(self, rec, tmp_path):
        """repeats=2 of a playlist listing (step_a, gray_b) matches the protocol (step_a, gray_b, step_a)."""
        gt, s = rec
        (tmp_path / "pl.csv").write_text("playlist_name,movie_names\nab,\"['step_a.mov', 'gray_b.mov']\"\n")
        with pytest.raises(RecordingTooShortError, match=r"'gray_b' .*position 3.*too short"):
            run(gt, s, playlist_name="ab", playlist_file=tmp_path / "pl.csv", repeats=2)
        run(gt, s, playlist_name="ab", playlist_file=tmp_path / "pl.csv", repeats=2, lenient=True)
        np.testing.assert_array_equal(s.state["stimulus/section_time/step_a"], expected_sections(gt, "step_a"))
        np.testing.assert_array_equal(s.state["stimulus/section_time/gray_b"], expected_sections(gt, "gray_b"))
        assert [x["position"] for x in s.journal[-1].notes["skipped"]] == [3]
        s.undo()

    def test_replace_only_own_movies(self, rec, tmp_path):
        """Re-running replaces this playlist's movies only; other sections survive."""
        gt, s = rec
        s.add_section_time_analog(threshold=3e4, movie_name="flash", plot_duration=0.5)
        run(gt, s)
        assert set(s.state.keys("stimulus/section_time")) == {"flash", "step_a", "gray_b"}
        assert verify(s.checkpoint(tmp_path / "ck.h5")).identical
        s.undo(2)


class TestErrors:
    def test_unknown_playlist(self, rec):
        """An unknown playlist is a ConfigurationError listing the available ones."""
        gt, s = rec
        with pytest.raises(ConfigurationError, match=r"no playlist 'nope'; available: \['synthetic_playlist'\]"):
            run(gt, s, playlist_name="nope")

    def test_movie_missing_from_lengths(self, rec, tmp_path):
        """A movie missing from movie_length.csv is an error; lenient=True skips it, logged and journaled."""
        gt, s = rec
        (tmp_path / "len.csv").write_text("movie_name,movie_length\nstep_a,480\n")
        with pytest.raises(ConfigurationError, match=r"\['gray_b'\].*movie_length"):
            run(gt, s, movie_length_file=tmp_path / "len.csv")
        with capture_logs() as logs:
            run(gt, s, movie_length_file=tmp_path / "len.csv", lenient=True)
        assert s.state["stimulus/section_time/step_a"].shape == (1, 2)
        assert "gray_b" not in s.state.keys("stimulus/section_time")
        assert [e["movie"] for e in logs if e["event"] == "section_skipped"] == ["gray_b", "step_a"]
        assert all(e["log_level"] == "warning" for e in logs if e["event"] == "section_skipped")
        assert len(s.journal[-1].notes["skipped"]) == 2
        s.undo()

    def test_too_short_lenient(self, rec):
        """lenient=True keeps the occurrences that fit and skips the rest (noted)."""
        gt, s = rec
        run(gt, s, repeats=2, lenient=True)
        assert s.state["stimulus/section_time/step_a"].shape == (2, 2)
        assert {x["position"] for x in s.journal[-1].notes["skipped"]} == {3, 4, 5}
        s.undo()

    @pytest.mark.parametrize("which", ["playlist_file", "movie_length_file"])
    def test_missing_csv(self, rec, tmp_path, which):
        """A missing CSV is an InputFileError naming it."""
        gt, s = rec
        with pytest.raises(InputFileError, match="missing.csv: file not found"):
            run(gt, s, **{which: tmp_path / "missing.csv"})

    def test_malformed_csv(self, rec, tmp_path):
        """A malformed movie list names the file and line."""
        gt, s = rec
        (tmp_path / "bad.csv").write_text("playlist_name,movie_names\nsynthetic_playlist,\"['a.mov'\"\n")
        with pytest.raises(InputFileError, match=r"bad\.csv:2"):
            run(gt, s, playlist_file=tmp_path / "bad.csv")

    def test_missing_paths(self, rec):
        """No CSV paths is a ConfigurationError (no lab share defaults)."""
        gt, s = rec
        with pytest.raises(ConfigurationError, match="playlist_file"):
            s.add_section_time(gt.playlist_name)

    def test_prerequisite(self, rec):
        """Without load_recording the error names the missing step."""
        gt, _ = rec
        with pytest.raises(MissingPrerequisiteError, match="load_recording"):
            run(gt, txpipe.PipelineSession())

    def test_no_frame_timestamps(self, tmp_path):
        """A recording loaded without frame sync cannot be sectioned by playlist: FrameSyncError."""
        gt = synth.make_recording(tmp_path, n_units=1, edge=("no_frame_sync",))
        s = txpipe.PipelineSession().load_recording(gt.paths["cmcr"], gt.paths["cmtr"], require_frame_sync=False)
        with pytest.raises(FrameSyncError, match="no display-frame timestamps"):
            run(gt, s)
