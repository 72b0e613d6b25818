"""
SPEC §2.3 plumbing for the classic, path-based step functions.

Every classic function (``add_section_time(hdf5_path, ...)`` …) resolves its target with
:func:`open_target` and then runs the *same* registered step as the session method:

============================  =================================================================
call                          behaviour
============================  =================================================================
``f(path, ...)``              load the file (lazily), apply the step, commit it back atomically,
                              return a small result object
``f(path, defer_save=True)``  load the file, apply the step in memory, return the DEFERRED
                              session (nothing written)
``f(..., session=s)``         apply the step on *s*; return *s*
``f(s, ...)`` (a session      a DEFERRED *s* is first saved to its default path with a WARNING
where a path is required)     ``implicit_save``; then as ``f(path, ...)`` on *s* itself
============================  =================================================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from txpipe.core.session import PipelineSession
from txpipe.core.step import Step

PathOrSession = str | os.PathLike[str] | PipelineSession


@dataclass
class Target:
    """The session a classic call works on, and whether the call must return it."""

    session: PipelineSession
    return_session: bool


def open_target(
    step: Step,
    hdf5_path: PathOrSession | None,
    *,
    defer_save: bool = False,
    session: PipelineSession | None = None,
) -> Target:
    """
    Resolve the session a classic call of *step* runs on (see the module table).

    Raises:
        TypeError: neither a path nor a session was given.
        FileNotFoundError, NotATxpipeFileError: the path is not a committed txpipe file.
    """
    if session is not None:
        if not isinstance(session, PipelineSession):
            raise TypeError(f"{step.name}: session= must be a PipelineSession, got {type(session).__name__}")
        return Target(session, True)
    if isinstance(hdf5_path, PipelineSession):
        s = hdf5_path
        s.ensure_saved(reason=f"{step.name}() was given a session where an HDF5 path is required")
        return Target(s, defer_save)
    if hdf5_path is None:
        raise TypeError(f"{step.name}: give an HDF5 path (or session=)")
    s = PipelineSession.load(Path(hdf5_path), defer=defer_save)
    return Target(s, defer_save)


def run_classic(
    step: Step,
    hdf5_path: PathOrSession | None,
    params: dict[str, Any],
    *,
    defer_save: bool = False,
    session: PipelineSession | None = None,
) -> tuple[PipelineSession, bool]:
    """
    Apply *step* with *params* to the resolved target.

    Returns the session and whether the caller should return it (True) or a result object.
    """
    t = open_target(step, hdf5_path, defer_save=defer_save, session=session)
    t.session.run(step, **params)
    return t.session, t.return_session
