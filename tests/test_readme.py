"""Tests for README.md: its commands match CI, and its Python examples run on `txpipe synth` output."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from txpipe import PipelineSession
from txpipe.runner.batch import synth_recordings

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


class TestExamples:
    @pytest.mark.parametrize("index", [0, 1], ids=["session", "classic"])
    def test_python_example_runs(self, index, tmp_path, monkeypatch, capsys):
        """Each Python example runs as written in a folder holding `txpipe synth data` output."""
        synth_recordings(tmp_path / "data")
        monkeypatch.chdir(tmp_path)
        code = blocks("python")[index]
        exec(compile(code, f"README.md python block {index}", "exec"), {"__name__": "__readme__"})
        assert "8 units" in capsys.readouterr().out
        (out,) = list((tmp_path / "out").glob("*.h5"))
        assert [e.step for e in PipelineSession.load(out).journal][-1] == "extract_features"
