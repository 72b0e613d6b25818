"""
Step 2, ``add_section_time``: movie sections from the playlist (the lab's frame arithmetic).

For every movie of the playlist (repeated ``repeats`` times) the lab's frame arithmetic gives
``[content_start − pre_margin, content_start + L + post_margin + 1]`` in display frames; the
frame timestamps turn them into samples. Writes, per movie, ``/stimulus/section_time/{movie}``
int64 (n_occurrences, 2) samples (every occurrence, playlist order; leaf attrs record how) and
``/stimulus/light_template/{movie}`` float32, the NaN-mean of ``raw_ch1`` over the occurrences.
Only the movies of this playlist are replaced; other movies' sections stay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from txpipe.mcs import playlist as pl
from txpipe.core.changes import Changes
from txpipe.errors import ConfigurationError, FrameSyncError, RecordingTooShortError
from txpipe.core.fingerprint import file_fingerprint, value_digest
from txpipe.mcs.frames import floor_frame, frames_to_samples
from txpipe.core.paths import FRAME_TIMESTAMPS, LIGHT_REFERENCE, LIGHT_TEMPLATE, SECTION_TIME
from txpipe.core.params import Param, as_path
from txpipe.core.session import PipelineSession
from txpipe.core.step import step
from txpipe.steps.classic import classic

log = structlog.get_logger("txpipe")


@dataclass(frozen=True)
class SectionTimeResult:
    """What a classic ``add_section_time`` / ``add_section_time_analog`` call wrote."""

    hdf5_path: Path
    movies: tuple[str, ...]
    n_sections: int
    warnings: list[str] = field(default_factory=list)


def mean_template(trace: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """
    NaN-mean of ``trace[s0:s1]`` over the rows of *bounds* (samples), aligned at s0.

    The result is as long as the longest segment; a position is averaged over the segments that
    reach it. Vectorised (one (n, L_max) float32 buffer).

    Returns:
        float32 (L_max,).
    """
    b = np.asarray(bounds, np.int64).reshape(-1, 2)
    lens = np.clip(b[:, 1] - b[:, 0], 0, None)
    if b.shape[0] == 0 or lens.max(initial=0) == 0:
        return np.zeros(0, np.float32)
    if b.shape[0] == 1:
        return np.asarray(trace[b[0, 0] : b[0, 1]], np.float32).copy()
    L = int(lens.max())
    total = np.zeros(L, np.float64)
    count = np.zeros(L, np.int64)
    for (s0, _), n in zip(b, lens):  # one slice per occurrence, no per-sample work
        total[:n] += trace[s0 : s0 + n]
        count[:n] += 1
    return (total / count).astype(np.float32)


def frame_timestamps_or_raise(state: Any, step_name: str) -> np.ndarray:
    """The frame timestamps (int64) or FrameSyncError naming *step_name*."""
    ft = state.get(FRAME_TIMESTAMPS)
    if ft is None or np.asarray(ft).size == 0:
        raise FrameSyncError(
            f"{step_name}: the recording has no display-frame timestamps ({FRAME_TIMESTAMPS} is "
            f"{'missing' if ft is None else 'empty'}: load_recording found no frame-sync pulses)"
        )
    return np.asarray(ft).astype(np.int64)


def _check_playlist_name(v: Any) -> None:
    if not isinstance(v, str) or not v:
        raise ConfigurationError(f"add_section_time: playlist_name must be a non-empty str, got {v!r}")


def content_start_frames(state: Any, movie: str, ft: np.ndarray) -> np.ndarray:
    """
    First content display frame of each occurrence of *movie*, int64 (n_occurrences,): the one
    rule every step uses.

    Playlist sections record them (attribute ``content_start_frames``); a section without it
    gives ``floor_frame(section start) + pre_margin_frame_num`` (the margin it recorded); an
    analog section's content starts at its onset.

    Raises:
        ConfigurationError: a playlist section recording neither (not made by add_section_time).
    """
    sections = np.asarray(state[SECTION_TIME / movie], np.int64).reshape(-1, 2)
    a = state.attrs(SECTION_TIME / movie)
    cs = a.get("content_start_frames")
    if cs is not None and np.size(cs) == sections.shape[0]:
        return np.asarray(cs, np.int64).reshape(-1)
    if a.get("kind") == "analog":
        margin = 0
    elif "pre_margin_frame_num" in a:
        margin = int(a["pre_margin_frame_num"])
    else:
        raise ConfigurationError(
            f"section_time/{movie} records neither content_start_frames nor pre_margin_frame_num (not made by "
            "add_section_time); re-run add_section_time"
        )
    return floor_frame(sections[:, 0], ft) + margin


def _preflight(params: dict[str, Any]) -> None:
    """The CSVs are readable, the playlist is in the playlist file and every movie has a length
    (unless lenient); the frame parameters are valid."""
    pl.check_frame_params(params["repeats"], params["pad_frame"], params["pre_margin_frame_num"], params["post_margin_frame_num"])
    playlists = pl.read_playlists(params["playlist_file"])
    name = params["playlist_name"]
    if name not in playlists:
        raise ConfigurationError(f"{params['playlist_file']}: no playlist {name!r}; available: {sorted(playlists)}")
    lengths = pl.read_movie_lengths(params["movie_length_file"])
    missing = [m for m in playlists[name] if m not in lengths]
    if missing and not params["lenient"]:
        raise ConfigurationError(
            f"{params['movie_length_file']}: no length for movie(s) {missing} of playlist {name!r} (lenient=True skips them)"
        )


def playlist_movies(params: dict[str, Any]) -> tuple[str, ...]:
    """The movies an ``add_section_time`` call with canonical *params* sections, in playlist order."""
    return pl.read_playlists(params["playlist_file"]).get(params["playlist_name"], ())


@step("add_section_time", version="1", requires=("load_recording",), method=True, preflight=_preflight)
def add_section_time_step(
    state: Any,
    playlist_name: str = Param(help="playlist name (a row of the playlist file)", check=_check_playlist_name),
    *,
    playlist_file: str = Param(help="the lab's playlist CSV", normalize=as_path),
    movie_length_file: str = Param(help="the lab's movie length CSV", normalize=as_path),
    repeats: int = Param(1, unit="times", help="times the whole playlist was shown"),
    pad_frame: int = Param(pl.PAD_FRAME, unit="frames", help="gray frames before and after each movie"),
    pre_margin_frame_num: int = Param(pl.PRE_MARGIN_FRAME_NUM, unit="frames", help="section margin before the content"),
    post_margin_frame_num: int = Param(pl.POST_MARGIN_FRAME_NUM, unit="frames", help="section margin after the content"),
    lenient: bool = Param(False, help="skip occurrences that do not fit instead of failing"),
) -> Changes:
    """
    Sections of every playlist movie occurrence, in samples (lab §2.3 arithmetic, frames at 60 Hz).

    Args:
        playlist_name: row of ``playlist.csv``.
        playlist_file, movie_length_file: the lab's CSVs.
        repeats: times the whole playlist was shown (≥ 1).
        pad_frame: gray frames before and after each movie (frames).
        pre_margin_frame_num, post_margin_frame_num: section margins around the content (frames).
        lenient: False: a movie missing from the lengths or an occurrence past the end of the
            recording is an error. True: skipped, logged WARNING ``section_skipped`` and noted in
            the journal.

    Raises:
        InputFileError: a missing or malformed CSV. ConfigurationError: unknown playlist, movies
        without a length. RecordingTooShortError: an occurrence past the last display frame.
        FrameSyncError: no frame timestamps. ParameterError: bad frame parameters.
    """
    pl.check_frame_params(repeats, pad_frame, pre_margin_frame_num, post_margin_frame_num)
    playlists = pl.read_playlists(playlist_file)
    if playlist_name not in playlists:
        raise ConfigurationError(f"{playlist_file}: no playlist {playlist_name!r}; available: {sorted(playlists)}")
    movies = playlists[playlist_name]
    lengths = pl.read_movie_lengths(movie_length_file)
    ft = frame_timestamps_or_raise(state, "add_section_time")
    planned, skipped_missing = pl.plan_sections(
        movies, lengths, repeats=repeats, pad_frame=pad_frame, pre_margin_frame_num=pre_margin_frame_num,
        post_margin_frame_num=post_margin_frame_num, lenient=lenient)
    skipped: list[dict[str, Any]] = [
        {"movie": m, "position": len(planned) + i, "reason": "no length in movie_length.csv (or after such a movie)"}
        for i, m in enumerate(skipped_missing)
    ]
    n_frames = ft.size
    kept = []
    for ps in planned:
        if ps.end_frame >= n_frames:
            if not lenient:
                raise RecordingTooShortError(
                    f"add_section_time: movie {ps.movie!r} (playlist {playlist_name!r}, position {ps.position}) needs display "
                    f"frames {ps.start_frame}..{ps.end_frame}, but the recording has {n_frames} (0..{n_frames - 1}); "
                    "the recording is too short for this playlist (pass lenient=True to skip such occurrences)"
                )
            skipped.append({"movie": ps.movie, "position": ps.position, "reason": f"needs frame {ps.end_frame}, recording has {n_frames}"})
            continue
        kept.append(ps)
    if not kept:
        raise RecordingTooShortError(f"add_section_time: no movie of playlist {playlist_name!r} fits in the recording ({n_frames} frames)")

    raw = state.get(LIGHT_REFERENCE / "raw_ch1")
    ch = Changes()
    by_movie: dict[str, list[pl.PlannedSection]] = {}
    for ps in kept:
        by_movie.setdefault(ps.movie, []).append(ps)
    for movie, occ in by_movie.items():
        fr = np.array([[p.start_frame, p.end_frame] for p in occ], np.int64)
        bounds = frames_to_samples(fr, ft, what=f"movie {movie!r}")
        ch.put(SECTION_TIME / movie, bounds, unit="sample_index", kind="playlist", playlist_name=playlist_name,
               repeats=int(repeats), pad_frame=int(pad_frame), pre_margin_frame_num=int(pre_margin_frame_num),
               post_margin_frame_num=int(post_margin_frame_num), movie_length_frame=int(occ[0].length_frames),
               start_frames=fr[:, 0].copy(), end_frames=fr[:, 1].copy(),
               content_start_frames=np.array([p.content_start_frame for p in occ], np.int64),
               playlist_positions=np.array([p.position for p in occ], np.int64))
        if raw is not None:
            lens = bounds[:, 1] - bounds[:, 0]
            ch.put(LIGHT_TEMPLATE / movie, mean_template(raw, bounds), unit="adc_counts", source="raw_ch1",
                   n_occurrences=len(occ), occurrence_lengths=lens)
    for s in skipped:
        log.warning("section_skipped", step="add_section_time", playlist=playlist_name, **s)
    ch.add_input(file_fingerprint(playlist_file, value_digest([playlist_name, list(movies)])))
    ch.add_input(file_fingerprint(movie_length_file, value_digest({m: lengths[m] for m in movies if m in lengths})))
    ch.note(movies=list(by_movie), n_sections=len(kept), skipped=skipped)
    return ch


def _replaced(session: PipelineSession, params: dict[str, Any]) -> list[str]:
    return [f"section_time/{m}" for m in playlist_movies(params) if str(SECTION_TIME / m) in session.state]


@classic(add_section_time_step, guard=_replaced)
def add_section_time(s: PipelineSession, params: dict[str, Any], seconds: float) -> SectionTimeResult:
    """
    Classic ``add_section_time`` on an HDF5 file; takes the step's parameters (see
    :func:`add_section_time_step`).

    ``force=False`` (the lab's default) refuses to replace the sections of a movie the file
    already has (FileExistsError naming the movies); ``force=True`` replaces only those movies.
    ``defer_save=True`` returns the DEFERRED session; ``session=s`` runs on *s* and returns it.
    """
    notes = s.journal[-1].notes
    return SectionTimeResult(s.hdf5_path, tuple(notes["movies"]), int(notes["n_sections"]),
                             [f"skipped {k['movie']} (position {k['position']}): {k['reason']}" for k in notes["skipped"]])


__all__ = ["SectionTimeResult", "add_section_time", "add_section_time_step", "content_start_frames", "mean_template", "playlist_movies"]
