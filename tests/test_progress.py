"""Tests for txpipe.runner.progress: bars only on a terminal, never with --quiet or in batch tasks."""

from __future__ import annotations

import io

import pytest

from txpipe.runner import progress as pg
@pytest.fixture(autouse=True)
def _reset():
    pg.reset_progress()
    yield
    pg.reset_progress()


class TestProgress:
    def test_not_a_terminal_returns_iterable_itself(self, monkeypatch):
        """With stderr not a terminal, progress() returns the iterable unchanged (no tqdm)."""
        monkeypatch.setattr("sys.stderr", io.StringIO())
        items = [1, 2, 3]
        assert pg.progress(items, desc="x") is items
        assert not pg.progress_enabled()

    def test_enabled_draws_on_stderr(self, monkeypatch):
        """configure_progress(enabled=True) draws a bar on stderr and yields the same items."""
        err = io.StringIO()
        monkeypatch.setattr("sys.stderr", err)
        pg.configure_progress(enabled=True)
        assert list(pg.progress(range(3), desc="compute_sta", unit="unit")) == [0, 1, 2]
        with pg.ProgressBar(total=2, desc="batch", unit="recording") as bar:
            bar.update(1, postfix="rec1 ok")
            bar.update(1)
        assert "compute_sta" in err.getvalue() and "batch" in err.getvalue()

    def test_disabled_block_restores(self):
        """progress_disabled() turns bars off inside the block and restores the setting after."""
        pg.configure_progress(enabled=True)
        with pg.progress_disabled():
            assert not pg.progress_enabled()
        assert pg.progress_enabled()
