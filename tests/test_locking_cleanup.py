"""The target lock leaves no lock files behind, and removing them on release keeps it exclusive."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import txpipe
from toysteps import toy_put
from txpipe.core.locking import TargetLock
from txpipe.errors import LockedError

import pytest

HAMMER = textwrap.dedent(
    """
    import os, sys, time
    from txpipe.core.locking import TargetLock
    from txpipe.errors import LockedError
    target, inside, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    done = violations = 0
    while done < n:
        lock = TargetLock(target)
        try:
            lock.acquire()
        except LockedError:
            continue
        try:
            fd = os.open(inside, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # fails if another is inside
        except FileExistsError:
            violations += 1
        else:
            os.close(fd)
            os.unlink(inside)
        lock.release()
        done += 1
    print(violations)
    """
)


def test_no_lock_files_after_commit(tmp_path):
    """A committed output has no `.lock` / `.lock.holder` beside it."""
    with txpipe.pipeline_session(tmp_path / "out.h5", dataset_id="ds") as s:
        s.run(toy_put, path="g0/a", seed=1)
        assert (tmp_path / "out.h5.lock").exists()  # held during the block
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5"]


def test_lock_files_removed_on_release_and_reentrant(tmp_path):
    lock = TargetLock(tmp_path / "t.h5")
    with lock, lock:
        assert lock.lock_path.exists() and lock.holder_path.exists()
        with pytest.raises(LockedError):
            TargetLock(tmp_path / "t.h5").acquire()
    assert list(tmp_path.iterdir()) == []


def test_exclusive_under_contention_with_removal(tmp_path):
    """Four processes take and release the same lock 300 times each; never two inside at once."""
    cmd = [sys.executable, "-c", HAMMER, str(tmp_path / "t.h5"), str(tmp_path / "inside"), "300"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs == ["0"] * 4
    assert sorted(p.name for p in tmp_path.iterdir()) == []
