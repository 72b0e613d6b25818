#!/usr/bin/env python
"""
Benchmark txpipe.mcs.reader against McsPyDataTools on the same synthetic files, in one run.

1. Spike sorter: ``txpipe.mcs.reader.read_cmtr`` (bulk: one ``Peaks`` read per unit) vs McsPy's
   per-unit path (``Spike_Sorter`` → ``get_peaks_timestamps/amplitudes/cutouts`` + ``Unit_Info``,
   the mean waveform from the cutouts), default 200 units × ~5,000 spikes, 60-sample f8 cutouts,
   +20 % excluded peaks. The file uses 0-d unit attributes (``unit_attr_style="scalar"``) because
   McsPy's ``Spike_Sorter`` cannot open faithful int32[1] attributes on numpy ≥ 2.4
   (mcs-format.md P1); the bulk reader reads both styles.
2. Analog: McsPy attribute access ``Acquisition.Analog_Data.ChannelData_1[:]`` vs plain h5py.
3. Optional (``--gen-big``): time ``txpipe.synth.make_recording`` for 1 h × 200 units.

Times are the minimum of ``--repeat`` runs (warm page cache). Usage::

    python tools/bench_read.py            # full size (~1 min, ~0.7 GB in a temp dir)
    python tools/bench_read.py --quick    # 20 units × ~500 spikes, a few seconds
    python tools/bench_read.py --gen-big  # also the 1 h × 200 units generation (~5 GB)
"""

from __future__ import annotations

import argparse
import gc
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

import h5py
import numpy as np

from txpipe import synth

from txpipe.mcs import reader as mcs
def best_of(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Minimum wall time in s of *repeat* calls, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def mcspy_units(path: str) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """McsPy's per-unit path: timestamps, amplitudes, mean cutout, Unit Info per unit."""
    from McsPy.McsCMOSMEA import McsCMOSMEAData
    data = McsCMOSMEAData(path)
    try:
        out = []
        for unit in data.Spike_Sorter.get_units_by_id():
            ts = unit.get_peaks_timestamps()
            amps = unit.get_peaks_amplitudes()
            wf = unit.get_peaks_cutouts().mean(axis=0).astype(np.float32)
            out.append((ts, amps, wf, unit.Unit_Info[:]))
        return out
    finally:
        data.h5_file.close()


def mcspy_analog(path: str) -> np.ndarray:
    from McsPy.McsCMOSMEA import McsCMOSMEAData
    data = McsCMOSMEAData(path)
    try:
        return data.Acquisition.Analog_Data.ChannelData_1[:]
    finally:
        data.h5_file.close()


def h5py_analog(path: str) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f["Acquisition/Analog Data/ChannelData 1"][()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="20 units × ~500 spikes")
    ap.add_argument("--units", type=int, default=200)
    ap.add_argument("--spikes", type=int, default=5000, help="mean spikes per unit")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--gen-big", action="store_true", help="also time 1 h × 200 units generation")
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp dir)")
    a = ap.parse_args()
    n_units, n_spikes = (20, 500) if a.quick else (a.units, a.spikes)
    rate_hz = 10.0
    duration_s = n_spikes / rate_hz
    work = Path(a.dir or tempfile.mkdtemp(prefix="txpipe-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        import McsPy.McsCMOSMEA  # noqa: F401  (import once, outside the timings: ~0.3 s)

        proto = synth.Protocol((synth.gray_movie("gray_60", 60),))
        t0 = time.perf_counter()
        truth = synth.make_recording(work / "bench", protocol=proto, duration_s=duration_s,
                                     n_units=n_units, rate_range_hz=(rate_hz, rate_hz),
                                     response_kinds=["none"] * n_units, unit_attr_style="scalar",
                                     write_truth=False, seed=1)
        t_gen = time.perf_counter() - t0
        cmtr, cmcr = truth.paths["cmtr"], truth.paths["cmcr"]
        n_inc = sum(u.spike_times_us.size for u in truth.units)
        n_exc = sum(u.n_excluded for u in truth.units)
        size = Path(cmtr).stat().st_size / 1e6
        print(f"file: {n_units} units, {n_inc} spikes + {n_exc} excluded peaks, 60-sample f8 "
              f"cutouts, .cmtr {size:.0f} MB, .cmcr {Path(cmcr).stat().st_size / 1e6:.0f} MB "
              f"({duration_s:.0f} s at 20 kHz); generated in {t_gen:.2f} s")

        t_bulk, bulk = best_of(lambda: mcs.read_cmtr(cmtr), a.repeat)
        t_mcspy, ref = best_of(lambda: mcspy_units(cmtr), 1 if not a.quick else a.repeat)
        for u, (ts, amps, wf, _) in zip(bulk.units, ref):
            assert np.array_equal(u.spike_times_us, ts) and np.array_equal(u.amplitudes, amps)
            np.testing.assert_allclose(u.waveform, wf, rtol=1e-5, atol=1e-5)
        print(f"spike sorter  txpipe bulk read_cmtr: {t_bulk:8.3f} s   "
              f"McsPy per-unit get_peaks_*: {t_mcspy:8.3f} s   ratio {t_mcspy / t_bulk:6.1f}x "
              f"(target >= 10x; results identical)")

        t_mcs_a, x = best_of(lambda: mcspy_analog(cmcr), a.repeat)
        t_h5_a, y = best_of(lambda: h5py_analog(cmcr), a.repeat)
        t_rd_a, z = best_of(lambda: mcs.read_cmcr(cmcr), a.repeat)
        assert np.array_equal(x, y) and np.array_equal(z.analog, y)
        print(f"analog {x.shape} int32 ({x.nbytes / 1e6:.0f} MB): McsPy {t_mcs_a * 1e3:7.1f} ms   "
              f"h5py {t_h5_a * 1e3:7.1f} ms   ratio {t_mcs_a / t_h5_a:4.2f}x   "
              f"txpipe read_cmcr {t_rd_a * 1e3:7.1f} ms")
        del bulk, ref, x, y, z

        if a.gen_big:
            big = work / "big"
            t0 = time.perf_counter()
            tb = synth.make_recording(big, protocol=synth.full_protocol(3600), duration_s=3600,
                                      n_units=200, write_truth=False, seed=2)
            t_big = time.perf_counter() - t0
            n_big = sum(u.spike_times_us.size for u in tb.units)
            gb = sum(p.stat().st_size for p in big.iterdir() if p.is_file()) / 1e9
            print(f"generate 1 h × 200 units: {t_big:.1f} s ({n_big} spikes, {gb:.2f} GB written)")
            t_big_read, bd = best_of(lambda: mcs.read_cmtr(tb.paths["cmtr"]), 1)
            print(f"read_cmtr of that 1 h × 200-unit file: {t_big_read:.1f} s")
            del bd
    finally:
        if a.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
