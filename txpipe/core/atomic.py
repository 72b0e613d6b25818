"""
Atomic file replacement: temporary file in the target's directory, fsync, ``os.replace``,
directory fsync.

The target is at every instant either its previous complete version or the new complete
version. Named *fault points* let tests inject failures (or kill the process) at each stage::

    before_write → (caller writes the temp file) → before_fsync → before_replace → after_replace
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import structlog

from txpipe.errors import CommitError

TEMP_SUFFIX = ".txpipe-tmp"

_fault_hook: Callable[[str], None] | None = None


def set_fault_hook(hook: Callable[[str], None] | None) -> None:
    """Install (or remove with None) a function called at each named fault point (tests only)."""
    global _fault_hook
    _fault_hook = hook


def fault_point(name: str) -> None:
    """Call the installed fault hook, if any, with *name*."""
    if _fault_hook is not None:
        _fault_hook(name)


def temp_path_for(target: Path) -> Path:
    """A fresh hidden temporary name beside *target* (same directory, so same filesystem)."""
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


def stale_temps(target: Path) -> list[Path]:
    """Temporary files left beside *target* by earlier commits (call while holding its lock)."""
    return sorted(target.parent.glob(f".{target.name}.*{TEMP_SUFFIX}"))


def fsync_path(path: Path) -> None:
    """fsync a file by path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: Path) -> None:
    """fsync a directory so a rename in it is durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except (IsADirectoryError, PermissionError):  # Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_replace(target: Path) -> Iterator[Path]:
    """
    Yield a temporary path beside *target*; on a clean exit make it the target atomically.

    On any exception the temporary file is removed, the target is untouched, and OS errors
    are re-raised as :class:`~txpipe.errors.CommitError` naming the target.
    """
    target = Path(target)
    log = structlog.get_logger("txpipe.core.atomic")
    for old in stale_temps(target):
        log.info("stale_temp_removed", path=str(old))
        old.unlink(missing_ok=True)
    tmp = temp_path_for(target)
    try:
        fault_point("before_write")
        yield tmp
        fault_point("before_fsync")
        fsync_path(tmp)
        fault_point("before_replace")
        os.replace(tmp, target)
        fault_point("after_replace")
        fsync_dir(target.parent)
    except BaseException as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError as cleanup_exc:
            log.error("temp_cleanup_failed", path=str(tmp), error=str(cleanup_exc))
        if isinstance(exc, OSError) and not isinstance(exc, CommitError):
            raise CommitError(f"{target}: commit failed, previous version kept: {exc}") from exc
        raise


def promote(src: Path, target: Path) -> None:
    """Replace *target* by the complete file *src* (same directory) in one atomic rename.

    Raises:
        CommitError: naming *target*; *target* keeps its previous version.
    """
    try:
        os.replace(src, target)
        fsync_dir(target.parent)
    except OSError as exc:
        raise CommitError(f"{target}: could not replace it with {src}: {exc}") from exc
