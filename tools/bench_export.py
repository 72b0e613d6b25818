#!/usr/bin/env python
"""
NWB export time and peak memory on a 20-minute, 150-unit pipeline output, against baselines
measured in the same run.

1. Make a synthetic recording with the lab's protocol (``tools/bench.py``'s ``make_recording``)
   and run the whole pipeline on it (``txpipe run``), unless ``--h5`` gives an output file.
2. In fresh processes (peak RSS = the child's ``VmHWM``), ``--repeat`` times each, best time:
   * ``export``: ``txpipe.export.to_nwb(h5, out.nwb)``;
   * ``copy``: a plain-h5py copy of the same txpipe file into a new file + fsync (the I/O floor
     for writing that much data);
   * ``read``: reading every dataset of the txpipe file into memory with h5py (the memory a
     non-streaming exporter would need at least);
   * ``import``: importing pynwb + txpipe.export and exiting (the fixed cost in time and RSS);
   * ``bare``: importing numpy + h5py only (the base of the ``read`` and ``copy`` RSS).

Reports export time / copy time, and export peak RSS against the import RSS and the read RSS.

Usage::

    python tools/bench_export.py                 # 20 min × 150 units (~2-3 min in all)
    python tools/bench_export.py --quick         # 60 s × 20 units
    python tools/bench_export.py --h5 FILE.h5    # an existing pipeline output
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

META = {"timezone": "Europe/Berlin",
        "subject": {"subject_id": "bench", "species": "Mus musculus", "sex": "U", "age": "P90D"}}


def _child(kind: str, h5: str, out: str) -> dict[str, float]:
    t0 = time.perf_counter()
    if kind == "bare":
        import h5py  # noqa: F401
        import numpy  # noqa: F401
    elif kind == "import":
        import pynwb  # noqa: F401

        import txpipe.export  # noqa: F401
    elif kind == "export":
        from txpipe.export import to_nwb

        to_nwb(h5, out, META)
    elif kind == "copy":
        import h5py

        with h5py.File(h5, "r") as src, h5py.File(out, "w") as dst:
            for name in src:
                src.copy(src[name], dst, name)
        fd = os.open(out, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    elif kind == "read":
        import h5py

        held = []

        def grab(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset):
                held.append(obj[()])

        with h5py.File(h5, "r") as f:
            f.visititems(grab)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "peak_rss_mb": _vm_hwm_mb()}


def _vm_hwm_mb() -> float:
    """This process's peak RSS in MB (``VmHWM``: unlike ``ru_maxrss`` it does not include the
    forking parent's memory from before ``exec``)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(kind: str, h5: Path, out: Path) -> dict[str, float]:
    res = subprocess.run([sys.executable, __file__, "--child", kind, str(h5), str(out)],
                         check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--h5", type=Path, help="an existing txpipe pipeline output")
    ap.add_argument("--duration-s", type=float, default=1200.0)
    ap.add_argument("--units", type=int, default=150)
    ap.add_argument("--quick", action="store_true", help="60 s × 20 units")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(_child(*a.child)))
        return 0
    if a.quick:
        a.duration_s, a.units = 60.0, 20
    work = Path(tempfile.mkdtemp(prefix="txpipe-bench-export-"))
    try:
        h5 = a.h5
        if h5 is None:
            import importlib.util

            spec = importlib.util.spec_from_file_location("_bench", HERE / "bench.py")
            bench = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            sys.modules["_bench"] = bench
            spec.loader.exec_module(bench)  # type: ignore[union-attr]
            t0 = time.perf_counter()
            rec = bench.make_recording(work / "rec", a.duration_s, a.units, seed=1)
            print(f"recording: {a.duration_s:g} s x {a.units} units, {rec['n_spikes']} spikes "
                  f"({time.perf_counter() - t0:.1f} s)", flush=True)
            h5 = work / f"{rec['dataset_id']}.h5"
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "txpipe", "run", rec["cmcr"], rec["cmtr"], "-o", str(h5), "-q"],
                           check=True)
            print(f"pipeline: {time.perf_counter() - t0:.1f} s -> {h5.stat().st_size / 1e6:.0f} MB", flush=True)
        results: dict[str, dict[str, float]] = {}
        for kind in ("bare", "import", "read", "copy", "export"):
            best: dict[str, float] | None = None
            for i in range(a.repeat):
                out = work / f"{kind}-{i}.{'nwb' if kind == 'export' else 'h5'}"
                r = run_child(kind, h5, out)
                if kind == "export":
                    r["nwb_mb"] = out.stat().st_size / 1e6
                out.unlink(missing_ok=True)
                if best is None or r["seconds"] < best["seconds"]:
                    best = {**r, "peak_rss_mb": max(r["peak_rss_mb"], (best or r)["peak_rss_mb"])}
            results[kind] = best  # type: ignore[assignment]
            print(f"{kind:7s} {best['seconds']:7.2f} s   peak RSS {best['peak_rss_mb']:7.0f} MB", flush=True)
        e, c, r, i, b = (results[k] for k in ("export", "copy", "read", "import", "bare"))
        print(f"\ntxpipe file {h5.stat().st_size / 1e6:.0f} MB, NWB file {e['nwb_mb']:.0f} MB")
        print(f"export time / h5py copy time: {e['seconds'] / c['seconds']:.2f}x "
              f"({e['seconds']:.2f} s vs {c['seconds']:.2f} s)")
        print(f"export peak RSS above import: {e['peak_rss_mb'] - i['peak_rss_mb']:.0f} MB; "
              f"reading the whole file with h5py: {r['peak_rss_mb'] - b['peak_rss_mb']:.0f} MB above numpy+h5py "
              f"(imports alone: pynwb+txpipe {i['peak_rss_mb']:.0f} MB, numpy+h5py {b['peak_rss_mb']:.0f} MB)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
