"""The lab's ``hdmea.features.sta.compute_sta``, mapped onto txpipe's ``compute_sta`` step."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import txpipe
from txpipe.compat.hdmea import config
from txpipe.compat.hdmea.defaults import step_default
from txpipe.compat.hdmea.ignored import note_ignored
from txpipe.compat.hdmea.results import STAResult



def compute_sta(
    hdf5_path: Any = None,
    *,
    cover_range: tuple[int, int] = step_default("compute_sta", "cover_range"),
    use_multiprocessing: bool = True,
    stimuli_dir: Any = None,
    force: bool = False,
    session: Any = None,
) -> STAResult | Any:
    """
    Spike-triggered average of the dense-noise movie for every unit (txpipe's ``compute_sta``).

    ``cover_range``: (c0, c1) display frames; the window is frames f+c0 … f+c1−1 of a spike in
    frame f. ``stimuli_dir``: folder of ``{movie}.npy``; default: the ``stimuli_dir`` setting
    (``TXPIPE_STIMULI_DIR`` or the config file); set nowhere, a ConfigurationError names it.
    ``use_multiprocessing`` has no effect (txpipe's STA is one vectorised pass, no worker
    processes); ``force`` has no effect (the STA is always recomputed and replaced, never
    silently kept).

    Returns an :class:`STAResult`, or the session given ``session=``.
    """
    fn = "compute_sta"
    note_ignored(fn, "use_multiprocessing", use_multiprocessing, True, "txpipe's STA is one vectorised pass")
    note_ignored(fn, "force", force, False, "txpipe always recomputes and replaces the STA")
    sdir = config.resolve("stimuli_dir", stimuli_dir, function=fn, argument="stimuli_dir")
    t0 = time.perf_counter()
    r = txpipe.compute_sta(hdf5_path, cover_range=cover_range, stimuli_dir=sdir, session=session)
    if session is not None:
        return r
    return STAResult(None if r.hdf5_path is None else Path(r.hdf5_path), r.movie_name, r.units_processed, 0,
                     tuple(r.cover_range), round(time.perf_counter() - t0, 6), list(r.warnings), [])


__all__ = ["compute_sta"]
