"""Tests for txpipe.report: the HTML report of the demo recording and of incomplete files."""

from __future__ import annotations

import argparse
import base64
import re
import struct
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from structlog.testing import capture_logs

import txpipe
from toysteps import toy_put
from txpipe import PipelineSession, SaveState
from txpipe.errors import ConfigurationError
from txpipe.report import SECTION_IDS, UNITS_PER_PAGE, add_report_arguments, render_report, run_report
from txpipe.synth import make_recording


class _Page(HTMLParser):
    """Section ids (in order) and the PNG bytes of every <img> of a report."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.pngs: list[bytes] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("id"))
        if tag == "img":
            head, _, b64 = a["src"].partition(",")
            assert head == "data:image/png;base64"
            self.pngs.append(base64.b64decode(b64))


def section(text: str, sid: str) -> str:
    """The HTML of the section with id *sid*."""
    m = re.search(rf'<section id="{sid}">(.*?)</section>', text, re.S)
    assert m, f"no section {sid}"
    return m.group(1)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    """The demo recording (txpipe demo's pipeline) and its report: (h5 path, report path, text)."""
    from txpipe.runner.pipeline import run_demo

    res, _ = run_demo(tmp_path_factory.mktemp("demo"), n_units=6)
    out = render_report(res.path)
    return res.path, out, out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    """A small synthetic recording with an extra unit that never spikes."""
    return make_recording(tmp_path_factory.mktemp("rec"), n_units=4, edge=("zero_spike_unit",), seed=3)


def build(rec, out: Path, steps: tuple[str, ...]) -> Path:
    """Run the named pipeline steps on *rec* into *out*."""
    d = Path(rec.paths["cmcr"]).parent
    step_movie = next(m for m in rec.movies if m.startswith("step"))
    with txpipe.pipeline_session(out) as s:
        s.load_recording(rec.paths["cmcr"], rec.paths["cmtr"])
        if "sections" in steps:
            s.add_section_time(playlist_name=rec.playlist_name, playlist_file=d / "playlist.csv",
                               movie_length_file=d / "movie_length.csv")
        if "spikes" in steps:
            s.section_spike_times(pad_margin=(0.5, 0.5), config_dir=d / "stimuli")
        if "sta" in steps:
            s.compute_sta(stimuli_dir=d / "stimuli")
        if "features" in steps:
            s.extract_features(["frif", "baseline_127", "step_response"],
                               params={"step_response": {"movie": step_movie}})
    return out


class TestDemoReport:
    def test_sections_in_order(self, demo_report):
        """The page has every section, with its stable id, in the documented order."""
        _, _, text = demo_report
        assert _Page(text).sections == list(SECTION_IDS)

    def test_images_are_embedded_pngs(self, demo_report):
        """Every image is an embedded, non-empty PNG; nothing is loaded from elsewhere."""
        _, _, text = demo_report
        page = _Page(text)
        assert len(page.pngs) >= 5
        for png in page.pngs:
            w, h = png_size(png)
            assert w > 100 and h > 100
        assert "http://" not in text and "https://" not in text

    def test_default_output_beside_the_file(self, demo_report):
        """Without out_path the report is ``{stem}.report.html`` beside the HDF5 file."""
        h5, out, _ = demo_report
        assert out == h5.with_name(f"{h5.stem}.report.html")

    def test_header_and_journal(self, demo_report):
        """The header names the dataset, rate and unit count; the journal lists every step."""
        _, _, text = demo_report
        head = section(text, "header")
        assert "synthetic-Rec" in head and "20000 Hz" in head and "<td>6</td>" in head
        journal = section(text, "journal")
        for step in ("load_recording", "add_section_time", "section_spike_times", "compute_sta", "extract_features"):
            assert step in journal

    def test_complete_recording_has_no_missing_notes(self, demo_report):
        """A fully processed recording shows chip map, light reference, templates and units."""
        _, _, text = demo_report
        for sid in ("chip-map", "light-reference", "light-templates", "units"):
            assert "not available" not in section(text, sid), sid
            assert "<img" in section(text, sid)

    def test_units_listed(self, demo_report):
        """The units section is one page of up to 12 units; the features table lists them all."""
        _, _, text = demo_report
        units = section(text, "units")
        assert "Showing 6 of 6 units" in units
        assert units.count('class="unit-page"') == 1
        assert section(text, "features").count("<td>unit_0") == 6


class TestEdgeCases:
    def test_no_sta_step(self, rec, tmp_path):
        """Without compute_sta the report renders and says the STA step did not run."""
        out = render_report(build(rec, tmp_path / "r.h5", ("sections", "spikes", "features")))
        text = out.read_text(encoding="utf-8")
        assert _Page(text).sections == list(SECTION_IDS)
        units = section(text, "units")
        assert "not available: receptive fields (STA) — step compute_sta did not run" in units
        assert "<img" in units

    def test_unit_without_spikes(self, rec, tmp_path):
        """A unit with no spikes is drawn (chip map, panels, table) without failing."""
        h5 = build(rec, tmp_path / "r.h5", ("sections", "spikes", "sta", "features"))
        s = PipelineSession.load(h5)
        silent = [u for u in s.units if s.state.attrs(f"units/{u}")["spike_count"] == 0]
        assert silent
        text = render_report(s).read_text(encoding="utf-8")
        assert all(png_size(p)[0] > 0 for p in _Page(text).pngs)
        row = re.search(rf"<tr><td>{silent[0]}</td>.*?</tr>", section(text, "features")).group(0)
        assert "<td>0</td>" in row and "<td>0.00</td>" in row
        assert "not available" not in section(text, "units")

    def test_no_sections(self, rec, tmp_path):
        """With only load_recording, every section renders with notes naming the missing steps."""
        text = render_report(build(rec, tmp_path / "r.h5", ())).read_text(encoding="utf-8")
        assert _Page(text).sections == list(SECTION_IDS)
        assert "section boundaries — step add_section_time did not run" in section(text, "light-reference")
        assert "<img" in section(text, "light-reference")
        assert "light templates — step add_section_time did not run" in section(text, "light-templates")
        assert "rasters — step section_spike_times did not run" in section(text, "units")
        assert "step extract_features did not run" in section(text, "features")
        assert "<img" in section(text, "chip-map")

    def test_file_without_recording(self, tmp_path):
        """A txpipe file with no recording at all still gives a page of "not available" notes."""
        with txpipe.pipeline_session(tmp_path / "t.h5", dataset_id="toy") as s:
            s.run(toy_put, path="notes/x", seed=1)
        text = render_report(tmp_path / "t.h5").read_text(encoding="utf-8")
        assert _Page(text).sections == list(SECTION_IDS)
        for sid in ("chip-map", "light-reference", "light-templates", "units", "features"):
            assert "step load_recording did not run" in section(text, sid) or "not available" in section(text, sid)
        assert "toy_put" in section(text, "journal")


class TestSources:
    def test_deferred_session_is_saved_first(self, rec, tmp_path):
        """A DEFERRED session is saved to its default path with a WARNING implicit_save (SPEC §2.3)."""
        s = PipelineSession(output_dir=tmp_path)
        s.load_recording(rec.paths["cmcr"], rec.paths["cmtr"])
        assert s.save_state is SaveState.DEFERRED
        with capture_logs() as logs:
            out = render_report(s, tmp_path / "rep.html")
        events = [e for e in logs if e["event"] == "implicit_save"]
        assert events and events[0]["log_level"] == "warning" and events[0]["reason"] == "report needs a file"
        assert s.save_state is SaveState.SAVED and s.hdf5_path == tmp_path / f"{rec.dataset_id}.h5"
        assert out.is_file() and _Page(out.read_text(encoding="utf-8")).sections == list(SECTION_IDS)

    def test_saved_session_is_not_saved_again(self, demo_report):
        """A SAVED session is reported as is: no implicit save."""
        h5, _, _ = demo_report
        s = PipelineSession.load(h5)
        with capture_logs() as logs:
            render_report(s, h5.with_name("again.html"))
        assert "implicit_save" not in [e["event"] for e in logs]

    def test_bad_sources(self, tmp_path):
        """Neither a path nor a session, a missing file, or a bad max_units raise clear errors."""
        with pytest.raises(ConfigurationError, match="expected a txpipe file path or a PipelineSession"):
            render_report(42)
        with pytest.raises(FileNotFoundError):
            render_report(tmp_path / "missing.h5")
        with pytest.raises(ConfigurationError, match="max_units"):
            render_report(tmp_path / "missing.h5", max_units=-1)

    def test_max_units(self, demo_report, tmp_path):
        """max_units limits the unit panels; the features table still lists every unit."""
        h5, _, _ = demo_report
        text = render_report(h5, tmp_path / "m.html", max_units=2).read_text(encoding="utf-8")
        units = section(text, "units")
        assert "Showing 2 of 6 units (max_units=2)" in units
        assert "unit_003" not in units
        assert section(text, "features").count("<td>unit_0") == 6

    def test_top_level_name(self):
        """``txpipe.report`` is the public function (the module stays importable as txpipe.report)."""
        assert "report" in txpipe.__all__
        assert callable(txpipe.report) and txpipe.report.__module__ == "txpipe.report"
        assert UNITS_PER_PAGE == 12


class TestCommandLine:
    def test_run_report(self, demo_report, tmp_path, capsys):
        """The argparse pair the CLI wires in renders to -o and prints the path."""
        h5, _, _ = demo_report
        p = argparse.ArgumentParser()
        add_report_arguments(p)
        args = p.parse_args([str(h5), "-o", str(tmp_path / "cli.html"), "--max-units", "3"])
        assert run_report(args) == 0
        assert str(tmp_path / "cli.html") in capsys.readouterr().out
        assert "Showing 3 of 6 units" in (tmp_path / "cli.html").read_text(encoding="utf-8")

    def test_no_pyplot_no_backend_change(self, demo_report, tmp_path):
        """Rendering never imports pyplot nor changes the user's matplotlib backend."""
        h5, _, _ = demo_report
        code = (
            "import sys, matplotlib; matplotlib.use('svg'); from txpipe.report import render_report; "
            f"render_report({str(h5)!r}, {str(tmp_path / 'x.html')!r}); "
            "print('matplotlib.pyplot' in sys.modules, matplotlib.get_backend())"
        )
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip().splitlines()[-1].split() == ["False", "svg"]
