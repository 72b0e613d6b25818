"""
The lab's ``hdmea.io.section_time``: ``add_section_time`` (from the playlist) and
``add_section_time_analog`` (from light-reference onsets), mapped onto txpipe's steps of the same
names. Both return True (or the session, given ``session=``); a failure raises a typed error
naming the file and the problem instead of returning False.
"""

from __future__ import annotations

from typing import Any

import txpipe
from txpipe.compat.hdmea import config
from txpipe.compat.hdmea.defaults import step_default
from txpipe.errors import ParameterError



def add_section_time(
    hdf5_path: Any = None,
    playlist_name: str | None = None,
    *,
    playlist_file_path: Any = None,
    movie_length_file_path: Any = None,
    repeats: int = step_default("add_section_time", "repeats"),
    pad_frame: int = step_default("add_section_time", "pad_frame"),
    pre_margin_frame_num: int = step_default("add_section_time", "pre_margin_frame_num"),
    post_margin_frame_num: int = step_default("add_section_time", "post_margin_frame_num"),
    force: bool = False,
    session: Any = None,
    lenient: bool = True,
) -> bool | Any:
    """
    Movie sections from the playlist (txpipe's ``add_section_time``).

    ``playlist_file_path`` / ``movie_length_file_path``: the lab's CSVs; default: the
    ``playlist_file`` / ``movie_length_file`` settings (``TXPIPE_PLAYLIST_FILE`` /
    ``TXPIPE_MOVIE_LENGTH_FILE`` or the config file). Frame arguments are display frames.
    ``force=False`` refuses to replace a movie's existing sections (FileExistsError);
    ``force=True`` replaces only this playlist's movies. ``lenient`` (txpipe's, True here as
    the lab skipped them too): a movie without a length, or an occurrence past the end of the
    recording, is skipped with a WARNING ``section_skipped`` instead of raising.

    Returns True, or the session given ``session=``.

    Raises:
        ConfigurationError: a CSV neither given nor configured, an unknown playlist.
        InputFileError: an unreadable CSV. FrameSyncError: no frame timestamps.
    """
    fn = "add_section_time"
    playlist_file = config.resolve("playlist_file", playlist_file_path, function=fn, argument="playlist_file_path")
    movie_length_file = config.resolve("movie_length_file", movie_length_file_path, function=fn, argument="movie_length_file_path")
    r = txpipe.add_section_time(hdf5_path, playlist_name, playlist_file=playlist_file, movie_length_file=movie_length_file,
                                repeats=repeats, pad_frame=pad_frame, pre_margin_frame_num=pre_margin_frame_num,
                                post_margin_frame_num=post_margin_frame_num, lenient=lenient, force=force, session=session)
    return r if session is not None else True


def add_section_time_analog(
    hdf5_path: Any = None,
    threshold_value: float | None = None,
    *,
    movie_name: str = step_default("add_section_time_analog", "movie_name"),
    plot_duration: float = step_default("add_section_time_analog", "plot_duration"),
    repeat: int | None = step_default("add_section_time_analog", "repeat"),
    force: bool = False,
    session: Any = None,
    lenient: bool = True,
) -> bool | Any:
    """
    Sections from onsets of the light reference (txpipe's ``add_section_time_analog``).

    ``threshold_value``: a rise of ``raw_ch1`` between two samples above it (ADC counts) is an
    onset. ``plot_duration``: section length, s. ``repeat``: keep the first N onsets (None:
    all). ``force=False`` refuses to replace an existing ``section_time/{movie_name}``.
    ``lenient`` (txpipe's, True here): a section running past the end of the recording is
    skipped with a WARNING instead of raising (the lab cut it short). ``session=`` (which the
    lab lacked) runs on a session and returns it.

    Returns True, or the session given ``session=``.

    Raises:
        ParameterError: no threshold_value, a bad duration or repeat.
        MissingPrerequisiteError / StepError: no light reference or no onsets.
    """
    if threshold_value is None:
        raise ParameterError("add_section_time_analog: threshold_value is required (ADC counts per sample)")
    r = txpipe.add_section_time_analog(hdf5_path, threshold_value, movie_name=movie_name, plot_duration=plot_duration,
                                       repeat=repeat, lenient=lenient, force=force, session=session)
    return r if session is not None else True


__all__ = ["add_section_time", "add_section_time_analog"]
