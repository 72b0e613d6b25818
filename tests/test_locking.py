"""Tests for txpipe.core.locking: one writer per target, across processes; dead holders never block."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import txpipe
from toysteps import toy_put
from txpipe.errors import LockedError
from txpipe.core.locking import TargetLock

HOLDER = textwrap.dedent(
    """
    import sys
    import txpipe
    from toysteps import toy_put
    txpipe.configure_logging()      # logs to stderr; stdout is the handshake channel
    with txpipe.pipeline_session(sys.argv[1], dataset_id="ds") as s:
        s.run(toy_put, path="g0/a", seed=1)
        print("locked", flush=True)
        sys.stdin.readline()          # hold the lock until the parent says so
    print("committed", flush=True)
    """
)


@pytest.fixture
def holder(tmp_path):
    """A second process inside ``pipeline_session(target)``, holding its lock until released."""
    target = tmp_path / "t.h5"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    p = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert p.stdout.readline().strip() == "locked"  # handshake: the child holds the lock now
    yield p, target
    if p.poll() is None:
        p.kill()
    p.wait(timeout=30)
    for pipe in (p.stdin, p.stdout):  # closed explicitly: a pipe left to the GC is a ResourceWarning
        if pipe is not None and not pipe.closed:
            pipe.close()


class TestTwoProcesses:
    """A second writer fails fast with LockedError naming the first."""

    def test_second_session_is_refused(self, holder):
        """Entering pipeline_session on a locked target raises LockedError with the holder's pid."""
        p, target = holder
        with pytest.raises(LockedError) as ei:
            with txpipe.pipeline_session(target, dataset_id="ds"):
                pass
        assert f"pid {p.pid}" in ei.value.holder and f"pid {p.pid}" in str(ei.value)
        assert str(target) in str(ei.value)

    def test_save_to_locked_target_is_refused(self, holder):
        """A plain save() to the locked target raises LockedError; the holder's commit then succeeds."""
        p, target = holder
        s = txpipe.PipelineSession("other")
        s.run(toy_put, path="g0/a", seed=2)
        with pytest.raises(LockedError, match=f"pid {p.pid}"):
            s.save(target)
        assert not target.exists()
        out, _ = p.communicate("go\n", timeout=60)
        assert p.returncode == 0 and "committed" in out
        assert txpipe.PipelineSession.load(target).state["g0/a"].shape is not None
        s.save(target)  # lock free again: the other session may now commit (with an overwrite warning)

    def test_killed_holder_does_not_block(self, holder):
        """After the holder is SIGKILLed its OS lock is gone and a new writer proceeds."""
        p, target = holder
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
        with txpipe.pipeline_session(target, dataset_id="ds") as s:
            s.run(toy_put, path="g0/a", seed=3)
        assert txpipe.PipelineSession.load(target).journal[-1].params["seed"] == 3


class TestTargetLock:
    """The lock is reentrant for its owner and records then clears its holder."""

    def test_reentrant_and_holder_file(self, tmp_path):
        """Nested acquire/release by one owner; the holder file exists only while held."""
        lk = TargetLock(tmp_path / "t.h5")
        with lk:
            with lk:
                assert lk.held and f"pid {os.getpid()}" in lk.read_holder()
            assert lk.held
        assert not lk.held and lk.read_holder() == ""
