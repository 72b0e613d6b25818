"""
Crash tests: a child process committing a few-hundred-MB state is SIGKILLed at random moments.

After each kill the target must open as a complete txpipe file whose content digest is the
previous commit's or the one in progress; temporaries left by a kill are removed by the next
commit. The child alternates two states (A and B, 200 MB each) and prints ``begin X`` /
``end X`` around every commit, so the parent knows which commits may be in the target.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import txpipe
from toysteps import toy_big
from txpipe.core import atomic
from txpipe.core import store
N_BYTES = 200 << 20
N_KILLS = 30
CHILD = textwrap.dedent(
    """
    import sys
    import txpipe
    from toysteps import toy_big
    from txpipe.core import atomic
    target, first, n_bytes, n_commits, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    txpipe.configure_logging(level="error")
    if kill_at != "-":
        import os, signal
        atomic.set_fault_hook(lambda name: name == kill_at and os.kill(os.getpid(), signal.SIGKILL))
    fills = {"A": 1.0, "B": 2.0}
    label = first
    with txpipe.pipeline_session(target, dataset_id="crash") as s:   # deferred: only save() commits
        s.run(toy_big, n_bytes=n_bytes, fill=fills[label])
        print("ready", flush=True)
        for k in range(n_commits):
            if k:
                label = "B" if label == "A" else "A"
                s.run(toy_big, n_bytes=n_bytes, fill=fills[label])
            print("begin", label, flush=True)
            s.save(target)
            print("end", label, flush=True)
    """
)


def _digest(fill_b: bool, n_bytes: int) -> str:
    s = txpipe.PipelineSession("crash")
    s.run(toy_big, n_bytes=n_bytes, fill=2.0 if fill_b else 1.0)
    d = s.content_digest()
    s.discard()  # scratch session: no "uncommitted" warning
    return d


def _start(target: Path, first: str, n_bytes: int, n_commits: int, kill_at: str = "-") -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    args = [sys.executable, "-c", CHILD, str(target), first, str(n_bytes), str(n_commits), kill_at]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _allowed(lines: list[str], current: str) -> set[str]:
    """Labels the target may hold given the child's output and the label it held before."""
    allowed = {current}
    for ln in lines:
        word, _, label = ln.partition(" ")
        if word == "begin":
            allowed = {current, label}
        elif word == "end":
            current = label
            allowed = {label}
    return allowed


@pytest.mark.slow
class TestSigkill:
    """SIGKILL at random moments of a commit never leaves a torn target."""

    def test_random_kills(self, tmp_path):
        """30 kills at random delays: the target is always a complete earlier or new commit."""
        rng = random.Random(int(os.environ.get("TXPIPE_CRASH_SEED", "20261126")))
        digests = {"A": _digest(False, N_BYTES), "B": _digest(True, N_BYTES)}
        target = tmp_path / "big.h5"
        p = _start(target, "A", N_BYTES, 1)
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        current = "A"
        outcomes = {"previous": 0, "new": 0}
        for i in range(N_KILLS):
            first = "B" if current == "A" else "A"
            p = _start(target, first, N_BYTES, 3)
            assert p.stdout.readline().strip() == "ready"  # handshake: state built, commits follow
            delay = rng.uniform(0.0, 1.6)
            try:
                p.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
            p.wait(timeout=60)
            lines = [ln.strip() for ln in p.stdout.read().splitlines() if ln.strip()]
            p.stdout.close()
            p.stderr.close()
            allowed = _allowed(lines, current)
            store.check_file(target)  # complete, never torn
            loaded = txpipe.PipelineSession.load(target, defer=True)
            got = loaded.content_digest()
            held = [k for k, d in digests.items() if d == got]
            assert held and held[0] in allowed, f"kill {i} after {delay:.2f}s: target holds {held}, allowed {allowed}, child said {lines}"
            outcomes["previous" if held[0] == current else "new"] += 1
            current = held[0]
            strays = atomic.stale_temps(target)
            assert len(strays) <= 1  # at most the killed commit's own temporary; older ones were cleaned
        # a final clean commit removes whatever the last kill left behind
        p = _start(target, "B" if current == "A" else "A", N_BYTES, 1)
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert atomic.stale_temps(target) == []
        assert outcomes["previous"] > 0 and outcomes["new"] > 0, outcomes

    @pytest.mark.parametrize("point", ["before_write", "after_data", "before_marker", "before_fsync", "before_replace", "after_replace"])
    def test_kill_at_each_fault_point(self, tmp_path, point):
        """SIGKILL at each named stage: old content before os.replace, new content after it."""
        n = 4 << 20
        target = tmp_path / "t.h5"
        p = _start(target, "A", n, 1)
        assert p.communicate(timeout=60)[0].strip().endswith("end A")
        p = _start(target, "B", n, 1, kill_at=point)
        out, _ = p.communicate(timeout=60)
        assert p.returncode == -signal.SIGKILL and "end" not in out
        got = txpipe.PipelineSession.load(target).content_digest()
        want = _digest(point == "after_replace", n)
        assert got == want
        assert len(atomic.stale_temps(target)) == (0 if point in ("before_write", "after_replace") else 1)
        p = _start(target, "A", n, 1)
        p.communicate(timeout=60)
        assert atomic.stale_temps(target) == []
