"""
Step 4, ``compute_sta``: spike-triggered average of the dense-noise movie for every unit.

Reads, per unit, the sectioned spikes of the noise movie
(``units/{id}/spike_times_sectioned/{movie}/trials_spike_times/{i}`` and ``trials_start_end``,
samples), the movie's sections (``/stimulus/section_time/{movie}``, samples, with the pre-margin
used by ``add_section_time``) and ``/metadata/frame_timestamps`` (samples), plus the movie itself
from ``{stimuli_dir}/{movie}.npy`` ((frames, h, w) uint8). Writes, per unit::

    units/{id}/features/sta_{movie}/sta   float32 (W, h, w), raw pixel units (0…255)
        attrs: n_spikes_used, n_spikes_excluded, cover_range (int64 [c0, c1]), movie,
               extractor_version
    units/{id}/features/sta_{movie}       attrs: extractor_version, params (canonical JSON)

Frame mapping (``docs/sta.md``): the content of occurrence k starts at display frame
``floor_frame(section_time[k, 0]) + pre_margin``; a spike's movie frame is the frame showing at
the spike (last frame timestamp ≤ spike) minus that content start. Each trial is assigned to the
occurrence whose section contains its start, so ``trials="all"`` also covers later occurrences
of the movie. A unit with no usable spike gets an all-NaN STA with ``n_spikes_used = 0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from txpipe.kernels import sta as _sta
from txpipe.core.changes import Changes
from txpipe.errors import ConfigurationError, InputFileError, MissingPrerequisiteError, ParameterError
from txpipe.mcs.frames import floor_frame
from txpipe.core.fingerprint import file_fingerprint, value_digest
from txpipe.core.journal import canonical_json, encode_param
from txpipe.core.paths import FRAME_TIMESTAMPS, SECTION_TIME, UNITS
from txpipe.core.params import Param, as_path, as_tuple
from txpipe.core.session import PipelineSession
from txpipe.core.step import step
from txpipe.mcs.movies import noise_movie
from txpipe.steps.add_section_time import content_start_frames
from txpipe.steps.classic import classic
from txpipe.core.tree import StateView

STA_VERSION = "1"


def find_noise_movie(state: StateView, movie: str | None) -> str:
    """
    The dense-noise movie: *movie* if given, else the one sectioned movie whose name contains
    ``noise`` (case-insensitive).

    Raises:
        MissingPrerequisiteError: no section times, or *movie* has none.
        ConfigurationError: no or several noise movies (the message lists the candidates).
    """
    if not state.is_group(SECTION_TIME):
        raise MissingPrerequisiteError(
            f"compute_sta: {SECTION_TIME} is missing; run add_section_time first", step="compute_sta", missing="add_section_time"
        )
    movies = state.keys(SECTION_TIME)
    if movie is not None:
        if movie not in movies:
            raise MissingPrerequisiteError(
                f"compute_sta: movie {movie!r} has no section times (sectioned movies: {movies}); "
                "run add_section_time with a playlist that shows it",
                step="compute_sta",
                missing="add_section_time",
            )
        return movie
    try:
        return noise_movie(movies)
    except ConfigurationError as exc:
        raise ConfigurationError(f"compute_sta: {exc}") from None


def load_movie(path: Path) -> np.ndarray:
    """
    Read and check a stimulus movie ``.npy``: 3-D (frames, h, w) uint8.

    Raises:
        InputFileError: missing or unreadable file, wrong rank or dtype (the message names the file).
    """
    if not path.is_file():
        raise InputFileError(f"{path}: stimulus movie not found", path=str(path))
    try:
        movie = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{path}: cannot read stimulus movie: {exc}", path=str(path)) from exc
    if movie.ndim != 3:
        raise InputFileError(f"{path}: expected a (frames, h, w) movie, got shape {movie.shape}", path=str(path))
    if movie.dtype != np.uint8:
        raise InputFileError(f"{path}: expected uint8 pixels, got {movie.dtype}", path=str(path))
    if 0 in movie.shape:
        raise InputFileError(f"{path}: empty movie, shape {movie.shape}", path=str(path))
    return np.ascontiguousarray(movie)


def _spike_frames(samples: np.ndarray, ft: np.ndarray) -> np.ndarray:
    """Display frame showing at each sample (last timestamp ≤ sample; −1 before the first frame)."""
    return np.searchsorted(ft, np.asarray(samples, np.int64), side="right") - 1


def _check_trials(v: Any) -> None:
    if v not in ("first", "all"):
        raise ParameterError(f"compute_sta: trials must be 'first' or 'all', got {v!r}")


def _preflight(params: dict[str, Any]) -> None:
    """A stimuli folder is given and exists; a named movie's file is there."""
    sd = params["stimuli_dir"]
    if sd is None:
        raise ConfigurationError("compute_sta: give stimuli_dir, the folder holding the noise movie .npy")
    if not Path(sd).is_dir():
        raise InputFileError(f"{sd}: stimuli folder not found", path=sd)
    if params["movie"] is not None:
        check_movie_file(sd, params["movie"])


def check_movie_file(stimuli_dir: str, movie: str) -> None:
    """InputFileError unless ``{stimuli_dir}/{movie}.npy`` exists (its content is checked when read)."""
    path = Path(stimuli_dir) / f"{movie}.npy"
    if not path.is_file():
        raise InputFileError(f"{path}: stimulus movie not found", path=str(path))


@step("compute_sta", version=STA_VERSION, requires=("section_spike_times",), method=True, preflight=_preflight)
def compute_sta_step(
    state: StateView,
    *,
    cover_range: tuple[int, int] = Param((-60, 0), unit="display frames", help="STA window relative to the spike's frame (START STOP)",
                                         normalize=as_tuple(int, 2), check=_sta.check_cover_range),
    stimuli_dir: str | None = Param(None, help="folder holding the noise movie {movie}.npy", normalize=as_path),
    movie: str | None = Param(None, help="the noise movie (default: the one sectioned movie named *noise*)"),
    trials: str = Param("first", help="'first' (trial 0) or 'all' trials", check=_check_trials),
) -> Changes:
    """
    Spike-triggered average of the dense-noise movie for every unit.

    Args:
        cover_range: ``(c0, c1)`` display frames; the window is frames ``f+c0 … f+c1-1`` of a
            spike in frame ``f``. Default: the second before the spike, its own frame excluded.
        stimuli_dir: folder holding ``{movie}.npy``.
        movie: the noise movie's name; default: the one sectioned movie named ``*noise*``.
        trials: ``"first"`` (the lab's choice: trial 0) or ``"all"`` (every trial of every
            occurrence of the movie).

    Raises:
        ParameterError: bad *cover_range* or *trials*.
        ConfigurationError: no *stimuli_dir*, or no / several noise movies.
        InputFileError: the movie file is missing, not (frames, h, w) uint8, or shorter than the
            sectioned trials need.
        MissingPrerequisiteError: the movie was not sectioned for a unit, or no frame timestamps.
    """
    c0, c1 = cover_range
    name = find_noise_movie(state, movie)
    if stimuli_dir is None:
        raise ConfigurationError(f"compute_sta: give stimuli_dir, the folder holding {name}.npy")
    if FRAME_TIMESTAMPS not in state:
        raise MissingPrerequisiteError(
            f"compute_sta: {FRAME_TIMESTAMPS} is missing (the recording had no frame-sync pulses?)",
            step="compute_sta",
            missing="load_recording",
        )
    ft = np.asarray(state[FRAME_TIMESTAMPS]).astype(np.int64)
    sections = np.asarray(state[SECTION_TIME / name]).astype(np.int64).reshape(-1, 2)
    content_start = content_start_frames(state, name, ft)  # per occurrence
    path = Path(stimuli_dir) / f"{name}.npy"
    mv = load_movie(path)
    T = mv.shape[0]
    length = state.attrs(SECTION_TIME / name).get("movie_length_frame")
    if length is not None and T < int(length):
        raise InputFileError(
            f"{path}: movie has {T} frames but {name!r} is {int(length)} frames long in the playlist "
            "(movie_length.csv); wrong movie file?",
            path=str(path),
        )

    units = state.keys(UNITS) if state.is_group(UNITS) else []
    frames_per_unit: list[np.ndarray] = []
    need_frames = 0
    for uid in state.progress(units, what=f"{name} spikes", unit="unit"):
        base = UNITS / uid / "spike_times_sectioned" / name
        if not state.is_group(base):
            raise MissingPrerequisiteError(
                f"compute_sta: {base} is missing for unit {uid}; run section_spike_times for movie {name!r}",
                step="compute_sta",
                missing="section_spike_times",
            )
        tse = np.asarray(state[base / "trials_start_end"]).astype(np.int64).reshape(-1, 2)
        keys = state.keys(base / "trials_spike_times")
        chosen = range(min(1, len(keys))) if trials == "first" else range(len(keys))
        by_occ: dict[int, list[np.ndarray]] = {}
        for i in chosen:
            occ = max(0, int(np.searchsorted(sections[:, 0], tse[i, 0], side="right")) - 1)
            by_occ.setdefault(occ, []).append(np.asarray(state[base / "trials_spike_times" / keys[i]]))
            need_frames = max(need_frames, int(_spike_frames(tse[i, 1:2], ft)[0] - content_start[occ]))
        # padded trials may overlap: count each spike once per occurrence
        parts = [_spike_frames(np.unique(np.concatenate(v)), ft) - content_start[k] for k, v in by_occ.items()]
        frames_per_unit.append(np.concatenate(parts) if parts else np.zeros(0, np.int64))
    if need_frames > T:
        raise InputFileError(
            f"{path}: movie has {T} frames but the sectioned trials of {name!r} reach frame {need_frames} "
            "of its content; wrong movie file?",
            path=str(path),
        )

    with state.counter(len(units), what=f"{name} STA", unit="unit") as done:
        res = _sta.sta_counts(frames_per_unit, mv, (c0, c1), on_units=done.update)
    params = {"cover_range": [c0, c1], "movie": name, "trials": trials}
    ptext = canonical_json({k: encode_param(v) for k, v in params.items()})
    ch = Changes()
    cr = np.array([c0, c1], dtype=np.int64)
    for i, uid in enumerate(units):
        g = UNITS / uid / "features" / f"sta_{name}"
        ch.delete(g, missing_ok=True)
        ch.put(
            g / "sta",
            res.sta[i],
            n_spikes_used=int(res.n_used[i]),
            n_spikes_excluded=int(res.n_excluded[i]),
            cover_range=cr,
            movie=name,
            extractor_version=STA_VERSION,
        )
        ch.set_attrs(g, extractor_version=STA_VERSION, params=ptext)
    ch.add_input(file_fingerprint(path, data_digest=value_digest(mv)))
    ch.note(
        movie=name,
        n_units=len(units),
        units_without_spikes=int(np.count_nonzero(res.n_used == 0)),
        n_spikes_used=int(res.n_used.sum()),
        n_spikes_excluded=int(res.n_excluded.sum()),
        movie_frames=int(T),
    )
    return ch


@dataclass
class STAResult:
    """What a classic ``compute_sta(path, ...)`` call did (SPEC §2.3)."""

    hdf5_path: Path | None
    movie_name: str
    units_processed: int
    units_without_spikes: int
    cover_range: tuple[int, int]
    elapsed_seconds: float
    warnings: list[str] = field(default_factory=list)


@classic(compute_sta_step)
def compute_sta(s: PipelineSession, params: dict[str, Any], seconds: float) -> STAResult:
    """
    Classic, path-based ``compute_sta``; takes the step's parameters (see :func:`compute_sta_step`).

    ``compute_sta(path, stimuli_dir=...)`` reads *path*, runs the step and commits the file
    atomically, returning an :class:`STAResult`. With ``session=s`` (or ``defer_save=True``) the
    step runs on that (a DEFERRED) session and the session is returned. A DEFERRED session given
    as *hdf5_path* is first saved (WARNING ``implicit_save``).
    """
    notes = s.journal[-1].notes
    return STAResult(
        s.hdf5_path,
        str(notes.get("movie", "")),
        int(notes.get("n_units", 0)),
        int(notes.get("units_without_spikes", 0)),
        params["cover_range"],
        seconds,
    )
