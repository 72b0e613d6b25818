"""
The units section: per unit a mean waveform, a raster over the step movie's trials, the STA map and time course.

Units are drawn :data:`UNITS_PER_PAGE` to an image (one page); one :class:`_UnitGrid` of axes is
reused for every page because creating matplotlib axes is the slowest part of the report.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from txpipe.report.data import ReportData, _movie_of_steps, _sta_movie
from txpipe.report.draw import _figure, _img, _label, _text
from txpipe.report.page import _na
from txpipe.runner.progress import ProgressBar

UNITS_PER_PAGE = 12
"""Units drawn in one image (one page of the units section): 6 rows of 2 units."""


@dataclass
class _StepTrace:
    """The stimulus under the raster: light reference over the first trial, scaled 0…1."""

    t_s: np.ndarray
    y: np.ndarray


def _step_trace(data: ReportData, tse: np.ndarray, pre_s: float, post_s: float) -> _StepTrace | None:
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


def _unit_panels(data: ReportData, uid: str, axes: Sequence[Any], info: dict[str, Any], movie: str | None,
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


def _units(data: ReportData, table: list[dict[str, Any]], max_units: int | None) -> str:
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
    bar = ProgressBar(total=len(shown), desc="report units", unit="unit", leave=False)
    for p0 in range(0, len(shown), UNITS_PER_PAGE):
        block = shown[p0 : p0 + UNITS_PER_PAGE]
        nrows = int(math.ceil(len(block) / 2))
        grid = grids.get(nrows) or grids.setdefault(nrows, _UnitGrid(nrows))
        grid.clear()
        for j, info in enumerate(block):
            _unit_panels(data, info["id"], grid.units[j], info, movie, sta_name, pad, traces)
            bar.update(1)
        for j in range(len(block), len(grid.units)):
            for ax in grid.units[j]:
                ax.set_visible(False)
        label = f"units {p0 + 1}–{p0 + len(block)}: {block[0]['id']} … {block[-1]['id']}"
        pages.append((f"units-p{len(pages) + 1}", label, _img(grid.fig, label)))
    bar.close()
    nav = " · ".join(f'<a href="#{pid}">{i + 1}</a>' for i, (pid, _, _) in enumerate(pages))
    body = "".join(f'<div class="unit-page" id="{pid}"><h3>{html.escape(lbl)}</h3>{img}</div>'
                   for pid, lbl, img in pages)
    return "".join(notes) + intro + (f'<p class="pages">pages: {nav}</p>' if len(pages) > 1 else "") + body
