"""
The feature-summaries section: histograms of ON/OFF index, baseline rate and quality, and a per-unit table.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from txpipe.report.data import ReportData
from txpipe.report.draw import _figure, _img, _small, _text
from txpipe.report.page import _na

_FEATURE_HISTS = (  # (feature, key, title, unit, histogram range or None)
    ("step_response", "on_off_index", "ON/OFF index (step_response)", "1", (-1.0, 1.0)),
    ("baseline_127", "mean_firing_rate", "baseline rate (baseline_127)", "spikes/s", None),
    ("baseline_127", "quality_index", "quality (baseline_127)", "0…1", (0.0, 1.0)),
)


def _features(data: ReportData, table: list[dict[str, Any]]) -> str:
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
