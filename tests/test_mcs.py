"""Tests for txpipe.mcs.reader: reading against the generator's ground truth, and every bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from txpipe import synth

from txpipe.mcs import reader as mcs
from txpipe.errors import McsFileError, McsFormatError, McsPairError


# Fixtures default_rec, edge_rec and tiny_protocol live in conftest.py.


def assert_units_match(data: mcs.CmtrData, truth: synth.GroundTruth) -> None:
    assert [u.unit_num for u in data.units] == [u.unit_num for u in truth.units]
    for got, want in zip(data.units, truth.units):
        assert np.array_equal(got.spike_times_us, want.spike_times_us)
        assert got.spike_times_us.dtype == np.int64
        assert np.array_equal(got.amplitudes, want.amplitudes)
        assert got.waveform.dtype == np.float32 and got.waveform.shape == want.waveform.shape
        np.testing.assert_allclose(got.waveform, want.waveform, rtol=1e-6, atol=1e-6)
        assert (got.row, got.col, got.sensor_id) == (want.row, want.col, want.sensor_id)
        assert got.n_excluded == want.n_excluded
        assert got.measures == pytest.approx(want.measures)


class TestReadDefault:
    """The default recording reads back exactly as planted."""

    @pytest.fixture(scope="class")
    @classmethod
    def pair(cls, default_rec: synth.GroundTruth) -> tuple[mcs.CmcrData, mcs.CmtrData]:
        return mcs.read_pair(default_rec.paths["cmcr"], default_rec.paths["cmtr"])

    def test_units(self, pair: tuple, default_rec: synth.GroundTruth) -> None:
        """Spike times (µs), amplitudes, waveforms, positions and measures round-trip."""
        assert_units_match(pair[1], default_rec)

    def test_analog(self, pair: tuple, default_rec: synth.GroundTruth) -> None:
        """Analog data equal a plain h5py read; tick and duration are in µs."""
        cmcr = pair[0]
        with h5py.File(default_rec.paths["cmcr"], "r") as f:
            raw = f["Acquisition/Analog Data/ChannelData 1"][()]
        assert cmcr.analog.dtype == np.int32 and np.array_equal(cmcr.analog, raw)
        assert (cmcr.tick_us, cmcr.fs_hz, cmcr.duration_us) == (50, 20000.0, default_rec.duration_us)
        assert cmcr.analog_duration_us == cmcr.duration_us
        assert cmcr.channel_labels == ("Light reference", "Frame sync")

    def test_attributes_decoded(self, pair: tuple) -> None:
        """Attributes are str and Python scalars, not bytes or 1-element arrays."""
        cmcr, cmtr = pair
        assert cmtr.attributes["ProgramName"] == "CMOS-MEA-Tools"
        assert cmcr.attributes["FileVersion"] == 1 and type(cmcr.attributes["FileVersion"]) is int
        assert type(cmtr.attributes["LB.RecordingDuration"]) is int
        assert all(not isinstance(v, (bytes, np.ndarray, np.generic))
                   for v in {**cmcr.attributes, **cmtr.attributes}.values())

    def test_link(self, pair: tuple) -> None:
        """The .cmtr's Acquisition link names the .cmcr and resolves."""
        assert pair[1].acquisition_link == "synthetic-Rec.cmcr" and pair[1].acquisition_link_ok

    def test_unit_lookup(self, pair: tuple) -> None:
        """CmtrData.unit finds a unit by number and names the file when absent."""
        assert pair[1].unit(3).unit_num == 3
        with pytest.raises(KeyError, match="no unit 99"):
            pair[1].unit(99)

    def test_nothing_printed(self, default_rec: synth.GroundTruth,
                             capfd: pytest.CaptureFixture[str]) -> None:
        """Reading prints nothing (McsPy's chatter is captured)."""
        mcs.read_pair(default_rec.paths["cmcr"], default_rec.paths["cmtr"])
        out, err = capfd.readouterr()
        assert out == "" and err == ""


class TestReadEdgeCases:
    """Edge-case recordings read cleanly and match the ground truth."""

    @pytest.fixture(scope="class")
    @classmethod
    def pair(cls, edge_rec: synth.GroundTruth) -> tuple[mcs.CmcrData, mcs.CmtrData]:
        return mcs.read_pair(edge_rec.paths["cmcr"], edge_rec.paths["cmtr"])

    def test_units_match(self, pair: tuple, edge_rec: synth.GroundTruth) -> None:
        """All units, including the edge units, match the ground truth in numeric order."""
        assert_units_match(pair[1], edge_rec)

    def test_zero_and_only_excluded_units_kept(self, pair: tuple,
                                              edge_rec: synth.GroundTruth) -> None:
        """Units without included peaks are kept with empty arrays and a (0,) waveform."""
        for note in ("zero_spike_unit", "only_excluded_unit"):
            want = next(u for u in edge_rec.units if u.note == note)
            got = pair[1].unit(want.unit_num)
            assert got.n_spikes == 0 and got.amplitudes.size == 0
            assert got.waveform.shape == (0,) and got.n_excluded == want.n_excluded

    def test_spikes_at_bounds(self, pair: tuple, edge_rec: synth.GroundTruth) -> None:
        """Spikes at the first and last sample survive."""
        t = pair[1].units[0].spike_times_us
        assert t[0] == 0 and t[-1] == (edge_rec.n_samples - 1) * edge_rec.tick_us

    def test_gaps_sorted_numerically(self, pair: tuple) -> None:
        """Unit numbers with gaps come back in numeric (not lexical) order."""
        nums = [u.unit_num for u in pair[1].units]
        assert nums == sorted(nums) and nums != list(range(1, len(nums) + 1))
        assert 10 in nums and 2 in nums

    def test_no_frame_sync(self, pair: tuple, edge_rec: synth.GroundTruth) -> None:
        """A file without the frame-sync channel gives one analog row and one label."""
        assert pair[0].analog.shape == (1, edge_rec.n_samples)
        assert pair[0].channel_labels == ("Light reference",)


def _bad(tmp_path: Path, tiny: synth.Protocol, *edge: str) -> synth.GroundTruth:
    return synth.make_recording(tmp_path, protocol=tiny, n_units=3, edge=set(edge))


class TestBadInputs:
    """Every bad input gives a typed error naming the file and the problem, and prints nothing."""

    @pytest.fixture(autouse=True)
    def _silent(self, capfd: pytest.CaptureFixture[str]):
        yield
        out, err = capfd.readouterr()
        assert out == "" and err == ""

    @pytest.fixture(scope="class")
    @classmethod
    def good(cls, tmp_path_factory: pytest.TempPathFactory,
             tiny_protocol: synth.Protocol) -> synth.GroundTruth:
        return synth.make_recording(tmp_path_factory.mktemp("good"), protocol=tiny_protocol,
                                    n_units=3)

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file is an McsFileError naming it."""
        p = tmp_path / "gone.cmcr"
        with pytest.raises(McsFileError, match=r"gone\.cmcr: file not found") as ei:
            mcs.read_cmcr(p)
        assert ei.value.path == str(p)

    @pytest.mark.parametrize("reader,name", [(mcs.read_cmcr, "x.h5"), (mcs.read_cmtr, "x.cmcr")])
    def test_wrong_suffix(self, tmp_path: Path, reader, name: str) -> None:
        """A file with the wrong suffix is refused before it is opened."""
        with pytest.raises(McsFileError, match="expected a .cm.r file"):
            reader(tmp_path / name)

    def test_suffix_case_insensitive(self, good: synth.GroundTruth, tmp_path: Path) -> None:
        """Upper-case suffixes are accepted."""
        p = tmp_path / "REC.CMCR"
        shutil.copy(good.paths["cmcr"], p)
        assert mcs.read_cmcr(p).n_samples == good.n_samples

    def test_not_hdf5(self, tmp_path: Path) -> None:
        """A text file is not an MCS file."""
        p = tmp_path / "text.cmcr"
        p.write_text("hello")
        with pytest.raises(McsFormatError, match=r"text\.cmcr: not an MCS file \(not HDF5\)"):
            mcs.read_cmcr(p)

    def test_plain_hdf5(self, tmp_path: Path) -> None:
        """An HDF5 file without MCS root attributes is not CMOS-MEA."""
        p = tmp_path / "plain.cmtr"
        with h5py.File(p, "w") as f:
            f["x"] = 1
        with pytest.raises(McsFormatError, match=r"plain\.cmtr: not a CMOS-MEA file \(root "
                                                 r"attribute ID.Type missing\)"):
            mcs.read_cmtr(p)

    def test_legacy_mcs(self, tmp_path: Path) -> None:
        """A legacy MCS RawData file is not CMOS-MEA."""
        p = tmp_path / "legacy.cmcr"
        with h5py.File(p, "w") as f:
            f.attrs["McsHdf5ProtocolType"] = np.bytes_("RawData")
        with pytest.raises(McsFormatError, match="legacy MCS 'RawData' format"):
            mcs.read_cmcr(p)

    @pytest.mark.parametrize("which", ["cmcr", "cmtr"])
    def test_truncated(self, good: synth.GroundTruth, tmp_path: Path, which: str) -> None:
        """A truncated file is a format error saying so."""
        p = tmp_path / Path(good.paths[which]).name
        data = Path(good.paths[which]).read_bytes()
        p.write_bytes(data[: len(data) // 2])
        reader = mcs.read_cmcr if which == "cmcr" else mcs.read_cmtr
        with pytest.raises(McsFormatError, match="truncated or corrupt") as ei:
            reader(p)
        assert str(p) in str(ei.value)

    def test_vlen_string_attributes(self, tmp_path: Path, tiny_protocol: synth.Protocol) -> None:
        """Variable-length str root attributes (McsPy cannot decode them) are refused."""
        t = _bad(tmp_path, tiny_protocol, "vlen_str_attrs")
        with pytest.raises(McsFormatError, match=r"\.cmcr: root attribute ID.Type is a str"):
            mcs.read_cmcr(t.paths["cmcr"])

    def test_sensor_id_out_of_range(self, tmp_path: Path, tiny_protocol: synth.Protocol) -> None:
        """An out-of-range SensorID names the file and the unit."""
        t = _bad(tmp_path, tiny_protocol, "sensor_id_out_of_range")
        with pytest.raises(McsFormatError, match=r"-\.cmtr: unit 3 \(/Spike Sorter/Unit 3\): "
                                                 r"SensorID 4226 is outside 1\.\.4225"):
            mcs.read_cmtr(t.paths["cmtr"])

    def test_duration_mismatch(self, tmp_path: Path, tiny_protocol: synth.Protocol) -> None:
        """A pair whose recording durations differ is a pair error naming both values."""
        t = _bad(tmp_path, tiny_protocol, "duration_mismatch")
        mcs.read_cmtr(t.paths["cmtr"])  # each file alone is fine
        with pytest.raises(McsPairError, match=rf"LB.RecordingDuration {t.duration_us + 1_000_000} "
                                               rf"µs disagrees with synthetic-Rec.cmcr's "
                                               rf"{t.duration_us} µs"):
            mcs.read_pair(t.paths["cmcr"], t.paths["cmtr"])

    def test_dangling_link(self, tmp_path: Path, tiny_protocol: synth.Protocol) -> None:
        """A dangling Acquisition link reads alone but does not pair with the .cmcr."""
        t = _bad(tmp_path, tiny_protocol, "dangling_link")
        cmtr = mcs.read_cmtr(t.paths["cmtr"])
        assert cmtr.acquisition_link == "synthetic-Rec_missing.cmcr"
        assert not cmtr.acquisition_link_ok and len(cmtr.units) == 3
        with pytest.raises(McsPairError, match="links to 'synthetic-Rec_missing.cmcr', which does "
                                               "not exist, not to 'synthetic-Rec.cmcr'"):
            mcs.read_pair(t.paths["cmcr"], t.paths["cmtr"])

    def test_pair_from_other_recording(self, good: synth.GroundTruth, tmp_path: Path,
                                       tiny_protocol: synth.Protocol) -> None:
        """A .cmtr whose link names another .cmcr is a pair error."""
        other = synth.make_recording(tmp_path, name="other-Rec", protocol=tiny_protocol, n_units=2)
        with pytest.raises(McsPairError, match="links to 'other-Rec.cmcr'"):
            mcs.read_pair(good.paths["cmcr"], other.paths["cmtr"])

    def test_mcspy_refuses(self, good: synth.GroundTruth, tmp_path: Path) -> None:
        """A file McsPy itself rejects (FileVersion 0) becomes a format error, chatter included."""
        p = tmp_path / "v0.cmcr"
        shutil.copy(good.paths["cmcr"], p)
        with h5py.File(p, "r+") as f:
            f.attrs["FileVersion"] = np.array([0], np.int32)
        with pytest.raises(McsFormatError, match=r"v0\.cmcr: McsPyDataTools cannot open it: OSError"):
            mcs.read_cmcr(p)

    def test_cmcr_as_cmtr(self, good: synth.GroundTruth, tmp_path: Path) -> None:
        """A raw file renamed .cmtr has no spike sorter."""
        p = tmp_path / "raw.cmtr"
        shutil.copy(good.paths["cmcr"], p)
        with pytest.raises(McsFormatError, match=r"raw\.cmtr: no /Spike Sorter group"):
            mcs.read_cmtr(p)

    def test_cmtr_as_cmcr_without_link(self, good: synth.GroundTruth, tmp_path: Path) -> None:
        """A spike-sorter file renamed .cmcr (no raw file beside it) has no analog data."""
        p = tmp_path / "sorted.cmcr"
        shutil.copy(good.paths["cmtr"], p)
        with pytest.raises(McsFormatError, match=r"sorted\.cmcr: no analog data"):
            mcs.read_cmcr(p)

    def test_unit_name_disagrees_with_id(self, good: synth.GroundTruth, tmp_path: Path) -> None:
        """A 'Unit k' group whose UnitID differs is refused (McsPy P10)."""
        p = tmp_path / "renamed-.cmtr"
        shutil.copy(good.paths["cmtr"], p)
        with h5py.File(p, "r+") as f:
            f.move("Spike Sorter/Unit 2", "Spike Sorter/Unit 9")
        with pytest.raises(McsFormatError, match=r"unit 2 \(/Spike Sorter/Unit 9\): group name "
                                                 r"disagrees with UnitID 2"):
            mcs.read_cmtr(p)

    def test_row_column_disagree(self, good: synth.GroundTruth, tmp_path: Path) -> None:
        """Unit Info Row/Column inconsistent with SensorID are refused."""
        p = tmp_path / "rowcol-.cmtr"
        shutil.copy(good.paths["cmtr"], p)
        with h5py.File(p, "r+") as f:
            ds = f["Spike Sorter/Unit 1/Unit Info"]
            info = ds[()]
            info["Row"] = info["Row"] % 65 + 1
            ds[...] = info
        with pytest.raises(McsFormatError, match="Row/Column .* disagree with SensorID"):
            mcs.read_cmtr(p)

    def test_bad_peaks_layout(self, good: synth.GroundTruth, tmp_path: Path) -> None:
        """A Peaks table without the three leading fields is refused."""
        p = tmp_path / "peaks-.cmtr"
        shutil.copy(good.paths["cmtr"], p)
        with h5py.File(p, "r+") as f:
            g = f["Spike Sorter/Unit 1"]
            attrs = dict(g["Peaks"].attrs)
            del g["Peaks"]
            g["Peaks"] = np.zeros(3, [("Time", "<i8"), ("1", "<f8")])
            g["Peaks"].attrs.update(attrs)
        with pytest.raises(McsFormatError, match=r"unit 1 .*'Peaks' must be 1-D with fields"):
            mcs.read_cmtr(p)
