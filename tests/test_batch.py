"""Tests for txpipe.runner.batch: discovery, skip/resume, failures as data, killed workers, Dask LocalCluster."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from txpipe import PipelineSession
from txpipe.runner.batch import completed_output, configs_for, discover, run_batch, synth_recordings
from txpipe.errors import ConfigurationError
from txpipe.runner.executors import DaskExecutor


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> Path:
    """Four small synthetic recordings in subfolders of one folder (made once per module)."""
    root = tmp_path_factory.mktemp("recs")
    synth_recordings(root, count=4, n_units=3)
    return root


def _copy(src: Path, dst: Path, names: list[str]) -> Path:
    for n in names:
        shutil.copytree(src / n, dst / n)
    return dst


def _status(report) -> dict[str, str]:
    return {o.dataset_id: o.status for o in report.outcomes}


class TestDiscover:
    def test_folder(self, recordings):
        """A folder is searched recursively for *.cmcr with a matching *-.cmtr."""
        recs = discover(recordings)
        assert [r.dataset_id for r in recs] == [f"synthetic-Rec_0{i}" for i in range(1, 5)]
        assert all(r.cmtr is not None and r.cmtr.name.endswith("-.cmtr") for r in recs)

    def test_csv_relative_paths_and_overrides(self, recordings, tmp_path):
        """CSV paths are relative to the CSV; extra columns override per recording."""
        lst = tmp_path / "list.csv"
        rel = os.path.relpath(recordings, tmp_path)
        lst.write_text(
            "cmcr,cmtr,dataset_id,playlist\n"
            f"{rel}/synthetic-Rec_01/synthetic-Rec_01.cmcr,{rel}/synthetic-Rec_01/synthetic-Rec_01-.cmtr,first,synthetic_playlist\n"
        )
        (rec,) = discover(lst)
        assert rec.dataset_id == "first" and rec.cmcr.exists()
        (cfg,) = configs_for([rec], tmp_path / "out", {})
        assert cfg.out == tmp_path / "out" / "first.h5" and cfg.playlist == "synthetic_playlist"

    def test_csv_errors(self, tmp_path):
        """Missing or unknown columns and duplicate dataset ids are ConfigurationErrors."""
        lst = tmp_path / "l.csv"
        lst.write_text("cmcr\nx.cmcr\n")
        with pytest.raises(ConfigurationError, match="cmtr"):
            discover(lst)
        lst.write_text("cmcr,cmtr,colour\nx.cmcr,x.cmtr,red\n")
        with pytest.raises(ConfigurationError, match="colour"):
            discover(lst)
        lst.write_text("cmcr,cmtr\na/x.cmcr,a/x-.cmtr\nb/x.cmcr,b/x-.cmtr\n")
        with pytest.raises(ConfigurationError, match="appears twice"):
            discover(lst)

    def test_cmcr_without_cmtr_is_a_failed_recording(self, tmp_path):
        """A .cmcr without its .cmtr is reported as failed with the reason, not raised."""
        (tmp_path / "lonely.cmcr").write_bytes(b"")
        report = run_batch(discover(tmp_path), tmp_path / "out")
        (o,) = report.outcomes
        assert o.status == "failed" and "lonely-.cmtr" in o.message


class TestResume:
    def test_failing_recording_then_rerun_completes_only_what_is_missing(self, recordings, tmp_path):
        """One broken recording fails with its reason while the others finish; a rerun skips the
        finished ones, and after the input is fixed, a rerun processes only that one."""
        data = _copy(recordings, tmp_path / "data", ["synthetic-Rec_01", "synthetic-Rec_02"])
        cmcr = data / "synthetic-Rec_02" / "synthetic-Rec_02.cmcr"
        good = cmcr.read_bytes()
        cmcr.write_bytes(good[:1000])  # truncated raw file
        out = tmp_path / "out"
        r1 = run_batch(discover(data), out)
        assert _status(r1) == {"synthetic-Rec_01": "ok", "synthetic-Rec_02": "failed"}
        assert r1.failed[0].error_type and "synthetic-Rec_02.cmcr" in r1.failed[0].message
        assert not (out / "synthetic-Rec_02.h5").exists()
        assert "1 ok, 0 skipped, 1 failed" in r1.table()
        mtime = (out / "synthetic-Rec_01.h5").stat().st_mtime_ns

        cmcr.write_bytes(good)
        r2 = run_batch(discover(data), out)
        assert _status(r2) == {"synthetic-Rec_01": "skipped", "synthetic-Rec_02": "ok"}
        assert (out / "synthetic-Rec_01.h5").stat().st_mtime_ns == mtime

        r3 = run_batch(discover(data), out, pad_margin=(0.5, 0.5))  # other parameters: redo
        assert _status(r3) == {"synthetic-Rec_01": "ok", "synthetic-Rec_02": "ok"}
        r4 = run_batch(discover(data), out, pad_margin=(0.5, 0.5), force=True)
        assert _status(r4) == {"synthetic-Rec_01": "ok", "synthetic-Rec_02": "ok"}

    def test_incomplete_output_is_redone(self, recordings, tmp_path):
        """An output that is not a complete txpipe file does not count as done."""
        (rec,) = [r for r in discover(recordings) if r.dataset_id == "synthetic-Rec_01"]
        (cfg,) = configs_for([rec], tmp_path, {})
        cfg.out.write_bytes(b"partial")
        done, why = completed_output(cfg)
        assert not done and "unusable" in why

    def test_killed_worker_then_rerun(self, recordings, tmp_path):
        """`txpipe batch --workers 2`: a worker killed mid-batch is reported (exit 3, WorkerLost), no
        output is torn, and a rerun completes only the recordings that are missing."""
        out = tmp_path / "out"
        cmd = [sys.executable, "-m", "txpipe.runner.cli", "batch", str(recordings), "-o", str(out), "--workers", "2"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        me = psutil.Process(proc.pid)
        deadline = time.monotonic() + 120
        while not list(out.glob("*.h5")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        workers = []
        for c in me.children(recursive=True):
            try:
                if "resource_tracker" not in " ".join(c.cmdline()):
                    workers.append(c)
            except psutil.NoSuchProcess:  # exiting (a zombie has no command line)
                pass
        assert workers, "no worker process found"
        os.kill(workers[0].pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 3, stderr
        assert "WorkerLost" in stdout
        first = {p.name for p in out.glob("*.h5")}
        assert 1 <= len(first) < 4
        for p in first:  # every output present is complete
            PipelineSession.load(out / p)

        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        lines = {ln.split()[0]: ln.split()[1] for ln in r.stdout.splitlines() if ln.startswith("synthetic-Rec_")}
        assert {f"{k}.h5" for k, v in lines.items() if v == "skipped"} == first
        assert sum(v == "ok" for v in lines.values()) == 4 - len(first)


class TestDask:
    def test_local_cluster(self, recordings, tmp_path):
        """The same batch on a 2-worker Dask LocalCluster (threads) writes every output, and a
        rerun on it skips them all."""
        pytest.importorskip("distributed")
        data = _copy(recordings, tmp_path / "data", ["synthetic-Rec_03", "synthetic-Rec_04"])
        with DaskExecutor("local", n_workers=2, processes=False) as ex:
            r1 = run_batch(discover(data), tmp_path / "out", executor=ex)
            r2 = run_batch(discover(data), tmp_path / "out", executor=ex)
        assert set(_status(r1).values()) == {"ok"}, r1.table()
        assert set(_status(r2).values()) == {"skipped"}
        assert "dask (LocalCluster, 2 workers)" in r1.table()
