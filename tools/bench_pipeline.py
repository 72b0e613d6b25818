"""
Benchmark: the whole pipeline on a 20-minute, 150-unit synthetic recording, deferred vs immediate.

Steps: load_recording → add_section_time → section_spike_times → compute_sta → extract_features
(frif, baseline_127, step_response). Each run happens in a fresh child process (so its peak RSS
is its own): ``deferred`` = one ``with pipeline_session(out)`` block, one commit at the end;
``immediate`` = ``pipeline_session(out, defer=False)``, a commit after every step (the classic
behaviour). Runs alternate between modes; medians are reported.

    python tools/bench_pipeline.py                 # 1200 s, 150 units, 3 runs per mode
    python tools/bench_pipeline.py --quick         # 120 s, 30 units, 1 run per mode
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(mode: str, rec_dir: Path, out: Path) -> None:
    import txpipe
    from txpipe import synth

    truth = synth.GroundTruth.load(next(rec_dir.glob("*.truth.npz")))
    p = truth.paths
    step_movie = next(m for m in truth.movies if m.startswith("step_up"))
    t0 = time.perf_counter()
    times = {}
    with txpipe.pipeline_session(out, defer=(mode == "deferred")) as s:
        for name, call in (
            ("load_recording", lambda: s.load_recording(p["cmcr"], p["cmtr"])),
            ("add_section_time", lambda: s.add_section_time(truth.playlist_name, playlist_file=p["playlist"],
                                                            movie_length_file=p["movie_length"])),
            ("section_spike_times", lambda: s.section_spike_times(config_dir=p["stimuli_dir"])),
            ("compute_sta", lambda: s.compute_sta(stimuli_dir=p["stimuli_dir"])),
            ("extract_features", lambda: s.extract_features(
                ["frif", "baseline_127", "step_response"], params={"step_response": {"movie": step_movie}})),
        ):
            t = time.perf_counter()
            call()
            times[name] = round(time.perf_counter() - t, 3)
    total = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"mode": mode, "seconds": total, "peak_rss_mb": rss_mb, "steps_s": times,
                      "file_mb": out.stat().st_size / 1e6, "held_mb": s.nbytes / 1e6}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=1200.0, help="recording length, s")
    ap.add_argument("--units", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=3, help="runs per mode")
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--quick", action="store_true", help="120 s, 30 units, 1 run per mode")
    ap.add_argument("--child", nargs=3, metavar=("MODE", "REC_DIR", "OUT"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child[0], Path(a.child[1]), Path(a.child[2]))
        return
    if a.quick:
        a.duration, a.units, a.repeats = 120.0, 30, 1
    from txpipe import synth

    work = a.dir or Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    rec = work / "rec"
    t = time.perf_counter()
    truth = synth.make_recording(rec, n_units=a.units, protocol=synth.full_protocol(a.duration), seed=1)
    print(f"synthetic recording: {a.duration:g} s, {a.units} units, {truth.n_frames} frames, "
          f"{sum(u.spike_samples.size for u in truth.units)} spikes; made in {time.perf_counter() - t:.1f} s")
    results: dict[str, list[dict]] = {"deferred": [], "immediate": []}
    for r in range(a.repeats):
        for mode in ("deferred", "immediate"):
            out = work / f"{mode}.h5"
            proc = subprocess.run([sys.executable, __file__, "--child", mode, str(rec), str(out)],
                                  capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
            if proc.returncode:
                sys.exit(f"{mode} run failed:\n{proc.stderr[-3000:]}")
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            results[mode].append(res)
            print(f"  run {r + 1} {mode:9s}: {res['seconds']:7.2f} s, peak RSS {res['peak_rss_mb']:7.0f} MB, "
                  f"file {res['file_mb']:.0f} MB, steps {res['steps_s']}")
    print(f"whole pipeline, {a.duration:g} s x {a.units} units, median of {a.repeats}:")
    for mode, rs in results.items():
        print(f"  {mode:9s}: {statistics.median(x['seconds'] for x in rs):7.2f} s, "
              f"peak RSS {statistics.median(x['peak_rss_mb'] for x in rs):7.0f} MB, "
              f"final data held {rs[-1]['held_mb']:.0f} MB, file {rs[-1]['file_mb']:.0f} MB")
    d = statistics.median(x["seconds"] for x in results["deferred"])
    i = statistics.median(x["seconds"] for x in results["immediate"])
    print(f"  immediate / deferred time: {i / d:.2f}x")


if __name__ == "__main__":
    main()
