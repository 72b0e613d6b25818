"""
Step 2b, ``add_section_time_analog``: sections from light steps on the light reference.

Onsets are rising edges of ``raw_ch1``: sample-to-sample increases above ``threshold`` (ADC
counts, the lab's unit), grouped per edge, reported at the edge's first high sample (the lab
reported the sample before), and thinned to at least ``min_distance_s`` apart (the lab had no
minimum distance; its production config used 0.8 × plot_duration, our default). Each kept onset
opens a section ``[onset, onset + round(plot_duration · fs)]`` in samples. Writes
``/stimulus/section_time/{movie_name}`` (int64 (n, 2), attrs ``kind="analog"`` and the parameters)
and ``/stimulus/light_template/{movie_name}`` from the same onsets; replaces only that movie.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import structlog

from txpipe.core.changes import Changes
from txpipe.errors import ConfigurationError, ParameterError, RecordingTooShortError, StepError
from txpipe.mcs.frames import rising_edges, thin_edges
from txpipe.core.paths import ACQUISITION_RATE, LIGHT_REFERENCE, LIGHT_TEMPLATE, SECTION_TIME
from txpipe.core.params import Param
from txpipe.core.session import PipelineSession
from txpipe.core.step import step
from txpipe.steps.classic import classic
from txpipe.steps.add_section_time import SectionTimeResult, frame_timestamps_or_raise, mean_template

log = structlog.get_logger("txpipe")

MIN_DISTANCE_FRACTION = 0.8  # default min_distance_s = 0.8 × plot_duration (the lab's production config)


def _check_threshold(v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise ParameterError(f"add_section_time_analog: threshold must be a positive number of ADC counts per sample, got {v!r}")


def _check_movie_name(v: Any) -> None:
    if not isinstance(v, str) or not v or "/" in v:
        raise ConfigurationError(f"add_section_time_analog: movie_name must be a non-empty name without '/', got {v!r}")


def _check_plot_duration(v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise ParameterError(f"add_section_time_analog: plot_duration must be a positive number of seconds, got {v!r}")


def _check_repeat(v: Any) -> None:
    if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
        raise ParameterError(f"add_section_time_analog: repeat must be None or an int >= 1, got {v!r}")


def _check_min_distance(v: Any) -> None:
    if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0):
        raise ParameterError(f"add_section_time_analog: min_distance_s must be None or a number of seconds >= 0, got {v!r}")


@step("add_section_time_analog", version="1", requires=("load_recording",), method=True)
def add_section_time_analog_step(
    state: Any,
    threshold: float = Param(unit="ADC counts per sample", help="minimum sample-to-sample rise of raw_ch1",
                             check=_check_threshold),
    movie_name: str = Param("iprgc_test", help="section name", check=_check_movie_name),
    plot_duration: float = Param(120.0, unit="s", help="section length", check=_check_plot_duration),
    repeat: int | None = Param(None, help="keep only the first REPEAT onsets", check=_check_repeat),
    *,
    min_distance_s: float | None = Param(None, unit="s", help="minimum onset spacing (default 0.8 x plot_duration)",
                                         check=_check_min_distance),
    after_last_frame: bool = Param(False, help="search only after the last display frame"),
    lenient: bool = Param(False, help="skip sections past the end instead of failing"),
) -> Changes:
    """
    Sections at the light-reference onsets (lab §2.4, fixed as W-D13 asks).

    Args:
        threshold: minimum sample-to-sample rise of ``raw_ch1``, ADC counts.
        movie_name: key under ``section_time`` / ``light_template``.
        plot_duration: section length, s.
        repeat: keep only the first *repeat* onsets (sections and template); None: all.
        min_distance_s: minimum spacing of onsets, s; None: 0.8 × plot_duration.
        after_last_frame: search only after the last display frame (the lab's production variant).
        lenient: False: an onset whose section runs past the end is an error; True: it is skipped
            (WARNING ``section_skipped``, noted in the journal).

    Raises:
        ParameterError, ConfigurationError: bad parameters. StepError: no onset found.
        RecordingTooShortError: a section past the last sample. FrameSyncError: after_last_frame
        without frame timestamps.
    """
    raw = state[LIGHT_REFERENCE / "raw_ch1"]
    fs = float(state[ACQUISITION_RATE])
    n = raw.shape[0]
    min_dist_s = MIN_DISTANCE_FRACTION * plot_duration if min_distance_s is None else float(min_distance_s)
    onsets = rising_edges(raw, float(threshold))
    search_from = 0
    if after_last_frame:
        search_from = int(frame_timestamps_or_raise(state, "add_section_time_analog")[-1]) + 1
        onsets = onsets[onsets >= search_from]
    onsets = thin_edges(onsets, int(round(min_dist_s * fs)))
    n_detected = int(onsets.size)
    if n_detected == 0:
        raise StepError(
            f"add_section_time_analog: no rise of raw_ch1 above {threshold:g} ADC counts per sample"
            f"{f' after sample {search_from}' if search_from else ''}; lower the threshold or check the light reference"
        )
    warnings = []
    if repeat is not None:
        if n_detected < repeat:
            warnings.append(f"repeat={repeat} asked, only {n_detected} onset(s) found")
        onsets = onsets[:repeat]
    dur = int(round(plot_duration * fs))
    ends = onsets + dur
    too_long = ends > n - 1
    skipped = []
    if np.any(too_long):
        if not lenient:
            raise RecordingTooShortError(
                f"add_section_time_analog: {int(too_long.sum())} section(s) of {plot_duration:g} s starting at sample(s) "
                f"{onsets[too_long][:5].tolist()} run past the last sample {n - 1}; the recording is too short "
                "(pass lenient=True to skip them, or a shorter plot_duration)"
            )
        skipped = [{"movie": movie_name, "onset_sample": int(o), "reason": f"section ends after sample {n - 1}"} for o in onsets[too_long]]
        onsets, ends = onsets[~too_long], ends[~too_long]
        if onsets.size == 0:
            raise RecordingTooShortError(f"add_section_time_analog: every section of {plot_duration:g} s runs past the last sample {n - 1}")
    bounds = np.column_stack([onsets, ends]).astype(np.int64)
    attrs: dict[str, Any] = {"unit": "sample_index", "kind": "analog", "onset": "first_high_sample", "threshold": float(threshold),
                             "plot_duration_s": float(plot_duration), "min_distance_s": min_dist_s, "n_detected": n_detected,
                             "after_last_frame": bool(after_last_frame)}
    if repeat is not None:
        attrs["repeat"] = int(repeat)
    ch = Changes()
    ch.put(SECTION_TIME / movie_name, bounds, **attrs)
    ch.put(LIGHT_TEMPLATE / movie_name, mean_template(raw, bounds), unit="adc_counts", source="raw_ch1",
           n_occurrences=int(bounds.shape[0]), occurrence_lengths=bounds[:, 1] - bounds[:, 0])
    for w in warnings:
        log.warning("add_section_time_analog_warning", movie=movie_name, message=w)
    for s in skipped:
        log.warning("section_skipped", step="add_section_time_analog", **s)
    ch.note(movies=[movie_name], n_sections=int(bounds.shape[0]), n_detected=n_detected, skipped=skipped, warnings=warnings)
    return ch


def _replaced(session: PipelineSession, params: dict[str, Any]) -> list[str]:
    return [f"section_time/{params['movie_name']}"] if str(SECTION_TIME / params["movie_name"]) in session.state else []


@classic(add_section_time_analog_step, guard=_replaced)
def add_section_time_analog(s: PipelineSession, params: dict[str, Any], seconds: float) -> SectionTimeResult:
    """
    Classic ``add_section_time_analog`` on an HDF5 file; takes the step's parameters (see
    :func:`add_section_time_analog_step`).

    ``force=False`` refuses to replace an existing ``section_time/{movie_name}`` of the file
    (FileExistsError); ``defer_save=True`` returns the DEFERRED session; ``session=s`` runs on *s*.
    """
    notes = s.journal[-1].notes
    ws = list(notes["warnings"]) + [f"skipped onset at sample {k['onset_sample']}: {k['reason']}" for k in notes["skipped"]]
    return SectionTimeResult(s.hdf5_path, (params["movie_name"],), int(notes["n_sections"]), ws)


__all__ = ["add_section_time_analog", "add_section_time_analog_step"]
