"""Tests for txpipe.runner.inspect: the text summary of a txpipe file."""

from __future__ import annotations

import pytest

from txpipe.errors import NotATxpipeFileError
from txpipe.runner.inspect import format_summary, human_bytes, journal_table, summarize
from txpipe.runner.pipeline import run_demo


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    """The output of the demo pipeline (made once per module)."""
    res, _ = run_demo(tmp_path_factory.mktemp("inspect"))
    return res.path


class TestSummarize:
    def test_counts(self, demo_file):
        """Units, spikes, sections, features and STA units are counted without reading arrays."""
        s = summarize(demo_file)
        assert len(s.units) == 8 and s.n_spikes > 0
        assert set(s.sections) == {"baseline_127", "step_up_demo", "dense_noise_15x15_15hz_demo"}
        assert s.sta_units == 8 and s.features["sta_dense_noise_15x15_15hz_demo"] == 8
        assert [e.step for e in s.journal][0] == "load_recording"
        assert s.root_attrs["format"] == "txpipe/1" and s.commit_attrs["kind"] == "save"
        assert s.source_files["cmcr_path"].endswith(".cmcr")

    def test_format(self, demo_file):
        """The text names the file, units, sections, journal steps; --tree lists one unit's nodes."""
        text = format_summary(summarize(demo_file, tree=True))
        assert "units       8 (unit_001 … unit_008)" in text
        assert "compute_sta" in text and "layout" in text
        assert "(1 trial)" in text
        assert "… 7 more units with the same layout" in text
        assert "spike_times  uint64" in text

    def test_not_a_txpipe_file(self, tmp_path):
        """A file that is not a complete txpipe file raises NotATxpipeFileError."""
        p = tmp_path / "x.h5"
        p.write_bytes(b"not hdf5")
        with pytest.raises(NotATxpipeFileError, match="not an HDF5 file"):
            summarize(p)


class TestHelpers:
    def test_human_bytes(self):
        """Sizes in powers of 1024 with one decimal."""
        assert human_bytes(512) == "512 B" and human_bytes(1536) == "1.5 KB" and human_bytes(3 * 1024**3) == "3.0 GB"

    def test_empty_journal_table(self):
        """An empty journal renders only the header row."""
        assert journal_table([]).split() == ["#", "step", "version", "seconds", "changed"]

    def test_human_values(self):
        """Journal parameters are shown as written in Python, not in the journal's JSON encoding."""
        from txpipe.runner.inspect import human_value

        assert human_value({"__tuple__": [-60, 0]}) == "(-60, 0)"
        assert human_value({"a": {"__tuple__": [1.5]}, "b": [1, "x"]}) == "{a: (1.5,), b: [1, x]}"
        assert human_value({"__float__": "nan"}) == "nan" and human_value(None) == "none"


class TestReadable:
    def test_no_internal_encodings_and_notation_explained(self, demo_file):
        """No `__tuple__`/JSON quoting in the text; sections are counted in trials; a legend
        explains the columns."""
        text = format_summary(summarize(demo_file))
        assert "__tuple__" not in text and '"' not in text
        assert "cover_range = (-60, 0)" in text and "pad_margin = (0.0, 0.0)" in text
        assert "baseline_127 (1 trial)" in text and "1×2" not in text
        assert "notes: sections: trials per stimulus movie" in text and "changed: data nodes" in text
