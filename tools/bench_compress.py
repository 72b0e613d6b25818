#!/usr/bin/env python
"""
Output size and time with and without ``--compress``, measured in the same run.

Generates a synthetic recording (default 10 minutes, 150 units, the full protocol), runs the
whole pipeline once in a deferred session, then commits that same in-memory state
``--repeat`` times each way (uncompressed, and gzip+shuffle at each ``--levels``), and reads
every array of each file back. Prints, per variant: file size, the share of the light reference
and of the FRIF x-axis in the uncompressed file, the median commit time, the median time to read
the whole file back, and each as a ratio to the uncompressed commit of the same run.

Usage::

    python tools/bench_compress.py                    # 10 min, 150 units
    python tools/bench_compress.py --duration-s 120 --units 40 --repeat 1   # quick
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

import txpipe
from txpipe.core.compression import compression
from txpipe.core.step import get_step
from txpipe.runner.pipeline import RunConfig, build_plan
from txpipe.synth import full_protocol, make_recording


def _read_all(path: Path) -> int:
    n = 0
    with h5py.File(path, "r") as f:
        def visit(_name: str, obj: object) -> None:
            nonlocal n
            if isinstance(obj, h5py.Dataset) and obj.shape is not None:
                n += np.asarray(obj[()]).nbytes
        f.visititems(visit)
    return n


def _bytes_under(path: Path, prefix: str, name_filter: str | None = None) -> int:
    total = 0
    with h5py.File(path, "r") as f:
        def visit(name: str, obj: object) -> None:
            nonlocal total
            if isinstance(obj, h5py.Dataset) and name.startswith(prefix) and (name_filter is None or name_filter in name):
                total += obj.id.get_storage_size()
        f.visititems(visit)
    return total


def _count_datasets(path: Path) -> int:
    n = 0
    with h5py.File(path, "r") as f:
        def visit(_name: str, obj: object) -> None:
            nonlocal n
            n += isinstance(obj, h5py.Dataset)
        f.visititems(visit)
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration-s", type=float, default=600.0)
    ap.add_argument("--units", type=int, default=150)
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temporary one)")
    args = ap.parse_args()
    txpipe.configure_logging(level="error")
    work = args.dir or Path(tempfile.mkdtemp(prefix="bench_compress_"))
    truth = make_recording(work / "rec", n_units=args.units, duration_s=args.duration_s,
                           protocol=full_protocol(args.duration_s, seed=1), seed=1)
    cfg = RunConfig(cmcr=Path(truth.paths["cmcr"]), cmtr=Path(truth.paths["cmtr"]), out=work / "unused.h5")
    s = txpipe.PipelineSession(truth.dataset_id)
    for planned in build_plan(cfg):
        s.run(get_step(planned.name), **planned.params)
    variants: list[tuple[str, int | None]] = [("uncompressed", None)] + [(f"gzip {lv} + shuffle", lv) for lv in args.levels]
    rows = []
    for label, level in variants:
        commits, reads = [], []
        path = work / f"out-{level or 0}.h5"
        for _ in range(args.repeat):
            if path.exists():
                os.remove(path)
            t0 = time.perf_counter()
            with compression(level):
                s.checkpoint(path)
            commits.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            _read_all(path)
            reads.append(time.perf_counter() - t0)
        rows.append((label, path.stat().st_size, statistics.median(commits), statistics.median(reads), path))
    base = rows[0]
    light = _bytes_under(base[4], "stimulus/light_reference")
    frif_x = _bytes_under(base[4], "units", "frif")
    print(f"recording: {args.duration_s:g} s, {args.units} units; {_count_datasets(base[4])} datasets; "
          f"light reference {light / base[1]:.1%} of the uncompressed file, FRIF arrays {frif_x / base[1]:.1%}")
    print(f"{'variant':<20} {'size MB':>9} {'size ratio':>10} {'commit s':>9} {'commit ratio':>12} {'read s':>7} {'read ratio':>10}")
    for label, size, c, r, _ in rows:
        print(f"{label:<20} {size / 1e6:>9.1f} {size / base[1]:>10.2f} {c:>9.2f} {c / base[2]:>12.2f} {r:>7.2f} {r / base[3]:>10.2f}")
    s.discard()


if __name__ == "__main__":
    main()
