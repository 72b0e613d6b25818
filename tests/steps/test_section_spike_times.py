"""Tests of the section_spike_times step: trial boundaries and per-trial spikes vs ground truth."""

from __future__ import annotations

import json

import numpy as np
import pytest

import txpipe
from txpipe import synth
from txpipe.errors import ConfigurationError, InputFileError, MissingPrerequisiteError, ParameterError, RecordingTooShortError


@txpipe.step("test_plant_spikes", version="1")
def plant_spikes(state, *, unit_id: str, samples: list[int]) -> txpipe.Changes:
    """Replace one unit's spike train (test helper)."""
    return txpipe.Changes().put(f"units/{unit_id}/spike_times", np.array(samples, np.uint64))


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    d = tmp_path_factory.mktemp("sst")
    a = synth.step_movie("step_a", repeat=2)
    gt = synth.make_recording(d, n_units=4, protocol=synth.Protocol((a, synth.gray_movie("gray_b", 240), a)), seed=11)
    s = txpipe.PipelineSession().load_recording(gt.paths["cmcr"], gt.paths["cmtr"])
    s.add_section_time(gt.playlist_name, playlist_file=gt.paths["playlist"], movie_length_file=gt.paths["movie_length"])
    return gt, s


def expected_trials(gt, movie, occurrences=(0,)):
    """Trial boundaries in samples from the planted protocol and the movie's JSON config."""
    with open(gt.paths[f"config:{movie}"]) as f:
        sk = json.load(f)["section_kwargs"]
    starts = [c for m, c in zip(gt.movies, gt.content_start_frames) if m == movie]
    rows = []
    for o in occurrences:
        for n in range(sk.get("group_count", 1) * sk["repeat"]):
            f0 = starts[o] + sk["start_frame"] + n * sk["trial_length_frame"] + (n // sk["repeat"]) * sk.get("group_gap", 0)
            rows.append([gt.frame_onsets[f0], gt.frame_onsets[f0 + sk["trial_length_frame"]]])
    return np.array(rows, np.int64)


def section(s, gt, **kw):
    kw.setdefault("config_dir", gt.paths["stimuli_dir"])
    return s.section_spike_times(**kw)


class TestTrials:
    @pytest.mark.parametrize("pad", [(0.0, 0.0), (0.25, 0.6)])
    def test_per_trial_spikes_exact(self, rec, pad):
        """Trial boundaries and per-trial spike sets (with pads) equal those computed from the truth."""
        gt, s = rec
        section(s, gt, pad_margin=pad)
        pre, post = round(pad[0] * gt.fs_hz), round(pad[1] * gt.fs_hz)
        for movie in ("step_a", "gray_b"):
            b = expected_trials(gt, movie)
            for u in gt.units:
                g = f"units/unit_{u.unit_num:03d}/spike_times_sectioned/{movie}"
                np.testing.assert_array_equal(s.state[g + "/trials_start_end"], b)
                trials = s.state[g + "/trials_spike_times"]
                assert list(trials) == list(range(len(b)))
                x = u.spike_samples
                for k, (t0, t1) in enumerate(b):
                    np.testing.assert_array_equal(trials[k], x[(x >= max(0, t0 - pre)) & (x < t1 + post)])
                np.testing.assert_array_equal(s.state[g + "/full_spike_times"], np.unique(np.concatenate(list(trials.values()))))
                a = s.state.attrs(g)
                assert (a["n_trials"], a["pre_samples"], a["post_samples"]) == (len(b), pre, post)
        s.undo()

    def test_edges_and_overlap(self, rec):
        """Spikes at start-pre are in, at end+post out; overlapping padded trials share spikes, full has no duplicates."""
        gt, s = rec
        b = expected_trials(gt, "step_a")
        pre, post = 100, 200
        edge = [b[0, 0] - pre - 1, b[0, 0] - pre, b[0, 1] - 1, b[0, 1], b[0, 1] + post - 1, b[0, 1] + post, b[1, 0]]
        s.run(plant_spikes, unit_id="unit_001", samples=[int(x) for x in sorted(set(edge))])
        section(s, gt, pad_margin=(pre / gt.fs_hz, post / gt.fs_hz), movie_names=["step_a"])
        tr = s.state["units/unit_001/spike_times_sectioned/step_a/trials_spike_times"]
        assert tr[0].tolist() == [b[0, 0] - pre, b[0, 1] - 1, b[0, 1], b[0, 1] + post - 1]
        assert tr[1].tolist() == [b[0, 1] - 1, b[0, 1], b[0, 1] + post - 1, b[0, 1] + post]  # b[1,0] == b[0,1]
        full = s.state["units/unit_001/spike_times_sectioned/step_a/full_spike_times"]
        assert full.tolist() == sorted(set(tr[0].tolist()) | set(tr[1].tolist()))
        s.undo(2)

    def test_repeated_movie_occurrences(self, rec):
        """occurrence=1 uses the second showing; 'all' concatenates both in playlist order."""
        gt, s = rec
        section(s, gt, movie_names=["step_a"], occurrence=1)
        np.testing.assert_array_equal(s.state["units/unit_001/spike_times_sectioned/step_a/trials_start_end"], expected_trials(gt, "step_a", (1,)))
        s.undo()
        section(s, gt, movie_names=["step_a"], occurrence="all")
        g = "units/unit_002/spike_times_sectioned/step_a"
        np.testing.assert_array_equal(s.state[g + "/trials_start_end"], expected_trials(gt, "step_a", (0, 1)))
        x = gt.unit(2).spike_samples
        b = expected_trials(gt, "step_a", (0, 1))
        np.testing.assert_array_equal(s.state[g + "/trials_spike_times"][3], x[(x >= b[3, 0]) & (x < b[3, 1])])
        s.undo()

    def test_numeric_order_after_save(self, rec, tmp_path):
        """12 trials read back from the file in numeric order (0, 1, …, 11), with int keys."""
        gt, s = rec
        cfg = tmp_path / "cfg"
        cfg.mkdir()
        (cfg / "step_a.json").write_text(json.dumps({"section_kwargs": {"start_frame": 0, "trial_length_frame": 20, "repeat": 12}}))
        section(s, gt, movie_names=["step_a"], config_dir=cfg)
        p = s.checkpoint(tmp_path / "o.h5")
        keys = list(txpipe.PipelineSession.load(p).state["units/unit_001/spike_times_sectioned/step_a/trials_spike_times"])
        assert keys == list(range(12))
        s.undo()

    def test_rerun_replaces_only_that_movie(self, rec):
        """Re-sectioning one movie leaves the other movie's results untouched."""
        gt, s = rec
        section(s, gt)
        g = "units/unit_001/spike_times_sectioned/gray_b/full_spike_times"
        before = s.state[g]
        section(s, gt, movie_names=["step_a"], pad_margin=(1.0, 1.0))
        assert s.state[g] is before
        assert s.state.attrs("units/unit_001/spike_times_sectioned/step_a")["pre_samples"] == 20000
        assert s.state.attrs("units/unit_001/spike_times_sectioned/gray_b")["pre_samples"] == 0
        s.undo(2)

    def test_analog_rows_are_trials(self, rec):
        """An analog section needs no config: each of its rows is one trial."""
        gt, s = rec
        s.add_section_time_analog(3e4, "flash", 0.5)
        section(s, gt, movie_names=["flash"])
        np.testing.assert_array_equal(s.state["units/unit_001/spike_times_sectioned/flash/trials_start_end"], s.state["stimulus/section_time/flash"])
        s.undo(2)

    def test_custom_pre_margin_used(self, rec):
        """The pre-margin add_section_time actually used is the one sectioning uses (W-D10)."""
        gt, _ = rec
        s = txpipe.PipelineSession().load_recording(gt.paths["cmcr"], gt.paths["cmtr"])
        s.add_section_time(gt.playlist_name, playlist_file=gt.paths["playlist"], movie_length_file=gt.paths["movie_length"], pre_margin_frame_num=17)
        section(s, gt, movie_names=["gray_b"])
        np.testing.assert_array_equal(s.state["units/unit_001/spike_times_sectioned/gray_b/trials_start_end"], expected_trials(gt, "gray_b"))


class TestErrors:
    @pytest.mark.parametrize("pad", [(-0.1, 0.0), (0.0, float("nan")), (1e6, 0.0), (0.1,), "ab", (True, 0.0)])
    def test_bad_pad(self, rec, pad):
        """Negative, non-finite, absurd (longer than the recording) or malformed pads are ParameterErrors."""
        gt, s = rec
        with pytest.raises(ParameterError, match="pad_margin"):
            section(s, gt, pad_margin=pad)

    def test_unknown_movie(self, rec):
        """A movie without section_time is a ConfigurationError listing the available ones."""
        gt, s = rec
        with pytest.raises(ConfigurationError, match=r"\['nope'\] have no section_time; available"):
            section(s, gt, movie_names=["nope"])

    def test_occurrence_out_of_range(self, rec):
        """Asking for an occurrence the movie does not have is a ConfigurationError."""
        gt, s = rec
        with pytest.raises(ConfigurationError, match="1 occurrence"):
            section(s, gt, movie_names=["gray_b"], occurrence=1)
        with pytest.raises(ParameterError, match="occurrence"):
            section(s, gt, occurrence=-1)

    def test_missing_configs_listed_together(self, rec):
        """With the shipped configs, both synthetic movies lack one: one InputFileError names both."""
        gt, s = rec
        with pytest.raises(InputFileError, match=r"(?s)step_a: no step_a\.json.*gray_b: no gray_b\.json"):
            s.section_spike_times()

    def test_malformed_config(self, rec, tmp_path):
        """Malformed JSON and invalid fields are InputFileErrors naming the file."""
        gt, s = rec
        (tmp_path / "step_a.json").write_text("{")
        (tmp_path / "gray_b.json").write_text(json.dumps({"section_kwargs": {"start_frame": 0, "trial_length_frame": 1.0, "repeat": 1}}))
        with pytest.raises(InputFileError, match=r"(?s)step_a\.json: not valid JSON.*gray_b\.json: section_kwargs\.trial_length_frame must be an integer"):
            section(s, gt, config_dir=tmp_path)

    def test_trial_past_recording(self, rec, tmp_path):
        """A config whose trials run past the last frame is RecordingTooShortError, not a saturated boundary."""
        gt, s = rec
        (tmp_path / "gray_b.json").write_text(json.dumps({"section_kwargs": {"start_frame": 0, "trial_length_frame": 100000, "repeat": 1}}))
        with pytest.raises(RecordingTooShortError, match="gray_b"):
            section(s, gt, config_dir=tmp_path, movie_names=["gray_b"])

    def test_prerequisite(self, rec):
        """Without a section-time step the error names the missing step."""
        gt, _ = rec
        s = txpipe.PipelineSession().load_recording(gt.paths["cmcr"], gt.paths["cmtr"])
        with pytest.raises(MissingPrerequisiteError, match="add_section_time"):
            section(s, gt)
