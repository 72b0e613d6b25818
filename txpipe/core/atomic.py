"""
Atomic file replacement: temporary file in the target's directory, fsync, ``os.replace``,
directory fsync.

The target is at every instant either its previous complete version or the new complete
version. Named *fault points* let tests inject failures (or kill the process) at each stage::

    before_write → (caller writes the temp file) → before_fsync → before_replace → after_replace
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
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


NAME_MAX = 255
"""Longest file name (bytes) that common file systems accept."""


def _digest_name(name: str) -> str:
    return f".txpipe-{hashlib.blake2b(name.encode('utf-8'), digest_size=16).hexdigest()}"


def short_name(name: str, suffix: str) -> str:
    """``name + suffix`` if it fits in NAME_MAX bytes, else a hidden name built from a digest of
    *name* (``.txpipe-<32 hex>`` + *suffix*), so that a long but legal target name still gets
    its temporary and lock files."""
    full = name + suffix
    return full if len(full.encode("utf-8")) <= NAME_MAX else _digest_name(name) + suffix


def _temp_re(target: Path) -> "re.Pattern[str]":
    """This target's temporaries, in both name forms :func:`short_name` can give."""
    heads = (re.escape("." + target.name), re.escape(_digest_name("." + target.name)))
    return re.compile(f"(?:{'|'.join(heads)})" + r"\.\d+\.[0-9a-f]{8}" + re.escape(TEMP_SUFFIX))


def temp_path_for(target: Path) -> Path:
    """A fresh hidden temporary name beside *target* (same directory, so same filesystem).

    ``.NAME.PID.RANDOM.txpipe-tmp``, or ``.txpipe-DIGEST.PID.RANDOM.txpipe-tmp`` when that would
    be longer than a file name may be."""
    return target.with_name(short_name("." + target.name, f".{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"))


def stale_temps(target: Path) -> list[Path]:
    """Temporary files left beside *target* by earlier commits (call while holding its lock).

    Only this target's own temporaries match (exact name structure, no glob: a target named
    ``rec[1].h5`` or ``a.h5`` never matches the temporaries of ``rec1.h5`` or ``a.h5.b.h5``)."""
    pat = _temp_re(target)
    try:
        names = os.listdir(target.parent)
    except FileNotFoundError:
        return []
    return sorted(target.parent / n for n in names if pat.fullmatch(n))


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
