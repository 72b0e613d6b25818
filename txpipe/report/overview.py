"""
The recording-wide figures: the chip map, the light reference with frames and sections, the light templates.

Each function returns the HTML of one section (notes, captions and the embedded PNG) for
:func:`~txpipe.report.render_report`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from txpipe.report.data import ReportData
from txpipe.report.draw import _figure, _img, _plot_envelope, _small, _text
from txpipe.report.page import _na

CHIP_SIDE = 65
_EXCERPT_S = 1.0
_MAX_EXCERPTS = 4
_TEMPLATE_MAX_S = 30.0
_LABEL_UNITS_UP_TO = 60


def _chip_map(data: ReportData, table: list[dict[str, Any]]) -> str:
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


def _light_reference(data: ReportData) -> str:
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


def _excerpt_centres(data: ReportData, lr: np.ndarray, rate: float, movies: Sequence[str],
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


def _light_templates(data: ReportData) -> str:
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
