"""Tests for txpipe.core.session: save states, commits, undo, events, stale files, lazy loading."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import pytest
from structlog.testing import capture_logs

import txpipe
from toysteps import toy_attrs, toy_bad, toy_big, toy_delete, toy_fail, toy_put, toy_sum
from txpipe import SaveState
from txpipe.errors import (
    ConfigurationError,
    MemoryLimitError,
    MissingPrerequisiteError,
    NotATxpipeFileError,
    StaleFileError,
    UndoError,
    UnsupportedValueError,
)
from txpipe.core.tree import LazyArray


def _events(logs, name):
    return [e for e in logs if e["event"] == name]


class TestSaveStates:
    """DEFERRED until committed; SAVED sessions write through; checkpoints do not rebind."""

    def test_deferred_then_saved(self, tmp_path):
        """A new session is DEFERRED; save() binds it and makes it SAVED; a step makes it write through."""
        s = txpipe.PipelineSession("ds", output_dir=tmp_path)
        s.run(toy_put, path="g0/a", seed=1)
        assert s.save_state is SaveState.DEFERRED and s.hdf5_path is None
        p = s.save()
        assert p == (tmp_path / "ds.h5").absolute() and s.save_state is SaveState.SAVED
        s.run(toy_put, path="g0/b", seed=2)
        assert s.save_state is SaveState.SAVED
        assert txpipe.PipelineSession.load(p).content_digest() == s.content_digest()

    def test_checkpoint_keeps_binding(self, tmp_path):
        """checkpoint() writes a snapshot (kind=checkpoint) and leaves state and binding alone."""
        s = txpipe.PipelineSession("ds")
        s.run(toy_put, path="g0/a", seed=1)
        c = s.checkpoint(tmp_path / "c.h5", checkpoint_name="after-a")
        assert s.save_state is SaveState.DEFERRED and s.hdf5_path is None
        with h5py.File(c, "r") as h:
            assert h["pipeline/journal"].attrs["kind"] == "checkpoint"
            assert h["pipeline/journal"].attrs["checkpoint_name"] == "after-a"
        with pytest.raises(FileExistsError):
            s.checkpoint(c, overwrite=False)
        s.save(tmp_path / "own.h5")
        with pytest.raises(ConfigurationError, match="save"):
            s.checkpoint(tmp_path / "own.h5")

    def test_commit_kinds_recorded(self, tmp_path):
        """save, checkpoint and implicit_save are recorded as the journal's kind attribute."""
        s = txpipe.PipelineSession("ds", output_dir=tmp_path)
        s.run(toy_put, path="g0/a", seed=1)
        with capture_logs() as logs:
            p = s.ensure_saved("test")
        with h5py.File(p, "r") as h:
            assert h["pipeline/journal"].attrs["kind"] == "implicit_save"
        ev = _events(logs, "implicit_save")[0]
        assert ev["log_level"] == "warning" and ev["path"] == str(p) and ev["reason"] == "test"
        s.save()
        with h5py.File(p, "r") as h:
            assert h["pipeline/journal"].attrs["kind"] == "save"

    def test_overwrite_false(self, tmp_path):
        """overwrite=False and an existing file: FileExistsError, on save() and on entering the block."""
        f = tmp_path / "x.h5"
        f.write_bytes(b"")
        s = txpipe.PipelineSession("ds")
        with pytest.raises(FileExistsError, match="overwrite=False"):
            s.save(f, overwrite=False)
        with pytest.raises(FileExistsError):
            with txpipe.pipeline_session(f, overwrite=False):
                pytest.fail("the block must not run")

    def test_defer_false_commits_every_step(self, tmp_path):
        """With defer=False each step commits at once; with defer=True nothing is written before exit."""
        a, b = tmp_path / "a.h5", tmp_path / "b.h5"
        with txpipe.pipeline_session(a, defer=False, dataset_id="ds") as s:
            s.run(toy_put, path="g0/a", seed=1)
            assert a.exists() and s.save_state is SaveState.SAVED
        with txpipe.pipeline_session(b, dataset_id="ds") as s2:
            s2.run(toy_put, path="g0/a", seed=1)
            assert not b.exists()
        assert s2.save_state is SaveState.SAVED and s2.content_digest() == s.content_digest()


class TestUndo:
    """undo(n) reverts steps exactly; loaded entries that replaced values cannot be undone."""

    def test_undo_exact(self):
        """Undo after puts, replacements, deletes and attributes gives back the earlier digest."""
        s = txpipe.PipelineSession("ds")
        s.run(toy_put, path="g0/a", seed=1).run(toy_put, path="g0/b", seed=2)
        d = s.content_digest()
        s.run(toy_delete, path="g0/a").run(toy_put, path="g0/b", seed=5).run(toy_attrs, path="g0", seed=3)
        with capture_logs() as logs:
            s.undo(3)
        assert s.content_digest() == d and len(s.journal) == 2
        assert _events(logs, "undo")[0]["steps"] == ["toy_attrs", "toy_put", "toy_delete"]
        with pytest.raises(UndoError, match="only 2"):
            s.undo(3)

    def test_undo_of_loaded_replacement(self, tmp_path):
        """A loaded entry that replaced a value raises UndoError; loaded additions can be undone."""
        s = txpipe.PipelineSession("ds")
        s.run(toy_put, path="g0/a", seed=1).run(toy_put, path="g0/a", seed=2).run(toy_put, path="g1/b", seed=3)
        s.save(tmp_path / "x.h5")
        t = txpipe.PipelineSession.load(tmp_path / "x.h5", defer=True)
        t.undo(1)
        assert "g1/b" not in t.state
        with pytest.raises(UndoError, match="#2 'toy_put'"):
            t.undo(1)


class TestStepErrors:
    """Errors from steps leave the session unchanged and say what is wrong."""

    def test_unsupported_value_names_path_and_type(self):
        """A step putting a set fails with UnsupportedValueError naming path and type."""
        s = txpipe.PipelineSession("ds")
        with pytest.raises(UnsupportedValueError) as ei:
            s.run(toy_bad, path="g0/x", what="set")
        assert ei.value.path == "/g0/x" and ei.value.value_type == "set" and len(s.journal) == 0

    def test_failing_apply_rolls_back(self):
        """A step whose changes fail half-way leaves state and journal as they were."""
        s = txpipe.PipelineSession("ds")
        s.run(toy_put, path="g0/a", seed=1)
        d = s.content_digest()
        with pytest.raises(txpipe.errors.InvalidPathError):
            s.run(toy_fail, path="g1/x")
        assert s.content_digest() == d and len(s.journal) == 1

    def test_missing_prerequisite(self):
        """A step whose required step has not run raises MissingPrerequisiteError naming it."""
        with pytest.raises(MissingPrerequisiteError, match="'toy_put'") as ei:
            txpipe.PipelineSession("ds").run(toy_sum, src="g0/a", dst="g0/s")
        assert ei.value.missing == "toy_put"

    def test_memory_limit(self):
        """memory_limit refuses a step before applying it."""
        s = txpipe.PipelineSession("ds", memory_limit=1000)
        with pytest.raises(MemoryLimitError, match="memory_limit=1000"):
            s.run(toy_big, n_bytes=8000, fill=1.0)
        assert s.nbytes == 0

    def test_nbytes_counts_undo_history_once(self):
        """nbytes counts state and before-images, shared arrays once."""
        s = txpipe.PipelineSession("ds")
        s.run(toy_big, n_bytes=8000, fill=1.0, n_arrays=1)
        n1 = s.nbytes
        s.run(toy_big, n_bytes=8000, fill=2.0, n_arrays=1)
        assert n1 == 8000 + 8 and s.nbytes == 2 * n1


class TestStaleFile:
    """A file changed behind the session's back is never silently overwritten."""

    def test_external_change_detected(self, tmp_path):
        """Another session replacing the file makes the bound session raise StaleFileError."""
        s = txpipe.PipelineSession("ds")
        s.run(toy_put, path="g0/a", seed=1)
        f = s.save(tmp_path / "x.h5")
        other = txpipe.PipelineSession.load(f)
        other.run(toy_put, path="g0/b", seed=2)
        with pytest.raises(StaleFileError, match=str(f)):
            s.run(toy_put, path="g0/c", seed=3)
        assert "g0/c" not in s.state
        assert "g0/b" in txpipe.PipelineSession.load(f).state


class TestLoad:
    """load() restores state and journal, reads big arrays lazily, and refuses non-txpipe files."""

    def test_lazy(self, tmp_path):
        """A 32 MB array is a LazyArray after load and is not counted in nbytes until read."""
        s = txpipe.PipelineSession("ds")
        s.run(toy_big, n_bytes=32 << 20, fill=1.0)
        f = s.save(tmp_path / "x.h5")
        t = txpipe.PipelineSession.load(f)
        assert isinstance(t._tree.node("big/a0").value, LazyArray)
        assert t.nbytes < 1 << 16
        assert t.journal == s.journal and t.dataset_id == "ds" and t.save_state is SaveState.SAVED
        assert t.content_digest() == s.content_digest()

    @pytest.mark.parametrize("content", [b"", b"plain text", b"\x89HDF\r\n\x1a\n" + b"\x00" * 100])
    def test_not_txpipe(self, tmp_path, content):
        """Non-HDF5 or damaged files raise NotATxpipeFileError naming the file."""
        f = tmp_path / "bad.h5"
        f.write_bytes(content)
        with pytest.raises(NotATxpipeFileError, match=str(f)):
            txpipe.PipelineSession.load(f)


class TestEvents:
    """Every session event is logged with dataset_id bound."""

    def test_event_names_and_keys(self, tmp_path):
        """step, commit, checkpoint, overwrite and undo carry their documented keys."""
        txpipe.PipelineSession("ds").run(toy_put, path="g0/old", seed=9).save(tmp_path / "x.h5")
        with capture_logs() as logs:
            s = txpipe.PipelineSession("ds")
            s.run(toy_put, path="g0/a", seed=1)
            s.checkpoint(tmp_path / "c.h5")
            s.save(tmp_path / "x.h5")
            s.undo()
        names = [e["event"] for e in logs]
        assert names == ["step", "commit", "checkpoint", "overwrite", "commit", "undo", "commit"]
        assert all(e["dataset_id"] == "ds" for e in logs)
        commit = _events(logs, "commit")[1]
        assert commit["kind"] == "save" and commit["bytes"] > 0 and commit["seconds"] >= 0
        assert commit["path"] == str((tmp_path / "x.h5").absolute())
        assert _events(logs, "overwrite")[0]["log_level"] == "warning"
        assert _events(logs, "step")[0]["step"] == "toy_put"

    def test_uncommitted_on_gc(self):
        """A DEFERRED session with uncommitted steps logs WARNING uncommitted when collected."""
        with capture_logs() as logs:
            s = txpipe.PipelineSession("ds-gc")
            s.run(toy_put, path="g0/a", seed=1).run(toy_attrs, path="g0", seed=1)
            del s
            gc.collect()
        ev = _events(logs, "uncommitted")
        assert len(ev) == 1 and ev[0]["log_level"] == "warning"
        assert ev[0]["dataset_id"] == "ds-gc" and ev[0]["steps"] == ["toy_put", "toy_attrs"]

    def test_no_warning_after_save_or_rollback(self, tmp_path):
        """Committed or rolled-back sessions do not warn."""
        with capture_logs() as logs:
            s = txpipe.PipelineSession("ds")
            s.run(toy_put, path="g0/a", seed=1)
            s.save(tmp_path / "x.h5")
            del s
            gc.collect()
        assert not _events(logs, "uncommitted")

    def test_uncommitted_at_exit(self, tmp_path):
        """A session alive at interpreter exit with uncommitted steps logs the warning to stderr."""
        code = textwrap.dedent(
            """
            import txpipe
            from toysteps import toy_put
            txpipe.configure_logging(json=True)
            s = txpipe.PipelineSession("ds-exit")
            s.run(toy_put, path="g0/a", seed=1)
            """
        )
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
        lines = [ln for ln in r.stderr.splitlines() if '"uncommitted"' in ln]
        assert r.returncode == 0 and len(lines) == 1
        assert '"ds-exit"' in lines[0] and '"toy_put"' in lines[0] and '"warning"' in lines[0]
