"""Tests for txpipe.runner.progress: bars only on a terminal, never with --quiet or in batch tasks."""

from __future__ import annotations

import io

import pytest

from txpipe.report import SECTION_IDS
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


# --- the display of real commands, on a pseudo-terminal and through a pipe ------------------------


def _run_cli(args: list[str], *, tty: bool) -> tuple[int, str]:
    """Run ``python -m txpipe.runner.cli *args`` with stderr on a pseudo-terminal (*tty*) or a
    pipe; returns the exit code and everything written to stderr."""
    import os
    import pty
    import select
    import subprocess
    import sys

    env = {**os.environ, "MPLBACKEND": "Agg"}
    cmd = [sys.executable, "-m", "txpipe.runner.cli", *args]
    if not tty:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        return r.returncode, r.stderr
    master, slave = pty.openpty()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif p.poll() is not None:
            break
    p.wait(timeout=300)
    os.close(master)
    return p.returncode, b"".join(chunks).decode("utf-8", "replace")


@pytest.fixture(scope="module")
def small_rec(tmp_path_factory):
    from txpipe import synth

    return synth.make_recording(tmp_path_factory.mktemp("progress"), n_units=4)


class TestCommandDisplay:
    def test_run_shows_steps_and_units_on_a_terminal(self, small_rec, tmp_path):
        """``txpipe run`` on a terminal: a bar over the steps (naming the running step) and a
        per-unit bar of the steps that loop over units."""
        code, err = _run_cli(["run", small_rec.paths["cmcr"], small_rec.paths["cmtr"], "-o", str(tmp_path / "a.h5")], tty=True)
        assert code == 0, err
        assert "step/s" in err and "load_recording" in err and "5/5" in err
        assert "section_spike_times" in err and "unit/s" in err and "/4 [" in err  # 4 units

    def test_run_with_eimage_shows_seconds_of_the_window(self, tmp_path):
        """The electrical image's bar counts seconds of the analysis window (1.2 s: 2 bars' worth)."""
        from txpipe import synth

        rec = synth.make_recording(tmp_path / "rec", n_units=2, sensor_seconds=1.2, seed=2)
        code, err = _run_cli(["run", rec.paths["cmcr"], rec.paths["cmtr"], "-o", str(tmp_path / "e.h5"),
                              "--eimage-seconds", "1.2"], tty=True)
        assert code == 0, err
        assert "compute_eimage_sta" in err and "/2 [" in err and "s/s" in err

    def test_no_bars_when_piped_or_quiet(self, small_rec, tmp_path):
        """Through a pipe, or with -q on a terminal, no bar is drawn."""
        code, err = _run_cli(["run", small_rec.paths["cmcr"], small_rec.paths["cmtr"], "-o", str(tmp_path / "b.h5")], tty=False)
        assert code == 0 and "%|" not in err and "step/s" not in err
        code, err = _run_cli(["run", small_rec.paths["cmcr"], small_rec.paths["cmtr"], "-o", str(tmp_path / "c.h5"), "-q"],
                             tty=True)
        assert code == 0 and "%|" not in err and "step/s" not in err

    def test_batch_shows_recordings_then_steps_on_a_terminal(self, small_rec, tmp_path):
        """``txpipe batch --workers 1`` on a terminal: a bar over recordings with the run's step
        and unit bars nested below it (worker processes draw nothing)."""
        from pathlib import Path

        here = Path(small_rec.paths["cmcr"]).parent
        code, err = _run_cli(["batch", str(here), "-o", str(tmp_path / "out"), "--workers", "1"], tty=True)
        assert code == 0, err
        assert "recording/s" in err and "1/1" in err and "step/s" in err and "unit/s" in err

    def test_report_shows_sections_on_a_terminal(self, small_rec, tmp_path):
        """``txpipe report`` on a terminal draws a bar over the report's sections."""
        out = tmp_path / "r.h5"
        assert _run_cli(["run", small_rec.paths["cmcr"], small_rec.paths["cmtr"], "-o", str(out), "-q"], tty=False)[0] == 0
        code, err = _run_cli(["report", str(out), "--max-units", "2"], tty=True)
        assert code == 0, err
        n = len(SECTION_IDS)
        assert "section/s" in err and f"{n}/{n}" in err
