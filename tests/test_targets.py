"""Which files a commit may replace: never an input, never a foreign file unless forced; a failed
immediate-mode run keeps the previous output; save(other) inside a block still commits the block's target."""

from __future__ import annotations

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
from structlog.testing import capture_logs

import txpipe
from toysteps import toy_put
from txpipe import Changes
from txpipe.core import atomic
from txpipe.core.fingerprint import file_fingerprint
from txpipe.core.session import partial_path
from txpipe.core.step import step
from txpipe.errors import UnsafeTargetError


@step("target_read_input", version="1")
def read_input(state, *, path: str) -> Changes:
    """Read a file (its bytes become a value) and record it as an input, like load_recording."""
    data = open(path, "rb").read()
    return Changes().put("raw/data", np.frombuffer(data, dtype=np.uint8).copy()).add_input(file_fingerprint(path))


@step("target_fail", version="1")
def fail(state) -> Changes:
    """A step that always fails (like a step 4 that finds a bad stimulus file)."""
    raise txpipe.errors.StepError("step 4 failed on purpose")


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "txpipe.runner.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


class TestNeverAnInput:
    """A target that is an input of the session is refused before anything is written."""

    @pytest.fixture
    def raw(self, tmp_path):
        p = tmp_path / "R.cmcr"
        p.write_bytes(b"raw recording bytes" * 100)
        return p

    @pytest.mark.parametrize("how", ["same", "relative", "symlink", "hardlink"])
    def test_save_onto_input_refused(self, tmp_path, raw, how, monkeypatch):
        """save() onto an input (same path, relative path, symlink, hard link): UnsafeTargetError; input intact."""
        before = raw.read_bytes()
        s = txpipe.PipelineSession("R")
        s.run(read_input, path=str(raw))
        if how == "same":
            target = raw
        elif how == "relative":
            monkeypatch.chdir(tmp_path)
            target = raw.name
        elif how == "symlink":
            target = tmp_path / "link.h5"
            target.symlink_to(raw)
        else:
            target = tmp_path / "hard.h5"
            os.link(raw, target)
        with pytest.raises(UnsafeTargetError, match="input") as ei:
            s.save(target, force_overwrite_foreign=True)  # forcing never allows writing over an input
        assert ei.value.reason == "input" and str(raw) in str(ei.value)
        assert raw.read_bytes() == before
        assert atomic.stale_temps(raw) == []
        with pytest.raises(UnsafeTargetError):
            s.checkpoint(target)
        assert raw.read_bytes() == before

    def test_cli_output_onto_recording_refused(self, tmp_path):
        """`txpipe run R.cmcr R-.cmtr -o R.cmcr` exits 1 naming the file, which is unchanged."""
        cmcr, cmtr = tmp_path / "R.cmcr", tmp_path / "R-.cmtr"
        cmcr.write_bytes(b"not really MCS")
        cmtr.write_bytes(b"units")
        for out in (cmcr, cmtr):
            r = _cli("run", cmcr, cmtr, "-o", out, "--force-overwrite-foreign")
            assert r.returncode == 1, r.stderr
            assert str(out) in r.stderr and "input" in r.stderr and "unexpected" not in r.stderr
        assert cmcr.read_bytes() == b"not really MCS" and cmtr.read_bytes() == b"units"


class TestForeignFiles:
    """An existing file that is not a txpipe file is replaced only when forced."""

    @pytest.fixture(params=["text", "foreign_hdf5", "directory"])
    def foreign(self, request, tmp_path):
        p = tmp_path / "other.h5"
        if request.param == "text":
            p.write_text("lab notes\n")
        elif request.param == "foreign_hdf5":
            with h5py.File(p, "w") as f:
                f["Data/Recording_0"] = np.arange(10)
        else:
            p.mkdir()
        return p

    def _snapshot(self, p):
        return sorted(os.listdir(p)) if p.is_dir() else p.read_bytes()

    def test_save_refused_then_forced(self, foreign):
        """save() refuses with UnsafeTargetError (reason 'foreign'); with force_overwrite_foreign=True it replaces."""
        before = self._snapshot(foreign)
        s = txpipe.PipelineSession("ds")
        s.run(toy_put, path="g0/a", seed=1)
        with pytest.raises(UnsafeTargetError, match="not a txpipe file") as ei:
            s.save(foreign)
        assert ei.value.reason == "foreign" and str(foreign) in str(ei.value)
        assert self._snapshot(foreign) == before
        if foreign.is_dir():
            return  # a directory is never replaced by a file
        s.save(foreign, force_overwrite_foreign=True)
        assert txpipe.PipelineSession.load(foreign).content_digest() == s.content_digest()

    def test_pipeline_session_refuses_on_entry(self, foreign):
        """pipeline_session(foreign) fails before the block runs; forced, the block's commit replaces it."""
        with pytest.raises(UnsafeTargetError):
            with txpipe.pipeline_session(foreign, dataset_id="ds"):
                pytest.fail("the block must not run")
        if foreign.is_dir():
            return
        for defer in (True, False):
            with txpipe.pipeline_session(foreign, dataset_id="ds", defer=defer, force_overwrite_foreign=True) as s:
                s.run(toy_put, path="g0/a", seed=defer)
            assert txpipe.PipelineSession.load(foreign).content_digest() == s.content_digest()

    def test_cli_foreign_output_refused(self, tmp_path, foreign):
        """`txpipe run ... -o FOREIGN` exits 1 before any work and leaves the file as it was."""
        cmcr, cmtr = tmp_path / "R.cmcr", tmp_path / "R-.cmtr"
        cmcr.write_bytes(b"x")
        cmtr.write_bytes(b"y")
        before = self._snapshot(foreign)
        r = _cli("run", cmcr, cmtr, "-o", foreign)
        assert r.returncode == 1 and "--force-overwrite-foreign" in r.stderr and str(foreign) in r.stderr
        assert self._snapshot(foreign) == before

    def test_txpipe_files_still_replaced(self, tmp_path):
        """Another txpipe file is replaced as before (WARNING overwrite)."""
        a = tmp_path / "a.h5"
        txpipe.PipelineSession("x").run(toy_put, path="g0/a", seed=1).save(a)
        s = txpipe.PipelineSession("y").run(toy_put, path="g0/b", seed=2)
        with capture_logs() as logs:
            s.save(a)
        assert any(e["event"] == "overwrite" for e in logs)
        assert txpipe.PipelineSession.load(a).content_digest() == s.content_digest()


class TestImmediateKeepsPrevious:
    """A failed immediate-mode rerun never leaves OUT worse than before."""

    def _good_run(self, out, seed=1):
        with txpipe.pipeline_session(out, defer=False, dataset_id="ds") as s:
            for i in range(3):
                s.run(toy_put, path=f"g{i}/a", seed=seed + i)
        return s.content_digest()

    def test_failed_rerun_keeps_out(self, tmp_path):
        """Rerun fails at step 4: OUT is byte-identical; steps 1-3 are in NAME.partial.h5 (WARNING partial_kept)."""
        out = tmp_path / "OUT.h5"
        self._good_run(out)
        before = out.read_bytes()
        with capture_logs() as logs, pytest.raises(txpipe.errors.StepError):
            with txpipe.pipeline_session(out, defer=False, dataset_id="ds") as s:
                for i in range(3):
                    s.run(toy_put, path=f"g{i}/a", seed=10 + i)
                    assert out.read_bytes() == before  # each step committed, but not onto OUT
                s.run(fail)
        assert out.read_bytes() == before
        part = partial_path(out)
        assert [e.step for e in txpipe.PipelineSession.load(part).journal] == ["toy_put"] * 3
        kept = [e for e in logs if e["event"] == "partial_kept"]
        assert kept and kept[0]["path"] == str(part) and kept[0]["steps"] == ["toy_put"] * 3

    def test_successful_rerun_replaces_out(self, tmp_path):
        """A rerun that succeeds replaces OUT by its work file in one rename; no partial file is left."""
        out = tmp_path / "OUT.h5"
        self._good_run(out)
        digest = self._good_run(out, seed=20)
        assert txpipe.PipelineSession.load(out).content_digest() == digest
        assert not partial_path(out).exists()

    def test_first_run_writes_out_directly(self, tmp_path):
        """With no previous OUT, immediate mode commits each step to OUT itself (classic behaviour)."""
        out = tmp_path / "OUT.h5"
        with pytest.raises(txpipe.errors.StepError):
            with txpipe.pipeline_session(out, defer=False, dataset_id="ds") as s:
                s.run(toy_put, path="g0/a", seed=1)
                s.run(fail)
        assert len(txpipe.PipelineSession.load(out).journal) == 1 and not partial_path(out).exists()


class TestSaveElsewhereInsideBlock:
    def test_block_target_still_written(self, tmp_path):
        """save(other) inside pipeline_session(out) does not make the block skip committing out."""
        out, other = tmp_path / "out.h5", tmp_path / "other.h5"
        with txpipe.pipeline_session(out, dataset_id="ds") as s:
            s.run(toy_put, path="g0/a", seed=1)
            s.save(other)
            s.run(toy_put, path="g0/b", seed=2)
            s.save(other)
        assert txpipe.PipelineSession.load(out).content_digest() == s.content_digest()
        assert s.hdf5_path == out.absolute()
