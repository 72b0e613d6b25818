"""NWB export, the SpikeInterface bridge and the analysis readers, checked against the synthetic
recording's ground truth and the MCS files themselves (read with h5py, not through txpipe)."""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import h5py
import numpy as np
import pytest

from txpipe.errors import ExportError, MissingExtraError
from txpipe.export.nwb import column_name, load_metadata, session_start

pynwb = pytest.importorskip("pynwb", reason="needs the nwb extra: pip install -e '.[nwb]' in the txpipe clone")

META = {
    "timezone": "Europe/Berlin",
    "subject": {"subject_id": "mouse-7", "species": "Mus musculus", "sex": "F", "age": "P90D",
                "description": "wild-type retina"},
    "experimenter": ["Doe, Jane"],
    "institution": "Example University",
    "lab": "Retina lab",
    "keywords": ["retina", "CMOS-MEA"],
    "experiment_description": "light steps and dense noise",
}
PITCH_UM = 16.0


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A whole-pipeline output of a synthetic recording, its ground truth and its NWB export."""
    from txpipe.export import to_nwb
    from txpipe.runner.pipeline import run_demo

    root = tmp_path_factory.mktemp("export")
    res, truth = run_demo(root, n_units=6, seed=3)
    h5 = Path(res.path) if hasattr(res, "path") else root / f"{truth.dataset_id}.h5"
    nwb = to_nwb(h5, root / "out.nwb", META)
    return h5, truth, nwb


def _file_trains(h5: Path) -> dict[str, np.ndarray]:
    with h5py.File(h5, "r") as f:
        return {u: f[f"units/{u}/spike_times"][()] for u in f["units"]}


class TestNwbContent:
    def test_units_have_exact_spike_times_and_sensors(self, demo):
        h5, truth, nwb = demo
        fs = truth.fs_hz
        with pynwb.NWBHDF5IO(str(nwb), "r") as io:
            f = io.read()
            units = f.units
            assert len(units) == len(truth.units)
            assert units.resolution == pytest.approx(1 / fs)
            for i, ut in enumerate(sorted(truth.units, key=lambda u: u.unit_num)):
                # exact: the float64 of (sample index / fs), the truth's samples
                np.testing.assert_array_equal(units["spike_times"][i], ut.spike_samples / fs)
                assert units["unit_num"][i] == ut.unit_num
                assert units["sensor_id"][i] == ut.sensor_id
                erow = units["electrodes"][i]
                assert list(erow.index) == [ut.sensor_id - 1]
                assert erow["sensor_id"].iloc[0] == ut.sensor_id
                assert erow["rel_x"].iloc[0] == (ut.col - 1) * PITCH_UM
                assert erow["rel_y"].iloc[0] == (ut.row - 1) * PITCH_UM
                assert units["SNR"][i] == pytest.approx(ut.measures["SNR"])

    def test_electrodes_cover_the_chip(self, demo):
        _, _, nwb = demo
        with pynwb.NWBHDF5IO(str(nwb), "r") as io:
            e = io.read().electrodes.to_dataframe()
        assert len(e) == 65 * 65
        assert list(e.index) == list(range(4225))
        sid = e["sensor_id"].to_numpy()
        np.testing.assert_array_equal(sid, np.arange(1, 4226))
        np.testing.assert_array_equal(e["sensor_row"], (sid - 1) % 65 + 1)
        np.testing.assert_array_equal(e["sensor_column"], (sid - 1) // 65 + 1)
        assert e["rel_x"].max() == 64 * PITCH_UM and e["rel_y"].max() == 64 * PITCH_UM

    def test_epochs_and_trials_match_the_file(self, demo):
        h5, truth, nwb = demo
        with h5py.File(h5, "r") as f:
            sections = {m: f[f"stimulus/section_time/{m}"][()] for m in f["stimulus/section_time"]}
            u = next(iter(f["units"]))
            trials = {m: f[f"units/{u}/spike_times_sectioned/{m}/trials_start_end"][()]
                      for m in f[f"units/{u}/spike_times_sectioned"]}
        fs = truth.fs_hz
        with pynwb.NWBHDF5IO(str(nwb), "r") as io:
            f = io.read()
            ep = f.epochs.to_dataframe()
            tr = f.trials.to_dataframe()
        assert len(ep) == sum(len(b) for b in sections.values())
        assert sorted(t[0] for t in ep["tags"]) == sorted(m for m, b in sections.items() for _ in b)
        assert len(tr) == sum(len(b) for b in trials.values())
        for m, b in trials.items():
            rows = tr[tr["movie"] == m].sort_values("trial_index")
            np.testing.assert_array_equal(rows["trial_index"], np.arange(len(b)))
            np.testing.assert_array_equal(rows["start_time"], b[:, 0] / fs)
            np.testing.assert_array_equal(rows["stop_time"], b[:, 1] / fs)
        assert (np.diff(tr["start_time"].to_numpy()) >= 0).all()

    def test_session_start_identifier_subject_provenance(self, demo):
        h5, truth, nwb = demo
        with h5py.File(truth.paths["cmcr"], "r") as f:
            instance_id = f.attrs["ID.InstanceID"].decode()
            date = f.attrs["DateTime"].decode()
        want = dt.datetime.strptime(date, "%d.%m.%Y %H:%M:%S").replace(tzinfo=ZoneInfo("Europe/Berlin"))
        with pynwb.NWBHDF5IO(str(nwb), "r") as io:
            f = io.read()
            assert f.identifier == instance_id
            assert f.session_start_time == want
            assert f.subject.subject_id == "mouse-7" and f.subject.species == "Mus musculus"
            journal = f.processing["txpipe"]["journal"].to_dataframe()
            params = f.processing["txpipe"]["journal_params"].to_dataframe()
        assert list(journal["step"]) == ["load_recording", "add_section_time", "section_spike_times",
                                         "compute_sta", "extract_features"]
        cmcr_rows = params[(params["seq"] == 1) & (params["parameter"] == "cmcr_path")]
        assert cmcr_rows["value"].iloc[0] == f'"{Path(truth.paths["cmcr"]).absolute()}"'

    def test_light_reference_and_frame_onsets(self, demo):
        h5, truth, nwb = demo
        with h5py.File(truth.paths["cmcr"], "r") as f:
            meta = f["Acquisition/Analog Data/ChannelMeta"][0]
            raw = f["Acquisition/Analog Data/ChannelData 1"][0, :1000]
        with h5py.File(h5, "r") as f:
            onsets = f["metadata/frame_timestamps"][()]
        with pynwb.NWBHDF5IO(str(nwb), "r") as io:
            f = io.read()
            light = f.stimulus["light_reference"]
            assert light.conversion == pytest.approx(float(meta["ConversionFactor"]) * 10.0 ** int(meta["Exponent"]))
            assert light.unit == "volts"
            np.testing.assert_array_equal(light.data[:1000], raw.astype(np.float32))
            fo = f.stimulus["frame_onsets"]
            np.testing.assert_array_equal(fo.timestamps[:], onsets / truth.fs_hz)
            assert truth.noise_movie in f.stimulus_template

    def test_sta_and_features_as_unit_columns(self, demo):
        h5, truth, nwb = demo
        movie = truth.noise_movie
        with h5py.File(h5, "r") as f:
            uids = sorted(f["units"])
            sta = np.stack([f[f"units/{u}/features/sta_{movie}/sta"][()] for u in uids])
            onoff = np.array([f[f"units/{u}/features/step_response/on_off_index"][()] for u in uids])
        with pynwb.NWBHDF5IO(str(nwb), "r") as io:
            units = io.read().units
            np.testing.assert_array_equal(units[f"sta_{movie}"].data[:], sta)
            assert "lag" in units[f"sta_{movie}"].description
            np.testing.assert_array_equal(units["step_response_on_off_idx"].data[:], onoff)
            assert not [c for c in units.colnames if c.endswith("_index")]
            # the synthetic .cmcr has no sensor stream: no conversion, so no volts are invented
            assert "waveform_mean" not in units.colnames
            assert "unknown" in units["waveform_mean_raw"].description


class TestNwbValidation:
    def test_nwbinspector_dandi_finds_no_critical_issue_or_violation(self, demo):
        nwbinspector = pytest.importorskip("nwbinspector", reason="needs the nwb extra")
        _, _, nwb = demo
        config = nwbinspector.load_config("dandi")
        msgs = list(nwbinspector.inspect_nwbfile(nwbfile_path=str(nwb), config=config))
        bad = [m for m in msgs if m.importance.name in ("CRITICAL", "BEST_PRACTICE_VIOLATION", "ERROR",
                                                        "PYNWB_VALIDATION")]
        assert not bad, [f"{m.importance.name} {m.check_function_name}: {m.message}" for m in bad]

    def test_spikeinterface_reads_the_same_trains(self, demo):
        se = pytest.importorskip("spikeinterface.extractors", reason="needs the spikeinterface extra")
        h5, truth, nwb = demo
        sorting = se.read_nwb_sorting(str(nwb), sampling_frequency=truth.fs_hz)
        trains = _file_trains(h5)
        assert sorting.get_num_units() == len(trains)
        assert list(sorting.unit_ids) == sorted(trains)  # SpikeInterface takes the unit_name column as ids
        for uid in sorting.unit_ids:
            np.testing.assert_array_equal(sorting.get_unit_spike_train(uid), trains[uid].astype(np.int64))
        assert "step_response_on_off_idx" in sorting.get_property_keys()


class TestNwbErrors:
    def test_no_timezone_is_refused_before_writing(self, demo, tmp_path):
        from txpipe.export import to_nwb

        h5, _, _ = demo
        out = tmp_path / "x.nwb"
        with pytest.raises(ExportError, match="time zone"):
            to_nwb(h5, out, {k: v for k, v in META.items() if k != "timezone"})
        assert not out.exists() and not list(tmp_path.iterdir())

    def test_failed_export_keeps_the_previous_target(self, demo, tmp_path):
        from txpipe.export import to_nwb

        h5, _, nwb = demo
        out = tmp_path / "keep.nwb"
        shutil.copy(nwb, out)
        before = out.read_bytes()
        with pytest.raises(ExportError, match="unknown subject field"):
            to_nwb(h5, out, {**META, "subject": {"subject_id": "a", "colour": "brown"}})
        assert out.read_bytes() == before

    def test_metadata_nwb_rejects_is_an_export_error(self, demo, tmp_path):
        from txpipe.export import to_nwb

        h5, _, _ = demo
        with pytest.raises(ExportError, match="does not fit NWB"):
            to_nwb(h5, tmp_path / "x.nwb", {"timezone": "UTC", "subject": {"subject_id": "a", "weight": [1, 2]}})
        assert not (tmp_path / "x.nwb").exists()

    def test_refuses_to_write_over_its_input(self, demo):
        from txpipe.export import to_nwb

        h5, _, _ = demo
        before = h5.stat().st_mtime_ns
        with pytest.raises(ExportError, match="over its input"):
            to_nwb(h5, h5, META)
        assert h5.stat().st_mtime_ns == before

    def test_metadata_file_errors_name_the_file(self, tmp_path):
        p = tmp_path / "meta.yaml"
        p.write_text("timezone: Europe/Berlin\nsubjet: {}\n")
        with pytest.raises(ExportError, match=r"meta\.yaml.*unknown metadata key.*subjet"):
            load_metadata(p)
        p.write_text("- a list\n")
        with pytest.raises(ExportError, match="mapping"):
            load_metadata(p)
        for chip in ({"pitch_um": -3}, {"pitch_um": "16"}, {"pitch": 16}, 16):
            with pytest.raises(ExportError, match="pitch_um"):
                load_metadata({"timezone": "UTC", "chip": chip})
        assert load_metadata({"chip": {"pitch_um": 17.5}})["chip"]["pitch_um"] == 17.5
        assert load_metadata(None) == {}

    @pytest.mark.parametrize("tz,offset_h", [("Europe/Berlin", 2), ("+05:30", 5.5), ("UTC", 0)])
    def test_session_start_zones(self, tz, offset_h):
        t = session_start("10.04.2025 11:12:57", tz, "f")
        assert t.utcoffset() == dt.timedelta(hours=offset_h)
        assert (t.year, t.month, t.day, t.hour) == (2025, 4, 10, 11)

    def test_bad_zone_and_date(self):
        with pytest.raises(ExportError, match="unknown time zone"):
            session_start("10.04.2025 11:12:57", "Mars/Olympus", "f")
        with pytest.raises(ExportError, match="dd.mm.yyyy"):
            session_start("2025-04-10 11:12:57", "UTC", "f")

    def test_missing_extra_is_named(self, monkeypatch):
        from txpipe.export import nwb as nwb_mod

        monkeypatch.setitem(sys.modules, "pynwb", None)
        with pytest.raises(MissingExtraError, match=r"pip install -e '\.\[nwb\]'") as exc:
            nwb_mod.require_nwb()
        assert exc.value.extra == "nwb"

    def test_column_names(self):
        assert column_name("on_off_index") == "on_off_idx"
        assert column_name("sta_noise 15x15-a") == "sta_noise_15x15_a"
        assert column_name("index_of_x") == "index_of_x"


class TestCli:
    def test_export_nwb_file_and_folder(self, demo, tmp_path):
        from txpipe.runner.cli import main

        h5, truth, _ = demo
        meta = tmp_path / "meta.yaml"
        meta.write_text("timezone: Europe/Berlin\nsubject:\n  subject_id: m1\n  species: Mus musculus\n"
                        "  sex: F\n  age: P90D\n")
        out = tmp_path / "one.nwb"
        assert main(["export", "nwb", str(h5), "-o", str(out), "--metadata", str(meta), "-q"]) == 0
        with pynwb.NWBHDF5IO(str(out), "r") as io:
            assert len(io.read().units) == len(truth.units)
        outdir = tmp_path / "many"
        assert main(["export", "nwb", str(h5.parent), "-o", str(outdir), "--metadata", str(meta), "-q"]) == 0
        assert [p.name for p in outdir.iterdir()] == [f"{h5.stem}.nwb"]

    def test_export_without_timezone_fails_with_a_message(self, demo, tmp_path, capsys):
        from txpipe.runner.cli import main

        h5, _, _ = demo
        assert main(["export", "nwb", str(h5), "-o", str(tmp_path / "x.nwb"), "-q"]) == 1
        assert "timezone" in capsys.readouterr().err


class TestWaveformVolts:
    def test_waveform_mean_in_volts_when_the_sensor_conversion_is_known(self, tmp_path):
        """A .cmcr with a sensor stream (SensorMeta: factor 3, exponent -8, ADZero 2): the
        export's waveform_mean is (cutout mean - 2) * 3e-8 V, computed here from the truth."""
        from txpipe import PipelineSession
        from txpipe.export import to_nwb
        from txpipe.synth import default_protocol, make_recording

        truth = make_recording(tmp_path / "rec", n_units=3, seed=5, protocol=default_protocol(5))
        _add_sensor_stream(Path(truth.paths["cmcr"]), factor=3, exponent=-8, ad_zero=2)
        s = PipelineSession()
        s.load_recording(truth.paths["cmcr"], truth.paths["cmtr"])
        h5 = s.save(tmp_path / "rec.h5")
        nwb = to_nwb(h5, tmp_path / "rec.nwb", {"timezone": "UTC"})
        with pynwb.NWBHDF5IO(str(nwb), "r") as io:
            units = io.read().units
            assert units.waveform_unit == "volts"
            for i, ut in enumerate(sorted(truth.units, key=lambda u: u.unit_num)):
                np.testing.assert_allclose(units["waveform_mean"][i], (ut.waveform.astype(np.float64) - 2) * 3e-8,
                                           rtol=1e-6)
            assert "waveform_mean_raw" not in units.colnames


def _add_sensor_stream(cmcr: Path, *, factor: int, exponent: int, ad_zero: int) -> None:
    """Give a synthetic .cmcr a minimal sensor stream (2 frames) with a SensorMeta row."""
    from txpipe.synth.mcs_writer import _ids

    dtype = np.dtype([("SensorID", "<i4"), ("GroupID", "<i4"), ("RegionID", "<i4"), ("Label", "S32"),
                      ("RawDataType", "S16"), ("Unit", "S8"), ("Exponent", "<i4"), ("ADZero", "<i4"),
                      ("Tick", "<i8"), ("ConversionFactor", "<i8"), ("ADCBits", "<i4")])
    meta = np.zeros(1, dtype)
    meta[0] = (1, 1, 1, b"ROI 1", b"Int", b"V", exponent, ad_zero, 50, factor, 16)
    with h5py.File(cmcr, "a") as f:
        g = f["Acquisition"].create_group("Sensor Data")
        _ids(g, "SensorStream", 0)
        g.attrs["SubType"] = np.bytes_("CMosSensor")
        d = g.create_dataset("SensorData 1 1", data=np.zeros((2, 65, 65), np.int16))
        _ids(d, "SensorData", 0)
        m = g.create_dataset("SensorMeta", data=meta)
        _ids(m, "SensorMeta", 0)


class TestSortingAndReaders:
    def test_to_sorting_equals_the_file(self, demo):
        pytest.importorskip("spikeinterface", reason="needs the spikeinterface extra")
        from txpipe.export import to_sorting

        h5, truth, _ = demo
        sorting = to_sorting(h5)
        trains = _file_trains(h5)
        assert sorting.get_sampling_frequency() == truth.fs_hz
        assert list(sorting.unit_ids) == sorted(trains)
        for uid in sorting.unit_ids:
            np.testing.assert_array_equal(sorting.get_unit_spike_train(uid), trains[uid].astype(np.int64))
        by_num = {u.unit_num: u for u in truth.units}
        for uid, num, sid, x in zip(sorting.unit_ids, sorting.get_property("unit_num"),
                                    sorting.get_property("sensor_id"), sorting.get_property("x_um")):
            assert sid == by_num[num].sensor_id
            assert x == (by_num[num].col - 1) * PITCH_UM
        probe = sorting.get_annotation("probe")
        assert probe.get_contact_count() == 4225
        np.testing.assert_array_equal(probe.contact_positions[64], [0.0, 64 * PITCH_UM])  # SensorID 65: row 65, col 1
        np.testing.assert_array_equal(probe.device_channel_indices, np.arange(4225))

    def test_read_units(self, demo):
        pytest.importorskip("pandas", reason="needs the analysis extra")
        from txpipe import read

        h5, truth, _ = demo
        df = read.units(h5)
        assert len(df) == len(truth.units)
        with h5py.File(h5, "r") as f:
            dur = f["metadata/recording_duration_s"][()]
            for ut in truth.units:
                row = df.loc[f"unit_{ut.unit_num:03d}"]
                assert row["spike_count"] == ut.spike_samples.size
                assert (row["row"], row["col"], row["sensor_id"]) == (ut.row, ut.col, ut.sensor_id)
                assert row["x_um"] == (ut.col - 1) * PITCH_UM and row["y_um"] == (ut.row - 1) * PITCH_UM
                assert row["mean_rate_hz"] == pytest.approx(ut.spike_samples.size / dur)
                assert row["SNR"] == pytest.approx(ut.measures["SNR"])
                uid = f"unit_{ut.unit_num:03d}"
                assert row["step_response_on_off_index"] == pytest.approx(
                    f[f"units/{uid}/features/step_response/on_off_index"][()], nan_ok=True)

    def test_read_sta(self, demo):
        pytest.importorskip("xarray", reason="needs the analysis extra")
        from txpipe import read

        h5, truth, _ = demo
        da = read.sta(h5)
        assert da.dims == ("unit", "lag", "stim_row", "stim_col")
        np.testing.assert_array_equal(da["lag"], np.arange(-60, 0))
        with h5py.File(h5, "r") as f:
            for uid in f["units"]:
                d = f[f"units/{uid}/features/sta_{truth.noise_movie}/sta"]
                np.testing.assert_array_equal(da.sel(unit=uid).values, d[()])
                assert int(da["n_spikes_used"].sel(unit=uid)) == d.attrs["n_spikes_used"]
        with pytest.raises(Exception, match="no STA of movie"):
            read.sta(h5, movie="nope")


class TestEdges:
    def test_missing_extras_are_named(self, demo, monkeypatch):
        from txpipe import read
        from txpipe.export import to_sorting

        h5, _, _ = demo
        monkeypatch.setitem(sys.modules, "spikeinterface.core", None)
        with pytest.raises(MissingExtraError, match=r"pip install -e '\.\[spikeinterface\]'"):
            to_sorting(h5)
        monkeypatch.setitem(sys.modules, "pandas", None)
        with pytest.raises(MissingExtraError, match=r"pip install -e '\.\[analysis\]'"):
            read.units(h5)
        monkeypatch.setitem(sys.modules, "xarray", None)
        with pytest.raises(MissingExtraError, match=r"pip install -e '\.\[analysis\]'"):
            read.sta(h5)

    def test_file_without_recorded_conversions_says_adc_counts(self, demo, tmp_path):
        """A txpipe file made before the conversions were recorded: the light reference stays in
        ADC counts (no conversion factor set) instead of being labelled volts."""
        from txpipe.export import to_nwb

        h5, _, _ = demo
        old = tmp_path / "old.h5"
        shutil.copy(h5, old)
        with h5py.File(old, "a") as f:
            del f["metadata/analog_conversion"]
        nwb = to_nwb(old, tmp_path / "old.nwb", {"timezone": "UTC"})
        with pynwb.NWBHDF5IO(str(nwb), "r") as io:
            light = io.read().stimulus["light_reference"]
            assert light.unit == "ADC counts" and light.conversion == 1.0
            assert "no ADC conversion" in light.description

    def test_folder_export_skips_files_that_are_not_txpipe(self, demo, tmp_path):
        from txpipe.export import to_nwb_many

        h5, _, _ = demo
        src = tmp_path / "src"
        src.mkdir()
        shutil.copy(h5, src / "a.h5")
        with h5py.File(src / "foreign.h5", "w") as f:
            f["x"] = 1
        out = to_nwb_many(src, tmp_path / "out", {"timezone": "UTC"})
        assert [p.name for p in out] == ["a.nwb"]

    def test_mcs_conversion_rules(self):
        from txpipe.mcs.reader import conversion

        dtype = np.dtype([("ConversionFactor", "<i8"), ("Exponent", "<i4"), ("ADZero", "<i4"), ("Unit", "S8")])
        rows = np.array([(3, -8, 2, b"V"), (3, -8, 2, b"V")], dtype)
        assert conversion(rows) == {"conversion_factor": 3, "exponent": -8, "ad_zero": 2, "unit": "V"}
        rows[1]["Exponent"] = -9
        assert conversion(rows) is None  # rows disagree: no single conversion
        rows[1] = rows[0]
        rows["ConversionFactor"] = 0
        assert conversion(rows) is None
        assert conversion(np.zeros(2, [("Tick", "<i8")])) is None
        assert conversion(None) is None

    def test_load_recording_records_the_cmcr_conversions(self, demo):
        h5, truth, _ = demo
        with h5py.File(truth.paths["cmcr"], "r") as f:
            meta = f["Acquisition/Analog Data/ChannelMeta"][()]
        with h5py.File(h5, "r") as f:
            assert "metadata/sensor_conversion" not in f  # the synthetic .cmcr has no sensor stream
            for c in (1, 2):
                a = f[f"metadata/analog_conversion/ch{c}"].attrs
                assert (a["conversion_factor"], a["exponent"], a["ad_zero"], a["unit"]) == (
                    meta["ConversionFactor"][c - 1], meta["Exponent"][c - 1], meta["ADZero"][c - 1],
                    meta["Unit"][c - 1].decode())


class TestElectricalImage:
    def test_eimage_is_a_fixed_shape_unit_column_with_its_axes(self, tmp_path):
        from txpipe import PipelineSession
        from txpipe.export import to_nwb
        from txpipe.synth import default_protocol, make_recording

        truth = make_recording(tmp_path / "rec", n_units=3, seed=7, protocol=default_protocol(7), sensor_seconds=1.0)
        s = PipelineSession()
        s.load_recording(truth.paths["cmcr"], truth.paths["cmtr"])
        s.compute_eimage_sta(duration_s=1.0, unit_ids=[truth.units[0].unit_num, truth.units[1].unit_num])
        h5 = s.save(tmp_path / "rec.h5")
        nwb = to_nwb(h5, tmp_path / "rec.nwb", {"timezone": "UTC"})
        with h5py.File(h5, "r") as f:
            uids = sorted(f["units"])
            have = {u: f[f"units/{u}/features/eimage_sta/data"][()] for u in uids
                    if f"units/{u}/features/eimage_sta/data" in f}
            labels = [d.label for d in f[f"units/{next(iter(have))}/features/eimage_sta/data"].dims]
        assert labels == ["lag", "sensor_row", "sensor_col"]
        with pynwb.NWBHDF5IO(str(nwb), "r") as io:
            col = io.read().units["eimage_sta"]
            data = col.data[:]
            assert "axes (lag, chip row - 1, chip column - 1)" in col.description
            assert "volts" in col.description
        assert data.shape == (len(uids), *next(iter(have.values())).shape)
        for i, u in enumerate(uids):
            if u in have:
                np.testing.assert_array_equal(data[i], have[u])
            else:
                assert np.isnan(data[i]).all()
