"""Render one recording's HTML report (the body of :func:`txpipe.report.render_report`)."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from txpipe.errors import ConfigurationError
from txpipe.version import __version__
from txpipe.report.data import ReportData, _session_and_path, _unit_table
from txpipe.report.draw import DPI  # noqa: F401  (a public name of the former single module)
from txpipe.report.eimage import _eimages
from txpipe.report.features import _features
from txpipe.report.overview import CHIP_SIDE, _chip_map, _light_reference, _light_templates  # noqa: F401
from txpipe.report.page import _header, _journal, _page
from txpipe.report.units import UNITS_PER_PAGE, _units
from txpipe.runner.progress import ProgressBar

SECTION_IDS = ("header", "journal", "chip-map", "light-reference", "light-templates", "units", "eimage", "features")
"""The ``id`` of every section of the page, in order."""


def render_report(source: Any, out_path: str | os.PathLike[str] | None = None, *,
                  max_units: int | None = None) -> Path:
    """
    Write the HTML report of a processed recording.

    Args:
        source: a txpipe HDF5 file, or a :class:`PipelineSession` (a DEFERRED one is saved to its
            default path first, with a WARNING ``implicit_save`` event).
        out_path: the HTML file; default ``{file stem}.report.html`` beside the HDF5 file.
        max_units: draw the per-unit panels of only the first *max_units* units (None: all).
            The chip map, features and table always cover every unit.

    Returns:
        The path of the written HTML file.

    Raises:
        FileNotFoundError, NotATxpipeFileError: *source* is not a readable txpipe file.
        ConfigurationError: *source* is neither a path nor a session, or *max_units* < 0.
    """
    if max_units is not None and (isinstance(max_units, bool) or not isinstance(max_units, int) or max_units < 0):
        raise ConfigurationError(f"report: max_units must be None or an int >= 0, got {max_units!r}")
    t0 = time.perf_counter()
    session, h5 = _session_and_path(source)
    out = Path(out_path) if out_path is not None else h5.with_name(f"{h5.stem}.report.html")
    data = ReportData(session)
    table = _unit_table(data)
    parts: list[tuple[str, str, Callable[[], str]]] = [
        ("header", "Recording", lambda: _header(data, h5)),
        ("journal", "Journal", lambda: _journal(data)),
        ("chip-map", "Chip map", lambda: _chip_map(data, table)),
        ("light-reference", "Light reference, frames and sections", lambda: _light_reference(data)),
        ("light-templates", "Light templates", lambda: _light_templates(data)),
        ("units", "Units", lambda: _units(data, table, max_units)),
        ("eimage", "Electrical images", lambda: _eimages(data, table, max_units)),
        ("features", "Feature summaries", lambda: _features(data, table)),
    ]
    sections = []
    with ProgressBar(total=len(parts), desc="report", unit="section") as bar:
        for sid, title, build in parts:
            bar.update(0, postfix=sid)
            sections.append((sid, title, build()))
            bar.update(1)
    seconds = time.perf_counter() - t0
    footer = f"txpipe {__version__} report of {h5.name}, rendered in {seconds:.1f} s."
    text = _page(f"txpipe report — {session.dataset_id or h5.stem}", sections, footer)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    structlog.get_logger("txpipe").info("report_written", path=str(out), source=str(h5), n_units=len(data.units),
                                        bytes=len(text), seconds=round(time.perf_counter() - t0, 3))
    return out


def report(source: Any, out_path: str | os.PathLike[str] | None = None, *, max_units: int | None = None) -> Path:
    """
    ``txpipe.report(path_or_session)``: write the HTML report of a processed recording.

    The same as :func:`txpipe.report.render_report` (arguments, default path and errors there;
    a DEFERRED session is saved first with a WARNING ``implicit_save``). See ``docs/report.md``.
    """
    return render_report(source, out_path, max_units=max_units)


# --- command line (wired into txpipe.runner.cli as ``txpipe report``) ------------------------------------


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    """Add ``FILE|DIR ... [-o OUT] [--max-units N] [--index-only]`` to the ``report`` subparser *p*."""
    p.add_argument("files", type=Path, nargs="+", metavar="FILE|DIR",
                   help="a txpipe HDF5 file; or several, or folders of them, for an index page across recordings")
    p.add_argument("-o", "--output", type=Path, default=None, metavar="OUT",
                   help="one file: the HTML file (default: FILE's name with .report.html, beside it); several or "
                   "a folder: the folder for index.html and one page per recording (default: DIR/report, or "
                   "./txpipe-report)")
    p.add_argument("--max-units", type=int, default=None, metavar="N",
                   help="draw per-unit panels for only the first N units (default: all)")
    p.add_argument("--index-only", action="store_true",
                   help="several files: write the index page only, without a page per recording (fast)")


__all__ = ["SECTION_IDS", "UNITS_PER_PAGE", "add_report_arguments", "render_report", "report"]
