"""`txpipe report DIR` / several files: an index page across recordings, a page per recording."""

from __future__ import annotations

import html
import re

import h5py
import pytest

from txpipe.runner.batch import discover, run_batch, synth_recordings
from txpipe.runner.cli import main
from txpipe.report.index import collect, render_index


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Two processed recordings and one broken .h5 in a results folder."""
    root = tmp_path_factory.mktemp("idx")
    synth_recordings(root / "data", count=2, n_units=3)
    run_batch(discover(root / "data"), root / "results")
    (root / "results" / "broken.h5").write_bytes(b"not hdf5")
    return root / "results"


def _rows(text: str) -> list[str]:
    return re.findall(r"<tr>(?:(?!</tr>).)*</tr>|<tr class=\"failed\">(?:(?!</tr>).)*</tr>", text, flags=re.S)[1:]


def _spikes(h5) -> int:
    with h5py.File(h5, "r") as f:
        return sum(f["units"][u]["spike_times"].shape[0] for u in f["units"])


def test_index_with_pages(results, tmp_path):
    """One row per recording with its key numbers (checked against the files read with h5py) and
    a link to its own page; an unreadable file is a row saying why."""
    index = render_index([results], tmp_path / "rep", max_units=1)
    text = index.read_text()
    rows = _rows(text)
    assert len(rows) == 3
    for did in ("synthetic-Rec_01", "synthetic-Rec_02"):
        (row,) = [r for r in rows if f">{did}<" in r]
        assert f'href="{did}.html"' in row and (tmp_path / "rep" / f"{did}.html").stat().st_size > 10_000
        cells = re.findall(r"<td>(.*?)</td>", row, flags=re.S)
        assert cells[2] == "3"  # units
        assert cells[3] == str(_spikes(results / f"{did}.h5"))
        assert "baseline_127: 1" in cells[4]
    (bad,) = [r for r in rows if "broken" in r]
    assert "NotATxpipeFileError" in html.unescape(bad)
    assert "3 recordings, 6 units in total; 1 could not be read" in text


def test_cli_folder_and_files(results, tmp_path, capsys):
    """`txpipe report DIR` writes DIR/report/index.html; several files and --index-only work too."""
    assert main(["report", str(results), "--index-only", "-o", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "index.html").exists() and not list((tmp_path / "a").glob("synthetic*.html"))
    files = [str(results / "synthetic-Rec_01.h5"), str(results / "synthetic-Rec_02.h5")]
    assert main(["report", *files, "--index-only", "-o", str(tmp_path / "b")]) == 0
    assert len(_rows((tmp_path / "b" / "index.html").read_text())) == 2
    assert "index.html" in capsys.readouterr().out


def test_collect_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        collect([tmp_path / "nope"])
    from txpipe.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="no .h5 files"):
        collect([tmp_path])
