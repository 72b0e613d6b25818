"""
Step 3, ``section_spike_times``: spikes per trial of each sectioned movie.

Trial boundaries of a playlist movie come from its stimulus JSON config (display frames from the
movie's first content frame, :mod:`txpipe.mcs.stimulus_config`), the content start being the first
frame of the section plus the ``pre_margin_frame_num`` that ``add_section_time`` actually used
(stored on the section). Any occurrence of a repeated movie can be chosen, or all of them;
a trial past the last display frame is an error, never a saturated boundary. For an
analog section (``add_section_time_analog``) each section row is one trial.

Per unit and movie it writes ``/units/{id}/spike_times_sectioned/{movie}/`` with
``full_spike_times`` int64 (sorted, unique), ``trials_start_end`` int64 (n_trials, 2) unpadded
samples and ``trials_spike_times`` ``{0: arr, 1: arr, …}`` (int keys: numeric order survives a
save), spikes in ``[start − pre, end + post)``; group attrs n_trials, pad_margin, pre_samples,
post_samples, occurrence, kind. Re-running replaces only the movies it processes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from txpipe.core.changes import Changes
from txpipe.errors import ConfigurationError, InputFileError, ParameterError, StepError
from txpipe.core.fingerprint import file_fingerprint
from txpipe.mcs.frames import frames_to_samples
from txpipe.core.paths import ACQUISITION_RATE, METADATA, SECTION_TIME, UNITS
from txpipe.core.params import Param, as_names, as_path, as_tuple
from txpipe.core.session import PipelineSession
from txpipe.core.step import step
from txpipe.steps.classic import classic
from txpipe.mcs.stimulus_config import StimulusConfig, load_configs
from txpipe.steps.add_section_time import content_start_frames, frame_timestamps_or_raise

log = structlog.get_logger("txpipe")


@dataclass(frozen=True)
class SectionResult:
    """What a classic ``section_spike_times`` call wrote."""

    hdf5_path: Path
    units_processed: int
    movies_processed: tuple[str, ...]
    pad_margin: tuple[float, float]
    pre_samples: int
    post_samples: int
    warnings: list[str] = field(default_factory=list)


def check_pad_margin(pad_margin: Any, duration_s: float) -> tuple[float, float]:
    """(pre_s, post_s) as floats, or ParameterError for anything negative, non-finite or longer
    than the recording (*duration_s*)."""
    if isinstance(pad_margin, (str, bytes)) or not hasattr(pad_margin, "__len__") or len(pad_margin) != 2:
        raise ParameterError(f"pad_margin must be a pair (pre_s, post_s) in seconds, got {pad_margin!r}")
    out = []
    for name, v in zip(("pre", "post"), pad_margin):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
            raise ParameterError(f"pad_margin {name} must be a finite number of seconds, got {v!r}")
        if v < 0:
            raise ParameterError(f"pad_margin {name} must be >= 0 s, got {v!r}")
        if v > duration_s:
            raise ParameterError(f"pad_margin {name} = {v!r} s is longer than the whole recording ({duration_s:g} s)")
        out.append(float(v))
    return out[0], out[1]


def trial_bounds_playlist(content_start: np.ndarray, cfg: StimulusConfig, ft: np.ndarray, occurrences: list[int],
                          movie: str) -> np.ndarray:
    """
    Trial boundaries (samples, int64 (n, 2)) of the chosen occurrences of a playlist movie, from
    the first content frame of each occurrence (:func:`content_start_frames`).

    Raises:
        RecordingTooShortError: a trial reaches past the last display frame.
    """
    parts = []
    for o in occurrences:
        fr = cfg.trial_frames(int(content_start[o]))
        parts.append(frames_to_samples(fr, ft, what=f"movie {movie!r} occurrence {o} trials (config {cfg.path})"))
    return np.concatenate(parts).astype(np.int64)


def section_unit(spikes: np.ndarray, bounds: np.ndarray, pre: int, post: int) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """
    Spikes of one unit per trial, ``[start − pre, end + post)`` (start − pre floored at 0).

    Returns:
        (full_spike_times int64 sorted unique, {trial: int64 spikes}).
    """
    s = np.asarray(spikes).astype(np.int64)
    if s.size > 1 and np.any(s[1:] < s[:-1]):
        s = np.sort(s)
    lo = np.maximum(bounds[:, 0] - pre, 0)
    hi = bounds[:, 1] + post
    i0 = np.searchsorted(s, lo, side="left")
    i1 = np.searchsorted(s, hi, side="left")
    trials = {k: s[a:b].copy() for k, (a, b) in enumerate(zip(i0.tolist(), i1.tolist()))}
    if not trials:
        return np.zeros(0, np.int64), trials
    return np.unique(np.concatenate(list(trials.values()))), trials


def _check_occurrence(v: Any) -> None:
    if not (v == "all" or (isinstance(v, int) and not isinstance(v, bool) and v >= 0)):
        raise ParameterError(f"occurrence must be an int >= 0 or 'all', got {v!r}")


def _check_movie_names(v: Any) -> None:
    if v is not None and not (isinstance(v, list) and all(isinstance(m, str) and m for m in v)):
        raise ParameterError(f"section_spike_times: movie_names must be None or a list of movie names, got {v!r}")


def _preflight(params: dict[str, Any]) -> None:
    """The config folder exists; the configs of the named movies load."""
    if params["config_dir"] is not None and not Path(params["config_dir"]).is_dir():
        raise InputFileError(f"{params['config_dir']}: stimulus config folder not found", path=params["config_dir"])
    if params["movie_names"] is not None:
        load_configs(params["movie_names"], params["config_dir"])


@step("section_spike_times", version="1", requires=(("add_section_time", "add_section_time_analog"),), method=True,
      preflight=_preflight)
def section_spike_times_step(
    state: Any,
    pad_margin: tuple[float, float] = Param((0.0, 0.0), unit="s", help="time kept before and after each trial (PRE POST)",
                                            normalize=as_tuple(float, 2), check=lambda v: check_pad_margin(v, math.inf)),
    movie_names: list[str] | None = Param(None, help="movies to section (default: every sectioned movie)",
                                          normalize=as_names, check=_check_movie_names),
    config_dir: str | None = Param(None, help="stimulus JSON configs (default: the lab configs shipped with txpipe)",
                                   normalize=as_path),
    occurrence: int | str = Param(0, help="occurrence of a repeated movie (0 = first) or 'all'", check=_check_occurrence),
) -> Changes:
    """
    Spikes per trial and combined, for every unit and each movie (lab §3, weaknesses fixed).

    Args:
        pad_margin: (pre_s, post_s) padding around each trial, s; converted with round(s · fs).
        movie_names: movies to process; None: every movie in ``section_time``.
        config_dir: folder of ``{movie}.json`` configs; None: the lab configs shipped with txpipe.
        occurrence: which occurrence of a repeated playlist movie (0 = first, the lab's choice),
            or ``"all"`` for the trials of every occurrence in playlist order.

    Raises:
        ParameterError: bad pad_margin or occurrence. ConfigurationError: an unknown movie, an
        occurrence the movie does not have. InputFileError: missing or invalid configs (all
        listed). RecordingTooShortError: a trial past the last display frame.
    """
    fs = float(state[ACQUISITION_RATE])
    duration_s = float(state.get(METADATA / "recording_duration_s", float("inf")))
    pre_s, post_s = check_pad_margin(pad_margin, duration_s)
    pre, post = int(round(pre_s * fs)), int(round(post_s * fs))
    if SECTION_TIME not in state or not state.keys(SECTION_TIME):
        raise StepError("section_spike_times: the state has no section_time; run add_section_time or add_section_time_analog first")
    available = state.keys(SECTION_TIME)
    if movie_names is None:
        movies = list(available)
    else:
        unknown = [m for m in movie_names if m not in available]
        if unknown:
            raise ConfigurationError(f"section_spike_times: movie(s) {unknown} have no section_time; available: {available}")
        movies = list(dict.fromkeys(movie_names))
    kinds = {m: state.attrs(SECTION_TIME / m).get("kind", "playlist") for m in movies}
    configs = load_configs([m for m in movies if kinds[m] != "analog"], config_dir)

    ft = frame_timestamps_or_raise(state, "section_spike_times") if configs else np.zeros(0, np.int64)
    bounds_by_movie: dict[str, np.ndarray] = {}
    for m in movies:
        section = np.asarray(state[SECTION_TIME / m], np.int64).reshape(-1, 2)
        if kinds[m] == "analog":
            bounds_by_movie[m] = section
            continue
        n_occ = section.shape[0]
        if occurrence == "all":
            occ = list(range(n_occ))
        elif occurrence >= n_occ:
            raise ConfigurationError(f"section_spike_times: movie {m!r} has {n_occ} occurrence(s) (0..{n_occ - 1}); occurrence={occurrence} asked")
        else:
            occ = [int(occurrence)]
        bounds_by_movie[m] = trial_bounds_playlist(content_start_frames(state, m, ft), configs[m], ft, occ, m)

    ch = Changes()
    units = state.keys(UNITS) if UNITS in state else []
    for uid in state.progress(units, unit="unit"):
        spikes = state[UNITS / uid / "spike_times"]
        for m, bounds in bounds_by_movie.items():
            full, trials = section_unit(spikes, bounds, pre, post)
            g = UNITS / uid / "spike_times_sectioned" / m
            ch.delete(g, missing_ok=True)
            ch.put(g / "full_spike_times", full, unit="sample_index")
            ch.put(g / "trials_start_end", bounds, unit="sample_index")
            ch.put(g / "trials_spike_times", trials)
            attrs: dict[str, Any] = {"n_trials": int(bounds.shape[0]), "pad_margin": np.array([pre_s, post_s], np.float64),
                                     "pre_samples": pre, "post_samples": post, "kind": kinds[m],
                                     "occurrence": occurrence if kinds[m] != "analog" else "all"}
            if m in configs:
                attrs["config_digest"] = configs[m].digest
            ch.set_attrs(g, **attrs)
    for cfg in configs.values():
        ch.add_input(file_fingerprint(cfg.path, cfg.digest))
    ch.note(units_processed=len(units), movies=movies, pre_samples=pre, post_samples=post,
            n_trials={m: int(b.shape[0]) for m, b in bounds_by_movie.items()})
    log.info("spikes_sectioned", n_units=len(units), movies=movies, pre_samples=pre, post_samples=post)
    return ch


def _replaced(session: PipelineSession, params: dict[str, Any]) -> list[str]:
    st = session.state
    wanted = params["movie_names"] if params["movie_names"] is not None else (st.keys(SECTION_TIME) if SECTION_TIME in st else [])
    movies = sorted({m for u in session.units for m in wanted if str(UNITS / u / "spike_times_sectioned" / m) in st})
    return [f"spike_times_sectioned/{m}" for m in movies]


@classic(section_spike_times_step, guard=_replaced)
def section_spike_times(s: PipelineSession, params: dict[str, Any], seconds: float) -> SectionResult:
    """
    Classic ``section_spike_times`` on an HDF5 file; takes the step's parameters (see
    :func:`section_spike_times_step`).

    ``force=False`` (the lab's default) refuses to replace a movie some unit already has
    sectioned (FileExistsError naming the movies); ``force=True`` replaces only the movies
    processed. ``defer_save=True`` returns the DEFERRED session; ``session=s`` runs on *s*.
    """
    notes = s.journal[-1].notes
    pre_s, post_s = params["pad_margin"]
    return SectionResult(s.hdf5_path, int(notes["units_processed"]), tuple(notes["movies"]), (pre_s, post_s),
                         int(notes["pre_samples"]), int(notes["post_samples"]), [])


__all__ = ["SectionResult", "check_pad_margin", "section_spike_times", "section_spike_times_step", "section_unit"]
