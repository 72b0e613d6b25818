"""
The classic, path-based step functions, derived from each step's declaration.

Every classic function (``add_section_time(hdf5_path, ...)`` …) takes the step's own parameters
(same names, defaults, positions), resolves its target with :func:`open_target` and runs the
*same* registered step as the session method:

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

A step module declares its classic function with :func:`classic`; the decorated function only
turns the finished session into the result object.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from txpipe.core.session import PipelineSession
from txpipe.core.step import Step

PathOrSession = str | os.PathLike[str] | PipelineSession
Guard = Callable[[PipelineSession, dict[str, Any]], list[str]]


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


def given_params(step: Step, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical parameters of a classic call; a required parameter passed as None counts as
    not given (the classic signatures show required parameters with a None default)."""
    given = step.bind(args, kwargs)
    for spec in step.params:
        if spec.required and given.get(spec.name, 0) is None:
            del given[spec.name]
    return step.canonical_params(given)


def classic_signature(step: Step, leading: list[inspect.Parameter], extra: list[inspect.Parameter]) -> inspect.Signature:
    """*leading* parameters, then the step's (required positional ones shown with a None
    default), then the keyword-only *extra* options."""
    params = list(leading)
    for p in step.signature.parameters.values():
        if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty:
            p = p.replace(default=None)
        params.append(p)
    return inspect.Signature(params + extra)


def _kw(name: str, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)


def classic(step: Step, *, guard: Guard | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """
    Declare the classic function of *step* (decorator).

    The decorated ``result(session, params, seconds)`` builds the return value of a path call
    from the finished session, the canonical parameters and the elapsed time; its docstring and
    name become the classic function's. With *guard*, the function also takes ``force=False``:
    unless forced (or given ``session=``), ``guard(session, params)`` lists the results of the
    file the call would replace (e.g. ``section_time/step_a``); if any, FileExistsError names
    them and nothing runs.
    """

    def deco(result: Callable[..., Any]) -> Callable[..., Any]:
        def fn(hdf5_path: Any = None, *args: Any, defer_save: bool = False, session: Any = None, **kwargs: Any) -> Any:
            force = bool(kwargs.pop("force", False)) if guard is not None else False
            t0 = time.perf_counter()
            params = given_params(step, args, kwargs)
            t = open_target(step, hdf5_path, defer_save=defer_save, session=session)
            if guard is not None and not force and session is None:
                clash = guard(t.session, params)
                if clash:
                    raise FileExistsError(f"{t.session.hdf5_path}: already has {', '.join(clash)}; "
                                          "pass force=True to replace them")
            t.session.run(step, **params)
            if t.return_session:
                return t.session
            return result(t.session, params, round(time.perf_counter() - t0, 6))

        extra = ([_kw("force", False)] if guard is not None else []) + [_kw("defer_save", False), _kw("session", None)]
        fn.__signature__ = classic_signature(  # type: ignore[attr-defined]
            step, [inspect.Parameter("hdf5_path", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)], extra)
        fn.__name__ = fn.__qualname__ = result.__name__
        fn.__module__ = result.__module__
        fn.__doc__ = result.__doc__
        fn.step = step  # type: ignore[attr-defined]
        return fn

    return deco
