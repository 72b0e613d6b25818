"""
The HTML of the report: the page (CSS, navigation, sections), the text-only sections and notes.

:func:`_page` assembles the sections into one self-contained document; :func:`_header` and
:func:`_journal` are the sections drawn as tables; :func:`_na` is the "not available" note every
section uses for an input a step did not produce. Everything written is escaped here or by the caller.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from txpipe.core.journal import decode_param
from txpipe.report.data import ReportData

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1320px;
padding:0 16px 40px;color:#222}
h1{font-size:22px;margin:16px 0 4px}
h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:2px;margin-top:28px}
h3{font-size:14px;margin:14px 0 4px;color:#444}
nav{position:sticky;top:0;background:#fff;padding:6px 0;border-bottom:1px solid #eee;z-index:1}
nav a{margin-right:12px;text-decoration:none;color:#0366d6}
img{max-width:100%;height:auto;display:block}
table{border-collapse:collapse;font-size:12px}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
table.kv th{background:#f6f6f6;width:160px}
.na{color:#a15c00;background:#fff6e5;border-left:3px solid #f0a030;padding:4px 8px}
td.dur{min-width:140px;white-space:nowrap}
.bar{display:inline-block;height:8px;background:#4a90d9;margin-right:6px;max-width:80px;vertical-align:middle}
code{font-size:11px;word-break:break-all}
.muted{color:#777;font-size:12px}
"""

_CHECK_JS = (
    "<script>window.addEventListener('load',function(){var im=Array.prototype.slice.call(document.images);"
    "var ok=im.every(function(i){return i.complete&&i.naturalWidth>0;});"
    "document.body.setAttribute('data-images',String(im.length));"
    "document.body.setAttribute('data-images-ok',ok?'yes':'no');});</script>"
)


def _na(what: str, step: str, data: ReportData, reason: str | None = None) -> str:
    """A "not available" note naming the step that would have produced *what*."""
    if reason is None:
        reason = f"step {step} did not run" if not data.ran(step) else f"step {step} ran but wrote no {what}"
    return f'<p class="na">not available: {html.escape(what)} — {html.escape(reason)}</p>'


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{html.escape(title)}</h2>\n{body}\n</section>'


def _header(data: ReportData, path: Path | None) -> str:
    dur = data.duration_s()
    ft = data.get("metadata/frame_timestamps")
    src = data.attrs("source_files")
    rows = [
        ("dataset id", data.s.dataset_id or "—"),
        ("duration", f"{dur:.1f} s ({dur / 60:.1f} min)" if dur else "—"),
        ("sampling rate", f"{data.fs:g} Hz" if data.fs else "—"),
        ("units", str(len(data.units))),
        ("display frames", "—" if ft is None else str(np.asarray(ft).size)),
        ("movies sectioned", ", ".join(data.keys("stimulus/section_time")) or "—"),
        ("file", str(path) if path else "—"),
    ]
    rows += [(k, str(v)) for k, v in src.items()]
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


def _journal(data: ReportData) -> str:
    entries = data.s.journal
    if not entries:
        return '<p class="na">not available: the journal is empty (no step ran)</p>'
    longest = max(e.duration_s for e in entries) or 1.0
    rows = []
    for e in entries:
        params = json.dumps({k: decode_param(v) for k, v in e.params.items()}, sort_keys=True, ensure_ascii=False)
        brief = params if len(params) <= 160 else params[:157] + "…"
        width = max(1.0, 100.0 * e.duration_s / longest)
        rows.append(
            f"<tr><td>{e.seq}</td><td><b>{html.escape(e.step)}</b> v{html.escape(str(e.step_version))}</td>"
            f'<td title="{html.escape(e.started_at)}">{html.escape(e.started_at[:19].replace("T", " "))}</td>'
            f'<td class="dur"><span class="bar" style="width:{width:.0f}%"></span>{e.duration_s:.3f} s</td>'
            f'<td>{len(e.changed)}</td><td><code title="{html.escape(params)}">{html.escape(brief)}</code></td></tr>'
        )
    head = "<tr><th>#</th><th>step</th><th>started (UTC)</th><th>duration</th><th>changed</th><th>parameters</th></tr>"
    return f'<table class="journal">{head}{"".join(rows)}</table>'


def _page(title: str, sections: list[tuple[str, str, str]], footer: str) -> str:
    nav = "".join(f'<a href="#{sid}">{html.escape(t)}</a>' for sid, t, _ in sections)
    body = "\n".join(_section(sid, t, b) for sid, t, b in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n"
            f"<body><h1>{html.escape(title)}</h1><nav>{nav}</nav>\n{body}\n"
            f'<p class="muted">{html.escape(footer)}</p>{_CHECK_JS}</body></html>\n')
