"""
Analysis-ready views of a txpipe file: :func:`units` → pandas DataFrame, :func:`sta` → xarray
DataArray. Both need the ``analysis`` extra (``pip install -e '.[analysis]'`` in the txpipe clone).

Units: positions in µm on the chip (x along columns, y along rows, sensor (1, 1) at 0), rates in
spikes/s, STA values in movie pixel units (0–255) with lags in display frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from txpipe.errors import ConfigurationError
from txpipe.export.extras import require
from txpipe.export.source import TxpipeFile, feature_column
from txpipe.mcs.chip import SENSOR_PITCH_UM, sensor_positions_um

EXTRA = "analysis"


def units(path: str | Path, *, pitch_um: float = SENSOR_PITCH_UM) -> Any:
    """
    One row per unit of a txpipe file, indexed by unit id (``unit_001`` …).

    Columns: ``unit_num``, ``sensor_id``, ``row``, ``col`` (1-based chip position), ``x_um``,
    ``y_um`` (sensor centre, µm), ``spike_count``, ``n_excluded_peaks``, ``mean_rate_hz``
    (spike_count / recording duration, spikes/s), the spike sorter's quality measures (``SNR``,
    ``RSTD`` …) and every scalar feature as ``{feature}_{output}`` (e.g.
    ``step_response_on_off_index``; NaN for units without it).

    Raises:
        MissingExtraError: pandas is not installed.
        NotATxpipeFileError / FileNotFoundError: not a complete txpipe file.
    """
    pd = require("pandas", EXTRA, "txpipe.read.units")
    pos = sensor_positions_um(pitch_um)
    rows: list[dict[str, Any]] = []
    with TxpipeFile(path) as src:
        duration = src.duration_s()
        for uid in src.unit_ids():
            a = src.unit_attrs(uid)
            r: dict[str, Any] = {"unit_id": uid, **a}
            sid = a.get("sensor_id")
            if sid is not None:
                r["x_um"], r["y_um"] = float(pos[sid - 1, 0]), float(pos[sid - 1, 1])
            r["mean_rate_hz"] = a.get("spike_count", 0) / duration if duration else float("nan")
            for k, v in src.unit_info(uid).items():
                if k not in ("UnitID", "SensorID", "Row", "Column") and isinstance(v, (int, float)):
                    r[k] = v
            for feature, key, value, _ in src.features(uid):
                if value.ndim == 0:
                    r[feature_column(feature, key)] = value.item()
            rows.append(r)
    df = pd.DataFrame(rows)
    return df.set_index("unit_id") if rows else df


def sta(path: str | Path, movie: str | None = None) -> Any:
    """
    The spike-triggered averages of a txpipe file as one DataArray.

    Dimensions ``("unit", "lag", "stim_row", "stim_col")``: ``unit`` = unit ids, ``lag`` = display
    frames relative to the spike's frame (``cover_range[0] … cover_range[1] − 1``), ``stim_row`` /
    ``stim_col`` = movie pixel indices. Coordinate ``n_spikes_used`` (per unit); attributes
    ``movie``, ``units``, ``cover_range``. Values in movie pixel units; all-NaN for a unit
    without usable spikes.

    Args:
        movie: which noise movie; may be omitted when the file holds STAs of one movie only.

    Raises:
        MissingExtraError: xarray is not installed.
        ConfigurationError: no STA in the file, several movies and none chosen, or an unknown movie.
    """
    xr = require("xarray", EXTRA, "txpipe.read.sta")
    with TxpipeFile(path) as src:
        found: dict[str, dict[str, tuple[np.ndarray, dict[str, Any]]]] = {}
        for uid in src.unit_ids():
            for feature, key, value, attrs in src.features(uid):
                if feature.startswith("sta_") and key == "sta":
                    found.setdefault(feature[4:], {})[uid] = (value, attrs)
    if not found:
        raise ConfigurationError(f"{path}: no STA in the file (run compute_sta first)")
    if movie is None:
        if len(found) > 1:
            raise ConfigurationError(f"{path}: STAs of several movies {sorted(found)}; choose one with movie=")
        movie = next(iter(found))
    if movie not in found:
        raise ConfigurationError(f"{path}: no STA of movie {movie!r}; the file has {sorted(found)}")
    per_unit = found[movie]
    uids = list(per_unit)
    first_value, first_attrs = per_unit[uids[0]]
    cr = first_attrs.get("cover_range")
    lag0 = int(cr[0]) if cr is not None else 0
    data = np.stack([per_unit[u][0] for u in uids]).astype(np.float32, copy=False)
    _, w, h, wd = data.shape
    return xr.DataArray(
        data,
        dims=("unit", "lag", "stim_row", "stim_col"),
        coords={"unit": uids, "lag": np.arange(lag0, lag0 + w), "stim_row": np.arange(h), "stim_col": np.arange(wd),
                "n_spikes_used": ("unit", np.array([int(per_unit[u][1].get("n_spikes_used", -1)) for u in uids]))},
        name=f"sta_{movie}",
        attrs={"movie": movie, "units": "movie pixel units (0-255)", "lag_units": "display frames",
               "cover_range": [lag0, lag0 + w]},
    )


__all__ = ["sta", "units"]
