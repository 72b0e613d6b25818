"""Tests for the compute_sta step on hand-made states (layout, movie choice and validation)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from handmade_state import state_from_dict, state_values_from_truth
from txpipe import synth
from txpipe.errors import ConfigurationError, InputFileError, MissingPrerequisiteError, ParameterError
from txpipe.kernels.sta import sta_reference
from txpipe.steps.compute_sta import compute_sta_step, load_movie

NOISE = "dense_noise_15x15_15hz_demo"


@pytest.fixture(scope="module")
def truth(tmp_path_factory: pytest.TempPathFactory) -> synth.GroundTruth:
    """The default synthetic recording (8 units; baseline, steps and a 1200-frame noise movie)."""
    return synth.make_recording(tmp_path_factory.mktemp("csta"), seed=5)


@pytest.fixture(scope="module")
def base(truth: synth.GroundTruth) -> tuple[dict, dict]:
    """Paths and attrs of the state after steps 1–3."""
    return state_values_from_truth(truth)


def run(values: dict, attrs: dict, **params):
    return compute_sta_step(state_from_dict(values, attrs), **params)


def puts(ch) -> dict:
    return {str(op.path): op for op in ch.ops if hasattr(op, "value")}


class TestOutputLayout:
    """Paths, dtypes and attributes written per unit."""

    def test_paths_and_attrs(self, truth, base) -> None:
        """One float32 (60, 15, 15) STA per unit with counts, cover range, movie and versions."""
        ch = run(*base, stimuli_dir=truth.paths["stimuli_dir"])
        p = puts(ch)
        for u in truth.units:
            leaf = p[f"/units/unit_{u.unit_num:03d}/features/sta_{NOISE}/sta"]
            assert leaf.value.dtype == np.float32 and leaf.value.shape == (60, 15, 15)
            assert set(leaf.attrs) == {"n_spikes_used", "n_spikes_excluded", "cover_range", "movie", "extractor_version"}
            assert leaf.attrs["cover_range"].tolist() == [-60, 0] and leaf.attrs["movie"] == NOISE
        groups = [op for op in ch.ops if type(op).__name__ == "SetAttrs"]
        assert json.loads(groups[0].attrs["params"]) == {"cover_range": [-60, 0], "movie": NOISE, "trials": "first"}
        assert ch.inputs[0]["path"].endswith(f"{NOISE}.npy") and ch.inputs[0]["data_digest"]

    def test_matches_reference_on_trial_spikes(self, truth, base) -> None:
        """Each unit's STA equals the reference over its trial-0 spikes mapped from the content start."""
        vals, attrs = base
        ch = run(vals, attrs, stimuli_dir=truth.paths["stimuli_dir"], cover_range=(-30, 2))
        mv = np.load(Path(truth.paths["stimuli_dir"]) / f"{NOISE}.npy")
        ft = truth.frame_onsets
        cs = truth.content_start_frames[truth.movies.index(NOISE)]
        for u in truth.units:
            uid = f"unit_{u.unit_num:03d}"
            sp = vals[f"/units/{uid}/spike_times_sectioned/{NOISE}/trials_spike_times"][0]
            f = np.searchsorted(ft, sp, side="right") - 1 - cs
            ref, used, excl = sta_reference(f, mv, (-30, 2))
            leaf = puts(ch)[f"/units/{uid}/features/sta_{NOISE}/sta"]
            assert np.array_equal(leaf.value, ref, equal_nan=True)
            assert (leaf.attrs["n_spikes_used"], leaf.attrs["n_spikes_excluded"]) == (used, excl)

    def test_content_start_from_pre_margin_when_not_recorded(self, truth, base) -> None:
        """Without content_start_frames the pre-margin attribute gives the same STA."""
        vals, attrs = base
        a = run(vals, attrs, stimuli_dir=truth.paths["stimuli_dir"])
        attrs2 = {k: dict(v) for k, v in attrs.items()}
        attrs2[f"/stimulus/section_time/{NOISE}"]["content_start_frames"] = np.array(
            [truth.content_start_frames[truth.movies.index(NOISE)]], np.int64)
        b = run(vals, attrs2, stimuli_dir=truth.paths["stimuli_dir"])
        for k, op in puts(a).items():
            assert np.array_equal(op.value, puts(b)[k].value, equal_nan=True)

    def test_zero_spike_unit_is_nan(self, truth, base) -> None:
        """A unit without spikes gets an all-NaN STA and n_spikes_used = 0."""
        vals = dict(base[0])
        pre = f"/units/unit_999/spike_times_sectioned/{NOISE}"
        vals["/units/unit_999/spike_times"] = np.zeros(0, np.uint64)
        vals[f"{pre}/trials_start_end"] = vals[f"/units/unit_001/spike_times_sectioned/{NOISE}/trials_start_end"]
        vals[f"{pre}/trials_spike_times"] = {0: np.zeros(0, np.int64)}
        leaf = puts(run(vals, base[1], stimuli_dir=truth.paths["stimuli_dir"]))[f"/units/unit_999/features/sta_{NOISE}/sta"]
        assert np.isnan(leaf.value).all() and leaf.attrs["n_spikes_used"] == 0


class TestAllOccurrences:
    """trials='all' pools every trial of every occurrence, each mapped to its own content start."""

    def test_second_occurrence_adds_spikes(self, truth, base) -> None:
        """Duplicating the movie's occurrence with shifted spikes doubles n_used and keeps the STA."""
        vals, attrs = (dict(base[0]), {k: dict(v) for k, v in base[1].items()})
        ft = np.asarray(truth.frame_onsets, np.int64)
        cs = truth.content_start_frames[truth.movies.index(NOISE)]
        shift = ft.size + 70 - cs  # frames; a pretend second showing, after the recording's frames
        ft2 = np.concatenate([ft, ft[-1] + np.cumsum(np.full(1500, 340))])
        vals["/metadata/frame_timestamps"] = ft2.astype(np.uint64)
        sec = vals[f"/stimulus/section_time/{NOISE}"]
        vals[f"/stimulus/section_time/{NOISE}"] = np.array([sec[0], [ft2[cs - 60 + shift], ft2[cs + shift + 1200 + 121]]])
        for u in truth.units:
            b = f"/units/unit_{u.unit_num:03d}/spike_times_sectioned/{NOISE}"
            sp = vals[f"{b}/trials_spike_times"][0]
            f = np.searchsorted(ft2, sp, side="right") - 1
            sp2 = ft2[f + shift] + (sp - ft2[f])  # same frames and offsets, one showing later
            vals[f"{b}/trials_spike_times"] = {0: sp, 1: sp2}
            t0 = vals[f"{b}/trials_start_end"][0]
            vals[f"{b}/trials_start_end"] = np.array([t0, [ft2[cs + shift], ft2[cs + shift + 1200]]])
        first = puts(run(vals, attrs, stimuli_dir=truth.paths["stimuli_dir"]))
        both = puts(run(vals, attrs, stimuli_dir=truth.paths["stimuli_dir"], trials="all"))
        for k, op in first.items():
            assert both[k].attrs["n_spikes_used"] == 2 * op.attrs["n_spikes_used"]
            assert np.allclose(both[k].value, op.value, equal_nan=True)


class TestMovieChoiceAndValidation:
    """Which movie is used, and the errors for bad inputs."""

    def test_no_noise_movie(self, truth, base) -> None:
        """No sectioned movie named *noise* is a ConfigurationError listing the movies."""
        vals = {k: v for k, v in base[0].items() if NOISE not in k}
        attrs = {k: v for k, v in base[1].items() if NOISE not in k}
        with pytest.raises(ConfigurationError, match="baseline_127"):
            run(vals, attrs, stimuli_dir=truth.paths["stimuli_dir"])

    def test_two_noise_movies(self, truth, base) -> None:
        """Two candidates is a ConfigurationError naming both; movie= picks one."""
        vals = dict(base[0])
        vals["/stimulus/section_time/other_noise"] = vals[f"/stimulus/section_time/{NOISE}"]
        with pytest.raises(ConfigurationError, match="other_noise") as ei:
            run(vals, base[1], stimuli_dir=truth.paths["stimuli_dir"])
        assert NOISE in str(ei.value)
        assert len(run(vals, base[1], stimuli_dir=truth.paths["stimuli_dir"], movie=NOISE).ops) > 0

    def test_unknown_movie(self, truth, base) -> None:
        """movie= naming a movie without section times names the step to run."""
        with pytest.raises(MissingPrerequisiteError, match="add_section_time"):
            run(*base, stimuli_dir=truth.paths["stimuli_dir"], movie="nope")

    def test_unsectioned_unit(self, truth, base) -> None:
        """A unit without sectioned spikes of the movie names the unit and section_spike_times."""
        vals = {k: v for k, v in base[0].items() if not k.startswith(f"/units/unit_002/spike_times_sectioned/{NOISE}")}
        with pytest.raises(MissingPrerequisiteError, match="unit_002.*section_spike_times"):
            run(vals, base[1], stimuli_dir=truth.paths["stimuli_dir"])

    def test_no_stimuli_dir(self, base) -> None:
        """stimuli_dir is required."""
        with pytest.raises(ConfigurationError, match="stimuli_dir"):
            run(*base)

    @pytest.mark.parametrize("bad", ["trials", "cover"])
    def test_bad_params(self, truth, base, bad: str) -> None:
        """Bad trials or cover_range values are ParameterErrors."""
        kw = {"trials": "some"} if bad == "trials" else {"cover_range": (0, -1)}
        with pytest.raises(ParameterError):
            run(*base, stimuli_dir=truth.paths["stimuli_dir"], **kw)

    @pytest.mark.parametrize(
        "movie, match",
        [
            (np.zeros((1200, 15), np.uint8), "shape"),
            (np.zeros((1200, 15, 15), np.float32), "uint8"),
            (np.zeros((1000, 15, 15), np.uint8), "1000 frames"),
            (None, "not found"),
        ],
    )
    def test_bad_movie_file(self, tmp_path: Path, base, movie, match: str) -> None:
        """Wrong rank, dtype, length or a missing file is an InputFileError naming the file."""
        if movie is not None:
            np.save(tmp_path / f"{NOISE}.npy", movie)
        with pytest.raises(InputFileError, match=match) as ei:
            run(*base, stimuli_dir=tmp_path)
        assert ei.value.path.endswith(f"{NOISE}.npy")

    def test_short_movie_without_length_attr(self, tmp_path: Path, base) -> None:
        """Without movie_length_frame the trial extent still catches a short movie."""
        np.save(tmp_path / f"{NOISE}.npy", np.zeros((600, 15, 15), np.uint8))
        with pytest.raises(InputFileError, match="reach frame 1200"):
            run(*base, stimuli_dir=tmp_path)

    def test_load_movie_not_npy(self, tmp_path: Path) -> None:
        """A file that is not .npy is an InputFileError."""
        p = tmp_path / "x.npy"
        p.write_bytes(b"not a numpy file")
        with pytest.raises(InputFileError, match="cannot read"):
            load_movie(p)
