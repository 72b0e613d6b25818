"""Tests for txpipe.synth: files, conformance with McsPyDataTools, timing model, responses."""

from __future__ import annotations

import ast
import csv
import json
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import find_peaks

from txpipe import synth
from txpipe.errors import ConfigurationError, InputFileError


# Fixtures default_rec, edge_rec and tiny_protocol live in conftest.py.

NUMPY_GE_24 = tuple(int(x) for x in np.__version__.split(".")[:2]) >= (2, 4)

# lab-pipeline.md §3.2: file -> (start_frame, trial_length_frame, repeat, group_count, group_gap)
LAB_TABLE = {
    "baseline_127": (0, 180, 1, None, None),
    "freq_step_5st_3x": (30, 1500, 3, None, None),
    "green_blue_3s_3i_3x": (120, 720, 3, None, None),
    "green_blue_3s_3i_3x_64_128_255": (120, 720, 3, 3, 180),
    "moving_h_bar_s5_d8_3x": (60, 4520, 3, None, None),
    "perfect_dense_noise_15x15_15hz_r42_3min": (0, 10800, 1, None, None),
    "step_up_5s_5i_b0_30x": (240, 600, 30, None, None),
    "step_up_5s_5i_b0_3x": (240, 600, 3, None, None),
}


def lab_frame_timestamps(ch: np.ndarray) -> np.ndarray:
    """The lab's detector (lab-pipeline.md §1.3 step 5): derivative peaks > 0.1, drop first 4."""
    x = ch.astype(np.float64)
    p = np.percentile(x, 99.9)
    y = x / p if p > 0 else x
    peaks, _ = find_peaks(np.diff(y), height=0.1)
    return peaks[4:] if peaks.size > 4 else peaks


def sta(truth: synth.GroundTruth, unit: synth.UnitTruth, movie: np.ndarray) -> np.ndarray:
    """Lab-style STA (cover_range (-60, 0)) of the noise movie, raw pixel units."""
    i = truth.movies.index(truth.noise_movie)
    f = np.searchsorted(truth.frame_onsets, unit.spike_samples, side="right") - 1
    f = f - truth.content_start_frames[i]
    f = f[(f - 60 >= 0) & (f <= movie.shape[0])]
    acc = np.zeros((60,) + movie.shape[1:])
    for k in range(60):
        acc[k] = movie[f - 60 + k].mean(axis=0)
    return acc


class TestFiles:
    """The generator writes the pair and the lab's side files in the lab's formats."""

    def test_expected_files_exist(self, default_rec: synth.GroundTruth) -> None:
        """Every path in the ground truth exists, with the lab's naming."""
        for key, p in default_rec.paths.items():
            assert Path(p).exists(), key
        assert Path(default_rec.paths["cmcr"]).name == "synthetic-Rec.cmcr"
        assert Path(default_rec.paths["cmtr"]).name == "synthetic-Rec-.cmtr"
        assert default_rec.dataset_id == "synthetic-Rec"

    def test_playlist_and_movie_length_csv(self, default_rec: synth.GroundTruth) -> None:
        """playlist.csv holds a list literal of .mov names; movie_length.csv the lengths in frames."""
        with open(default_rec.paths["playlist"], newline="") as f:
            rows = list(csv.reader(f))
        assert rows[0] == ["playlist_name", "movie_names"]
        assert rows[1][0] == default_rec.playlist_name == "synthetic_playlist"
        names = [n.split(".")[0] for n in ast.literal_eval(rows[1][1])]
        assert tuple(names) == default_rec.movies
        with open(default_rec.paths["movie_length"], newline="") as f:
            rows = list(csv.reader(f))
        assert rows[0] == ["movie_name", "movie_length"]
        assert {r[0]: int(r[1]) for r in rows[1:]} == dict(zip(default_rec.movies,
                                                              default_rec.movie_lengths))
        assert default_rec.movie_lengths == (180, 480, 1200)

    def test_stimulus_json_schema(self, default_rec: synth.GroundTruth) -> None:
        """Every movie has a JSON with integer section_kwargs that fit inside the movie."""
        for movie, length in zip(default_rec.movies, default_rec.movie_lengths):
            cfg = json.loads(Path(default_rec.paths[f"config:{movie}"]).read_text())
            sk = cfg["section_kwargs"]
            assert all(type(v) is int for v in sk.values())
            end = sk["start_frame"] + sk["repeat"] * sk.get("group_count", 1) * sk["trial_length_frame"]
            assert end <= length
        step = json.loads(Path(default_rec.paths["config:step_up_demo"]).read_text())
        assert step["section_kwargs"] == {"start_frame": 60, "trial_length_frame": 120, "repeat": 3}

    def test_noise_movie_npy(self, default_rec: synth.GroundTruth) -> None:
        """The noise .npy is (L, 15, 15) uint8 0/255, each noise frame held 4 display frames."""
        movie = np.load(default_rec.paths[f"movie:{default_rec.noise_movie}"])
        assert movie.shape == (1200, 15, 15) and movie.dtype == np.uint8
        assert set(np.unique(movie)) == {0, 255}
        held = movie.reshape(300, 4, 15, 15)
        assert (held == held[:, :1]).all()
        assert not (movie[::4][1:] == movie[::4][:-1]).all()


class TestShippedConfigs:
    """The 8 lab configs ship as package data with the table's values, unchanged."""

    def test_names(self) -> None:
        """Exactly the 8 shipped configs are present."""
        assert set(synth.shipped_config_names()) == set(LAB_TABLE)

    @pytest.mark.parametrize("name", sorted(LAB_TABLE))
    def test_values(self, name: str) -> None:
        """section_kwargs equal the lab table (absent optional keys stay absent)."""
        sk = synth.load_shipped_config(name)["section_kwargs"]
        start, trial, rep, gc, gap = LAB_TABLE[name]
        assert (sk["start_frame"], sk["trial_length_frame"], sk["repeat"]) == (start, trial, rep)
        assert sk.get("group_count") == gc and sk.get("group_gap") == gap

    def test_inner_name_oddities_kept(self) -> None:
        """The copy-paste inner names of the lab files are kept (the sectioner ignores them)."""
        assert synth.load_shipped_config("baseline_127")["name"] == "step_up_5s_5i_3x"
        assert synth.load_shipped_config("step_up_5s_5i_b0_3x")["name"] == "step_up_5s_5i_3x"

    @pytest.mark.parametrize("name", sorted(LAB_TABLE))
    def test_usable_as_movie(self, name: str) -> None:
        """Each shipped config yields a movie long enough for all its trials."""
        m = synth.lab_movie(name)
        sk = m.config["section_kwargs"]
        gc = sk.get("group_count", 1)
        need = sk["start_frame"] + gc * sk["repeat"] * sk["trial_length_frame"] + \
            (gc - 1) * sk.get("group_gap", 0)
        assert m.n_frames >= need and ((m.intensity >= 0) & (m.intensity <= 1)).all()
        assert (m.pixels is not None) == ("noise" in name)

    def test_unknown_config(self) -> None:
        """Asking for a config that is not shipped names it."""
        with pytest.raises(InputFileError, match="no_such_movie"):
            synth.load_shipped_config("no_such_movie")


class TestConformance:
    """Generated files open with McsPyDataTools and every planted value round-trips."""

    def test_cmcr_attribute_api(self, default_rec: synth.GroundTruth) -> None:
        """The .cmcr reads through McsPy's attribute API (any numpy)."""
        from McsPy.McsCMOSMEA import McsCMOSMEAData
        data = McsCMOSMEAData(default_rec.paths["cmcr"])
        try:
            ad = data.Acquisition.Analog_Data
            analog = ad.ChannelData_1[:]
            assert analog.dtype == np.int32 and analog.shape == (2, default_rec.n_samples)
            assert (ad.ChannelMeta.Tick == default_rec.tick_us).all()
            assert data.attributes["LB.RecordingDuration"] == default_rec.duration_us
            assert data.attributes["FileVersion"] == 1
            assert len(ad.ChannelData_1.Meta) == 2
        finally:
            data.h5_file.close()

    def test_cmtr_item_access(self, default_rec: synth.GroundTruth) -> None:
        """Through item access every unit's Peaks and Unit Info hold the planted values."""
        from McsPy.McsCMOSMEA import McsCMOSMEAData
        data = McsCMOSMEAData(default_rec.paths["cmtr"])
        try:
            ss = data["Spike Sorter"]
            for u in default_rec.units:
                g = ss[f"Unit {u.unit_num}"]
                p = g["Peaks"][()]
                inc = p["IncludePeak"] == 1
                assert np.array_equal(p["Timestamp"][inc], u.spike_times_us)
                assert np.array_equal(p["PeakAmplitude"][inc], u.amplitudes)
                assert (~inc).sum() == u.n_excluded
                info = g["Unit Info"][0]
                assert (info["SensorID"], info["Row"], info["Column"]) == (u.sensor_id, u.row, u.col)
                assert info["SNR"] == pytest.approx(u.measures["SNR"])
            # the external link reaches the raw file's analog data through the .cmtr
            assert data.Acquisition.Analog_Data.ChannelData_1.shape == (2, default_rec.n_samples)
        finally:
            data.h5_file.close()

    @pytest.mark.skipif(NUMPY_GE_24, reason="McsPy 0.4.3's Spike_Sorter calls int() on int32[1] "
                        "attributes, which numpy >= 2.4 rejects")
    def test_cmtr_spike_sorter_faithful(self, default_rec: synth.GroundTruth) -> None:
        """McsPy's Spike_Sorter wrapper reads the faithful file where numpy allows it."""
        from McsPy.McsCMOSMEA import McsCMOSMEAData
        data = McsCMOSMEAData(default_rec.paths["cmtr"])
        try:
            units = data.Spike_Sorter.get_units_by_id()
            assert len(units) == len(default_rec.units)
        finally:
            data.h5_file.close()

    def test_cmtr_spike_sorter_scalar_variant(self, tmp_path: Path) -> None:
        """With 0-d unit attributes McsPy's Spike_Sorter path returns the planted spikes and cutouts."""
        from McsPy.McsCMOSMEA import McsCMOSMEAData
        truth = synth.make_recording(tmp_path, n_units=3, unit_attr_style="scalar", seed=5)
        data = McsCMOSMEAData(truth.paths["cmtr"])
        try:
            ss = data.Spike_Sorter
            assert [int(u.Unit_Info["UnitID"][0]) for u in ss.get_units_by_id()] == [1, 2, 3]
            for u in truth.units:
                unit = ss.get_unit(u.unit_num)
                assert np.array_equal(unit.get_peaks_timestamps(), u.spike_times_us)
                assert np.array_equal(unit.get_peaks_amplitudes(), u.amplitudes)
                np.testing.assert_allclose(unit.get_peaks_cutouts().mean(axis=0), u.waveform,
                                           rtol=1e-5, atol=1e-5)
                assert unit.get_measure("SNR") == pytest.approx(u.measures["SNR"])
            assert ss.get_unit_measures()[:2] == ["SDScore", "AmplitudeSD"]
        finally:
            data.h5_file.close()


class TestTimingModel:
    """Frame onsets, spurious pulses, light levels and movie blocks follow the lab's arithmetic."""

    @pytest.fixture(scope="class")
    @classmethod
    def analog(cls, default_rec: synth.GroundTruth) -> np.ndarray:
        with h5py.File(default_rec.paths["cmcr"], "r") as f:
            return f["Acquisition/Analog Data/ChannelData 1"][()]

    def test_lab_detector_finds_real_frames(self, default_rec: synth.GroundTruth,
                                            analog: np.ndarray) -> None:
        """The lab's detector, after dropping 4 edges, gives onset − 1 of every real frame."""
        ts = lab_frame_timestamps(analog[1])
        assert np.array_equal(ts + 1, default_rec.frame_onsets)
        assert default_rec.spurious_onsets.size == 4
        assert default_rec.spurious_onsets[-1] < default_rec.frame_onsets[0]

    def test_onsets_jitter_around_60hz(self, default_rec: synth.GroundTruth) -> None:
        """Frame intervals average fs/60 samples but are not a perfectly regular grid."""
        d = np.diff(default_rec.frame_onsets)
        assert d.mean() == pytest.approx(default_rec.fs_hz / 60, rel=1e-3)
        assert set(np.unique(d)) > {333, 334}

    def test_light_reference_levels(self, default_rec: synth.GroundTruth,
                                    analog: np.ndarray) -> None:
        """ch1 inside each frame is lo + I·(hi − lo) up to the noise (200 ADC counts)."""
        t = default_rec
        expect = t.light_lo_adc + t.frame_intensity * (t.light_hi_adc - t.light_lo_adc)
        got = analog[0][t.frame_onsets + 100]
        assert np.abs(got - expect).max() < 6 * 200

    def test_blocks_follow_lab_arithmetic(self, default_rec: synth.GroundTruth) -> None:
        """content_start = frame_count + 180, frame_count += 2·180 + L + 1 (lab §2.3)."""
        frame_count, starts = 0, []
        for length in default_rec.movie_lengths:
            starts.append(frame_count + 180)
            frame_count += 2 * 180 + length + 1
        assert tuple(starts) == default_rec.content_start_frames
        assert frame_count == default_rec.n_frames

    @settings(max_examples=30, deadline=None)
    @given(st.lists(st.integers(1, 500), min_size=1, max_size=5), st.integers(0, 200))
    def test_protocol_arithmetic(self, lengths: list[int], pad: int) -> None:
        """Any playlist: blocks tile the frames and gray fills everything outside content."""
        proto = synth.Protocol(tuple(synth.gray_movie(f"m{i}", n, level=1.0)
                                     for i, n in enumerate(lengths)), pad_frames=pad)
        inten = proto.frame_intensity()
        assert inten.size == proto.n_frames == sum(2 * pad + n + 1 for n in lengths)
        assert (inten == 1.0).sum() == sum(lengths)
        for c, n in zip(proto.content_starts(), lengths):
            assert (inten[c:c + n] == 1.0).all()


class TestResponses:
    """Units respond to the stimulus as planted; a lab-style STA recovers each receptive field."""

    def _step_rates(self, t: synth.GroundTruth, u: synth.UnitTruth) -> tuple[float, float]:
        i = t.movies.index("step_up_demo")
        frames = t.content_start_frames[i] + 60 + np.arange(360)
        on = frames[(np.arange(360) % 120) < 60]
        off = frames[(np.arange(360) % 120) >= 60]
        f = np.searchsorted(t.frame_onsets, u.spike_samples, side="right") - 1
        return np.isin(f, on + 6).sum(), np.isin(f, off + 6).sum()

    def test_on_and_off_units(self, default_rec: synth.GroundTruth) -> None:
        """ON units fire more during light steps, OFF units more during dark steps."""
        for u in default_rec.units:
            on, off = self._step_rates(default_rec, u)
            if u.kind == "on":
                assert on > 2 * off
            elif u.kind == "off":
                assert off > 2 * on

    def test_sta_recovers_rf(self, default_rec: synth.GroundTruth) -> None:
        """The STA peak sits at the planted pixel and lag, with the planted polarity."""
        movie = np.load(default_rec.paths[f"movie:{default_rec.noise_movie}"])
        rf = [u for u in default_rec.units if u.kind == "rf"]
        assert len(rf) >= 2 and {u.rf_polarity for u in rf} == {-1, 1}
        for u in rf:
            s = sta(default_rec, u, movie) - 127.5
            k, y, x = np.unravel_index(np.abs(s).argmax(), s.shape)
            assert (y, x) == u.rf_pixel
            assert 60 - k == u.latency_frames
            assert np.sign(s[k, y, x]) == u.rf_polarity
            others = np.delete(np.abs(s[k]).ravel(), y * 15 + x)
            assert np.abs(s[k, y, x]) > 5 * others.std()


class TestGroundTruth:
    """The ground truth is consistent, deterministic, and survives save/load."""

    def test_spikes_sorted_on_grid(self, default_rec: synth.GroundTruth) -> None:
        """Spike samples are unique, sorted, inside the recording, and round(t_us·fs/1e6)."""
        for u in default_rec.units:
            assert (np.diff(u.spike_samples) > 0).all()
            assert u.spike_samples.min() >= 0 and u.spike_samples.max() < default_rec.n_samples
            assert np.array_equal(u.spike_samples,
                                  np.round(u.spike_times_us * default_rec.fs_hz / 1e6).astype(int))

    def test_save_load_round_trip(self, default_rec: synth.GroundTruth) -> None:
        """GroundTruth.load gives back every array and scalar."""
        back = synth.GroundTruth.load(default_rec.paths["truth"])
        for name in ("fs_hz", "n_samples", "duration_us", "movies", "movie_lengths", "edge",
                     "content_start_frames", "noise_movie", "paths", "playlist_name"):
            assert getattr(back, name) == getattr(default_rec, name), name
        assert np.array_equal(back.frame_onsets, default_rec.frame_onsets)
        assert np.array_equal(back.frame_intensity, default_rec.frame_intensity)
        for a, b in zip(back.units, default_rec.units):
            assert np.array_equal(a.spike_times_us, b.spike_times_us)
            assert np.array_equal(a.waveform, b.waveform)
            assert (a.rf_pixel, a.kind, a.measures, a.sensor_id) == \
                (b.rf_pixel, b.kind, b.measures, b.sensor_id)

    def test_load_missing(self, tmp_path: Path) -> None:
        """Loading a missing ground truth is a typed error naming the file."""
        with pytest.raises(InputFileError, match="nothing.truth.npz"):
            synth.GroundTruth.load(tmp_path / "nothing.truth.npz")

    def test_deterministic(self, tmp_path: Path, tiny_protocol: synth.Protocol) -> None:
        """The same seed gives identical files' content; another seed differs."""
        a = synth.make_recording(tmp_path / "a", protocol=tiny_protocol, seed=7)
        b = synth.make_recording(tmp_path / "b", protocol=tiny_protocol, seed=7)
        c = synth.make_recording(tmp_path / "c", protocol=tiny_protocol, seed=8)
        assert all(np.array_equal(x.spike_times_us, y.spike_times_us) for x, y in zip(a.units, b.units))
        assert np.array_equal(a.frame_onsets, b.frame_onsets)
        assert not np.array_equal(a.units[0].spike_times_us, c.units[0].spike_times_us)

    def test_default_generation_is_fast(self, tmp_path: Path) -> None:
        """The default recording generates well under a second (best of 3, to ignore a busy moment)."""
        times = []
        for i in range(3):
            t0 = time.perf_counter()
            synth.make_recording(tmp_path / str(i))
            times.append(time.perf_counter() - t0)
        assert min(times) < 1.0, times


class TestEdgeSwitches:
    """Each edge switch leaves its mark in the files."""

    def test_readable_edges(self, edge_rec: synth.GroundTruth) -> None:
        """Zero-spike, only-excluded, bound spikes, gaps and missing frame sync are planted."""
        t = edge_rec
        zero = next(u for u in t.units if u.note == "zero_spike_unit")
        only = next(u for u in t.units if u.note == "only_excluded_unit")
        assert zero.spike_times_us.size == 0 and zero.n_excluded == 0
        assert only.spike_times_us.size == 0 and only.n_excluded > 0
        first = t.units[0].spike_samples
        assert first[0] == 0 and first[-1] == t.n_samples - 1
        nums = [u.unit_num for u in t.units]
        assert len(nums) == 14 and nums[-1] > 14 and nums == sorted(nums)
        with h5py.File(t.paths["cmcr"], "r") as f:
            assert f["Acquisition/Analog Data/ChannelData 1"].shape == (1, t.n_samples)
        with h5py.File(t.paths["cmtr"], "r") as f:
            assert f[f"Spike Sorter/Unit {zero.unit_num}/Peaks"].shape == (0,)

    def test_fatal_edges(self, tmp_path: Path, tiny_protocol: synth.Protocol) -> None:
        """Mismatch, dangling link, vlen attributes and bad SensorID are written as asked."""
        t = synth.make_recording(tmp_path, protocol=tiny_protocol, n_units=3, edge={
            "duration_mismatch", "dangling_link", "vlen_str_attrs", "sensor_id_out_of_range"})
        with h5py.File(t.paths["cmtr"], "r") as f:
            assert f.attrs["LB.RecordingDuration"][0] == t.duration_us + 1_000_000
            assert f.get("Acquisition", getlink=True).filename == "synthetic-Rec_missing.cmcr"
            assert isinstance(f.attrs["ID.Type"], str)
            assert f["Spike Sorter/Unit 3"].attrs["SensorID"][0] == 4226

    def test_unknown_switch(self, tmp_path: Path) -> None:
        """A misspelt switch is refused with the list of known ones."""
        with pytest.raises(ConfigurationError, match="no_such_switch"):
            synth.make_recording(tmp_path, edge={"no_such_switch"})


class TestParameters:
    """Parameters are validated and honoured."""

    def test_duration_too_short(self, tmp_path: Path) -> None:
        """A duration shorter than the protocol is refused."""
        with pytest.raises(ConfigurationError, match="shorter than the protocol"):
            synth.make_recording(tmp_path, duration_s=10)

    def test_fs_must_give_whole_tick(self, tmp_path: Path) -> None:
        """fs_hz whose tick is not a whole µs is refused."""
        with pytest.raises(ConfigurationError, match="whole number"):
            synth.make_recording(tmp_path, fs_hz=30000.0)

    def test_duration_fs_and_cutouts(self, tmp_path: Path, tiny_protocol: synth.Protocol) -> None:
        """duration_s, fs_hz, cutout_len and cutout_dtype reach the files."""
        t = synth.make_recording(tmp_path, protocol=tiny_protocol, duration_s=10.0, fs_hz=10000.0,
                                 cutout_len=32, cutout_dtype="<f4", n_units=2)
        assert (t.n_samples, t.tick_us, t.duration_us) == (100000, 100, 10_000_000)
        with h5py.File(t.paths["cmtr"], "r") as f:
            dt = f["Spike Sorter/Unit 1/Peaks"].dtype
        assert len(dt.names) == 35 and dt["32"] == np.float32

    def test_full_protocol_fills_duration(self) -> None:
        """full_protocol(20 min) spans roughly 20 minutes of display frames."""
        proto = synth.full_protocol(1200)
        assert 0.95 * 72000 < proto.n_frames <= 72000
        assert any(m.pixels is not None for m in proto.movies)
