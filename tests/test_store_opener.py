"""Tests for txpipe.core.store.set_file_opener: commits can write through a Python file object."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from txpipe import PipelineSession

from txpipe.core import store
from txpipe.core.changes import Changes
from txpipe.errors import CommitError
from txpipe.core.step import step

TOOLS = Path(__file__).resolve().parents[1] / "tools"


@step("opener_test_put", version="1")
def _put(state, *, n: int):
    return Changes().put("units/unit_001/x", np.arange(n, dtype=np.float64)).put("metadata/acquisition_rate", 20000.0)


@pytest.fixture(autouse=True)
def _default_opener():
    """Every test starts and ends with the default opener."""
    store.set_file_opener(None)
    yield
    store.set_file_opener(None)


def _bench():
    spec = importlib.util.spec_from_file_location("_bench_for_tests", TOOLS / "bench.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the file executes
    spec.loader.exec_module(mod)
    return mod


class TestSetFileOpener:
    """The hook routes the commit's HDF5 file through the given opener and can be undone."""

    def test_returns_previous_opener(self):
        """set_file_opener returns the opener it replaces, so callers can restore it."""
        def mine(path, mode):
            return io.FileIO(path, mode.replace("b", ""))

        store.set_file_opener(mine)
        assert store.set_file_opener(None) is mine

    def test_commit_through_file_object(self, tmp_path):
        """A commit written through a Python file object is a complete txpipe file that loads back."""
        calls = []

        def opener(path, mode):
            calls.append((Path(path).parent, mode))
            return io.FileIO(path, mode.replace("b", ""))

        store.set_file_opener(opener)
        s = PipelineSession("rec")
        s.run(_put, n=5000)
        out = s.save(tmp_path / "rec.h5")
        assert calls and calls[0][0] == tmp_path and calls[0][1] == "w+b"
        store.check_file(out)
        back = PipelineSession.load(out)
        np.testing.assert_array_equal(back.state["units/unit_001/x"], np.arange(5000, dtype=np.float64))
        assert back.content_digest() == s.content_digest()

    def test_failing_opener_keeps_target(self, tmp_path):
        """An opener that fails makes the commit fail with CommitError; the target keeps its content."""
        s = PipelineSession("rec")
        s.run(_put, n=10)
        out = s.save(tmp_path / "rec.h5")
        before = out.read_bytes()

        def broken(path, mode):
            raise OSError("share unreachable")

        store.set_file_opener(broken)
        with pytest.raises(CommitError):
            s.run(_put, n=20)  # write-through commit to the bound file
        assert out.read_bytes() == before
        assert s.state["units/unit_001/x"].size == 10


class TestThrottledFile:
    """tools/bench.py's network-share model costs its bytes and round trips and keeps the data."""

    def test_throttled_commit_round_trips_and_costs_time(self, tmp_path):
        """A commit through ThrottledFile is identical in content and takes at least bytes/bandwidth."""
        bench = _bench()
        model = bench.ShareModel(bandwidth=20e6, open_s=0.002, flush_s=0.002, close_s=0.002)
        store.set_file_opener(bench.throttled_opener(model))
        s = PipelineSession("rec")
        s.run(_put, n=250_000)  # 2 MB: >= 0.1 s at 20 MB/s
        import time

        t0 = time.perf_counter()
        out = s.save(tmp_path / "rec.h5")
        dt = time.perf_counter() - t0
        assert dt >= 2e6 / model.bandwidth * 0.9
        store.set_file_opener(None)
        back = PipelineSession.load(out)
        assert back.content_digest() == s.content_digest()
