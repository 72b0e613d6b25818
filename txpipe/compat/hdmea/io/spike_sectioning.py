"""
The lab's ``hdmea.io.spike_sectioning.section_spike_times``, mapped onto txpipe's step of the
same name.
"""

from __future__ import annotations

import warnings as _warnings
from pathlib import Path
from typing import Any

import txpipe
from txpipe.compat.hdmea import config
from txpipe.compat.hdmea.defaults import step_default
from txpipe.compat.hdmea.ignored import note_ignored
from txpipe.compat.hdmea.results import SectionResult

LAB_TRIAL_REPEATS = 3


def section_spike_times(
    hdf5_path: Any = None,
    *,
    movie_names: list[str] | None = None,
    trial_repeats: int = LAB_TRIAL_REPEATS,
    pad_margin: tuple[float, float] = step_default("section_spike_times", "pad_margin"),
    force: bool = False,
    config_dir: Any = None,
    session: Any = None,
) -> SectionResult | Any:
    """
    Spikes per trial of each sectioned movie (txpipe's ``section_spike_times``).

    ``pad_margin``: (before, after) padding of each trial, s (rounded to samples).
    ``movie_names``: None: every sectioned movie (analog sections included; they need no config).
    ``config_dir``: folder of ``{movie}.json``; default: the ``stimulus_config_dir`` setting
    (``TXPIPE_STIMULUS_CONFIG_DIR`` or the config file), else the lab's configs shipped with
    txpipe. ``trial_repeats`` is deprecated and ignored, as in the lab (the configs say how many
    trials there are): another value than 3 gives a DeprecationWarning. ``force=False`` refuses
    to replace a movie already sectioned (FileExistsError); ``force=True`` replaces only the
    movies processed.

    Returns a :class:`SectionResult`, or the session given ``session=``.
    """
    fn = "section_spike_times"
    if trial_repeats != LAB_TRIAL_REPEATS:
        _warnings.warn("section_spike_times: trial_repeats is deprecated and ignored; the stimulus configs give the trial "
                       "count", DeprecationWarning, stacklevel=2)
    note_ignored(fn, "trial_repeats", trial_repeats, LAB_TRIAL_REPEATS, "the stimulus configs give the trial count")
    cdir = config.resolve("stimulus_config_dir", config_dir, function=fn, argument="config_dir", required=False)
    r = txpipe.section_spike_times(hdf5_path, pad_margin=pad_margin, movie_names=movie_names, config_dir=cdir, force=force,
                                   session=session)
    if session is not None:
        return r
    pre_s, post_s = r.pad_margin
    return SectionResult(True, r.units_processed, list(r.movies_processed), trial_repeats, (pre_s, post_s),
                         r.pre_samples, r.post_samples, list(r.warnings))


__all__ = ["section_spike_times"]
