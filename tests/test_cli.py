"""Tests for txpipe.runner.cli: every command run through a subprocess on synthetic data, outputs and exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from txpipe import PipelineSession


def txpipe(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the installed console command (python -m txpipe.runner.cli is the same code)."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "txpipe.runner.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One `txpipe demo` run shared by the module: (completed process, output folder)."""
    out = tmp_path_factory.mktemp("demo")
    return txpipe("demo", "--out", out), out


class TestHelp:
    def test_help_lists_commands(self):
        """`txpipe --help` exits 0 and names every command and the exit codes."""
        r = txpipe("--help")
        assert r.returncode == 0
        for cmd in ("demo", "run", "batch", "inspect", "verify", "synth"):
            assert cmd in r.stdout
        assert "Exit codes" in r.stdout

    def test_usage_error_exits_2(self):
        """A missing required argument is a usage error: exit 2 and a `txpipe ... error:` line."""
        r = txpipe("run", "only-one-file.cmcr")
        assert r.returncode == 2
        assert "error:" in r.stderr and "Traceback" not in r.stderr


class TestDemo:
    def test_demo_writes_one_file_and_reports(self, demo):
        """`txpipe demo` exits 0, prints units/sections/STA/size/time and ends with the file's path."""
        r, out = demo
        assert r.returncode == 0, r.stderr
        for word in ("units", "sections", "STA units", "file size", "time"):
            assert word in r.stdout
        path = Path(r.stdout.strip().splitlines()[-1])
        assert path.exists() and path.parent == out
        assert [e.step for e in PipelineSession.load(path).journal] == [
            "load_recording", "add_section_time", "section_spike_times", "compute_sta", "extract_features"]


class TestRun:
    def test_immediate_with_checkpoint_matches_demo(self, demo, tmp_path):
        """`txpipe run --immediate --checkpoint-after` gives the same content as the deferred demo,
        writes the checkpoint, and logs JSON lines with --log-json -v."""
        _, out = demo
        rec = out / "recording"
        res = tmp_path / "run.h5"
        r = txpipe("run", rec / "synthetic-Rec.cmcr", rec / "synthetic-Rec-.cmtr", "-o", res, "--immediate",
                   "--checkpoint-after", "section_spike_times", "-v", "--log-json")
        assert r.returncode == 0, r.stderr
        assert Path(r.stdout.strip().splitlines()[-1]) == res
        ckpt = tmp_path / "run.after-section_spike_times.h5"
        assert [e.step for e in PipelineSession.load(ckpt).journal][-1] == "section_spike_times"
        events = [json.loads(line)["event"] for line in r.stderr.splitlines() if line.strip()]
        assert "run_finished" in events and "checkpoint" in events
        a = PipelineSession.load(res).content_digest()
        b = PipelineSession.load(out / "synthetic-Rec.h5").content_digest()
        assert a == b

    def test_resume_from_checkpoint(self, demo, tmp_path):
        """`--resume-from` a checkpoint runs only the remaining steps and gives the demo's content;
        a checkpoint made with other (valid) parameters is refused (exit 1) and nothing is written."""
        _, out = demo
        rec = out / "recording"
        inputs = (rec / "synthetic-Rec.cmcr", rec / "synthetic-Rec-.cmtr")
        r = txpipe("run", *inputs, "-o", tmp_path / "a.h5", "--checkpoint-after", "add_section_time", "-q")
        assert r.returncode == 0, r.stderr
        ckpt = tmp_path / "a.after-add_section_time.h5"
        r = txpipe("run", *inputs, "-o", tmp_path / "b.h5", "--resume-from", ckpt, "-v", "--log-json")
        assert r.returncode == 0, r.stderr
        events = [json.loads(line) for line in r.stderr.splitlines() if line.strip()]
        resumed = [e for e in events if e["event"] == "run_resumed"]
        assert resumed and resumed[0]["steps_done"] == ["load_recording", "add_section_time"]
        assert [e["step"] for e in events if e["event"] == "step"] == ["section_spike_times", "compute_sta",
                                                                       "extract_features"]
        b = PipelineSession.load(tmp_path / "b.h5")
        assert [e.step for e in b.journal] == ["load_recording", "add_section_time", "section_spike_times",
                                               "compute_sta", "extract_features"]
        assert b.content_digest() == PipelineSession.load(out / "synthetic-Rec.h5").content_digest()
        r = txpipe("run", *inputs, "-o", tmp_path / "c.h5", "--resume-from", ckpt, "--dataset-id", "other", "-q")
        assert r.returncode == 1 and "cannot resume" in r.stderr
        assert not (tmp_path / "c.h5").exists()

    def test_missing_input_is_one_line_exit_1(self, tmp_path):
        """A missing input file: exit 1, one `txpipe: error:` line; --debug adds the traceback."""
        args = ("run", tmp_path / "nope.cmcr", tmp_path / "nope-.cmtr", "-o", tmp_path / "x.h5", "-q")
        r = txpipe(*args)
        assert r.returncode == 1
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("txpipe: error:") and "nope" in lines[0]
        assert not (tmp_path / "x.h5").exists()
        r = txpipe(*args, "--debug")
        assert r.returncode == 1 and "Traceback" in r.stderr


class TestInterrupt:
    def test_ctrl_c_exits_130(self, tmp_path):
        """SIGINT during a run exits 130 with one `txpipe: error: interrupted` line and no output file."""
        proc = subprocess.Popen([sys.executable, "-m", "txpipe.runner.cli", "demo", "--out", str(tmp_path)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not (tmp_path / "recording").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "txpipe: error: interrupted" in err
        assert not (tmp_path / "synthetic-Rec.h5").exists()


class TestInspectVerify:
    def test_inspect(self, demo):
        """`txpipe inspect` summarises units, sections, features and the journal; --tree lists nodes."""
        _, out = demo
        r = txpipe("inspect", out / "synthetic-Rec.h5", "--tree")
        assert r.returncode == 0, r.stderr
        assert "units       8" in r.stdout and "compute_sta" in r.stdout and "spike_times  uint64" in r.stdout

    def test_inspect_not_txpipe(self, tmp_path):
        """A file that is not a txpipe file: exit 1 with a one-line reason."""
        bad = tmp_path / "bad.h5"
        bad.write_text("hello")
        r = txpipe("inspect", bad)
        assert r.returncode == 1 and r.stderr.startswith("txpipe: error:") and "not an HDF5 file" in r.stderr

    def test_verify_identical_then_different(self, demo, tmp_path):
        """`txpipe verify` says IDENTICAL (exit 0); after a value is tampered with, DIFFERENT (exit 4)."""
        _, out = demo
        r = txpipe("verify", out / "synthetic-Rec.h5")
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("IDENTICAL")
        bad = tmp_path / "tampered.h5"
        bad.write_bytes((out / "synthetic-Rec.h5").read_bytes())
        with h5py.File(bad, "r+") as f:
            ds = f["units/unit_001/waveform"]
            ds[0] = np.float32(ds[0] + 1)
        r = txpipe("verify", bad)
        assert r.returncode == 4
        assert "DIFFERENT" in r.stdout and "units/unit_001/waveform" in r.stdout


class TestSynth:
    def test_synth_count(self, tmp_path):
        """`txpipe synth DIR --count 2` writes two recordings in subfolders."""
        r = txpipe("synth", tmp_path, "--count", "2", "--units", "3")
        assert r.returncode == 0, r.stderr
        assert sorted(p.name for p in tmp_path.rglob("*.cmcr")) == ["synthetic-Rec_01.cmcr", "synthetic-Rec_02.cmcr"]
        assert (tmp_path / "synthetic-Rec_01" / "playlist.csv").exists()
