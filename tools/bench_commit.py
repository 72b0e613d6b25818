#!/usr/bin/env python
"""
Commit throughput and memory vs plain h5py (SPEC §8), measured in the same run.

For a state of ``--size-mb`` MB (float64 arrays, ``--n-arrays`` of them) it times
``PipelineSession.checkpoint`` (a full atomic commit: temp file, marker, fsync, os.replace,
directory fsync) against writing the same arrays with plain h5py into one file followed by
fsync, ``--repeat`` times each (median), and samples the process RSS every 2 ms during each
commit to report the peak extra memory as a percentage of the state size.

Targets: throughput ratio ≥ 70 %, peak RSS extra ≤ 5 % of the state size.

Usage::

    python tools/bench_commit.py --size-mb 1024
    python tools/bench_commit.py --quick
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import psutil

import txpipe
from txpipe import Changes


@txpipe.step("bench_fill", version="1")
def bench_fill(state, *, n_bytes: int, n_arrays: int, seed: int) -> Changes:
    """Put *n_arrays* float64 random arrays of *n_bytes* in total under /bench."""
    rng = np.random.default_rng(seed)
    ch = Changes()
    for i in range(n_arrays):
        ch.put(f"bench/a{i}", rng.standard_normal(n_bytes // n_arrays // 8), unit="V")
    return ch


class PeakRss:
    """Sample this process's RSS in a thread; ``extra`` is the peak above the starting RSS (bytes)."""

    def __init__(self, interval_s: float = 0.002) -> None:
        self.proc = psutil.Process()
        self.interval_s = interval_s
        self.base = self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> "PeakRss":
        self.base = self.peak = self.proc.memory_info().rss
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.interval_s)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def extra(self) -> int:
        return self.peak - self.base


def plain_h5py(arrays: dict[str, np.ndarray], path: Path) -> None:
    with h5py.File(path, "w") as f:
        for name, a in arrays.items():
            f.create_dataset(name, data=a)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=int, default=1024, help="state size in MB (default 1024)")
    ap.add_argument("--n-arrays", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp dir)")
    ap.add_argument("--quick", action="store_true", help="128 MB, 2 repeats")
    a = ap.parse_args(argv)
    if a.quick:
        a.size_mb, a.repeat = 128, 2
    txpipe.configure_logging(level="error")
    n_bytes = a.size_mb << 20
    workdir = Path(tempfile.mkdtemp(prefix="bench-commit-", dir=a.dir))
    s = txpipe.PipelineSession("bench")
    s.run(bench_fill, n_bytes=n_bytes, n_arrays=a.n_arrays, seed=1)
    arrays = {f"a{i}": s.state[f"bench/a{i}"] for i in range(a.n_arrays)}
    state_bytes = sum(x.nbytes for x in arrays.values())
    rows: dict[str, list[tuple[float, int]]] = {"h5py+fsync": [], "txpipe commit": []}
    for r in range(a.repeat):
        for name in (("h5py+fsync", "txpipe commit") if r % 2 == 0 else ("txpipe commit", "h5py+fsync")):
            path = workdir / f"{name.split()[0].replace('+', '_')}.h5"
            path.unlink(missing_ok=True)
            with PeakRss() as rss:
                t0 = time.perf_counter()
                if name == "h5py+fsync":
                    plain_h5py(arrays, path)
                else:
                    s.checkpoint(path)
                dt = time.perf_counter() - t0
            rows[name].append((dt, rss.extra))
            path.unlink()
    med = {k: statistics.median(t for t, _ in v) for k, v in rows.items()}
    peak = {k: max(m for _, m in v) for k, v in rows.items()}
    ratio = med["h5py+fsync"] / med["txpipe commit"]
    rss_pct = 100 * peak["txpipe commit"] / state_bytes
    print(f"state: {state_bytes / 1e6:.0f} MB in {a.n_arrays} arrays, {a.repeat} repeats, dir {workdir}")
    print(f"{'writer':<16}{'median s':>10}{'MB/s':>10}{'peak RSS extra MB':>20}{'% of state':>12}")
    for k in rows:
        print(f"{k:<16}{med[k]:>10.3f}{state_bytes / 1e6 / med[k]:>10.0f}{peak[k] / 1e6:>20.1f}{100 * peak[k] / state_bytes:>11.1f}%")
    ok_tp, ok_rss = ratio >= 0.70, rss_pct <= 5.0
    print(f"throughput ratio txpipe/h5py: {100 * ratio:.0f} %  (target ≥ 70 %)  {'PASS' if ok_tp else 'FAIL'}")
    print(f"peak RSS extra during commit: {rss_pct:.1f} % of state  (target ≤ 5 %)  {'PASS' if ok_rss else 'FAIL'}")
    s._discarded = True
    shutil.rmtree(workdir)
    return 0 if ok_tp and ok_rss else 1


if __name__ == "__main__":
    sys.exit(main())
