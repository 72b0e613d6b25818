"""
A checked raw file for HDF5 commits: every byte HDF5 writes goes through it, so no write error
can be lost.

HDF5 writes a lot of a file after the calls that asked for it (small datasets and metadata when
objects and the file are closed), and h5py reports errors raised there only as "Exception
ignored" when it frees an object. A :class:`CheckedFile` sits between HDF5 (h5py's "fileobj"
driver) and the operating system and keeps the *first* OS error (ENOSPC, EFBIG, EIO …) it
sees. From then on it refuses every further write and flush without touching the disk, so a
failed commit stops at its first error; the commit asks :meth:`CheckedFile.check` before it
trusts the file. Short writes are completed or turned into errors, never dropped; read errors
are kept the same way.
"""

from __future__ import annotations

import errno
import io
import os
from typing import Any


class CheckedFile(io.RawIOBase):
    """
    A seekable binary file over *raw* (any raw binary file object) that remembers its first
    write error and refuses every write and flush after it.

    Args:
        raw: the file to read and write (``io.FileIO`` by default, or what
            :func:`txpipe.core.store.set_file_opener` installed).
        name: the path, for error messages.
    """

    def __init__(self, raw: Any, name: str) -> None:
        super().__init__()
        self._raw = raw
        self.name = name
        self.error: OSError | None = None
        self._sealed = False

    # --- error bookkeeping --------------------------------------------------------------------
    def _fail(self, exc: BaseException) -> OSError:
        if self.error is None:
            if isinstance(exc, OSError):
                self.error = exc
            else:  # e.g. ValueError from a closed file object: still a failed write
                self.error = OSError(errno.EIO, f"{type(exc).__name__}: {exc}", self.name)
        return self.error

    def _refuse(self) -> None:
        if self.error is not None:
            raise OSError(self.error.errno, f"refused after an earlier write error: {self.error.strerror or self.error}", self.name)
        if self._sealed:
            raise OSError(errno.EBADF, "write after the commit sealed this file", self.name)

    def check(self) -> None:
        """Raise the first write error seen, if any."""
        if self.error is not None:
            raise self.error

    def seal(self) -> None:
        """Refuse every later write (anything HDF5 tries to write after the commit is done)."""
        self._sealed = True

    # --- io.RawIOBase ------------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        try:
            return self._raw.readinto(b)
        except OSError as exc:  # HDF5 reads back what it wrote (metadata): an I/O error fails the commit too
            raise self._fail(exc) from exc

    def write(self, b: Any) -> int:
        self._refuse()
        view = memoryview(b).cast("B")
        done = 0
        try:
            while done < len(view):
                n = self._raw.write(view[done:])
                if not n:  # None (would block) or 0: the OS took nothing; never drop bytes silently
                    raise OSError(errno.EIO, f"write accepted no bytes at offset {done} of {len(view)}", self.name)
                done += n
        except BaseException as exc:
            raise self._fail(exc) from exc
        return done

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._raw.seek(pos, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def truncate(self, size: int | None = None) -> int:
        self._refuse()
        try:
            return self._raw.truncate(size)
        except BaseException as exc:
            raise self._fail(exc) from exc

    def flush(self) -> None:
        if self.closed or self.error is not None or self._sealed:
            return  # never flush after an error
        try:
            self._raw.flush()
        except BaseException as exc:
            raise self._fail(exc) from exc

    def fileno(self) -> int:
        return self._raw.fileno()

    def fsync(self) -> None:
        """Flush and fsync the underlying file; raise the first error seen."""
        self.check()
        self.flush()
        try:
            os.fsync(self._raw.fileno())
        except (OSError, io.UnsupportedOperation) as exc:
            if isinstance(exc, io.UnsupportedOperation):
                return  # an opener's file object without a descriptor: nothing to fsync
            raise self._fail(exc) from exc

    def close(self) -> None:
        if not self.closed:
            try:
                self._raw.close()
            except OSError as exc:
                self._fail(exc)
            finally:
                super().close()
