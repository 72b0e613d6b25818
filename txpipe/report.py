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
features           histograms of ON/OFF index, baseline rate and quality; a per-unit table
=================  ===========================================================================

Inputs a step did not produce render as ``not available: … step X did not run``. A DEFERRED
session is first saved with the implicit-save rule (WARNING ``implicit_save``, SPEC §2.3).
See ``docs/report.md``.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from txpipe.errors import ConfigurationError, NodeNotFoundError
from txpipe.journal import decode_param
from txpipe.paths import NodePath
from txpipe.session import PipelineSession, SaveState
from txpipe.tree import StateView

SECTION_IDS = ("header", "journal", "chip-map", "light-reference", "light-templates", "units", "features")
"""The ``id`` of every section of the page, in order."""

UNITS_PER_PAGE = 12
"""Units drawn in one image (one page of the units section): 6 rows of 2 units."""

DPI = 80
CHIP_SIDE = 65
_EXCERPT_S = 1.0
_MAX_EXCERPTS = 4
_MAX_LINE_POINTS = 3000
_TEMPLATE_MAX_S = 30.0
_LABEL_UNITS_UP_TO = 60


# --- reading ------------------------------------------------------------------------------------


class _Data:
    """What the report reads from a state, each value read at most once (lazy arrays included)."""

    def __init__(self, session: PipelineSession) -> None:
        self.s = session
        self.view: StateView = session.state
        self.steps = {e.step for e in session.journal}
        self.units = list(session.units)
        self.fs = self.scalar("metadata/acquisition_rate")

    def has(self, path: str) -> bool:
        """True if *path* names a node, without reading array data."""
        p = NodePath.parse(path)
        try:
            return p.name in self.view.keys(p.parent)
        except NodeNotFoundError:
            return False

    def get(self, path: str) -> Any:
        return self.view[path] if self.has(path) else None

    def keys(self, path: str) -> list[str]:
        return self.view.keys(path) if self.has(path) else []

    def attrs(self, path: str) -> Mapping[str, Any]:
        return self.view.attrs(path) if self.has(path) else {}

    def scalar(self, path: str) -> float | None:
        v = self.get(path)
        return None if v is None else float(np.asarray(v))

    def ran(self, step: str) -> bool:
        return step in self.steps

    def duration_s(self) -> float | None:
        d = self.scalar("metadata/recording_duration_s")
        if d is None and self.fs:
            n = self.scalar("metadata/n_samples")
            d = None if n is None else n / self.fs
        return d

    def step_params(self, step: str) -> dict[str, Any]:
        """Decoded parameters of the newest journal entry of *step* ({} if it never ran)."""
        for e in reversed(self.s.journal):
            if e.step == step:
                return {k: decode_param(v) for k, v in e.params.items()}
        return {}


def _na(what: str, step: str, data: _Data, reason: str | None = None) -> str:
    """A "not available" note naming the step that would have produced *what*."""
    if reason is None:
        reason = f"step {step} did not run" if not data.ran(step) else f"step {step} ran but wrote no {what}"
    return f'<p class="na">not available: {html.escape(what)} — {html.escape(reason)}</p>'


def _movie_of_steps(data: _Data, uid: str | None) -> str | None:
    """The step movie: the one step_response used, else the first sectioned movie named *step*."""
    if uid is None:
        return None
    params = data.attrs(f"units/{uid}/features/step_response").get("params")
    if isinstance(params, str):
        movie = json.loads(params).get("movie")
        if movie and data.has(f"units/{uid}/spike_times_sectioned/{movie}"):
            return str(movie)
    movies = data.keys(f"units/{uid}/spike_times_sectioned")
    named = [m for m in movies if "step" in m.lower()]
    if named:
        return named[0]
    others = [m for m in movies if "noise" not in m.lower()]
    return others[0] if others else None


def _sta_movie(data: _Data, uid: str | None) -> str | None:
    if uid is None:
        return None
    stas = [k for k in data.keys(f"units/{uid}/features") if k.startswith("sta_")]
    return stas[0] if stas else None


# --- drawing helpers ----------------------------------------------------------------------------


def _figure(width_in: float, height_in: float, **kw: Any) -> Any:
    """A matplotlib Figure on an Agg canvas (no pyplot, no global backend change)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=DPI, **kw)
    FigureCanvasAgg(fig)
    return fig


def _img(fig: Any, alt: str) -> str:
    """*fig* as an embedded PNG ``<img>`` element."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    b64 = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _envelope(y: np.ndarray, max_points: int = _MAX_LINE_POINTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(index, low, high)``: min/max of *y* over equal blocks, at most *max_points* blocks."""
    y = np.asarray(y, dtype=np.float64).ravel()
    if y.size <= max_points:
        x = np.arange(y.size, dtype=np.float64)
        return x, y, y
    k = int(math.ceil(y.size / max_points))
    m = (y.size // k) * k
    blocks = y[:m].reshape(-1, k)
    x = np.arange(blocks.shape[0], dtype=np.float64) * k + k / 2
    return x, np.fmin.reduce(blocks, axis=1), np.fmax.reduce(blocks, axis=1)  # NaN-skipping, no warning


def _plot_envelope(ax: Any, y: np.ndarray, scale: float, offset: float = 0.0, **kw: Any) -> None:
    """Plot *y* against ``offset + index·scale`` as a line, or a min/max band when long."""
    x, lo, hi = _envelope(y)
    t = offset + x * scale
    if lo is hi:
        ax.plot(t, lo, lw=0.7, **kw)
    else:
        ax.fill_between(t, lo, hi, lw=0.4, **kw)


def _small(ax: Any, size: int = 7) -> None:
    ax.tick_params(labelsize=size, length=2, pad=1)
    if ax.get_yscale() == "linear":
        ax.locator_params(axis="y", nbins=4)
    ax.locator_params(axis="x", nbins=5)


def _label(ax: Any, msg: str, *, size: int = 7, x: float = 0.5, **kw: Any) -> None:
    """A title placed by axes coordinates (set_title re-measures the axes on every draw: slow)."""
    ha = "left" if x < 0.25 else "center"
    ax.text(x, 1.02, msg, ha=ha, va="bottom", fontsize=size, transform=ax.transAxes, **kw)


def _text(ax: Any, msg: str) -> None:
    ax.text(0.5, 0.5, msg, ha="center", va="center", fontsize=7, color="#888", transform=ax.transAxes, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


# --- sections -----------------------------------------------------------------------------------


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{html.escape(title)}</h2>\n{body}\n</section>'


def _header(data: _Data, path: Path | None) -> str:
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


def _journal(data: _Data) -> str:
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


def _unit_table(data: _Data) -> list[dict[str, Any]]:
    """Per unit: id, row, col, spike count and rate (spikes/s), read from attributes."""
    dur = data.duration_s()
    out = []
    for uid in data.units:
        a = data.attrs(f"units/{uid}")
        n = a.get("spike_count")
        if n is None:
            st = data.get(f"units/{uid}/spike_times")
            n = 0 if st is None else np.asarray(st).size
        out.append({"id": uid, "row": a.get("row"), "col": a.get("col"), "n": int(n),
                    "rate": int(n) / dur if dur else float("nan")})
    return out


def _chip_map(data: _Data, table: list[dict[str, Any]]) -> str:
    if not data.units:
        return _na("units", "load_recording", data)
    placed = [u for u in table if u["row"] is not None and u["col"] is not None]
    if not placed:
        return _na("unit positions (row, col)", "load_recording", data, "units have no row/col attributes")
    col = np.array([float(u["col"]) for u in placed])
    row = np.array([float(u["row"]) for u in placed])
    rate = np.array([u["rate"] for u in placed], dtype=np.float64)
    fig = _figure(6.4, 5.6, layout="constrained")
    ax = fig.add_subplot()
    ax.set_facecolor("#f4f4f4")
    finite = np.isfinite(rate)
    vmax = float(np.nanpercentile(rate, 98)) if finite.any() else 1.0
    sc = ax.scatter(col, row, c=np.where(finite, rate, 0.0), s=36, cmap="viridis", vmin=0.0,
                    vmax=max(vmax, 1e-9), edgecolors="k", linewidths=0.3)
    silent = rate == 0
    if silent.any():
        ax.scatter(col[silent], row[silent], s=60, facecolors="none", edgecolors="r", linewidths=0.8,
                   label="no spikes")
        ax.legend(loc="upper right", fontsize=7)
    if len(placed) <= _LABEL_UNITS_UP_TO:
        for u, x, y in zip(placed, col, row):
            ax.annotate(u["id"].removeprefix("unit_"), (x, y), xytext=(3, 3), textcoords="offset points", fontsize=6)
    ax.set_xlim(0.5, CHIP_SIDE + 0.5)
    ax.set_ylim(CHIP_SIDE + 0.5, 0.5)
    ax.set_aspect("equal")
    ax.set_xlabel("column (1…65)")
    ax.set_ylabel("row (1…65)")
    fig.colorbar(sc, ax=ax, shrink=0.8, label="firing rate (spikes/s, whole recording)")
    note = f"<p>{len(placed)} units; colour clipped at the 98th percentile ({vmax:.1f} spikes/s).</p>"
    return note + _img(fig, "chip map")


def _light_reference(data: _Data) -> str:
    lr = data.get("stimulus/light_reference/1khz_ch1")
    if lr is None or data.fs is None:
        return _na("1 kHz light reference", "load_recording", data)
    lr = np.asarray(lr, dtype=np.float64)
    rate = float(data.attrs("stimulus/light_reference/1khz_ch1").get("rate_hz", 1000.0))
    ft = data.get("metadata/frame_timestamps")
    ft_s = None if ft is None else np.asarray(ft, dtype=np.float64) / data.fs
    movies = data.keys("stimulus/section_time")
    sections = {m: np.asarray(data.get(f"stimulus/section_time/{m}"), dtype=np.float64).reshape(-1, 2) / data.fs
                for m in movies}
    notes = []
    if not movies:
        notes.append(_na("section boundaries", "add_section_time", data))
    if ft_s is None or ft_s.size == 0:
        notes.append(_na("frame timestamps", "load_recording", data, "the recording has no frame-sync pulses"))

    n_ex = min(len(movies), _MAX_EXCERPTS) if movies else (1 if ft_s is not None and ft_s.size else 0)
    fig = _figure(13.0, 5.6 if n_ex else 2.8)
    gs = fig.add_gridspec(2 if n_ex else 1, max(n_ex, 3) + 1, hspace=0.55, wspace=0.3,
                          left=0.05, right=0.98, top=0.9, bottom=0.1)
    ax = fig.add_subplot(gs[0, :-1])
    _plot_envelope(ax, lr, 1.0 / rate, color="0.3")
    colors = {m: f"C{i % 10}" for i, m in enumerate(movies)}
    for m, b in sections.items():
        for i, (t0, t1) in enumerate(b):
            ax.axvspan(t0, t1, color=colors[m], alpha=0.18, lw=0, label=m if i == 0 else None)
            ax.axvline(t0, color=colors[m], lw=0.8)
            ax.axvline(t1, color=colors[m], lw=0.8, ls="--")
    if movies:
        ax.legend(fontsize=7, loc="upper right", ncols=min(len(movies), 4))
    ax.set_title("light reference ch1 (1 kHz, min/max) with sections (solid: start, dashed: end)", fontsize=9)
    ax.set_xlabel("time (s)", fontsize=8)
    ax.set_ylabel("ADC counts", fontsize=8)
    _small(ax)
    ax_iv = fig.add_subplot(gs[0, -1])
    if ft_s is not None and ft_s.size > 1:
        iv = np.diff(ft_s) * 1e3
        ax_iv.hist(iv, bins=60, color="0.4", log=True)
        ax_iv.set_title(f"frame intervals: median {np.median(iv):.2f} ms", fontsize=8)
        ax_iv.set_xlabel("ms", fontsize=7)
    else:
        _text(ax_iv, "no frame timestamps")
    _small(ax_iv)
    if n_ex:
        centres = _excerpt_centres(data, lr, rate, movies, sections, ft_s)
        for i, (label, c, color) in enumerate(centres[:n_ex]):
            axe = fig.add_subplot(gs[1, i])
            _excerpt(axe, lr, rate, c, ft_s, sections, colors)
            axe.set_title(label, fontsize=8, color=color)
            _small(axe, 6)
    body = "".join(notes)
    where = "the first light step of each movie's content" if movies else "the first display frame"
    body += (f"<p>Excerpts: 1 s (1 kHz copy) around {where}; thin grey lines are the detected display-frame "
             "edges, coloured lines section boundaries. A light step should fall on a frame edge.</p>" if n_ex else "")
    return body + _img(fig, "light reference")


def _first_change_s(lr: np.ndarray, rate: float, t0: float, t1: float) -> float | None:
    """Time (s) of the first light step in ``[t0, t1)`` of the 1 kHz trace *lr*, or None."""
    i0, i1 = max(0, int(t0 * rate)), min(lr.size, int(t1 * rate))
    if i1 - i0 < 3:
        return None
    ok = lr[np.isfinite(lr)]
    if ok.size == 0:
        return None
    lo, hi = np.percentile(ok, [1, 99])
    d = np.abs(np.diff(lr[i0:i1]))
    big = np.flatnonzero(d > 0.1 * (hi - lo))
    return None if big.size == 0 else (i0 + int(big[0]) + 1) / rate


def _excerpt_centres(data: _Data, lr: np.ndarray, rate: float, movies: Sequence[str],
                     sections: Mapping[str, np.ndarray], ft_s: np.ndarray | None) -> list[tuple[str, float, str]]:
    """Per movie: the first light step of its first occurrence's content, else the content start."""
    out = []
    for i, m in enumerate(movies):
        t0, t1 = (float(x) for x in sections[m][0])
        csf = data.attrs(f"stimulus/section_time/{m}").get("content_start_frames")
        if csf is not None and ft_s is not None and np.size(csf) and 0 <= int(np.ravel(csf)[0]) < ft_s.size:
            t0 = float(ft_s[int(np.ravel(csf)[0])])
        tc = _first_change_s(lr, rate, t0, t1)
        what = f"first light step {tc:.2f} s" if tc is not None else f"content start {t0:.2f} s (no light step)"
        out.append((f"{m}: {what}", t0 if tc is None else tc, f"C{i % 10}"))
    if not out and ft_s is not None and ft_s.size:
        out.append((f"first frame {ft_s[0]:.2f} s", float(ft_s[0]), "k"))
    return out


def _excerpt(ax: Any, lr: np.ndarray, rate: float, centre_s: float, ft_s: np.ndarray | None,
             sections: Mapping[str, np.ndarray], colors: Mapping[str, str]) -> None:
    lo_s, hi_s = centre_s - _EXCERPT_S / 2, centre_s + _EXCERPT_S / 2
    i0, i1 = max(0, int(lo_s * rate)), min(lr.size, int(math.ceil(hi_s * rate)))
    if ft_s is not None:
        edges = ft_s[(ft_s >= lo_s) & (ft_s <= hi_s)]
        ax.vlines(edges, 0, 1, transform=ax.get_xaxis_transform(), color="0.75", lw=0.5)
    for m, b in sections.items():
        for t in b.ravel():
            if lo_s <= t <= hi_s:
                ax.axvline(t, color=colors[m], lw=1.2)
    ax.plot(np.arange(i0, i1) / rate, lr[i0:i1], color="k", lw=0.7)
    ax.set_xlim(lo_s, hi_s)
    ax.set_xlabel("time (s)", fontsize=7)


def _light_templates(data: _Data) -> str:
    movies = data.keys("stimulus/light_template")
    if not movies:
        return _na("light templates", "add_section_time", data)
    n = len(movies)
    ncols = min(n, 3)
    nrows = int(math.ceil(n / ncols))
    fig = _figure(13.0, 2.6 * nrows, layout="constrained")
    lr = data.get("stimulus/light_reference/1khz_ch1")
    ylim = None
    lr = None if lr is None else np.asarray(lr, dtype=np.float64)
    lr = None if lr is None else lr[np.isfinite(lr)]
    if lr is not None and lr.size:
        lo, hi = np.percentile(lr, [0.1, 99.9])
        ylim = (lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)) if hi > lo else None
    for i, m in enumerate(movies):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        tpl = np.asarray(data.get(f"stimulus/light_template/{m}"))
        a = data.attrs(f"stimulus/light_template/{m}")
        total_s = tpl.size / data.fs if data.fs else None
        cut = ""
        if total_s is not None and total_s > _TEMPLATE_MAX_S:  # a long movie is a solid band: show its start
            tpl = tpl[: int(_TEMPLATE_MAX_S * data.fs)]
            cut = f", first {_TEMPLATE_MAX_S:g} of {total_s:.0f} s"
        _plot_envelope(ax, tpl, 1.0 / data.fs if data.fs else 1.0, color=f"C{i % 10}")
        sa = data.attrs(f"stimulus/section_time/{m}")
        pre = sa.get("pre_margin_frame_num")
        fr = float(data.attrs("metadata/frame_timestamps").get("frame_rate_hz", 60.0) or 60.0)
        if pre:
            ax.axvline(float(pre) / fr, color="k", lw=0.8, ls=":")
        ax.set_title(f"{m} (mean of {int(a.get('n_occurrences', 1))}{cut})", fontsize=8)
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.set_xlabel("time from section start (s)" if data.fs else "sample", fontsize=7)
        _small(ax)
    return ("<p>Mean of the raw light reference (ch1, ADC counts) over each movie's occurrences; the dotted "
            "line marks the first content frame. The y range is the whole recording's light range.</p>"
            + _img(fig, "light templates"))


# --- units --------------------------------------------------------------------------------------


@dataclass
class _StepTrace:
    """The stimulus under the raster: light reference over the first trial, scaled 0…1."""

    t_s: np.ndarray
    y: np.ndarray


def _step_trace(data: _Data, tse: np.ndarray, pre_s: float, post_s: float) -> _StepTrace | None:
    lr = data.get("stimulus/light_reference/1khz_ch1")
    if lr is None or not data.fs or tse.size == 0:
        return None
    rate = float(data.attrs("stimulus/light_reference/1khz_ch1").get("rate_hz", 1000.0))
    s0 = tse[0, 0] / data.fs
    i0 = max(0, int((s0 - pre_s) * rate))
    i1 = min(len(lr), int((tse[0, 1] / data.fs + post_s) * rate))
    if i1 <= i0:
        return None
    y = np.asarray(lr[i0:i1], dtype=np.float64)
    span = float(y.max() - y.min())
    y = (y - y.min()) / span if span > 0 else np.full_like(y, 0.5)
    return _StepTrace(np.arange(i0, i1) / rate - s0, y)


def _unit_panels(data: _Data, uid: str, axes: Sequence[Any], info: dict[str, Any], movie: str | None,
                 sta_name: str | None, pad: tuple[float, float], traces: dict[Any, _StepTrace | None]) -> None:
    ax_w, ax_r, ax_m, ax_t = axes
    base = f"units/{uid}"
    # waveform
    wf = data.get(f"{base}/waveform")
    pos = f"r{info['row']} c{info['col']}" if info["row"] is not None else "no position"
    _label(ax_w, f"{uid}  {pos}", size=8, x=0.0, fontweight="bold")
    if wf is None or np.size(wf) == 0 or not np.isfinite(np.asarray(wf, dtype=np.float64)).any():
        _text(ax_w, "no waveform" + ("\n(no spikes)" if info["n"] == 0 else ""))
    else:
        wf = np.asarray(wf, dtype=np.float64)
        ax_w.plot(wf, color="k", lw=0.8)
        ax_w.relim()
        ax_w.autoscale_view()
    amp = f"\nmin {np.nanmin(wf):.3g}" if wf is not None and np.size(wf) and np.isfinite(wf).any() else ""
    ax_w.text(0.97, 0.04, f"{info['n']} sp\n{info['rate']:.2f}/s{amp}", ha="right", va="bottom", fontsize=6,
              color="0.35", transform=ax_w.transAxes)
    # raster over the step movie's trials
    sec = f"{base}/spike_times_sectioned/{movie}" if movie else None
    if sec is None or not data.has(f"{sec}/trials_start_end"):
        _text(ax_r, "no step-movie raster\n(section_spike_times did not run)" if not data.ran("section_spike_times")
              else "no sectioned step movie")
    else:
        tse = np.asarray(data.get(f"{sec}/trials_start_end"), dtype=np.int64).reshape(-1, 2)
        trials = data.get(f"{sec}/trials_spike_times") or {}
        key = (tse.tobytes(), pad)
        if key not in traces:
            traces[key] = _step_trace(data, tse, *pad)
        xs, ys = [], []
        for i, k in enumerate(list(trials)[: len(tse)]):
            st = np.asarray(trials[k], dtype=np.int64)
            xs.append((st - tse[i, 0]) / data.fs)
            ys.append(np.full(st.size, i, dtype=np.float64))
        x = np.concatenate(xs) if xs else np.zeros(0)
        n_tr = len(tse)
        if x.size:
            ax_r.plot(x, np.concatenate(ys), "|", color="k", ms=max(1.0, min(3.0, 100.0 / n_tr)), mew=0.6)
        tr = traces[key]
        band = max(1.6, 0.25 * n_tr)  # the stimulus strip below the trials, in trial rows
        if tr is not None:  # the y axis points down: bright is drawn up
            ax_r.plot(tr.t_s, n_tr + 0.2 + band * (1.0 - tr.y), color="C1", lw=0.8)
        length = float(np.median(tse[:, 1] - tse[:, 0])) / data.fs
        ax_r.set_xlim(-pad[0], length + pad[1])
        ax_r.set_ylim(n_tr + 0.4 + band, -0.8)
        _label(ax_r, f"{n_tr} trials, {x.size} spikes" + ("" if x.size else " (none)"))
        ax_r.set_xticks([0.0, round(length / 2, 2), round(length, 2)])
    # STA
    sta_path = f"{base}/features/{sta_name}/sta" if sta_name else None
    sta = data.get(sta_path) if sta_path else None
    if sta is None:
        why = "compute_sta\ndid not run" if not data.ran("compute_sta") else "none for\nthis unit"
        _text(ax_m, f"no STA\n({why})")
        _text(ax_t, "")
        return
    sta = np.asarray(sta, dtype=np.float64)
    used = data.attrs(sta_path).get("n_spikes_used")
    if sta.ndim != 3 or not np.isfinite(sta).any():
        _text(ax_m, f"STA empty\n({used if used is not None else 0} spikes used)")
        _text(ax_t, "")
        return
    dev = sta - np.nanmean(sta)
    f, yy, xx = np.unravel_index(int(np.nanargmax(np.abs(dev))), dev.shape)
    lim = float(np.nanmax(np.abs(dev))) or 1.0
    ax_m.imshow(dev[f], cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    ax_m.plot(xx, yy, "o", mfc="none", mec="k", ms=7, mew=0.8)
    cr = data.attrs(sta_path).get("cover_range")
    c0 = int(np.ravel(cr)[0]) if cr is not None else -sta.shape[0]
    lags = c0 + np.arange(sta.shape[0])
    _label(ax_m, f"STA peak, lag {lags[f]} fr")
    tc = dev[:, yy, xx]
    ax_t.axhline(0, color="0.7", lw=0.5)
    ax_t.plot(lags, tc, color="C3" if tc[f] > 0 else "C0", lw=0.9)
    _label(ax_t, f"{'ON' if tc[f] > 0 else 'OFF'} px ({yy},{xx}), {used} sp")
    ax_t.set_xticks([int(lags[0]), int(lags[-1]) + 1])
    ax_t.relim()
    ax_t.autoscale_view()


class _UnitGrid:
    """
    A figure with the axes of one page of units (*nrows* rows of 2 units × 4 panels).

    Creating matplotlib axes is the slowest part of the report, so one grid is reused for every
    page: :meth:`clear` removes the previous page's artists but keeps the axes.
    """

    def __init__(self, nrows: int) -> None:
        h_in = 1.75 * nrows + 0.3
        self.fig = _figure(16.0, h_in)
        gs = self.fig.add_gridspec(nrows, 9, width_ratios=[1.0, 2.2, 0.9, 1.2, 0.25, 1.0, 2.2, 0.9, 1.2],
                                   left=0.01, right=0.99, top=1 - 0.3 / h_in, bottom=0.2 / h_in,
                                   hspace=0.6, wspace=0.25)
        self.units: list[list[Any]] = []
        for j in range(2 * nrows):
            r, c = divmod(j, 2)
            axes = [self.fig.add_subplot(gs[r, 5 * c + k]) for k in range(4)]
            for k, ax in enumerate(axes):
                if k in (0, 2):  # waveform, STA map: no ticks
                    ax.set_xticks([])
                ax.set_yticks([])
                ax.tick_params(labelsize=6, length=2, pad=1, labelbottom=(r == nrows - 1))
            self.units.append(axes)

    def clear(self) -> None:
        for axes in self.units:
            for ax in axes:
                for art in (*ax.lines, *ax.images, *ax.texts, *ax.collections, *ax.patches):
                    art.remove()
                ax.set_visible(True)


def _units(data: _Data, table: list[dict[str, Any]], max_units: int | None) -> str:
    if not data.units:
        return _na("units", "load_recording", data)
    shown = table if max_units is None else table[: max(0, int(max_units))]
    first = data.units[0]
    movie = _movie_of_steps(data, first)
    sta_name = _sta_movie(data, first)
    sa = data.attrs(f"units/{first}/spike_times_sectioned/{movie}") if movie else {}
    if data.fs and "pre_samples" in sa and "post_samples" in sa:
        pad = (float(sa["pre_samples"]) / data.fs, float(sa["post_samples"]) / data.fs)
    else:
        pm = data.step_params("section_spike_times").get("pad_margin") or (0.0, 0.0)
        pad = (float(pm[0]), float(pm[1]))
    notes = []
    if not data.ran("section_spike_times"):
        notes.append(_na("rasters", "section_spike_times", data))
    elif movie is None:
        notes.append(_na("rasters", "section_spike_times", data, "no step movie was sectioned"))
    if sta_name is None:
        notes.append(_na("receptive fields (STA)", "compute_sta", data))
    raster = (f" Raster: trials of <code>{html.escape(movie)}</code> (s from trial start, pad {pad[0]:g}/{pad[1]:g} s) "
              "with the light reference of the first trial in orange." if movie else "")
    sta = (f" STA (<code>{html.escape(sta_name)}</code>): frame of the largest deviation (red brighter, blue darker "
           "than the mean) and the time course of that pixel over the STA window, in display frames relative to "
           "the spike." if sta_name else "")
    intro = (f"<p>Showing {len(shown)} of {len(table)} units"
             + (f" (max_units={max_units})" if len(shown) < len(table) else "")
             + f".{raster}{sta} Tick labels are on each page's bottom row.</p>")
    traces: dict[Any, _StepTrace | None] = {}
    pages = []
    grids: dict[int, _UnitGrid] = {}
    for p0 in range(0, len(shown), UNITS_PER_PAGE):
        block = shown[p0 : p0 + UNITS_PER_PAGE]
        nrows = int(math.ceil(len(block) / 2))
        grid = grids.get(nrows) or grids.setdefault(nrows, _UnitGrid(nrows))
        grid.clear()
        for j, info in enumerate(block):
            _unit_panels(data, info["id"], grid.units[j], info, movie, sta_name, pad, traces)
        for j in range(len(block), len(grid.units)):
            for ax in grid.units[j]:
                ax.set_visible(False)
        label = f"units {p0 + 1}–{p0 + len(block)}: {block[0]['id']} … {block[-1]['id']}"
        pages.append((f"units-p{len(pages) + 1}", label, _img(grid.fig, label)))
    nav = " · ".join(f'<a href="#{pid}">{i + 1}</a>' for i, (pid, _, _) in enumerate(pages))
    body = "".join(f'<div class="unit-page" id="{pid}"><h3>{html.escape(lbl)}</h3>{img}</div>'
                   for pid, lbl, img in pages)
    return "".join(notes) + intro + (f'<p class="pages">pages: {nav}</p>' if len(pages) > 1 else "") + body


# --- features -----------------------------------------------------------------------------------

_FEATURE_HISTS = (  # (feature, key, title, unit, histogram range or None)
    ("step_response", "on_off_index", "ON/OFF index (step_response)", "1", (-1.0, 1.0)),
    ("baseline_127", "mean_firing_rate", "baseline rate (baseline_127)", "spikes/s", None),
    ("baseline_127", "quality_index", "quality (baseline_127)", "0…1", (0.0, 1.0)),
)


def _features(data: _Data, table: list[dict[str, Any]]) -> str:
    if not data.units:
        return _na("features", "extract_features", data)
    values: dict[tuple[str, str], np.ndarray] = {}
    for feat, key, *_ in _FEATURE_HISTS:
        col = [data.scalar(f"units/{u}/features/{feat}/{key}") for u in data.units]
        if any(v is not None for v in col):
            values[(feat, key)] = np.array([np.nan if v is None else v for v in col], dtype=np.float64)
    notes = []
    for feat in dict.fromkeys(f for f, *_ in _FEATURE_HISTS):
        if not any(k[0] == feat for k in values):
            notes.append(_na(f"feature {feat}", "extract_features", data,
                             None if not data.ran("extract_features") else f"extract_features did not compute {feat}"))
    fig = _figure(13.0, 2.8, layout="constrained")
    for i, (feat, key, title, unit, rng) in enumerate(_FEATURE_HISTS):
        ax = fig.add_subplot(1, len(_FEATURE_HISTS), i + 1)
        v = values.get((feat, key))
        if v is None:
            _text(ax, f"not available\n({feat} not computed)")
            ax.set_title(title, fontsize=8)
            continue
        ok = v[np.isfinite(v)]
        if ok.size:
            ax.hist(ok, bins=20 if rng else min(30, max(12, ok.size // 3)), range=rng, color=f"C{i}", rwidth=0.9)
        else:
            _text(ax, "all values NaN")
        ax.set_title(f"{title}: n={ok.size}, NaN={v.size - ok.size}", fontsize=8)
        ax.set_xlabel(unit, fontsize=7)
        _small(ax)
    rows = []
    for i, u in enumerate(table):
        cells = [u["id"], u["row"], u["col"], u["n"], f"{u['rate']:.2f}"]
        for feat, key, *_ in _FEATURE_HISTS:
            v = values.get((feat, key))
            cells.append("—" if v is None or not np.isfinite(v[i]) else f"{v[i]:.3g}")
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("unit", "row", "col", "spikes", "rate (/s)", "ON/OFF index",
                                              "baseline rate (/s)", "quality"))
    table_html = (f'<details><summary>per-unit table ({len(table)} units)</summary>'
                  f'<table class="units"><tr>{head}</tr>{"".join(rows)}</table></details>')
    return "".join(notes) + _img(fig, "feature summaries") + table_html


# --- page ---------------------------------------------------------------------------------------

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


def _page(title: str, sections: list[tuple[str, str, str]], footer: str) -> str:
    nav = "".join(f'<a href="#{sid}">{html.escape(t)}</a>' for sid, t, _ in sections)
    body = "\n".join(_section(sid, t, b) for sid, t, b in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n"
            f"<body><h1>{html.escape(title)}</h1><nav>{nav}</nav>\n{body}\n"
            f'<p class="muted">{html.escape(footer)}</p>{_CHECK_JS}</body></html>\n')


def _session_and_path(source: Any) -> tuple[PipelineSession, Path]:
    if isinstance(source, PipelineSession):
        if source.save_state is SaveState.DEFERRED:
            return source, source.ensure_saved(reason="report needs a file")
        return source, Path(source.hdf5_path)  # type: ignore[arg-type]
    if not isinstance(source, (str, os.PathLike)):
        msg = f"report: expected a txpipe file path or a PipelineSession, got {type(source).__name__}"
        raise ConfigurationError(msg)
    path = Path(source)
    return PipelineSession.load(path, defer=True), path.absolute()


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
    data = _Data(session)
    table = _unit_table(data)
    sections = [
        ("header", "Recording", _header(data, h5)),
        ("journal", "Journal", _journal(data)),
        ("chip-map", "Chip map", _chip_map(data, table)),
        ("light-reference", "Light reference, frames and sections", _light_reference(data)),
        ("light-templates", "Light templates", _light_templates(data)),
        ("units", "Units", _units(data, table, max_units)),
        ("features", "Feature summaries", _features(data, table)),
    ]
    from txpipe import __version__

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


# --- command line (wired into txpipe.cli as ``txpipe report``) ------------------------------------


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    """Add ``FILE [-o OUT.html] [--max-units N]`` to the ``report`` subparser *p*."""
    p.add_argument("file", type=Path, metavar="FILE", help="a txpipe HDF5 file")
    p.add_argument("-o", "--output", type=Path, default=None, metavar="OUT.html",
                   help="the HTML file (default: FILE's name with .report.html, beside it)")
    p.add_argument("--max-units", type=int, default=None, metavar="N",
                   help="draw per-unit panels for only the first N units (default: all)")


def run_report(args: argparse.Namespace) -> int:
    """Body of ``txpipe report``: render, print the output path, return exit code 0."""
    t0 = time.perf_counter()
    out = render_report(args.file, args.output, max_units=args.max_units)
    sys.stdout.write(f"report: {out} ({time.perf_counter() - t0:.1f} s)\n")
    return 0


__all__ = ["SECTION_IDS", "UNITS_PER_PAGE", "add_report_arguments", "render_report", "report", "run_report"]
