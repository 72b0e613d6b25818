"""Tests for txpipe.core.atomic: a failed commit keeps the old target, removes the temporary, says why."""

from __future__ import annotations

import errno

import pytest
from structlog.testing import capture_logs

import txpipe
from toysteps import toy_big, toy_put
from txpipe.core import atomic
from txpipe.core import codec
from txpipe.core import store
from txpipe.errors import CommitError

FAULT_POINTS = ["before_write", "after_data", "before_marker", "before_fsync", "before_replace"]


def _enospc(point: str):
    def hook(name: str) -> None:
        if name == point:
            raise OSError(errno.ENOSPC, "No space left on device (injected)")

    return hook


def _saved(tmp_path, seed=1):
    target = tmp_path / "t.h5"
    s = txpipe.PipelineSession("ds")
    s.run(toy_put, path="g0/a", seed=seed).run(toy_big, n_bytes=1 << 20, fill=1.0)
    s.save(target)
    return s, target


class TestFailureInjection:
    """A write error at any stage of a commit leaves the old target and no temporary."""

    @pytest.mark.parametrize("point", FAULT_POINTS)
    def test_enospc_at_fault_point(self, tmp_path, point):
        """ENOSPC at *point*: CommitError naming the target, old content kept, temp removed."""
        s, target = _saved(tmp_path)
        before = store.FileStamp.of(target)
        old_digest = s.content_digest()
        s2 = txpipe.PipelineSession("ds")
        s2.run(toy_put, path="g0/a", seed=2)
        atomic.set_fault_hook(_enospc(point))
        with pytest.raises(CommitError, match=str(target)) as ei:
            s2.save(target)
        atomic.set_fault_hook(None)
        assert isinstance(ei.value.__cause__, OSError) and ei.value.__cause__.errno == errno.ENOSPC
        assert store.FileStamp.of(target) == before
        assert txpipe.PipelineSession.load(target).content_digest() == old_digest
        assert atomic.stale_temps(target) == []
        assert s2.save_state is txpipe.SaveState.DEFERRED  # the failed commit did not bind it
        s2.save(target)  # and a later commit works
        assert txpipe.PipelineSession.load(target).content_digest() == s2.content_digest()

    def test_enospc_mid_write(self, tmp_path, monkeypatch):
        """ENOSPC raised while datasets are being written (after some were): same guarantees."""
        s, target = _saved(tmp_path)
        old_digest = s.content_digest()
        calls = {"n": 0}
        real = codec.write_value

        def failing(*a, **k):
            calls["n"] += 1
            if calls["n"] == 3:
                raise OSError(errno.ENOSPC, "No space left on device (injected while writing datasets)")
            return real(*a, **k)

        s.run(toy_put, path="g1/b", seed=3)  # write-through commit of the bound session works
        monkeypatch.setattr(codec, "write_value", failing)
        with pytest.raises(CommitError, match="previous version kept"):
            s.run(toy_put, path="g1/c", seed=4)
        monkeypatch.undo()
        assert calls["n"] == 3
        assert atomic.stale_temps(target) == []
        loaded = txpipe.PipelineSession.load(target)
        assert "g1/b" in loaded.state and "g1/c" not in loaded.state
        assert "g1/c" not in s.state  # the failed step was rolled back in memory too
        assert s.content_digest() == loaded.content_digest() != old_digest

    def test_non_os_errors_propagate_unwrapped(self, tmp_path):
        """A bug (not an OS error) during a commit propagates as itself; the temp is still removed."""
        s, target = _saved(tmp_path)

        def boom(name):
            if name == "after_data":
                raise RuntimeError("bug")

        atomic.set_fault_hook(boom)
        with pytest.raises(RuntimeError, match="bug"):
            s.save(tmp_path / "other.h5")
        assert not (tmp_path / "other.h5").exists() and atomic.stale_temps(tmp_path / "other.h5") == []

    def test_stale_temps_removed_by_next_commit(self, tmp_path):
        """Temporaries left by a killed commit are removed (and logged) by the next commit."""
        s, target = _saved(tmp_path)
        stray = atomic.temp_path_for(target)
        stray.write_bytes(b"half a file")
        with capture_logs() as logs:
            s.run(toy_put, path="g0/z", seed=9)
        assert not stray.exists()
        assert any(e["event"] == "stale_temp_removed" and e["path"] == str(stray) for e in logs)


class TestBlockRollback:
    """An exception inside the with block leaves out_path as it was."""

    def test_absent_target_stays_absent(self, tmp_path):
        """No file appears when the block raises."""
        out = tmp_path / "o.h5"
        with pytest.raises(KeyError):
            with txpipe.pipeline_session(out, dataset_id="ds") as s:
                s.run(toy_put, path="g0/a", seed=1)
                raise KeyError("user error")
        assert not out.exists() and atomic.stale_temps(out) == []

    def test_existing_target_unchanged(self, tmp_path):
        """The previous commit survives a failing block, byte for byte, and the rollback is logged."""
        s, target = _saved(tmp_path)
        data = target.read_bytes()
        with capture_logs() as logs, pytest.raises(ValueError):
            with txpipe.pipeline_session(target, resume=True) as s2:
                s2.run(toy_put, path="g0/a", seed=77)
                raise ValueError("stop")
        assert target.read_bytes() == data
        rb = [e for e in logs if e["event"] == "rollback"]
        assert rb and rb[0]["log_level"] == "warning" and rb[0]["steps"] == ["toy_put"]
        assert rb[0]["dataset_id"] == "ds" and "ValueError: stop" in rb[0]["error"]
