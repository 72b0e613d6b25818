"""Tests for README.md: its commands match CI, and its Python examples run on `txpipe synth` output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(lang: str) -> list[str]:
    """The fenced code blocks of *lang* in README.md, in order."""
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


class TestCommands:
    def test_first_commands_are_what_ci_runs(self):
        """The first block installs as .ci/run does and runs the demo; the second runs the tests."""
        first, second = blocks("bash")[:2]
        assert first.strip() == "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[dev]' && txpipe demo"
        assert second.strip() == ". .venv/bin/activate && python -m pytest -q"
        ci = (ROOT / ".ci" / "run").read_text()
        assert "python3 -m venv .venv" in ci and "-e '.[dev]'" in ci and "python -m pytest -q" in ci
        assert "txpipe demo" in ci


def all_blocks() -> list[tuple[str, str]]:
    """Every fenced ``bash``/``python`` block of README.md as ``(lang, code)``, in order."""
    return re.findall(r"```(bash|python)\n(.*?)```", README, flags=re.S)


@pytest.mark.slow
class TestReadmeTopToBottom:
    def test_every_block_runs_in_order_in_a_fresh_folder(self, tmp_path):
        """A new user's first hour: README's commands and Python blocks, in order, in an empty
        folder (the install is this test run's; the test-suite command is not re-run). Every
        block succeeds, and the Python blocks print their results without log noise."""
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        env.pop("PYTHONPATH", None)
        blocks = all_blocks()
        assert blocks[0][1].strip().endswith("&& txpipe demo")
        ran = []
        for k, (lang, code) in enumerate(blocks):
            if k == 0:
                code = "txpipe demo"  # the install part is this environment
            elif k == 1:
                continue  # the test suite itself
            cmd = ["bash", "-euo", "pipefail", "-c", code] if lang == "bash" else [sys.executable, "-c", code]
            r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
            assert r.returncode == 0, f"README block {k} ({lang}) failed:\n{code}\n--- stderr:\n{r.stderr[-3000:]}"
            if lang == "python":
                assert "units" in r.stdout
                assert r.stderr == "", f"README block {k} printed on stderr:\n{r.stderr[:2000]}"
            ran.append((lang, r.stdout))
        assert len(ran) == len(blocks) - 1
        assert (tmp_path / "classic" / "synthetic-Rec.h5").exists() and (tmp_path / "out" / "synthetic-Rec.h5").exists()
        assert any("2 recordings: 0 ok, 2 skipped" in out for _, out in ran)
        assert (tmp_path / "results" / "report" / "index.html").exists()
