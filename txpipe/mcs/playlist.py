"""
The lab's playlist files and its playlist frame arithmetic (reference ``lab-pipeline.md`` §2.2–§2.3).

``playlist.csv`` (header ``playlist_name,movie_names``; the second column a Python list literal
of movie file names) and ``movie_length.csv`` (header ``movie_name,movie_length``; lengths in
display frames) are parsed with :mod:`csv` and :func:`ast.literal_eval` (never ``eval``). Every
problem raises :class:`~txpipe.errors.InputFileError` naming the file and the line.

Frame arithmetic (unchanged from the lab): each movie of the (repeated) playlist occupies a block
of ``pad + L + 1 + pad`` display frames; its content starts at ``block_start + pad``; its section
runs from frame ``content_start − pre_margin`` to frame ``content_start + L + post_margin + 1``.
"""

from __future__ import annotations

import ast
import csv
import os
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

from txpipe.errors import ConfigurationError, InputFileError, ParameterError

PAD_FRAME = 180
PRE_MARGIN_FRAME_NUM = 60
POST_MARGIN_FRAME_NUM = 120


def movie_key(file_name: str) -> str:
    """The movie key of a playlist entry: its base name without the last extension.

    ``"step_up.mov"`` → ``"step_up"``; ``"a.v2.mov"`` → ``"a.v2"`` (the lab cut at the first
    ``.``, giving ``"a"``; W-D8).
    """
    base = PureWindowsPath(file_name.strip()).name  # handles both / and \\ separators
    stem, _ext = os.path.splitext(base)
    return stem or base


def _read_rows(path: str | os.PathLike[str], header: tuple[str, str]) -> list[tuple[int, list[str]]]:
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"{p}: file not found" if not p.exists() else f"{p}: not a regular file", path=str(p))
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{p}: cannot read as UTF-8 text ({exc})", path=str(p)) from exc
    try:
        rows = list(csv.reader(text.splitlines()))
    except csv.Error as exc:
        raise InputFileError(f"{p}: malformed CSV ({exc})", path=str(p)) from exc
    numbered = [(i + 1, [c.strip() for c in r]) for i, r in enumerate(rows) if any(c.strip() for c in r)]
    if not numbered:
        raise InputFileError(f"{p}: empty file; expected the header {','.join(header)}", path=str(p))
    line, head = numbered[0]
    if tuple(head[:2]) != header:
        raise InputFileError(f"{p}:{line}: expected the header {','.join(header)}, found {','.join(head)}", path=str(p))
    out = []
    for line, r in numbered[1:]:
        if len(r) < 2 or not r[0] or not r[1] or any(r[2:]):
            raise InputFileError(f"{p}:{line}: expected 2 columns ({','.join(header)}), found {r}", path=str(p))
        out.append((line, r[:2]))
    return out


def read_playlists(path: str | os.PathLike[str]) -> dict[str, tuple[str, ...]]:
    """
    Parse ``playlist.csv``.

    Returns:
        ``{playlist_name: (movie_key, ...)}`` in file order (extensions stripped by :func:`movie_key`).

    Raises:
        InputFileError: missing file, wrong header, a row that is not two columns, a movie list
            that is not a literal list of strings, or one name listed twice with different movies.
    """
    out: dict[str, tuple[str, ...]] = {}
    for line, (name, lst) in _read_rows(path, ("playlist_name", "movie_names")):
        where = f"{Path(path)}:{line}"
        try:
            movies = ast.literal_eval(lst)
        except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
            raise InputFileError(f"{where}: movie_names of playlist {name!r} is not a list literal: {lst!r}", path=str(path)) from exc
        if not isinstance(movies, (list, tuple)) or not movies or not all(isinstance(m, str) and m.strip() for m in movies):
            raise InputFileError(
                f"{where}: movie_names of playlist {name!r} must be a non-empty list of file names, got {lst!r}", path=str(path)
            )
        keys = tuple(movie_key(m) for m in movies)
        if name in out and out[name] != keys:
            raise InputFileError(f"{where}: playlist {name!r} is listed twice with different movies", path=str(path))
        out[name] = keys
    return out


def read_movie_lengths(path: str | os.PathLike[str]) -> dict[str, int]:
    """
    Parse ``movie_length.csv``.

    Returns:
        ``{movie_key: length_frames}`` (length > 0, display frames).

    Raises:
        InputFileError: missing file, wrong header, a length that is not a positive whole
            number, or one movie listed twice with different lengths.
    """
    out: dict[str, int] = {}
    for line, (name, val) in _read_rows(path, ("movie_name", "movie_length")):
        where = f"{Path(path)}:{line}"
        try:
            num = ast.literal_eval(val)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            num = None
        if isinstance(num, float) and num.is_integer():
            num = int(num)
        if not isinstance(num, int) or isinstance(num, bool) or num <= 0:
            raise InputFileError(f"{where}: movie_length of {name!r} must be a positive whole number of frames, got {val!r}", path=str(path))
        key = movie_key(name)
        if key in out and out[key] != num:
            raise InputFileError(f"{where}: movie {key!r} is listed twice with lengths {out[key]} and {num}", path=str(path))
        out[key] = num
    return out


@dataclass(frozen=True)
class PlannedSection:
    """One movie occurrence of the playlist, in display frames."""

    movie: str
    position: int  # index in the repeated playlist
    length_frames: int
    block_start_frame: int
    content_start_frame: int
    start_frame: int  # content_start - pre_margin
    end_frame: int  # content_start + L + post_margin + 1


def check_frame_params(repeats: int, pad_frame: int, pre_margin_frame_num: int, post_margin_frame_num: int) -> None:
    """Raise ParameterError unless every value is a whole number in range (frames; repeats ≥ 1)."""
    for name, v, lo in (("repeats", repeats, 1), ("pad_frame", pad_frame, 0), ("pre_margin_frame_num", pre_margin_frame_num, 0),
                        ("post_margin_frame_num", post_margin_frame_num, 0)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ParameterError(f"{name} must be an int >= {lo}, got {v!r}")
    if pre_margin_frame_num > pad_frame:
        raise ParameterError(
            f"pre_margin_frame_num={pre_margin_frame_num} must not exceed pad_frame={pad_frame} "
            "(the first section would start before frame 0)"
        )


def plan_sections(
    movies: tuple[str, ...] | list[str],
    lengths: dict[str, int],
    *,
    repeats: int = 1,
    pad_frame: int = PAD_FRAME,
    pre_margin_frame_num: int = PRE_MARGIN_FRAME_NUM,
    post_margin_frame_num: int = POST_MARGIN_FRAME_NUM,
    lenient: bool = False,
) -> tuple[list[PlannedSection], list[str]]:
    """
    The lab's frame arithmetic over the playlist repeated *repeats* times.

    Returns:
        The planned sections in playlist order, and the movie keys skipped (lenient mode only:
        a movie without a length and every later entry, whose start frames are then unknown).

    Raises:
        ParameterError: see :func:`check_frame_params`.
        ConfigurationError: movies missing from *lengths* (all listed), unless *lenient*.
    """
    check_frame_params(repeats, pad_frame, pre_margin_frame_num, post_margin_frame_num)
    seq = list(movies) * repeats
    missing = sorted({m for m in seq if m not in lengths})
    if missing and not lenient:
        raise ConfigurationError(
            f"movie(s) {missing} of the playlist are not in movie_length.csv; add them, or pass lenient=True to "
            "skip them (and every later movie, whose start frames are then unknown)"
        )
    planned, skipped = [], []
    frame_count = 0
    for pos, m in enumerate(seq):
        if m not in lengths:
            skipped = seq[pos:]
            break
        L = lengths[m]
        content = frame_count + pad_frame
        planned.append(PlannedSection(m, pos, L, frame_count, content, content - pre_margin_frame_num,
                                      content + L + post_margin_frame_num + 1))
        frame_count += 2 * pad_frame + L + 1
    return planned, skipped


__all__ = [
    "PAD_FRAME",
    "POST_MARGIN_FRAME_NUM",
    "PRE_MARGIN_FRAME_NUM",
    "PlannedSection",
    "check_frame_params",
    "movie_key",
    "plan_sections",
    "read_movie_lengths",
    "read_playlists",
]
