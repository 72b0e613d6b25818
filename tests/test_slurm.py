"""`--scheduler slurm` (dask-jobqueue): the job script built from jobqueue configuration, worker
lifetimes, and a whole batch run through stand-ins for sbatch/scancel that start the job scripts
on this machine (no SLURM here); and the job-array recipe of docs/batch.md run as written."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from txpipe.errors import ConfigurationError
from txpipe.runner.batch import synth_recordings

pytest.importorskip("dask_jobqueue", reason="dask-jobqueue is in the dask and dev extras")

import dask  # noqa: E402

from txpipe.runner.executors import slurm_cluster, worker_lifetime  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

SBATCH = """#!/bin/bash
# stand-in for sbatch: run the job script (its last argument) in the background, in its own session
script="${@: -1}"
copy=$(mktemp "$FAKE_SLURM_DIR/job-XXXXXX.sh"); cp "$script" "$copy"
setsid bash "$copy" > "$copy.out" 2>&1 < /dev/null &
echo $! >> "$FAKE_SLURM_DIR/jobs"
echo "Submitted batch job $!"
"""
SCANCEL = """#!/bin/bash
for job in "$@"; do kill -TERM -- "-$job" 2>/dev/null; done; exit 0
"""


def _conf(**extra):
    base = {"jobqueue.slurm.cores": 2, "jobqueue.slurm.memory": "8GB", "jobqueue.slurm.walltime": "01:00:00",
            "jobqueue.slurm.queue": "normal", "jobqueue.slurm.worker-extra-args": []}
    base.update(extra)
    return dask.config.set(base)


class TestConfiguration:
    def test_lifetime_leaves_before_the_walltime(self):
        """Workers retire at most walltime - 5 min (or -20 %), staggered by up to 10 % / 4 min."""
        assert worker_lifetime("01:00:00") == ("2640s", "240s")
        assert worker_lifetime("1-00:00:00") == ("68880s", "240s")
        assert worker_lifetime("10") == ("420s", "60s")  # 10 minutes
        for wt in ("00:30:00", "02:00:00", "45"):
            life, stag = (int(x[:-1]) for x in worker_lifetime(wt))
            total = sum(int(a) * b for a, b in zip(reversed(wt.split(":")), (1, 60, 3600))) if ":" in wt else int(wt) * 60
            assert life + stag <= total - min(300, total // 5)

    def test_job_script_from_jobqueue_config(self):
        """The SLURM job script comes from the jobqueue configuration, plus --lifetime options."""
        with _conf():
            cluster = slurm_cluster()
            try:
                script = cluster.job_script()
            finally:
                cluster.close()
        assert "#SBATCH -t 01:00:00" in script and "#SBATCH -p normal" in script
        assert "#SBATCH --cpus-per-task=2" in script
        assert re.search(r"--lifetime 2640s --lifetime-stagger 240s", script)

    def test_configured_lifetime_is_kept(self):
        with _conf(**{"jobqueue.slurm.worker-extra-args": ["--lifetime", "10m"]}):
            cluster = slurm_cluster()
            try:
                script = cluster.job_script()
            finally:
                cluster.close()
        assert "--lifetime 10m" in script and "--lifetime-stagger" not in script

    def test_incomplete_configuration_is_a_clear_error(self):
        with dask.config.set({"jobqueue.slurm.cores": None, "jobqueue.slurm.memory": None}):
            with pytest.raises(ConfigurationError, match="jobqueue.yaml"):
                slurm_cluster()


def _fake_slurm(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("sbatch", SBATCH), ("scancel", SCANCEL)):
        f = bin_dir / name
        f.write_text(text)
        f.chmod(f.stat().st_mode | stat.S_IXUSR)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "FAKE_SLURM_DIR": str(tmp_path), "DASK_JOBQUEUE__SLURM__CORES": "1",
            "DASK_JOBQUEUE__SLURM__MEMORY": "2GB", "DASK_JOBQUEUE__SLURM__WALLTIME": "00:20:00",
            "DASK_JOBQUEUE__SLURM__DEATH_TIMEOUT": "20"}


@pytest.mark.slow
def test_batch_on_slurm_jobs(tmp_path):
    """`txpipe batch --scheduler slurm --workers 2` submits worker jobs, runs every recording on
    them, prints the dashboard link, and cancels its jobs at the end."""
    synth_recordings(tmp_path / "data", count=2, n_units=2)
    env = _fake_slurm(tmp_path)
    cmd = [sys.executable, "-m", "txpipe.runner.cli", "batch", str(tmp_path / "data"), "-o", str(tmp_path / "out"),
           "--scheduler", "slurm", "--workers", "2"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    jobs = [int(x) for x in (tmp_path / "jobs").read_text().split()]
    try:
        assert r.returncode == 0, r.stderr
        assert "2 recordings: 2 ok" in r.stdout and "SLURM jobs" in r.stdout
        assert "Dask dashboard: http" in r.stderr
        assert 1 <= len(jobs) <= 2
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(psutil.pid_exists(j) for j in jobs):
            time.sleep(0.5)
        assert not any(psutil.pid_exists(j) and psutil.Process(j).status() != psutil.STATUS_ZOMBIE for j in jobs)
    finally:
        for j in jobs:
            try:
                os.killpg(j, 9)
            except (ProcessLookupError, PermissionError):
                pass


def _section(text: str, title: str) -> str:
    start = text.index(title)
    nxt = text.find("\n## ", start + len(title))
    return text[start: nxt if nxt != -1 else len(text)]


@pytest.mark.slow
def test_job_array_recipe_runs_as_written(tmp_path):
    """The job-array recipe of docs/batch.md, with its paths pointed at a temporary folder: the
    list is made, each array task's script runs (SLURM_ARRAY_TASK_ID=1..N), and the final
    `txpipe batch` command then skips every recording."""
    doc = _section((ROOT / "docs" / "batch.md").read_text(), "## SLURM without Dask: a job array")
    blocks = re.findall(r"```bash\n(.*?)```", doc, flags=re.S)
    submit, job, after = blocks[0], blocks[1], blocks[2]
    data, out = tmp_path / "recordings", tmp_path / "results"
    synth_recordings(data, count=3, n_units=2)
    txpipe = str(Path(sys.executable).parent / "txpipe")

    def local(text: str) -> str:
        return (text.replace("/shared/recordings", str(data)).replace("/shared/results", str(out))
                .replace("/shared/envs/txpipe/bin/txpipe", txpipe))

    work = tmp_path / "job"
    work.mkdir()
    lines = [ln for ln in local(submit).splitlines() if not ln.strip().startswith("sbatch")]
    subprocess.run(["bash", "-euc", "\n".join(lines)], cwd=work, check=True, timeout=60)
    (work / "run_one.sh").write_text(local(job))
    n = len((work / "cmcr.txt").read_text().split())
    assert n == 3
    for i in range(1, n + 1):
        r = subprocess.run(["bash", "run_one.sh"], cwd=work, env={**os.environ, "SLURM_ARRAY_TASK_ID": str(i)},
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
    assert len(list(out.glob("*.h5"))) == 3
    cmd = local(after).strip().replace("txpipe batch", f"{txpipe} batch", 1)
    r = subprocess.run(["bash", "-euc", cmd], cwd=work, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "3 recordings: 0 ok, 3 skipped" in r.stdout
