"""
An overview across recordings: ``txpipe report DIR`` (or several files).

:func:`render_index` writes one page per recording (:func:`~txpipe.report.render_report`) and an
``index.html`` with one row per recording: its key numbers (duration, units, spikes, trials per
stimulus, STA units, features, file size, when it was last written) and a link to its page. A
file that cannot be read gets a row saying why instead of stopping the others.
"""

from __future__ import annotations

import html
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from txpipe.errors import ConfigurationError
from txpipe.report.page import _CSS
from txpipe.report.render import render_report
from txpipe.runner.inspect import human_bytes, summarize
from txpipe.runner.progress import ProgressBar
from txpipe.version import __version__


@dataclass(frozen=True)
class IndexRow:
    """One recording of the index (``error`` set when the file could not be read or drawn)."""

    file: Path
    page: str | None
    dataset_id: str
    duration_s: float | None = None
    n_units: int = 0
    n_spikes: int = 0
    sections: tuple[tuple[str, int], ...] = ()
    sta_units: int = 0
    features: tuple[str, ...] = ()
    bytes: int = 0
    updated_at: str = ""
    n_steps: int = 0
    error: str = ""


def collect(sources: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The ``*.h5`` files named by *sources* (files, or folders searched one level deep), sorted,
    each once. Checkpoint files (``*.after-STEP.h5``) are left out of folders.

    Raises:
        FileNotFoundError: a source does not exist.
        ConfigurationError: no ``.h5`` file was found.
    """
    found: list[Path] = []
    for src in sources:
        p = Path(src)
        if p.is_dir():
            found += [f for f in sorted(p.glob("*.h5")) if ".after-" not in f.name]
        elif p.exists():
            found.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    seen: set[Path] = set()
    out = []
    for f in found:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            out.append(f)
    if not out:
        raise ConfigurationError(f"report: no .h5 files in {', '.join(map(str, sources))}")
    return out


def _row(h5: Path, page: str | None) -> IndexRow:
    s = summarize(h5)
    return IndexRow(
        file=h5, page=page, dataset_id=str(s.root_attrs.get("dataset_id") or h5.stem),
        duration_s=s.duration_s, n_units=len(s.units), n_spikes=s.n_spikes,
        sections=tuple((k, int(v[0]) if v else 0) for k, v in s.sections.items()),
        sta_units=s.sta_units, features=tuple(sorted(s.features)), bytes=s.bytes,
        updated_at=str(s.root_attrs.get("updated_at", "")), n_steps=len(s.journal),
    )


def _index_html(rows: list[IndexRow], title: str, seconds: float) -> str:
    head = ("<tr><th>recording</th><th>duration</th><th>units</th><th>spikes</th><th>trials per stimulus</th>"
            "<th>STA units</th><th>features</th><th>steps</th><th>size</th><th>written (UTC)</th><th>file</th></tr>")
    body = []
    for r in rows:
        name = html.escape(r.dataset_id)
        link = f'<a href="{html.escape(r.page)}">{name}</a>' if r.page else name
        if r.error:
            body.append(f'<tr class="failed"><td>{link}</td><td colspan="9" class="na">{html.escape(r.error)}</td>'
                        f"<td><code>{html.escape(str(r.file))}</code></td></tr>")
            continue
        dur = f"{r.duration_s:.1f} s" if r.duration_s is not None else "—"
        secs = ", ".join(f"{html.escape(k)}: {n}" for k, n in r.sections) or "—"
        body.append(
            f"<tr><td>{link}</td><td>{dur}</td><td>{r.n_units}</td><td>{r.n_spikes}</td><td>{secs}</td>"
            f"<td>{r.sta_units}</td><td>{html.escape(', '.join(r.features)) or '—'}</td><td>{r.n_steps}</td>"
            f"<td>{human_bytes(r.bytes)}</td><td>{html.escape(r.updated_at[:19].replace('T', ' '))}</td>"
            f"<td><code>{html.escape(str(r.file))}</code></td></tr>"
        )
    n_bad = sum(bool(r.error) for r in rows)
    summary = (f"{len(rows)} recordings, {sum(r.n_units for r in rows)} units in total"
               + (f"; {n_bad} could not be read" if n_bad else ""))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n"
            f"<body><h1>{html.escape(title)}</h1><p>{html.escape(summary)}. Click a recording for its page.</p>\n"
            f'<table class="index">{head}{"".join(body)}</table>\n'
            f'<p class="muted">trials per stimulus: sectioned trials of each stimulus movie; STA units: units '
            f"with a spike-triggered average; steps: journal entries. txpipe {__version__}, "
            f"rendered in {seconds:.1f} s.</p></body></html>\n")


def render_index(sources: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str], *,
                 max_units: int | None = None, pages: bool = True) -> Path:
    """
    Write ``out_dir/index.html`` over the recordings in *sources* and, with *pages*, one report
    page per recording (``out_dir/{file stem}.html``).

    Args:
        sources: txpipe files and/or folders holding them (see :func:`collect`).
        out_dir: where the pages go (created).
        max_units: per-unit panels drawn on each recording's page (None: all).
        pages: False writes the index only (fast; rows then link to nothing).

    Returns:
        The path of ``index.html``.
    """
    t0 = time.perf_counter()
    files = collect(sources)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[IndexRow] = []
    log = structlog.get_logger("txpipe")
    with ProgressBar(total=len(files), desc="report", unit="recording") as bar:
        for h5 in files:
            page = f"{h5.stem}.html" if pages else None
            try:
                row = _row(h5, page)
                if pages:
                    render_report(h5, out / page, max_units=max_units)  # type: ignore[operator]
            except Exception as exc:  # one unreadable file is a row of the index, not the end of it
                row = IndexRow(file=h5, page=None, dataset_id=h5.stem, error=f"{type(exc).__name__}: {exc}")
                log.warning("report_recording_failed", path=str(h5), error=row.error)
            rows.append(row)
            bar.update(1, postfix=h5.stem)
    title = f"txpipe report — {len(rows)} recordings"
    text = _index_html(rows, title, time.perf_counter() - t0)
    index = out / "index.html"
    tmp = out / ".index.html.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, index)
    log.info("report_index_written", path=str(index), n_recordings=len(rows))
    return index
