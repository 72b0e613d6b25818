"""
Progress bars on long work (tqdm), silent when nobody is watching.

The runners and the report wrap their loops in :func:`progress` or :class:`ProgressBar`. Steps
never draw: they report through the session (``for uid in state.progress(units): ...``), and
``txpipe run`` hands its session :func:`unit_progress` as the reporter, so a run shows one bar
for its steps and one for the units of the running step::

    from txpipe.runner.progress import progress

    for unit_id in progress(unit_ids, desc="report", unit="unit"):
        ...

A bar is drawn on stderr only when stderr is a terminal and progress is not disabled (``txpipe
--quiet``, :func:`configure_progress` ``(enabled=False)``, or a batch worker process). Otherwise
:func:`progress` returns the iterable unchanged, so it costs nothing in tests and in logs.
This module holds the only global progress setting; :func:`reset_progress` restores it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_state: dict[str, bool | None] = {"enabled": None}  # None: automatic (stderr is a terminal)
_open_bars: list[object] = []  # ProgressBars now drawn: a new bar goes on the line below them


def configure_progress(*, enabled: bool | None = None) -> None:
    """
    Choose whether progress bars are drawn.

    Args:
        enabled: True: always (even when stderr is not a terminal); False: never;
            None: automatic, only when stderr is a terminal (the default).
    """
    _state["enabled"] = enabled


def reset_progress() -> None:
    """Back to automatic: bars only when stderr is a terminal."""
    _state["enabled"] = None


def progress_enabled() -> bool:
    """Whether :func:`progress` draws a bar right now."""
    enabled = _state["enabled"]
    if enabled is None:
        try:
            return sys.stderr.isatty()
        except (AttributeError, ValueError):  # replaced or closed stderr
            return False
    return bool(enabled)


def _width() -> dict[str, Any]:
    """Follow the terminal's size; a terminal that reports none (0 x 0, e.g. under `script`) gets 100 x 24
    (tqdm hides every bar on a screen of 0 rows)."""
    try:
        cols = os.get_terminal_size(sys.stderr.fileno()).columns
    except (AttributeError, ValueError, OSError):
        cols = 0
    return {"dynamic_ncols": True} if cols > 0 else {"ncols": 100, "nrows": 24}


def progress(
    iterable: Iterable[T],
    *,
    desc: str = "",
    unit: str = "it",
    total: int | None = None,
    leave: bool = False,
    **tqdm_kwargs: Any,
) -> Iterable[T]:
    """
    Iterate over *iterable*, drawing a tqdm bar on stderr when progress is enabled.

    Args:
        iterable: what to iterate over (its ``len()`` is used as the total when it has one).
        desc: label in front of the bar, e.g. the step name ``"compute_sta"``.
        unit: what one item is (``"unit"``, ``"recording"``).
        total: number of items, when ``len(iterable)`` is not available.
        leave: keep the finished bar on screen (default: erase it).
        **tqdm_kwargs: passed to ``tqdm.tqdm``.

    Returns:
        *iterable* itself when progress is disabled, else a tqdm wrapper yielding the same items.
    """
    if not progress_enabled():
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, unit=unit, total=total, leave=leave, file=sys.stderr, **_width(), **tqdm_kwargs)


def unit_progress(items: Iterable[T], *, desc: str = "", unit: str = "unit", total: int | None = None) -> Iterable[T]:
    """The reporter ``txpipe run`` hands its session (``PipelineSession(progress=...)``): steps'
    per-unit loops get a bar below the run's step bar, erased when the step ends."""
    return progress(items, desc=desc, unit=unit, total=total, leave=False, position=len(_open_bars))


class ProgressBar:
    """A manually advanced bar (``update(n)``), a no-op when progress is disabled.

    Used where items finish out of order, e.g. recordings completing in a batch::

        with ProgressBar(total=len(tasks), desc="batch", unit="recording") as bar:
            for outcome in results:
                bar.update(1)
    """

    def __init__(self, *, total: int | None, desc: str = "", unit: str = "it", leave: bool = True) -> None:
        self._bar: Any = None
        if progress_enabled():
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, leave=leave and not _open_bars, file=sys.stderr,
                             position=len(_open_bars), **_width())
            _open_bars.append(self)

    def update(self, n: int = 1, *, postfix: str | None = None) -> None:
        """Advance by *n* items; *postfix* is shown after the bar (e.g. the last dataset id or
        the step now running)."""
        if self._bar is not None:
            if postfix is not None:
                self._bar.set_postfix_str(postfix, refresh=n == 0)
            if n:
                self._bar.update(n)

    def close(self) -> None:
        """Finish the bar (idempotent)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            if self in _open_bars:
                _open_bars.remove(self)

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()



@contextlib.contextmanager
def progress_disabled() -> Iterator[None]:
    """Within the block, :func:`progress` draws nothing (batch tasks use it); the previous
    setting is restored afterwards."""
    old = _state["enabled"]
    _state["enabled"] = False
    try:
        yield
    finally:
        _state["enabled"] = old
