"""Tests of txpipe.mcs.stimulus_config: shipped configs, validation, trial frames."""

from __future__ import annotations

import json

import numpy as np
import pytest

from txpipe.errors import InputFileError
from txpipe.mcs.stimulus_config import config_problems, load_configs

# lab-pipeline.md §3.2: (start_frame, trial_length_frame, repeat, group_count, group_gap, total trials)
SHIPPED = {
    "baseline_127": (0, 180, 1, 1, 0, 1),
    "freq_step_5st_3x": (30, 1500, 3, 1, 0, 3),
    "green_blue_3s_3i_3x": (120, 720, 3, 1, 0, 3),
    "green_blue_3s_3i_3x_64_128_255": (120, 720, 3, 3, 180, 9),
    "moving_h_bar_s5_d8_3x": (60, 4520, 3, 1, 0, 3),
    "perfect_dense_noise_15x15_15hz_r42_3min": (0, 10800, 1, 1, 0, 1),
    "step_up_5s_5i_b0_30x": (240, 600, 30, 1, 0, 30),
    "step_up_5s_5i_b0_3x": (240, 600, 3, 1, 0, 3),
}


class TestShippedConfigs:
    def test_values(self):
        """The 8 lab configs ship as package data with the reference's values."""
        cfgs = load_configs(list(SHIPPED))
        for name, (sf, tl, rep, gc, gap, n) in SHIPPED.items():
            c = cfgs[name]
            assert (c.start_frame, c.trial_length_frame, c.repeat, c.group_count, c.group_gap, c.n_trials) == (sf, tl, rep, gc, gap, n)

    def test_group_gap_example(self):
        """The reference's example: green_blue 64/128/255 trial 4 starts 3180 frames after content start."""
        fr = load_configs(["green_blue_3s_3i_3x_64_128_255"])["green_blue_3s_3i_3x_64_128_255"].trial_frames(1000)
        assert fr.shape == (9, 2) and fr[4].tolist() == [1000 + 3180, 1000 + 3180 + 720]
        assert np.all(fr[:, 1] - fr[:, 0] == 720)


class TestValidation:
    def test_all_problems_together(self, tmp_path):
        """Missing, malformed and invalid configs are reported in one InputFileError."""
        (tmp_path / "bad_json.json").write_text("{nope")
        (tmp_path / "float.json").write_text(json.dumps({"section_kwargs": {"start_frame": 1.0, "trial_length_frame": 10, "repeat": 1}}))
        (tmp_path / "neg.json").write_text(json.dumps({"section_kwargs": {"start_frame": 0, "trial_length_frame": 0}}))
        with pytest.raises(InputFileError) as ei:
            load_configs(["absent", "bad_json", "float", "neg"], tmp_path)
        msg = str(ei.value)
        assert "absent: no absent.json" in msg and "bad_json.json: not valid JSON" in msg
        assert "start_frame must be an integer, got 1.0" in msg
        assert "trial_length_frame must be >= 1" in msg and "repeat is missing" in msg
        assert ei.value.path == str(tmp_path)

    def test_missing_folder(self, tmp_path):
        """A config_dir that does not exist is named."""
        with pytest.raises(InputFileError, match="config folder not found"):
            load_configs(["a"], tmp_path / "nope")

    def test_problems_of_non_object(self):
        """A top level that is not an object, or without section_kwargs, is invalid."""
        assert config_problems([1]) and config_problems({"name": "x"}) == ["no 'section_kwargs' object"]
