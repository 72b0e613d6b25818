"""
Benchmark: count-matrix STA (txpipe.kernels.sta.sta_counts) vs one materialised window per spike.

Both methods run in the same process on the same data (a binary 0/255 noise movie held 4
display frames, like the lab's 15 Hz noise at 60 Hz; Poisson-like spike frames), after checking
that they agree bit for bit. Each is timed ``--repeats`` times; the median is reported and the
ratio is the figure of merit (SPEC §8 target: ≥ 5×).

    python tools/bench_sta.py            # 400 units × 10,000 spikes, (10800, 15, 15) movie
    python tools/bench_sta.py --quick    # 40 units × 10,000 spikes
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from txpipe.kernels.sta import sta_counts, sta_reference


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--units", type=int, default=400)
    ap.add_argument("--spikes", type=int, default=10_000, help="spikes per unit")
    ap.add_argument("--frames", type=int, default=10_800, help="movie length, display frames")
    ap.add_argument("--size", type=int, default=15, help="movie side, pixels")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--hold", type=int, default=4, help="display frames per noise frame (1: no repeats, worst case)")
    ap.add_argument("--quick", action="store_true", help="40 units, 3 repeats")
    a = ap.parse_args()
    if a.quick:
        a.units = 40
    rng = np.random.default_rng(42)
    noise = (rng.random((-(-a.frames // a.hold), a.size, a.size)) < 0.5).astype(np.uint8) * np.uint8(255)
    movie = np.repeat(noise, a.hold, axis=0)[: a.frames]
    frames = [np.sort(rng.integers(-30, a.frames + 30, size=a.spikes)) for _ in range(a.units)]

    fast = sta_counts(frames, movie)
    for i in range(0, a.units, max(1, a.units // 5)):
        ref, used, _ = sta_reference(frames[i], movie)
        assert np.array_equal(fast.sta[i], ref, equal_nan=True) and fast.n_used[i] == used, f"unit {i} differs"

    def timed(fn) -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    t_fast = [timed(lambda: sta_counts(frames, movie)) for _ in range(a.repeats)]
    t_ref = [timed(lambda: [sta_reference(f, movie) for f in frames]) for _ in range(a.repeats)]
    mf, mr = statistics.median(t_fast), statistics.median(t_ref)
    print(f"STA {a.units} units x {a.spikes} spikes, movie {movie.shape} (noise frames held {a.hold}x), "
          f"cover_range (-60, 0), {a.repeats} repeats")
    print(f"  one window per spike (reference): median {mr:8.3f} s   ({[round(t, 3) for t in t_ref]})")
    print(f"  count matrix (txpipe.kernels.sta):        median {mf:8.3f} s   ({[round(t, 3) for t in t_fast]})")
    print(f"  speed-up: {mr / mf:.1f}x  (target >= 5x)   peak window memory of the reference per unit: "
          f"{a.spikes * 60 * a.size * a.size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
