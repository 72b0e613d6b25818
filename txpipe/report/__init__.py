"""
A visual report of a processed recording: one self-contained HTML file (``txpipe report``).

:func:`render_report` reads a txpipe file (through :meth:`PipelineSession.load`, lazily: only
what is plotted is read) or takes a session, and writes one HTML page with every image embedded
as a base64 PNG drawn with matplotlib's Agg canvas (``matplotlib.figure.Figure``; pyplot and the
user's backend are never touched). Sections, each with a stable ``id``:

=================  ===========================================================================
id                 content
=================  ===========================================================================
header             dataset id, duration (s), sampling rate (Hz), units, frames, source files
journal            the journal as a timeline: seq, step, parameters, start time, duration
chip-map           unit positions on the 65×65 electrode grid coloured by firing rate (spikes/s)
light-reference    the 1 kHz light reference over the recording with section boundaries, the
                   display-frame intervals, and 1 s excerpts with the detected frame edges
light-templates    the averaged light template of each movie
units              per unit: mean waveform, raster over the step movie's trials with the
                   stimulus trace, STA peak-frame map and its time course (pages of units)
eimage             per unit with an electrical image: its minimum projection over lags with
                   the unit's sensor marked, and the time of the minimum per sensor
features           histograms of ON/OFF index, baseline rate and quality; a per-unit table
=================  ===========================================================================

Inputs a step did not produce render as ``not available: … step X did not run``. A DEFERRED
session is first saved with the implicit-save rule (WARNING ``implicit_save``).
See ``docs/report.md``.

Several files or a folder give an index page across recordings (:mod:`~txpipe.report.index`).

Modules: :mod:`~txpipe.report.data` (reading), :mod:`~txpipe.report.draw` (matplotlib helpers),
:mod:`~txpipe.report.overview` (chip map, light reference, light templates),
:mod:`~txpipe.report.units` (per-unit pages), :mod:`~txpipe.report.eimage` (electrical images),
:mod:`~txpipe.report.features` (feature summaries), :mod:`~txpipe.report.page` (the HTML page);
:mod:`~txpipe.report.render` renders one page; this module holds the command line.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from txpipe.report.render import (  # noqa: F401  (public names of the package)
    CHIP_SIDE,
    DPI,
    SECTION_IDS,
    UNITS_PER_PAGE,
    add_report_arguments,
    render_report,
    report,
)
from txpipe.report.index import render_index

for _public in (add_report_arguments, render_report, report):
    _public.__module__ = __name__  # documented and imported from the package


def run_report(args: argparse.Namespace) -> int:
    """Body of ``txpipe report``: render, print the output path, return exit code 0."""
    t0 = time.perf_counter()
    files = list(args.files)
    if len(files) == 1 and not files[0].is_dir():
        out = render_report(files[0], args.output, max_units=args.max_units)
    else:
        default = files[0] / "report" if len(files) == 1 else Path("txpipe-report")
        out = render_index(files, args.output or default, max_units=args.max_units, pages=not args.index_only)
    sys.stdout.write(f"report: {out} ({time.perf_counter() - t0:.1f} s)\n")
    return 0


__all__ = ["SECTION_IDS", "UNITS_PER_PAGE", "add_report_arguments", "render_report", "report", "run_report"]
