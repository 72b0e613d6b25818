"""
Wall time and peak memory of pipeline steps 1-3 on a synthetic recording (default 20 min, 150 units).

Usage::

    python tools/bench_steps.py [--duration-s 1200] [--units 150] [--data-dir DIR] [--json]

The recording is generated with :func:`txpipe.synth.make_recording` (``full_protocol``: baseline,
ON/OFF steps, dense noise) into *DIR* (reused when its ground truth is already there). Each step
runs once in a deferred session, in this process; a sampling thread reads the process RSS every
5 ms. Reported per step: wall time (s), peak RSS during the step (MB) and the rise of the peak
over the RSS before the step (MB). Then the final atomic save of the whole state.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

import psutil

import txpipe
from txpipe import synth


class PeakRss:
    """Samples this process's RSS in a thread between start() and stop(); peak in bytes."""

    def __init__(self, interval_s: float = 0.005) -> None:
        self.proc = psutil.Process()
        self.interval_s = interval_s
        self.peak = 0
        self._stop = threading.Event()
        self._t: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.interval_s)

    def __enter__(self) -> "PeakRss":
        self.before = self.proc.memory_info().rss
        self.peak = self.before
        self._stop.clear()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._t is not None
        self._t.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def measure(name: str, fn, rows: list[dict]) -> None:
    with PeakRss() as m:
        t0 = time.perf_counter()
        fn()
        wall = time.perf_counter() - t0
    rows.append({"step": name, "wall_s": round(wall, 3), "peak_rss_mb": round(m.peak / 2**20, 1),
                 "rise_mb": round((m.peak - m.before) / 2**20, 1)})


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--duration-s", type=float, default=1200.0)
    ap.add_argument("--units", type=int, default=150)
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    a = ap.parse_args(argv)
    data = a.data_dir or Path(tempfile.mkdtemp(prefix="txpipe_bench_steps_"))
    truth = data / "bench-Rec.truth.npz"
    t0 = time.perf_counter()
    if truth.exists():
        gt = synth.GroundTruth.load(truth)
    else:
        gt = synth.make_recording(data, name="bench-Rec", duration_s=a.duration_s, n_units=a.units,
                                  protocol=synth.full_protocol(a.duration_s), seed=1)
    gen_s = time.perf_counter() - t0
    txpipe.configure_logging(level="warning")
    rows: list[dict] = []
    s = txpipe.PipelineSession(output_dir=data)
    measure("load_recording", lambda: s.load_recording(gt.paths["cmcr"], gt.paths["cmtr"]), rows)
    measure("add_section_time", lambda: s.add_section_time(gt.playlist_name, playlist_file=gt.paths["playlist"],
                                                           movie_length_file=gt.paths["movie_length"]), rows)
    measure("add_section_time_analog", lambda: s.add_section_time_analog(3e4, "flash", 0.5), rows)
    measure("section_spike_times", lambda: s.section_spike_times(pad_margin=(0.5, 0.5), config_dir=gt.paths["stimuli_dir"]), rows)
    measure("save (atomic commit)", lambda: s.save(data / "bench-Rec.h5"), rows)
    info = {"duration_s": gt.n_samples / gt.fs_hz, "n_units": len(gt.units), "n_frames": gt.n_frames,
            "n_spikes": int(sum(u.spike_samples.size for u in gt.units)), "generate_s": round(gen_s, 1),
            "file_mb": round((data / "bench-Rec.h5").stat().st_size / 2**20, 1)}
    if a.json:
        print(json.dumps({"recording": info, "steps": rows}, indent=1))
    else:
        print(f"recording: {info}")
        print(f"{'step':26s} {'wall_s':>8s} {'peak_rss_mb':>12s} {'rise_mb':>8s}")
        for r in rows:
            print(f"{r['step']:26s} {r['wall_s']:8.3f} {r['peak_rss_mb']:12.1f} {r['rise_mb']:8.1f}")
    return rows


if __name__ == "__main__":
    main()
