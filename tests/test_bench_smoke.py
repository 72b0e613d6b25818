"""Smoke test of tools/bench.py: the quick mode runs every row and prints the table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "tools" / "bench.py"


class TestBenchQuick:
    """``python tools/bench.py --quick`` completes and prints one row per SPEC §8 target."""

    def test_quick_prints_table(self, tmp_path):
        """The quick run exits 0 and its table holds rows 1–6 with a ratio and a result each."""
        p = subprocess.run([sys.executable, str(BENCH), "--quick", "--dir", str(tmp_path / "work")],
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-3000:]
        out = p.stdout
        assert "| # | target | measured | ratio | goal | result |" in out
        rows = [line for line in out.splitlines() if line.startswith("| ") and line.count("|") == 7]
        numbers = {line.split("|")[1].strip() for line in rows}
        assert {"1", "2", "3", "4", "5", "6"} <= numbers, out
        assert all(line.split("|")[6].strip() in ("PASS", "FAIL", "info") for line in rows[1:])
        assert "machine:" in out and "python tools/bench.py --quick" in out
