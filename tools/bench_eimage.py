#!/usr/bin/env python
"""
Electrical-image benchmark: txpipe's ``compute_eimage_sta`` against the lab's algorithm and against
merely reading the same sensor window with h5py, on one synthetic recording, in one run.

The recording (``txpipe.synth.make_recording`` with a sensor stream) is written once into
``--dir``; each method then runs in its own fresh subprocess (``--worker``), so its time and peak
RSS (``ru_maxrss``) are its own. Methods, all on the same file and the same analysis window:

* ``h5py``: read the window in 1 s blocks with ``read_direct`` into one reused buffer (the
  physical floor: nothing can be faster than reading the data once);
* ``txpipe``: the ``compute_eimage_sta`` step on a loaded session (the step's time only; the
  spike-sorter load is not counted for any method);
* ``lab``: the lab's ``load_recording_with_eimage_sta`` eimage stage re-implemented faithfully:
  per chunk of ``--lab-chunk-s`` seconds (the lab's default is 10 s) with an overlap of one window,
  int16 → float32, scipy ``sosfiltfilt`` of the chunk alone (float64 output), then a Python loop
  adding one window per spike that lies in ``[chunk_start + pre, chunk_end - post)``; spike samples
  by truncation ``int(t_us / 1e6 * fs)``; the divisor is every spike in the duration (lab bugs
  included: they are what the lab's numbers mean);
* ``txpipe-short``: txpipe on a window of ``--short-seconds`` (peak memory must not depend on it).

By default the page cache is warmed with one untimed h5py pass before the timed runs, so every
method reads from memory (the file must fit in RAM: 169 MB per second of sensor data); with
``--cold`` it is dropped before each method instead, so every method reads from the disk.

Usage::

    python tools/bench_eimage.py --dir /var/tmp/eimage-bench          # 30 s x 60 units, ~5 GB
    python tools/bench_eimage.py --dir D --keep --cold           # every method reads from the disk (root)
    python tools/bench_eimage.py --dir D --seconds 120 --only h5py,txpipe --cold   # 20 GB, larger than the page cache
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SENSOR = "Acquisition/Sensor Data/SensorData 1 1"
WINDOW = (-10, 40)
LAB_RECORDED = {"seconds": 200.6, "peak_gib": 21.3, "what": "30 s window, 60 units, 28,372 spikes, 10 s chunks"}
"""The lab's eimage stage as measured on a machine like ours (recorded figure, for comparison)."""


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker_h5py(cmcr: str, seconds: float, **_: object) -> dict:
    import h5py

    t0 = time.perf_counter()
    with h5py.File(cmcr, "r") as f:
        ds = f[SENSOR]
        fs = 20000
        n = min(int(seconds * fs), ds.shape[0])
        buf = np.empty((fs, 65, 65), ds.dtype)
        total = 0
        for a in range(0, n, fs):
            b = min(n, a + fs)
            ds.read_direct(buf, np.s_[a:b], np.s_[0:b - a])
            total += int(buf[0, 0, 0])
    return {"seconds": time.perf_counter() - t0, "samples": n}


def worker_txpipe(cmcr: str, cmtr: str, seconds: float, chunk_s: float, out: str | None = None, **_: object) -> dict:
    import txpipe

    s = txpipe.load_recording(cmcr, cmtr, defer_save=True)
    s._discarded = True
    t0 = time.perf_counter()
    s.compute_eimage_sta(duration_s=seconds, chunk_duration_s=chunk_s)
    dt = time.perf_counter() - t0
    notes = dict(s.journal[-1].notes)
    if out:
        imgs = {uid: np.asarray(s.state[f"units/{uid}/features/eimage_sta/data"]) for uid in s.units}
        np.savez(out, **imgs)
    return {"seconds": dt, "notes": notes}


def worker_lab(cmcr: str, cmtr: str, seconds: float, chunk_s: float, out: str | None = None, **_: object) -> dict:
    import h5py
    from scipy import signal

    from txpipe.mcs.reader import read_cmtr

    fs = 20000.0
    units = read_cmtr(cmtr).units
    t0 = time.perf_counter()
    pre, post = -WINDOW[0], WINDOW[1]
    win = pre + post
    n_total = int(seconds * fs)
    sos = signal.butter(2, 100.0 / (fs / 2), "high", output="sos")
    spikes = {}
    for u in units:
        s = np.array([int(t / 1e6 * fs) for t in u.spike_times_us], np.int64)  # the lab truncates
        spikes[u.unit_num] = s[s < n_total][:10000]  # Peaks[:spike_limit]
    acc = {k: np.zeros((win, 65, 65), np.float64) for k in spikes}
    chunk = int(chunk_s * fs)
    with h5py.File(cmcr, "r") as f:
        ds = f[SENSOR]
        n_total = min(n_total, ds.shape[0])
        for start in range(0, n_total, chunk):
            end = min(n_total, start + chunk + win)  # overlap = window length
            data = ds[start:end].astype(np.float32)
            filt = signal.sosfiltfilt(sos, data, axis=0)  # float64
            del data
            for k, s in spikes.items():
                for t in s[(s >= start + pre) & (s < end - post) & (s < start + chunk + pre)]:
                    acc[k] += filt[t - pre - start:t + post - start]
            del filt
    res = {k: (acc[k] / len(spikes[k]) if len(spikes[k]) else np.full((win, 65, 65), np.nan)) for k in spikes}
    dt = time.perf_counter() - t0
    if out:
        np.savez(out, **{f"unit_{k:03d}": v.astype(np.float32) for k, v in res.items()})
    return {"seconds": dt, "n_spikes": int(sum(len(s) for s in spikes.values()))}


WORKERS = {"h5py": worker_h5py, "txpipe": worker_txpipe, "lab": worker_lab}


def _run_worker(method: str, **kw: object) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, "--worker-args", json.dumps(kw)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"{method} worker failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=Path("/var/tmp/txpipe-bench-eimage"))
    ap.add_argument("--seconds", type=float, default=30.0, help="analysis window and sensor stream length, s")
    ap.add_argument("--units", type=int, default=60)
    ap.add_argument("--chunk-s", type=float, default=10.0, help="txpipe chunk_duration_s")
    ap.add_argument("--lab-chunk-s", type=float, default=10.0,
                    help="the lab algorithm's chunk (its default 10 s needs ~21 GB of RAM; use 2-3 s on a shared machine)")
    ap.add_argument("--short-seconds", type=float, default=10.0)
    ap.add_argument("--only", default="h5py,txpipe,txpipe-short,lab")
    ap.add_argument("--keep", action="store_true", help="keep the recording (default: delete it at the end)")
    ap.add_argument("--no-warm", action="store_true",
                    help="skip the untimed page-cache warm-up read (for windows larger than RAM)")
    ap.add_argument("--cold", action="store_true",
                    help="drop the page cache before each method (root): every method reads from the disk")
    ap.add_argument("--reuse", action="store_true", help="reuse a recording already in --dir (with --keep)")
    ap.add_argument("--worker")
    ap.add_argument("--worker-args")
    args = ap.parse_args()
    if args.worker:
        res = WORKERS[args.worker](**json.loads(args.worker_args))
        res["peak_mib"] = _peak_mib()
        print(json.dumps(res))
        return 0

    from txpipe import synth

    if args.cold and os.geteuid() != 0:
        raise SystemExit("--cold drops the page cache before each method: run as root")
    args.dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    old = sorted(args.dir.glob("*.truth.npz"))
    if args.reuse and old:
        truth = synth.GroundTruth.load(old[0])
        how = "reused"
    else:
        longer = {} if args.seconds <= 50 else {"duration_s": args.seconds + 5,  # the default protocol lasts ~52 s
                                                "protocol": synth.full_protocol(args.seconds + 5, seed=11)}
        truth = synth.make_recording(args.dir, n_units=args.units, rate_range_hz=(5.0, 25.0),
                                     sensor_seconds=args.seconds, seed=11, write_truth=True, **longer)
        how = f"written in {time.perf_counter() - t0:.1f} s"
    cmcr, cmtr = truth.paths["cmcr"], truth.paths["cmtr"]
    size_gb = os.path.getsize(cmcr) / 1e9
    print(f"recording: {args.seconds:g} s sensor stream, {len(truth.units)} units, {size_gb:.2f} GB .cmcr, {how}; "
          f"page cache {'dropped before each method' if args.cold else 'warm'}", flush=True)

    def run_worker(method: str, **kw: object) -> dict:
        if args.cold:
            subprocess.run(["sync"], check=True)
            Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return _run_worker(method, **kw)
    try:
        only = args.only.split(",")
        common = {"cmcr": cmcr, "cmtr": cmtr, "seconds": args.seconds}
        if not args.no_warm and not args.cold:
            _run_worker("h5py", **common)  # warm the page cache
        rows: dict[str, dict] = {}
        for name in only:  # in the order given
            if name == "h5py":
                rows["h5py"] = run_worker("h5py", **common)
            elif name == "txpipe":
                rows["txpipe"] = run_worker("txpipe", chunk_s=args.chunk_s, out=str(args.dir / "txpipe.npz"), **common)
            elif name == "txpipe-short":
                rows["txpipe-short"] = run_worker("txpipe", cmcr=cmcr, cmtr=cmtr, seconds=args.short_seconds,
                                                  chunk_s=args.chunk_s)
            elif name == "lab":
                rows["lab"] = run_worker("lab", chunk_s=args.lab_chunk_s, out=str(args.dir / "lab.npz"), **common)
            else:
                raise SystemExit(f"--only: unknown method {name!r} (h5py, txpipe, txpipe-short, lab)")
        n_spikes = rows.get("txpipe", {}).get("notes", {}).get("n_spikes")
        print("\n| method | window | seconds | peak RSS | vs h5py read | lab / txpipe |")
        print("|---|---|---|---|---|---|")
        base = rows.get("h5py", {}).get("seconds")
        tx = rows.get("txpipe", {}).get("seconds")
        for name, r in rows.items():
            win = args.short_seconds if name == "txpipe-short" else args.seconds
            vs = f"{r['seconds'] / base:.2f}x" if base else "-"
            lab_ratio = f"{r['seconds'] / tx:.1f}x" if name == "lab" and tx else ""
            print(f"| {name} | {win:g} s | {r['seconds']:.2f} | {r['peak_mib'] / 1024:.2f} GiB | {vs} | {lab_ratio} |")
        if "lab" in rows and tx:
            rec = LAB_RECORDED
            print(f"| lab (recorded figure: {rec['what']}) | 30 s | {rec['seconds']:.1f} | {rec['peak_gib']:.1f} GiB | | "
                  f"{rec['seconds'] / tx:.1f}x |")
        if "txpipe" in rows:
            nt = rows["txpipe"]["notes"]
            print(f"\ntxpipe: {n_spikes} spikes; inside the step: filter + window sums {nt['compute_seconds']} s, "
                  f"read {nt['read_seconds']} s")
        if (args.dir / "txpipe.npz").exists() and (args.dir / "lab.npz").exists():
            with np.load(args.dir / "txpipe.npz") as a, np.load(args.dir / "lab.npz") as b:
                ratios = []
                for k in a.files:
                    x, y = a[k], b[k]
                    if np.isfinite(x).all() and np.isfinite(y).all():
                        ratios.append(float(y.min() / x.min()))
                print(f"lab / txpipe trough amplitude over {len(ratios)} units: median {np.median(ratios):.3f} "
                      f"(min {min(ratios):.3f}, max {max(ratios):.3f})")
    finally:
        if not args.keep:
            shutil.rmtree(args.dir, ignore_errors=True)
            print(f"deleted {args.dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
