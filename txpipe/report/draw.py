"""
Matplotlib helpers shared by the figure modules: figures on an Agg canvas, PNG embedding, axes styling.

matplotlib is imported inside :func:`_figure`, so importing txpipe never loads it, and pyplot and
the user's backend are never touched. :func:`_img` turns a figure into a base64 PNG ``<img>``.
"""

from __future__ import annotations

import base64
import html
import io
import math
from typing import Any

import numpy as np

DPI = 80
_MAX_LINE_POINTS = 3000


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
