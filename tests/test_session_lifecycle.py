"""Session lifecycle: close/discard/context manager, membership tests that read nothing, one
uncommitted-work warning, and a real broken state when a rollback fails."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from structlog.testing import capture_logs

import txpipe
from txpipe.core import changes as changes_mod
from txpipe.core import store
from txpipe.errors import InvalidPathError, SessionBrokenError, SessionClosedError


@txpipe.step("life_put", version="1")
def life_put(state, *, n: int = 100_000) -> txpipe.Changes:
    """A 64 KiB+ array (read lazily after a load) and a small dict."""
    return txpipe.Changes().put("data/big", np.arange(n, dtype=np.float64)).put("data/info", {"k": [1, 2]})


@txpipe.step("life_bad", version="1")
def life_bad(state) -> txpipe.Changes:
    """Puts a value, then a path *inside* that leaf: the second operation fails."""
    return txpipe.Changes().put("data/new", 1.0).put("data/new/inner", 2.0)


def _uncommitted(logs) -> list[dict]:
    return [e for e in logs if e["event"] == "uncommitted"]


@pytest.fixture()
def saved(tmp_path):
    s = txpipe.PipelineSession("life")
    s.run(life_put)
    path = s.save(tmp_path / "life.h5")
    s.close()
    return path


class TestCloseAndDiscard:
    def test_context_manager_closes_the_file(self, saved) -> None:
        """A loaded session used as a context manager closes its file handle at the end."""
        with txpipe.PipelineSession.load(saved) as s:
            sources = s._sources()
            assert sources and all(src._h5 is not None for src in sources)
            assert float(s.state["data/big"][10]) == 10.0
        assert s.closed and all(src._h5 is None for src in sources)
        with pytest.raises(SessionClosedError):
            s.run(life_put)
        with pytest.raises(SessionClosedError):
            s.save()

    def test_close_warns_once_about_uncommitted_work(self) -> None:
        s = txpipe.PipelineSession("life")
        s.run(life_put)
        with capture_logs() as logs:
            s.close()
            s.close()
            del s
            gc.collect()
        (w,) = _uncommitted(logs)
        assert w["steps"] == ["life_put"] and w["dataset_id"] == "life" and w["where"] == "close"

    def test_discard_is_silent(self) -> None:
        s = txpipe.PipelineSession("life")
        s.run(life_put)
        with capture_logs() as logs:
            s.discard()
            del s
            gc.collect()
        assert _uncommitted(logs) == []

    def test_a_dropped_session_warns_once(self) -> None:
        """The one mechanism (a finalizer) warns when a session with uncommitted work is dropped."""
        s = txpipe.PipelineSession("life")
        s.run(life_put)
        with capture_logs() as logs:
            del s
            gc.collect()
        (w,) = _uncommitted(logs)
        assert w["steps"] == ["life_put"]

    def test_a_committed_session_does_not_warn(self, tmp_path) -> None:
        s = txpipe.PipelineSession("life")
        s.run(life_put)
        s.save(tmp_path / "x.h5")
        with capture_logs() as logs:
            s.close()
        assert _uncommitted(logs) == []


class TestMembershipReadsNothing:
    def test_in_reads_no_array(self, saved, monkeypatch) -> None:
        """``path in s.state`` for groups and leaves reads nothing from the file."""
        reads: list[str] = []
        real_read, real_value = store.FileSource.read, store.FileSource.read_value
        monkeypatch.setattr(store.FileSource, "read", lambda self, p: reads.append(str(p)) or real_read(self, p))
        monkeypatch.setattr(store.FileSource, "read_value", lambda self, p: reads.append(str(p)) or real_value(self, p))
        with txpipe.PipelineSession.load(saved) as s:
            assert "data/big" in s.state and "data" in s.state and "data/info" in s.state
            assert "data/nope" not in s.state and "nope/deeper" not in s.state
            assert reads == []
            assert "data/info/k" in s.state  # inside a dict value: that value is read
            assert reads == ["/data/info"]
            assert "data/big/0" not in s.state  # not a container


class TestBrokenState:
    def test_failed_rollback_breaks_the_session(self, monkeypatch) -> None:
        """When a step's changes fail half-way and undoing them fails too, the step raises
        SessionBrokenError and the session refuses further work."""
        s = txpipe.PipelineSession("life")
        s.run(life_put)
        with pytest.raises(InvalidPathError):  # rollback works: the error itself, state intact
            s.run(life_bad)
        assert "data/new" not in s.state and [e.step for e in s.journal] == ["life_put"]

        def broken_undo(tree, inverses):
            raise OSError("simulated failure while undoing")

        monkeypatch.setattr(changes_mod, "undo", broken_undo)
        with pytest.raises(SessionBrokenError, match="half-applied") as ei:
            s.run(life_bad)
        assert isinstance(ei.value.__cause__, InvalidPathError)
        monkeypatch.undo()
        with pytest.raises(SessionBrokenError, match="load it again"):
            s.run(life_put)
        with pytest.raises(SessionBrokenError):
            s.save("/tmp/never-written.h5")
        s.discard()
