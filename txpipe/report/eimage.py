"""
The electrical-image section: per unit with ``features/eimage_sta``, the minimum projection over
lags (ADC counts, the unit's sensor marked) and the propagation map (time of the minimum per
sensor in ms relative to the spike, shown only where the minimum stands out from the noise).
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

from txpipe.report.data import ReportData
from txpipe.report.draw import _figure, _img
from txpipe.report.page import _na

EIMAGES_PER_PAGE = 16
"""Units drawn in one image: 4 rows of 4 units × 2 panels."""
NOISE_FACTOR = 6.0
"""The propagation map shows sensors whose minimum is below NOISE_FACTOR × the robust noise of the
minimum projection (median absolute deviation × 1.4826) and below 5 % of the unit's trough."""


def propagation_mask(proj: np.ndarray) -> np.ndarray:
    """Sensors whose minimum over lags stands out: ``proj < -max(k·σ, 0.05·|trough|)`` with σ the
    robust spread of *proj* (ADC counts)."""
    med = float(np.median(proj))
    sigma = 1.4826 * float(np.median(np.abs(proj - med)))
    return proj - med < -max(NOISE_FACTOR * sigma, 0.05 * abs(float(proj.min()) - med))


def _eimages(data: ReportData, table: list[dict[str, Any]], max_units: int | None) -> str:
    have = [info for info in table if data.has(f"units/{info['id']}/features/eimage_sta/data")]
    if not have:
        return _na("electrical images", "compute_eimage_sta", data)
    shown = have if max_units is None else have[: max(0, int(max_units))]
    a0 = data.attrs(f"units/{shown[0]['id']}/features/eimage_sta/data") if shown else {}
    fs = float(a0.get("acquisition_rate_hz") or data.fs or 20000.0)
    lag0 = int(a0.get("lag0_index", 10))
    intro = (f"<p>Electrical images of {len(shown)} of {len(table)} units (window {a0.get('window_samples', '?')} "
             f"samples, high-pass {a0.get('cutoff_hz', '?')} Hz). Left: minimum over lags of the spike-triggered "
             "average (ADC counts), the unit's sensor marked ×. Right: time of that minimum (ms after the spike) on "
             "the sensors where it stands out from the noise: the spike's propagation along the axon.</p>")
    pages = []
    for p0 in range(0, len(shown), EIMAGES_PER_PAGE):
        block = shown[p0:p0 + EIMAGES_PER_PAGE]
        ncols = 4
        nrows = int(math.ceil(len(block) / ncols))
        h_in = 2.1 * nrows + 0.2
        fig = _figure(16.0, h_in)
        gs = fig.add_gridspec(nrows, 2 * ncols, left=0.01, right=0.99, top=1 - 0.25 / h_in, bottom=0.1 / h_in,
                              wspace=0.08, hspace=0.35)
        for j, info in enumerate(block):
            uid = info["id"]
            img = np.asarray(data.get(f"units/{uid}/features/eimage_sta/data"), np.float64)
            a = data.attrs(f"units/{uid}/features/eimage_sta/data")
            r, c = divmod(j, ncols)
            ax1 = fig.add_subplot(gs[r, 2 * c])
            ax2 = fig.add_subplot(gs[r, 2 * c + 1])
            for ax in (ax1, ax2):
                ax.set_xticks([])
                ax.set_yticks([])
            n_sp = int(a.get("n_spikes", 0))
            if n_sp == 0 or not np.isfinite(img).any():
                ax1.text(0.5, 0.5, f"{uid}: no spike in the window", ha="center", va="center", fontsize=7,
                         transform=ax1.transAxes)
                ax2.set_visible(False)
                continue
            proj = img.min(axis=0)
            im1 = ax1.imshow(proj, cmap="magma", interpolation="nearest")
            row, col = info.get("row"), info.get("col")
            if row is not None and col is not None:
                ax1.plot([int(col) - 1], [int(row) - 1], marker="x", color="cyan", ms=6, mew=1.5)
            ax1.set_title(f"{uid} ({n_sp} spikes) min {proj.min():.0f}", fontsize=7, pad=2)
            fig.colorbar(im1, ax=ax1, fraction=0.045, pad=0.02).ax.tick_params(labelsize=5)
            t_ms = (np.argmin(img, axis=0) - lag0) / fs * 1e3
            t_ms = np.ma.masked_where(~propagation_mask(proj), t_ms)
            im2 = ax2.imshow(t_ms, cmap="viridis", interpolation="nearest",
                             vmin=0.0, vmax=max(0.5, float(t_ms.max()) if t_ms.count() else 1.0))
            ax2.set_facecolor("#eeeeee")
            if row is not None and col is not None:
                ax2.plot([int(col) - 1], [int(row) - 1], marker="x", color="red", ms=5, mew=1.2)
            ax2.set_title("time of minimum (ms)", fontsize=7, pad=2)
            fig.colorbar(im2, ax=ax2, fraction=0.045, pad=0.02).ax.tick_params(labelsize=5)
        label = f"electrical images {p0 + 1}–{p0 + len(block)}: {block[0]['id']} … {block[-1]['id']}"
        pages.append(f'<div class="unit-page" id="eimage-p{len(pages) + 1}"><h3>{html.escape(label)}</h3>'
                     f"{_img(fig, label)}</div>")
    return intro + "".join(pages)
