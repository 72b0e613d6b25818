"""
One writer per target file.

A :class:`TargetLock` holds an OS lock (``filelock``) on ``<target>.lock`` and records who holds
it in ``<target>.lock.holder`` (a digest-based hidden name when the target's name is too long
for those suffixes). A second writer fails at once with
:class:`~txpipe.errors.LockedError` naming the holder. OS locks die with their process, so the
lock of a killed process never blocks anyone.
"""

from __future__ import annotations

import datetime as _dt
import os
import socket
from pathlib import Path

from filelock import FileLock, Timeout

from txpipe.core.atomic import short_name
from txpipe.errors import CommitError, LockedError


class TargetLock:
    """Exclusive writer lock for one target path. Reentrant for its owner (counted)."""

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self.target = Path(target).absolute()
        self.lock_path = self.target.with_name(short_name(self.target.name, ".lock"))
        self.holder_path = self.target.with_name(short_name(self.target.name, ".lock.holder"))
        self._lock = FileLock(str(self.lock_path), timeout=0)
        self._count = 0

    @property
    def held(self) -> bool:
        return self._count > 0

    def acquire(self) -> "TargetLock":
        """Take the lock or raise LockedError naming the current holder."""
        if self._count:
            self._count += 1
            return self
        self.target.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout:
            holder = self.read_holder() or "another writer (holder unknown)"
            msg = f"{self.target}: another writer holds the lock: {holder}"
            raise LockedError(msg, holder=holder) from None
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        try:
            self.holder_path.write_text(f"pid {os.getpid()} on {socket.gethostname()} since {now}\n")
        except OSError as exc:  # e.g. ENOSPC: give the lock back, leave no half-written holder file
            self.holder_path.unlink(missing_ok=True)
            self._lock.release()
            raise CommitError(
                f"{self.target}: cannot take the writer lock: writing {self.holder_path} failed: {exc}"
            ) from exc
        self._count = 1
        return self

    def release(self) -> None:
        if not self._count:
            return
        self._count -= 1
        if self._count == 0:
            self.holder_path.unlink(missing_ok=True)
            self._lock.release()

    def read_holder(self) -> str:
        try:
            return self.holder_path.read_text().strip()
        except OSError:
            return ""

    def __enter__(self) -> "TargetLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
