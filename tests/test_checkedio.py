"""Tests for txpipe.core.checkedio.CheckedFile: no write error can be lost, nothing is written after one."""

from __future__ import annotations

import errno
import io

import pytest

from txpipe.core.checkedio import CheckedFile


class FlakyRaw(io.BytesIO):
    """A raw file that accepts at most *chunk* bytes per write and fails with ENOSPC past *room* bytes."""

    def __init__(self, room: int, chunk: int = 3) -> None:
        super().__init__()
        self.room, self.chunk = room, chunk
        self.writes = 0
        self.flushes = 0

    def write(self, b) -> int:  # type: ignore[override]
        self.writes += 1
        b = bytes(b)[: self.chunk]
        if self.tell() + len(b) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(b)

    def flush(self) -> None:
        self.flushes += 1


class TestCheckedFile:
    def test_short_writes_are_completed(self):
        """A write the OS takes in pieces is completed: all bytes land, the full length is returned."""
        raw = FlakyRaw(room=100, chunk=3)
        cf = CheckedFile(raw, "x.h5")
        assert cf.write(b"0123456789") == 10
        assert raw.getvalue() == b"0123456789" and raw.writes == 4
        cf.check()

    def test_first_error_kept_and_later_writes_refused(self):
        """After the first ENOSPC every write, truncate and flush is refused without reaching the file."""
        raw = FlakyRaw(room=5, chunk=100)
        cf = CheckedFile(raw, "x.h5")
        with pytest.raises(OSError) as ei:
            cf.write(b"0123456789")
        assert ei.value.errno == errno.ENOSPC and cf.error is ei.value
        n_writes, n_flushes = raw.writes, raw.flushes
        raw.room = 10**6  # space comes back: still nothing more is written
        with pytest.raises(OSError, match="refused after an earlier write error") as ei2:
            cf.write(b"more")
        assert ei2.value.errno == errno.ENOSPC
        with pytest.raises(OSError):
            cf.truncate(0)
        cf.flush()
        assert (raw.writes, raw.flushes) == (n_writes, n_flushes)
        with pytest.raises(OSError) as ei3:
            cf.check()
        assert ei3.value is cf.error

    def test_zero_byte_write_is_an_error(self):
        """A raw write that accepts nothing is an I/O error, never a silent drop."""
        raw = FlakyRaw(room=100, chunk=0)
        cf = CheckedFile(raw, "x.h5")
        with pytest.raises(OSError) as ei:
            cf.write(b"abc")
        assert ei.value.errno == errno.EIO and cf.error is not None

    def test_sealed_file_refuses_writes(self):
        """After seal(), a late write (e.g. from an object closed by the garbage collector) fails."""
        raw = FlakyRaw(room=100)
        cf = CheckedFile(raw, "x.h5")
        cf.seal()
        with pytest.raises(OSError, match="sealed"):
            cf.write(b"x")
        assert raw.writes == 0
