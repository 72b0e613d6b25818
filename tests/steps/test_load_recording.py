"""Tests of the load_recording step against the synthetic generator's ground truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

import txpipe
from txpipe import synth
from txpipe.errors import ConfigurationError, FrameSyncError, McsPairError
from txpipe.core.replay import verify
from txpipe.steps.load_recording import block_mean, firing_rate_10hz


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    d = tmp_path_factory.mktemp("load")
    gt = synth.make_recording(d, n_units=6, edge=("zero_spike_unit", "only_excluded_unit", "spikes_at_bounds", "unit_gaps"), seed=3)
    s = txpipe.PipelineSession()
    s.load_recording(gt.paths["cmcr"], gt.paths["cmtr"])
    return gt, s


class TestSpikes:
    def test_spike_samples_exact(self, rec):
        """Every unit's spike_times equal the planted samples (uint64), in CMTR unit order."""
        gt, s = rec
        assert s.units == [f"unit_{u.unit_num:03d}" for u in sorted(gt.units, key=lambda u: u.unit_num)]
        for u in gt.units:
            st = s.state[f"units/unit_{u.unit_num:03d}/spike_times"]
            assert st.dtype == np.uint64
            np.testing.assert_array_equal(st.astype(np.int64), u.spike_samples)

    def test_unit_attrs_and_waveform(self, rec):
        """row/col/sensor_id come from Unit Info; waveform is the mean included cutout."""
        gt, s = rec
        for u in gt.units:
            p = f"units/unit_{u.unit_num:03d}"
            a = s.state.attrs(p)
            assert (a["row"], a["col"], a["sensor_id"], a["unit_num"], a["spike_count"]) == (u.row, u.col, u.sensor_id, u.unit_num, u.spike_samples.size)
            assert type(a["row"]) is int
            np.testing.assert_allclose(s.state[p + "/waveform"], u.waveform, rtol=1e-6)
            assert s.state[p + "/unit_info"]["SensorID"] == u.sensor_id

    def test_zero_spike_units_kept(self, rec):
        """Units without included spikes keep empty arrays and a zero firing rate of full length."""
        gt, s = rec
        empty = [u for u in gt.units if u.spike_samples.size == 0]
        assert len(empty) == 2
        for u in empty:
            p = f"units/unit_{u.unit_num:03d}"
            assert s.state[p + "/spike_times"].shape == (0,) and s.state[p + "/waveform"].shape == (0,)
            assert s.state[p + "/firing_rate_10hz"].sum() == 0

    def test_firing_rate(self, rec):
        """firing_rate_10hz: 100 ms bins over the whole recording, spikes/s, spikes at both bounds counted."""
        gt, s = rec
        n_bins = math.ceil(gt.n_samples / gt.fs_hz / 0.1)
        for u in gt.units:
            fr = s.state[f"units/unit_{u.unit_num:03d}/firing_rate_10hz"]
            assert fr.dtype == np.float32 and fr.shape == (n_bins,)
            assert fr.sum() / 10 == u.spike_samples.size
            expect = np.bincount(u.spike_times_us // 100_000, minlength=n_bins)[:n_bins] * 10
            np.testing.assert_array_equal(fr, expect)


class TestMetadata:
    def test_fs_and_frames(self, rec):
        """fs is exact; frame timestamps are the planted frame onsets, every one and none extra."""
        gt, s = rec
        assert s.state["metadata/acquisition_rate"] == gt.fs_hz and type(s.state["metadata/acquisition_rate"]) is float
        assert s.state["metadata/sample_interval"] == 1 / gt.fs_hz
        ft = s.state["metadata/frame_timestamps"]
        assert ft.dtype == np.uint64
        np.testing.assert_array_equal(ft.astype(np.int64), gt.frame_onsets)
        np.testing.assert_array_equal(s.state["metadata/frame_time"], gt.frame_onsets / gt.fs_hz)
        assert s.state.attrs("metadata/frame_timestamps")["onset"] == "first_high_sample"
        assert s.journal[-1].notes["warnings"] == []

    def test_ids_and_sources(self, rec):
        """dataset_id from the CMTR stem without '-', source files and sys_meta of both files."""
        gt, s = rec
        assert s.state["metadata/dataset_id"] == gt.dataset_id == s.dataset_id
        a = s.state.attrs("source_files")
        assert a["cmcr_path"].endswith(".cmcr") and a["cmtr_path"].endswith("-.cmtr")
        assert s.state["metadata/sys_meta/cmcr"]["ProgramName"] == "CMOS-MEA-Control"
        assert s.state["metadata/sys_meta/cmtr"]["LB.RecordingDuration"] == gt.duration_us
        assert len(s.journal[-1].inputs) == 2 and all(i["data_digest"] for i in s.journal[-1].inputs)

    def test_light_reference(self, rec):
        """raw channels are float32 ADC counts; 10 Hz / 1 kHz copies are block means including the last partial block."""
        gt, s = rec
        lr = "stimulus/light_reference/"
        raw1 = s.state[lr + "raw_ch1"]
        assert raw1.dtype == np.float32 and raw1.shape == (gt.n_samples,)
        assert s.state[lr + "10hz_ch1"].shape == (math.ceil(gt.n_samples / 2000),)
        assert s.state[lr + "1khz_ch2"].shape == (math.ceil(gt.n_samples / 20),)
        np.testing.assert_allclose(s.state[lr + "1khz_ch1"][:5], raw1[:100].reshape(5, 20).mean(axis=1), rtol=1e-6)
        assert s.state.attrs(lr + "raw_ch1")["unit"] == "adc_counts"


class TestHelpers:
    def test_block_mean_partial(self):
        """block_mean averages the trailing partial block instead of dropping it."""
        assert block_mean(np.arange(7, dtype=np.float32), 3).tolist() == [1.0, 4.0, 6.0]

    def test_rate_edge_spike(self):
        """A spike exactly on the last edge counts in the last bin; later ones are dropped and counted."""
        fr, dropped = firing_rate_10hz(np.array([0, 200_000, 300_000]), 200_000)
        assert fr.tolist() == [10.0, 10.0] and dropped == 1


class TestReplayAndRerun:
    def test_replay_identical(self, rec, tmp_path):
        """The saved file's journal replays to the same content."""
        _, s = rec
        p = s.checkpoint(tmp_path / "a.h5")
        assert verify(p).identical

    def test_rerun_replaces_wholesale(self, rec):
        """A second load_recording replaces the recording data (nothing stale survives)."""
        gt, _ = rec
        s = txpipe.PipelineSession()
        s.load_recording(gt.paths["cmcr"], gt.paths["cmtr"])
        d1 = s.content_digest()
        s.add_section_time(gt.playlist_name, playlist_file=gt.paths["playlist"], movie_length_file=gt.paths["movie_length"])
        s.load_recording(gt.paths["cmcr"], gt.paths["cmtr"])
        assert "stimulus/section_time" not in s.state and s.content_digest() == d1


class TestBadInputs:
    def test_no_frame_sync(self, tmp_path):
        """No frame-sync channel is a FrameSyncError naming the file; optional with require_frame_sync=False."""
        gt = synth.make_recording(tmp_path, n_units=2, edge=("no_frame_sync",))
        with pytest.raises(FrameSyncError, match=r"\.cmcr: the analog stream has 1 channel"):
            txpipe.PipelineSession().load_recording(gt.paths["cmcr"], gt.paths["cmtr"])
        s = txpipe.PipelineSession().load_recording(gt.paths["cmcr"], gt.paths["cmtr"], require_frame_sync=False)
        assert s.state["metadata/frame_timestamps"].shape == (0,)
        assert "no frame-sync channel" in s.journal[-1].notes["warnings"][0]

    def test_flat_frame_sync(self, tmp_path):
        """A sync channel with no pulses after the dropped ones is a FrameSyncError."""
        gt = synth.make_recording(tmp_path, n_units=2, n_spurious_pulses=0, protocol=synth.Protocol((synth.gray_movie("g", 1),), pad_frames=0))
        with pytest.raises(FrameSyncError, match="rising edge"):
            txpipe.PipelineSession().load_recording(gt.paths["cmcr"], gt.paths["cmtr"], drop_first_edges=4)

    def test_duration_mismatch(self, tmp_path):
        """CMCR and CMTR durations that disagree raise McsPairError."""
        gt = synth.make_recording(tmp_path, n_units=2, edge=("duration_mismatch",))
        with pytest.raises(McsPairError, match="RecordingDuration"):
            txpipe.PipelineSession().load_recording(gt.paths["cmcr"], gt.paths["cmtr"])

    def test_bad_dataset_id(self, rec):
        """A dataset id with forbidden characters is a ConfigurationError."""
        gt, _ = rec
        with pytest.raises(ConfigurationError, match="forbidden"):
            txpipe.PipelineSession().load_recording(gt.paths["cmcr"], gt.paths["cmtr"], dataset_id="a/b")
