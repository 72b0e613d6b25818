"""Tests for txpipe.runner.executors: one map() contract for serial, process-pool and Dask executors."""

from __future__ import annotations

import os
import signal

import pytest

from txpipe.errors import ConfigurationError
from txpipe.runner.executors import DaskExecutor, ProcessExecutor, SerialExecutor, make_executor


def square(x: int) -> int:
    """Toy task."""
    if x == 3:
        raise ValueError("three is not allowed")
    return x * x


def die_on_two(x: int) -> int:
    """Toy task whose worker process is killed (SIGKILL) on item 2."""
    if x == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def _by_index(done):
    return {c.index: c for c in done}


class TestSerialExecutor:
    def test_results_and_failures_are_records(self):
        """Every item yields a record; a task's exception is captured, not raised."""
        got = _by_index(SerialExecutor().map(square, [1, 2, 3, 4]))
        assert [got[i].value for i in (0, 1, 3)] == [1, 4, 16]
        assert isinstance(got[2].error, ValueError) and not got[2].ok


class TestProcessExecutor:
    def test_spawned_workers_run_tasks(self):
        """Tasks run in spawned processes and results come back with their index."""
        with ProcessExecutor(2) as ex:
            got = _by_index(ex.map(square, [1, 2, 3, 4]))
        assert got[0].value == 1 and got[3].value == 16
        assert isinstance(got[2].error, ValueError)

    def test_killed_worker_is_reported_not_raised(self):
        """A worker killed mid-task yields error records for unfinished items; map() does not raise."""
        with ProcessExecutor(1) as ex:
            got = _by_index(ex.map(die_on_two, [0, 1, 2, 3]))
        assert len(got) == 4
        assert got[0].value == 0 and got[1].value == 1
        assert type(got[2].error).__name__ == "BrokenProcessPool"
        assert type(got[3].error).__name__ == "BrokenProcessPool"

    def test_rejects_zero_workers(self):
        """n_workers < 1 is a ConfigurationError."""
        with pytest.raises(ConfigurationError, match="at least 1"):
            ProcessExecutor(0)


class TestDaskExecutor:
    def test_local_cluster_threads(self):
        """A 2-worker LocalCluster (threads) runs the tasks and reports a failing one."""
        pytest.importorskip("distributed")
        with DaskExecutor("local", n_workers=2, processes=False) as ex:
            assert "LocalCluster" in ex.describe()
            got = _by_index(ex.map(square, [1, 2, 3, 4]))
        assert got[1].value == 4 and got[3].value == 16
        assert isinstance(got[2].error, ValueError)

    def test_unreachable_scheduler(self):
        """An address nobody listens on is a ConfigurationError naming it."""
        pytest.importorskip("distributed")
        with pytest.raises(ConfigurationError, match="tcp://127.0.0.1:9"):
            DaskExecutor("tcp://127.0.0.1:9", connect_timeout_s=1)


class TestMakeExecutor:
    def test_choice(self):
        """workers=1 → serial, more → process pool; a bad count is a ConfigurationError."""
        assert isinstance(make_executor(workers=1), SerialExecutor)
        assert isinstance(make_executor(workers=3), ProcessExecutor)
        with pytest.raises(ConfigurationError):
            make_executor(workers=0)
