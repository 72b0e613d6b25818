"""
One writer per target file.

A :class:`TargetLock` holds an OS lock (``flock``) on ``<target>.lock`` and records who holds it
in ``<target>.lock.holder`` (a digest-based hidden name when the target's name is too long for
those suffixes). A second writer fails at once with :class:`~txpipe.errors.LockedError` naming
the holder. OS locks die with their process, so the lock of a killed process never blocks anyone.

Both files exist only while the lock is held: the holder removes them before it unlocks, and a
writer that locked a lock file which was removed meanwhile (it opened the old file just before
the holder removed it) notices that the path now names another file or none, and tries again.
So there is never a 0-byte ``OUT.h5.lock`` left beside a finished output (a process killed
while holding the lock leaves its two small files; the next writer takes them over).
"""

from __future__ import annotations

import datetime as _dt
import errno
import fcntl
import os
import socket
from pathlib import Path

from txpipe.core.atomic import short_name
from txpipe.errors import CommitError, LockedError

_RETRIES = 20


class TargetLock:
    """Exclusive writer lock for one target path. Reentrant for its owner (counted)."""

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self.target = Path(target).absolute()
        self.lock_path = self.target.with_name(short_name(self.target.name, ".lock"))
        self.holder_path = self.target.with_name(short_name(self.target.name, ".lock.holder"))
        self._fd: int | None = None
        self._count = 0

    @property
    def held(self) -> bool:
        return self._count > 0

    def _try_lock(self) -> bool:
        """Open and lock the current lock file; True when it is still the file at lock_path."""
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                holder = self.read_holder() or "another writer (holder unknown)"
                raise LockedError(f"{self.target}: another writer holds the lock: {holder}", holder=holder) from None
            raise OSError(exc.errno, f"{self.lock_path}: cannot lock ({exc.strerror}); the file system may not "
                          "support locks (see the locking notes in docs/batch.md)") from exc
        try:
            same = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the previous holder removed this file after we opened it
            os.close(fd)
            return False
        self._fd = fd
        return True

    def _unlock(self) -> None:
        """Remove the lock file while still holding it, then unlock (see the module docstring)."""
        fd, self._fd = self._fd, None
        self.lock_path.unlink(missing_ok=True)
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def acquire(self) -> "TargetLock":
        """Take the lock or raise LockedError naming the current holder."""
        if self._count:
            self._count += 1
            return self
        self.target.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(_RETRIES):
            if self._try_lock():
                break
        else:
            raise LockedError(f"{self.target}: the lock file keeps being replaced by other writers", holder="")
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        try:
            self.holder_path.write_text(f"pid {os.getpid()} on {socket.gethostname()} since {now}\n")
        except OSError as exc:  # e.g. ENOSPC: give the lock back, leave no half-written holder file
            self.holder_path.unlink(missing_ok=True)
            self._unlock()
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
            self._unlock()

    def read_holder(self) -> str:
        try:
            return self.holder_path.read_text().strip()
        except OSError:
            return ""

    def __enter__(self) -> "TargetLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
