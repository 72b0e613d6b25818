"""Batch as a lab runs it: signals and schedulers, two batches on one folder, data seen through
other paths (symlinks, copies, another mount point), replaced inputs, verify after a move.

The process tests start real `txpipe batch` processes and signal them."""

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
from txpipe.core.replay import verify
from txpipe.runner.batch import check_output, configs_for, discover, run_batch, synth_recordings
from txpipe.runner.cli import build_parser, main

BATCH = [sys.executable, "-m", "txpipe.runner.cli", "batch"]


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> Path:
    """Four small synthetic recordings in subfolders of one folder (made once per module)."""
    root = tmp_path_factory.mktemp("recs")
    synth_recordings(root, count=4, n_units=3)
    return root


def _status(report) -> dict[str, str]:
    return {o.dataset_id: o.status for o in report.outcomes}


def _rows(stdout: str) -> dict[str, str]:
    return {ln.split()[0]: ln.split()[1] for ln in stdout.splitlines() if ln.startswith("synthetic-Rec_")}


def _alive(pids: list[int]) -> list[str]:
    """Processes of *pids* that still exist and are not zombies waiting for init to reap them."""
    out = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            if p.status() != psutil.STATUS_ZOMBIE:
                out.append(f"{pid} {' '.join(p.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            pass
    return out


def _cmdline(p: psutil.Process) -> str:
    """*p*'s command line; "" for a process that is exiting (a zombie has none)."""
    try:
        return " ".join(p.cmdline())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return ""


def _start_and_wait_for_workers(cmd: list[str], out: Path) -> tuple[subprocess.Popen, list[int]]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    me = psutil.Process(proc.pid)
    deadline = time.monotonic() + 120
    kids: list[psutil.Process] = []
    while time.monotonic() < deadline and proc.poll() is None:
        kids = [c for c in me.children(recursive=True) if "resource_tracker" not in _cmdline(c)]
        if len(kids) >= 2:
            break
        time.sleep(0.05)
    time.sleep(1.0)  # let the workers start their first recordings
    pids = [c.pid for c in me.children(recursive=True)]
    assert len(pids) >= 2, "the batch started no worker processes"
    return proc, pids


class TestSignals:
    def test_sigterm_stops_the_batch_leaves_no_process_and_a_rerun_completes(self, recordings, tmp_path):
        """SIGTERM to `txpipe batch --workers 2` mid-run: exit 143, the summary lists what was
        interrupted/cancelled, no descendant is alive 10 s later, no output is torn, and a rerun
        completes the rest."""
        out = tmp_path / "out"
        cmd = [*BATCH, str(recordings), "-o", str(out), "--workers", "2"]
        proc, pids = _start_and_wait_for_workers(cmd, out)
        os.kill(proc.pid, signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 143, stderr
        rows = _rows(stdout)
        assert len(rows) == 4
        assert {"interrupted", "cancelled"} & set(rows.values()), stdout
        assert "stopped by SIGTERM" in stdout
        time.sleep(10)
        assert _alive(pids) == []
        for p in out.glob("*.h5"):
            PipelineSession.load(p)  # complete files only
        done_first = {k for k, v in rows.items() if v == "ok"}

        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        again = _rows(r.stdout)
        assert {k for k, v in again.items() if v == "skipped"} == done_first
        assert {k for k, v in again.items() if v == "ok"} == set(rows) - done_first
        assert sorted(p.name for p in out.glob("*.h5")) == sorted(f"{k}.h5" for k in rows)

    def test_sigint_does_not_run_the_queue(self, recordings, tmp_path):
        """SIGINT to the whole process group (Ctrl-C) stops the batch at once: exit 130, most of the
        queue cancelled instead of run."""
        out = tmp_path / "out"
        cmd = [*BATCH, str(recordings), "-o", str(out), "--workers", "1"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (out.exists() and any(out.glob("*.lock*"))):
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130, stderr
        rows = _rows(stdout)
        assert list(rows.values()).count("cancelled") >= 2, stdout
        assert "stopped by SIGINT" in stdout

    def test_killed_parent_takes_its_workers_along(self, recordings, tmp_path):
        """SIGKILL to the batch process (no chance to clean up): its workers notice the parent
        died and exit within 10 s instead of finishing the queue."""
        out = tmp_path / "out"
        cmd = [*BATCH, str(recordings), "-o", str(out), "--workers", "2"]
        proc, pids = _start_and_wait_for_workers(cmd, out)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        time.sleep(10)
        assert _alive(pids) == []

    def test_no_child_left_after_a_normal_batch(self, recordings, tmp_path):
        """After `txpipe batch --workers 2` returns, it has no child process left, live or
        defunct (checked from inside the process)."""
        code = (
            "import psutil, sys\n"
            "from txpipe.runner.cli import main\n"
            f"rc = main(['-q', 'batch', {str(recordings)!r}, '-o', {str(tmp_path / 'o')!r}, '--workers', '2'])\n"
            "kids = psutil.Process().children(recursive=True)\n"
            "print('KIDS', [(k.pid, k.status()) for k in kids])\n"
            "sys.exit(rc)\n"
        )
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert "KIDS []" in r.stdout, r.stdout


class TestTwoBatches:
    def test_two_batches_on_one_folder_share_the_work(self, recordings, tmp_path):
        """Two `txpipe batch` processes on the same recordings and output folder: neither fails,
        every recording is processed exactly once, the other batch reports it skipped or in
        progress elsewhere."""
        out = tmp_path / "out"
        cmd = [*BATCH, str(recordings), "-o", str(out), "--workers", "1"]
        a = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.3)
        b = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        (sa, ea), (sb, eb) = a.communicate(timeout=300), b.communicate(timeout=300)
        assert a.returncode == 0, ea
        assert b.returncode == 0, eb
        ra, rb = _rows(sa), _rows(sb)
        assert "failed" not in set(ra.values()) | set(rb.values())
        for did in ra:
            assert [ra[did], rb[did]].count("ok") == 1, (sa, sb)
            assert {ra[did], rb[did]} <= {"ok", "skipped", "elsewhere"}
        assert "elsewhere" in set(ra.values()) | set(rb.values()) or "skipped" in set(ra.values()) | set(rb.values())
        for p in out.glob("*.h5"):
            PipelineSession.load(p)


class TestIdentity:
    def test_symlinked_recording_folders_are_found(self, recordings, tmp_path):
        """A folder whose recordings are symlinked folders (and a symlink loop) is searched."""
        view = tmp_path / "view"
        view.mkdir()
        for d in sorted(recordings.iterdir())[:2]:
            (view / d.name).symlink_to(d, target_is_directory=True)
        (view / "loop").symlink_to(view, target_is_directory=True)
        assert [r.dataset_id for r in discover(view)] == ["synthetic-Rec_01", "synthetic-Rec_02"]

    def test_same_data_through_another_path_is_not_redone(self, recordings, tmp_path):
        """Outputs made from one path are complete when the same recordings are seen through a
        copied folder (new mtimes) or a symlink; a replaced .cmtr is redone and reported."""
        data = tmp_path / "nas"
        for n in ("synthetic-Rec_01", "synthetic-Rec_02"):
            shutil.copytree(recordings / n, data / n)
        out = tmp_path / "out"
        assert set(_status(run_batch(discover(data), out)).values()) == {"ok"}

        copy = tmp_path / "mnt" / "shared"
        shutil.copytree(data, copy, copy_function=shutil.copy)  # new mtimes
        link = tmp_path / "link"
        link.symlink_to(data, target_is_directory=True)
        for where in (copy, link):
            r = run_batch(discover(where), out)
            assert set(_status(r).values()) == {"skipped"}, r.table()

        # another recording under the same names: redone, and said so
        other = synth_recordings(tmp_path / "other", name="synthetic-Rec_02", seed=99, n_units=2)[0]
        for kind in ("cmcr", "cmtr"):
            shutil.copy(other.paths[kind], copy / "synthetic-Rec_02" / Path(other.paths[kind]).name)
        r = run_batch(discover(copy), out)
        assert _status(r) == {"synthetic-Rec_01": "skipped", "synthetic-Rec_02": "ok"}, r.table()
        (o,) = [o for o in r.outcomes if o.status == "ok"]
        assert o.message.startswith("redone: inputs changed") and "synthetic-Rec_02-.cmtr" in o.message
        assert "1 redone: inputs changed" in r.table()
        assert set(_status(run_batch(discover(copy), out)).values()) == {"skipped"}

    def test_changed_stimulus_file_is_redone(self, recordings, tmp_path):
        """A stimulus JSON edited after the run makes the output stale (same size is not enough:
        the sampled digest differs)."""
        data = tmp_path / "d"
        shutil.copytree(recordings / "synthetic-Rec_01", data / "synthetic-Rec_01")
        out = tmp_path / "out"
        run_batch(discover(data), out)
        (cfg,) = configs_for(discover(data), out, {})
        assert check_output(cfg).done
        js = next((data / "synthetic-Rec_01" / "stimuli").glob("*.json"))
        text = js.read_text()
        js.write_text(text.replace("1", "2", 1) if "1" in text else text + " ")
        chk = check_output(cfg)
        assert not chk.done and chk.inputs_changed and js.name in chk.reason

    def test_verify_after_the_data_moved(self, recordings, tmp_path, capsys):
        """verify names the missing input and suggests --path-map; with the map it replays."""
        data = tmp_path / "old"
        shutil.copytree(recordings / "synthetic-Rec_04", data / "synthetic-Rec_04")
        out = tmp_path / "out"
        run_batch(discover(data), out)
        f = out / "synthetic-Rec_04.h5"
        data.rename(tmp_path / "new")
        with pytest.raises(FileNotFoundError, match="--path-map"):
            verify(f)
        assert main(["verify", str(f)]) == 1
        assert "--path-map" in capsys.readouterr().err
        assert verify(f, path_map=[f"{data}={tmp_path / 'new'}"]).identical
        assert main(["verify", str(f), "--path-map", f"{data}={tmp_path / 'new'}"]) == 0
        assert "IDENTICAL" in capsys.readouterr().out


class TestCommandLine:
    @pytest.mark.parametrize("argv", [["-v", "demo"], ["demo", "-v"]])
    def test_global_options_before_or_after_the_subcommand(self, argv):
        args = build_parser().parse_args(argv)
        assert args.verbose == 1 and args.command == "demo" and args.quiet is False

    def test_global_defaults_without_options(self):
        args = build_parser().parse_args(["demo"])
        assert (args.verbose, args.quiet, args.log_json, args.debug, args.plugin) == (0, False, False, False, [])

    def test_log_json_before_the_subcommand_reaches_the_command(self, tmp_path, capsys):
        assert main(["-q", "--log-json", "synth", str(tmp_path / "d"), "--units", "2"]) == 0
        assert "synthetic-Rec" in capsys.readouterr().out


class TestResumeFromStaleCheckpoint:
    def test_changed_stimulus_config_is_redone_on_resume(self, recordings, tmp_path):
        """--resume-from a checkpoint whose stimulus JSON changed since: the steps from the one that
        read it are redone (the output's journal records the new file), not kept stale."""
        from txpipe.core.fingerprint import file_fingerprint
        from txpipe.runner.pipeline import RunConfig, checkpoint_path, run_pipeline

        data = tmp_path / "d" / "synthetic-Rec_01"
        shutil.copytree(recordings / "synthetic-Rec_01", data)
        cfg = RunConfig(cmcr=data / "synthetic-Rec_01.cmcr", cmtr=data / "synthetic-Rec_01-.cmtr",
                        out=tmp_path / "out.h5", checkpoint_after="compute_sta")
        run_pipeline(cfg)
        ckpt = checkpoint_path(cfg, "compute_sta")
        js = data / "stimuli" / "baseline_127.json"
        js.write_text(js.read_text() + "\n")
        res = run_pipeline(RunConfig(cmcr=cfg.cmcr, cmtr=cfg.cmtr, out=tmp_path / "out2.h5", resume_from=ckpt))
        entries = PipelineSession.load(res.path).journal
        (sst,) = [e for e in entries if e.step == "section_spike_times"]
        rec = {Path(i["path"]).name: i for i in sst.inputs}
        assert rec["baseline_127.json"]["sample_digest"] == file_fingerprint(js)["sample_digest"]

    def test_unchanged_checkpoint_keeps_its_steps(self, recordings, tmp_path):
        """Resuming from an unchanged checkpoint keeps its steps (their start times are the old ones)."""
        from txpipe.runner.pipeline import RunConfig, checkpoint_path, run_pipeline

        data = tmp_path / "d" / "synthetic-Rec_01"
        shutil.copytree(recordings / "synthetic-Rec_01", data)
        cfg = RunConfig(cmcr=data / "synthetic-Rec_01.cmcr", cmtr=data / "synthetic-Rec_01-.cmtr",
                        out=tmp_path / "out.h5", checkpoint_after="compute_sta")
        run_pipeline(cfg)
        ckpt = checkpoint_path(cfg, "compute_sta")
        before = [e.started_at for e in PipelineSession.load(ckpt).journal]
        res = run_pipeline(RunConfig(cmcr=cfg.cmcr, cmtr=cfg.cmtr, out=tmp_path / "out2.h5", resume_from=ckpt))
        after = [e.started_at for e in PipelineSession.load(res.path).journal]
        assert after[: len(before)] == before
