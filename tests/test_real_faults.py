"""
Commits under REAL write faults (not injected at txpipe's own seams): a file-size limit
(``RLIMIT_FSIZE``, so the kernel answers EFBIG) and a small tmpfs that fills up during the
commit and gets space back a moment later (another job deleting a file).

Each case runs in a forked child process, so a crash inside HDF5 shows up as a signal instead
of killing the test run. In every case: the commit fails with ``CommitError`` naming the target
and carrying the OS error; the target is byte-identical to its previous version; no temporary
file is left; and a second ``save()`` from the same session (limit lifted, space back) writes a
file whose content equals the session's memory.
"""

from __future__ import annotations

import errno
import io
import multiprocessing
import os
import resource
import shutil
import signal
import subprocess
import threading
import time
import traceback
from pathlib import Path

import numpy as np
import pytest

import txpipe
from txpipe import Changes
from txpipe.core import atomic, store
from txpipe.core.step import step
from txpipe.errors import CommitError


@step("fault_fill", version="1")
def fault_fill(state, *, seed: int, n_units: int) -> Changes:
    """A small output-like state: many small datasets (units), one larger array, strings, dicts."""
    rng = np.random.default_rng(seed)
    ch = Changes()
    ch.put("metadata/frame_timestamps", np.sort(rng.random(3000)) * 600, unit="s")
    ch.put("metadata/acquisition_rate", 20000.0, unit="Hz")
    ch.put("metadata/recording_name", f"rec-{seed}")
    for u in range(n_units):
        ch.put(f"units/unit_{u:03d}/spike_times", np.sort(rng.random(int(rng.integers(5, 200)))) * 600, unit="s")
        ch.put(f"units/unit_{u:03d}/position", rng.random(2))
        ch.put(f"units/unit_{u:03d}/info", {"channel": int(u), "snr": float(rng.random()), "label": "good"})
    ch.put("sta/kernel", rng.standard_normal((20, 40, 40)).astype(np.float32))
    return ch


def _session(seed: int) -> txpipe.PipelineSession:
    s = txpipe.PipelineSession("rec")
    s.run(fault_fill, seed=seed, n_units=40)
    return s


def _fork_case(fn, *args) -> dict:
    """Run fn(*args) in a forked child; return its result dict, or {'crash': exitcode}."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)

    def main() -> None:
        try:
            txpipe.configure_logging(level="error")
            out = fn(*args)
        except BaseException:  # noqa: BLE001 - report anything to the parent
            out = {"unexpected": traceback.format_exc()}
        child.send(out)
        child.close()
        os._exit(0)

    p = ctx.Process(target=main)
    p.start()
    child.close()
    try:
        result = parent.recv() if parent.poll(60) else {"timeout": True}
    except EOFError:
        result = {}
    p.join(30)
    if p.exitcode not in (0, None) or not result:
        result = {"crash": p.exitcode, **result}
    return result


def _attempt(s: txpipe.PipelineSession, target: Path) -> dict:
    """Try to save; report what happened and the state of the target directory."""
    out: dict = {}
    before = target.read_bytes()
    try:
        s.save(target)
        out["saved"] = True
    except CommitError as exc:
        cause = exc.__cause__
        out["commit_error"] = str(exc)
        out["errno"] = getattr(cause, "errno", None)
    out["target_unchanged"] = target.read_bytes() == before
    out["temps"] = [str(p) for p in atomic.stale_temps(target)]
    return out


def _retry(s: txpipe.PipelineSession, target: Path, out: dict) -> dict:
    s.save(target)
    out["retry_digest"] = txpipe.PipelineSession.load(target).content_digest()
    out["memory_digest"] = s.content_digest()
    return out


def _check(case: str, out: dict, target: Path, errnos: set[int]) -> None:
    assert "crash" not in out and "unexpected" not in out, f"{case}: {out}"
    assert out.get("commit_error"), f"{case}: the commit did not fail: {out}"
    assert str(target) in out["commit_error"], f"{case}: error does not name the target: {out['commit_error']}"
    assert out["errno"] in errnos, f"{case}: cause errno {out['errno']}, expected one of {errnos}"
    assert out["target_unchanged"], f"{case}: target changed"
    assert out["temps"] == [], f"{case}: temporaries left: {out['temps']}"
    assert out["retry_digest"] == out["memory_digest"], f"{case}: retry file differs from memory"


# --- RLIMIT_FSIZE: the kernel refuses to grow the file past a size (EFBIG) ------------------------


def _fsize_case(target: Path, limit: int) -> dict:
    s = _session(seed=2)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the process at the limit
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        out = _attempt(s, target)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    return _retry(s, target, out)


@pytest.fixture(scope="module")
def sizes(tmp_path_factory) -> tuple[Path, int]:
    """A previous version of the target and the size of the file the session under test writes."""
    d = tmp_path_factory.mktemp("fsize")
    probe = d / "probe.h5"
    _session(seed=2).save(probe)
    size = probe.stat().st_size
    probe.unlink()
    prev = d / "previous.h5"
    _session(seed=1).save(prev)
    return prev, size


FSIZE_FRACTIONS = [0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999]


class TestFileSizeLimit:
    """RLIMIT_FSIZE from 2 KiB to 99.9 % of the final file: CommitError, target kept, retry works."""

    @pytest.mark.parametrize("limit", ["2KiB"] + FSIZE_FRACTIONS)
    def test_fsize_limit(self, sizes, tmp_path, limit):
        """The commit fails with EFBIG at this file-size limit; nothing is lost or left behind."""
        prev, size = sizes
        target = tmp_path / "rec.h5"
        shutil.copyfile(prev, target)
        n = 2048 if limit == "2KiB" else int(size * limit)
        assert n < size
        out = _fork_case(_fsize_case, target, n)
        _check(f"RLIMIT_FSIZE={n} of {size}", out, target, {errno.EFBIG})


# --- a tmpfs that fills up mid-commit and gets space back a moment later ----------------------------


def _can_mount() -> str | None:
    if os.geteuid() != 0:
        return "needs root to mount a small tmpfs"
    if shutil.which("mount") is None:
        return "no mount command"
    return None


@pytest.fixture
def small_fs(tmp_path):
    """A 2 MiB tmpfs mounted for the test (skipped without root)."""
    why = _can_mount()
    if why:
        pytest.skip(why)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _full_disk_case(target: Path, room: int, delay_s: float) -> dict:
    """Leave *room* bytes free, commit, and delete the filler *delay_s* after the kernel's first
    ENOSPC (the commit's file is watched only to time the other job; the fault is the kernel's)."""
    s = _session(seed=2)
    filler = target.with_name("filler.bin")
    with open(filler, "wb") as fh:
        fh.write(b"\xff" * max(0, _free(target.parent) - room))
    full = threading.Event()
    gone = threading.Event()

    class Watched(io.FileIO):
        def write(self, b):  # type: ignore[override]
            try:
                return super().write(b)
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    full.set()
                raise

    def other_job() -> None:  # another program deleting a file just after the disk filled up
        if full.wait(20):
            time.sleep(delay_s)
        filler.unlink()
        gone.set()

    t = threading.Thread(target=other_job, daemon=True)
    t.start()
    store.set_file_opener(lambda path, mode: Watched(path, mode.replace("b", "")))
    try:
        out = _attempt(s, target)
    finally:
        store.set_file_opener(None)
    t.join()
    out["space_came_back"] = gone.is_set() and full.is_set()
    return _retry(s, target, out)


FULL_DISK_POINTS = [0.03, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]


class TestDiskFills:
    """A tmpfs fills up during the commit and frees space a moment later: ENOSPC, nothing lost."""

    @pytest.mark.parametrize("point", FULL_DISK_POINTS)
    def test_disk_full_mid_commit(self, small_fs, sizes, point):
        """Room for *point* of the file: ENOSPC stops the commit even though space comes back at once."""
        prev, size = sizes
        target = small_fs / "rec.h5"
        shutil.copyfile(prev, target)
        delay = [0.0, 0.001, 0.005][FULL_DISK_POINTS.index(point) % 3]
        out = _fork_case(_full_disk_case, target, int(size * point), delay)
        assert out.get("space_came_back"), out
        _check(f"room {point:.0%} of {size} bytes, space back after {delay * 1e3:.0f} ms", out, target, {errno.ENOSPC})
        assert not (small_fs / "filler.bin").exists()


class TestLockOnFullDisk:
    def test_holder_file_enospc_leaks_no_lock(self, small_fs):
        """ENOSPC while writing the lock's holder file: CommitError naming that file; the lock is free
        again (a later writer gets it once there is space)."""
        from txpipe.core.locking import TargetLock

        target = small_fs / "rec.h5"
        filler = small_fs / "filler.bin"
        with open(filler, "wb", buffering=0) as fh:
            try:
                while True:
                    fh.write(b"\xff" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        lock = TargetLock(target)
        with pytest.raises(CommitError, match=str(lock.holder_path).replace("[", r"\[")) as ei:
            lock.acquire()
        assert ei.value.__cause__.errno == errno.ENOSPC and not lock.held
        assert not lock.holder_path.exists()
        s = _session(seed=1)
        with pytest.raises(CommitError, match="lock"):
            s.save(target)
        filler.unlink()
        with TargetLock(target):  # nobody holds it
            pass
        s.save(target)
        assert txpipe.PipelineSession.load(target).content_digest() == s.content_digest()
