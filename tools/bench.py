#!/usr/bin/env python
"""
One benchmark harness for the SPEC §8 targets; prints one table (see ``docs/performance.md``).

Every figure is measured in this run on synthetic data this script generates
(:func:`txpipe.synth.make_recording`); every claim is a ratio of two measurements of the same run.
Each configuration runs in a fresh subprocess (``--worker``), so peak RSS is per configuration;
per-step peaks reset the kernel's high-water mark (``/proc/self/clear_refs`` = 5) before each step
and read ``VmHWM`` after it. Times are wall-clock medians over ``--repeat`` repetitions,
interleaved between the compared configurations.

Rows (SPEC §8):

1. whole pipeline, 20 min × 150 units, the lab's protocol, deferred and immediate, against the lab's
   measured 181.0 s / 178.7 s (``reference/lab-pipeline-performance.md`` §7; target ≥ 10×);
2. SC-001: 10 recordings of 5 min × 100 units, deferred vs classic calls (a commit after every
   step), on local disk (≥ 1.2×) and on a modelled network share (≥ 2×, :class:`ThrottledFile`);
   bytes written (``/proc/self/io``) per recording against the final file size (deferred ≤ 1.05×);
3. commit throughput against plain h5py + fsync of the same arrays (≥ 70 %);
4. peak RSS of a deferred run against its final file size (≤ 1.5×), extra peak in commit (≤ 5 %);
5. scale: commit and lazy load of 1/2/5/10 GB sessions, a linear cost model predicting 50 GB,
   adding a step to a loaded file without reading the untouched arrays (SC-005);
6. step speeds against the naive methods: spike-sorter bulk read vs McsPy cutouts (≥ 10×),
   STA vs one window per spike (≥ 5×), ``frif`` vectorised vs a per-frame loop.

Usage::

    python tools/bench.py --quick          # small sizes, ~30 s (CI smoke test)
    python tools/bench.py                  # the full run, 9-12 min, ~25 GB of temporary disk, ~10 GB RAM
    python tools/bench.py --only 1,2,6     # a subset of the rows
"""

from __future__ import annotations

import argparse
import datetime as _dt
import functools
import gc
import importlib.util
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

HERE = Path(__file__).resolve().parent
MIB = float(1 << 20)

LAB_IMMEDIATE_S = 178.72
"""The lab's pipeline, 20 min × 150 units, immediate mode (lab-pipeline-performance.md §3.1)."""
LAB_DEFERRED_S = 181.01
"""Same, session (deferred) mode (§3.2). Measured on a machine like ours, numpy 2.3.5."""
LAB_PEAK_MIB = {"immediate": 1176, "deferred": 1354}


# --- process measurements ----------------------------------------------------------------------


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def rss() -> int:
    """Current resident set size of this process, bytes."""
    return _status_kib("VmRSS") * 1024


def hwm() -> int:
    """Peak resident set size since the last :func:`reset_hwm` (or process start), bytes."""
    return _status_kib("VmHWM") * 1024


def reset_hwm() -> None:
    """Reset the kernel's RSS high-water mark to the current RSS (Linux ≥ 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def proc_io() -> dict[str, int]:
    """This process's ``/proc/self/io`` counters (``write_bytes``, ``wchar``, ``rchar`` …)."""
    out = {}
    with open("/proc/self/io") as f:
        for line in f:
            k, v = line.split(":")
            out[k.strip()] = int(v)
    return out


def _cpu() -> float:
    """CPU seconds (user + system) used by this process so far, all threads."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Measure:
    """Time, peak RSS and I/O of one block: ``with Measure() as m: ...`` then ``m.as_dict()``."""

    def __enter__(self) -> "Measure":
        gc.collect()
        reset_hwm()
        self.rss0 = rss()
        self.io0 = proc_io()
        self.t0 = time.perf_counter()
        self.cpu0 = _cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0
        self.cpu = _cpu() - self.cpu0
        io1 = proc_io()
        self.peak = hwm()
        self.rss1 = rss()
        self.write_bytes = io1["write_bytes"] - self.io0["write_bytes"]
        self.wchar = io1["wchar"] - self.io0["wchar"]
        self.rchar = io1["rchar"] - self.io0["rchar"]

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in ("seconds", "cpu", "rss0", "rss1", "peak", "write_bytes", "wchar", "rchar")}


def median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


# --- the network-share model -------------------------------------------------------------------


@dataclass
class ShareModel:
    """
    A lab network share as seen by one client (defaults: ~100 MB/s, a few ms per round trip).

    Attributes:
        bandwidth: sustained write throughput, bytes/s.
        open_s: cost of opening/creating a file (one round trip to the server).
        flush_s: cost of each flush or fsync (the server acknowledges the data).
        close_s: cost of closing (close-to-open consistency: the client commits dirty data).
    """

    bandwidth: float = 100e6
    open_s: float = 0.005
    flush_s: float = 0.005
    close_s: float = 0.005


class ThrottledFile(io.RawIOBase):
    """
    A raw, seekable file whose writes are throttled to model a network share (:class:`ShareModel`).

    Each ``write`` accrues ``len(data) / bandwidth`` seconds of debt, paid by sleeping once it
    exceeds 1 ms (so many small HDF5 metadata writes cost their bytes, not a sleep each); opening,
    every ``flush``/``fsync`` and closing cost their latency. Reads are not throttled. The data go
    to a real file at *path*, so the commit's own fsync and rename still happen. h5py accepts the
    object as a file (``h5py.File(ThrottledFile(path), "w")``, its "fileobj" driver).
    """

    def __init__(self, path: str | os.PathLike[str], mode: str = "w+b", model: ShareModel | None = None) -> None:
        super().__init__()
        self.model = model or ShareModel()
        self._f = open(path, mode, buffering=0)
        self._debt = 0.0
        self.bytes_written = 0
        self.slept = 0.0
        self._pay(self.model.open_s)

    def _pay(self, seconds: float, force: bool = True) -> None:
        self._debt += seconds
        if self._debt >= (0.0 if force else 0.001):
            t0 = time.perf_counter()
            time.sleep(max(self._debt, 0.0))
            spent = time.perf_counter() - t0
            self._debt -= spent
            self.slept += spent

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        return self._f.readinto(b)

    def write(self, b: Any) -> int:
        n = self._f.write(b)
        self.bytes_written += n
        self._pay(n / self.model.bandwidth, force=False)
        return n

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._f.seek(pos, whence)

    def tell(self) -> int:
        return self._f.tell()

    def truncate(self, size: int | None = None) -> int:
        return self._f.truncate(size)

    def flush(self) -> None:
        if not self.closed and not self._f.closed:
            self._pay(self.model.flush_s)

    def fileno(self) -> int:
        return self._f.fileno()

    def close(self) -> None:
        if not self.closed:
            self._pay(self.model.close_s)
            self._f.close()
        super().close()


def throttled_opener(model: ShareModel | None = None) -> Callable[..., Any]:
    """An opener for :func:`txpipe.core.store.set_file_opener` writing through :class:`ThrottledFile`."""

    def opener(path: Any, mode: str) -> ThrottledFile:
        return ThrottledFile(path, mode, model)

    return opener


def use_store(kind: str) -> None:
    """Route commits through the local disk ("local") or the modelled share ("share")."""
    from txpipe.core import store
    store.set_file_opener(throttled_opener() if kind == "share" else None)


# --- synthetic data ------------------------------------------------------------------------------


LAB_MOVIES = ("step_up_5s_5i_b0_3x", "green_blue_3s_3i_3x", "freq_step_5st_3x",
              "perfect_dense_noise_15x15_15hz_r42_3min", "moving_h_bar_s5_d8_3x", "green_blue_3s_3i_3x_64_128_255")
"""The lab's main recording after its ``baseline_127`` (lab-pipeline-performance.md §2.1)."""


def lab_protocol(duration_s: float, seed: int) -> Any:
    """
    The lab's benchmark protocols (lab-pipeline-performance.md §2), with the shipped configs:

    * ≥ 900 s: the main recording's 7 movies, a 10,800-frame gray ``baseline_127`` first
      (≈ 54,000 display frames, the noise movie 10,800 frames);
    * ≥ 300 s: the batch recordings' ``baseline_127`` (1,800) + ``step_up_5s_5i_b0_3x`` + the noise;
    * shorter (``--quick``): :func:`txpipe.synth.full_protocol`.
    """
    from txpipe import synth

    base = synth.load_shipped_config("baseline_127")
    if duration_s >= 900:
        movies = [synth.gray_movie("baseline_127", 10800, config=base)]
        movies += [synth.lab_movie(m, seed=seed) for m in LAB_MOVIES]
    elif duration_s >= 300:
        movies = [synth.gray_movie("baseline_127", 1800, config=base), synth.lab_movie("step_up_5s_5i_b0_3x"),
                  synth.lab_movie("perfect_dense_noise_15x15_15hz_r42_3min", seed=seed)]
    else:
        return synth.full_protocol(duration_s, seed=seed)
    return synth.Protocol(tuple(movies))


def make_recording(out_dir: Path, duration_s: float, n_units: int, seed: int, name: str = "bench-Rec") -> dict[str, str]:
    """A synthetic pair with the lab's protocol (:func:`lab_protocol`); its paths and spike count."""
    from txpipe import synth

    t = synth.make_recording(out_dir, name=name, duration_s=duration_s, n_units=n_units,
                             rate_range_hz=(2.0, 15.0), response_gain_hz=20.0, rf_gain_hz=40.0,
                             protocol=lab_protocol(duration_s, seed), seed=seed, write_truth=False)
    return {"cmcr": t.paths["cmcr"], "cmtr": t.paths["cmtr"], "dataset_id": t.dataset_id,
            "n_spikes": int(sum(u.spike_times_us.size for u in t.units))}


@functools.lru_cache(maxsize=None)
def _load_tool(name: str) -> Any:
    """Import ``tools/{name}.py`` by path (the tools are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"_txpipe_tools_{name}", HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = mod  # type: ignore[union-attr]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


# --- workers (each runs in a fresh process) -------------------------------------------------------


def _plan(rec: dict[str, str], out: Path) -> list[Any]:
    from txpipe.runner.pipeline import RunConfig, build_plan

    return list(build_plan(RunConfig(cmcr=Path(rec["cmcr"]), cmtr=Path(rec["cmtr"]), out=out)))


def _classic(name: str, params: dict[str, Any], h5: Path | None, out_dir: Path) -> Path:
    """One classic (path-based, save-after-the-call) step call; returns the file."""
    from txpipe.steps import add_section_time, compute_sta, extract_features, load_recording, section_spike_times

    if name == "load_recording":
        r = load_recording.load_recording(params["cmcr_path"], params["cmtr_path"], output_dir=out_dir, force=True)
        return Path(r.hdf5_path)
    fn = {"add_section_time": add_section_time.add_section_time,
          "section_spike_times": section_spike_times.section_spike_times,
          "compute_sta": compute_sta.compute_sta,
          "extract_features": extract_features.extract_features}[name]
    fn(h5, **params)
    return h5  # type: ignore[return-value]


def run_recording(rec: dict[str, str], out_dir: Path, mode: str) -> dict[str, Any]:
    """
    The whole pipeline on one recording in this process, instrumented per step.

    *mode*: "deferred" (one ``pipeline_session``, explicit ``save`` at the end), "immediate"
    (``pipeline_session(defer=False)``: a commit after every step) or "classic" (the path-based
    functions, each loading the file and committing it back, as old scripts do).
    """
    from txpipe.core.session import pipeline_session
    from txpipe.core.step import get_step

    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{rec['dataset_id']}.h5"
    plan = _plan(rec, out)
    steps: list[dict[str, Any]] = []
    io0, t0, cpu0 = proc_io(), time.perf_counter(), _cpu()
    if mode == "classic":
        h5: Path | None = None
        for p in plan:
            with Measure() as m:
                h5 = _classic(p.name, dict(p.params), h5, out_dir)
            steps.append({"step": p.name, **m.as_dict()})
        out = h5  # type: ignore[assignment]
    else:
        with pipeline_session(out, defer=mode == "deferred", dataset_id=rec["dataset_id"]) as s:
            for p in plan:
                with Measure() as m:
                    s.run(get_step(p.name), **p.params)
                steps.append({"step": p.name, **m.as_dict()})
            if mode == "deferred":
                with Measure() as m:
                    s.save(out)
                steps.append({"step": "commit", **m.as_dict(), "nbytes": s.nbytes})
        del s
    total = time.perf_counter() - t0
    io1 = proc_io()
    return {"mode": mode, "steps": steps, "seconds": total, "cpu": _cpu() - cpu0, "size": Path(out).stat().st_size,
            "write_bytes": io1["write_bytes"] - io0["write_bytes"], "wchar": io1["wchar"] - io0["wchar"],
            "peak": max(st["peak"] for st in steps)}


def w_pipeline(rec: dict[str, str], out_dir: str, mode: str, store: str = "local") -> dict[str, Any]:
    use_store(store)
    base = rss()
    r = run_recording(rec, Path(out_dir), mode)
    r["base_rss"] = base
    return r


def w_batch(recs: list[dict[str, str]], out_dir: str, mode: str, store: str) -> dict[str, Any]:
    """SC-001: all recordings in one process, one after the other (as the lab's batch)."""
    use_store(store)
    t0 = time.perf_counter()
    per = []
    for rec in recs:
        r = run_recording(rec, Path(out_dir), mode)
        per.append({k: r[k] for k in ("seconds", "size", "write_bytes", "wchar", "peak")})
        gc.collect()
    return {"seconds": time.perf_counter() - t0, "per": per}


def _arrays(value: Any, path: str) -> list[tuple[str, np.ndarray]]:
    """The numeric arrays inside a state value, with HDF5-like paths (dict/list members nested)."""
    if isinstance(value, np.ndarray):
        return [(path, value)] if value.dtype.kind in "biufc" else []
    if isinstance(value, dict):
        return [a for k, v in value.items() for a in _arrays(v, f"{path}/{k}")]
    if isinstance(value, (list, tuple)):
        return [a for i, v in enumerate(value) for a in _arrays(v, f"{path}/{i}")]
    return []


def h5py_write_fsync(arrays: list[tuple[str, np.ndarray]], target: Path) -> None:
    """The baseline: plain h5py writes the arrays to one file and fsyncs it
    (``tools/bench_commit.py``'s ``plain_h5py``)."""
    _load_tool("bench_commit").plain_h5py(dict(arrays), target)


def w_commit(src: str | None, bulk_mb: int, work: str, repeat: int) -> dict[str, Any]:
    """Commit throughput vs plain h5py + fsync, alternating, on a pipeline output and on bulk arrays."""
    from txpipe.core import store
    from txpipe.core.journal import Journal
    from txpipe.core.tree import Group, Leaf, Tree

    out: dict[str, Any] = {}
    cases: list[tuple[str, Tree, Journal]] = []
    if src:
        opened = store.open_file(Path(src))
        for _, leaf in opened.tree.walk_leaves():
            if leaf.is_lazy:  # read everything: the commit must write from memory, not copy file to file
                leaf.value = leaf.value.read()
        opened.source.close()
        cases.append(("pipeline output", opened.tree, opened.journal))
    n = max(1, bulk_mb // 16)
    root = Group({})
    for i in range(n):
        root.children[f"a{i:03d}"] = Leaf(np.full(2 << 20, float(i)), {})  # 16 MiB each
    cases.append((f"bulk {n}×16 MiB", Tree(root), Journal()))
    w = Path(work)
    w.mkdir(parents=True, exist_ok=True)
    for name, tree, journal in cases:
        arrays = [a for p, leaf in tree.walk_leaves() for a in _arrays(leaf.value, str(p).lstrip("/"))]
        nbytes = sum(a.nbytes for _, a in arrays)
        tc, th = [], []
        for _ in range(repeat):
            # both start from no file: deleting the previous 1 GB version (in os.replace or in
            # h5py's truncation) is not part of either measurement
            (w / "commit.h5").unlink(missing_ok=True)
            with Measure() as m:
                store.write_file(tree, journal, w / "commit.h5", kind="save", dataset_id="bench")
            tc.append(m.seconds)
            (w / "plain.h5").unlink(missing_ok=True)
            with Measure() as m:
                h5py_write_fsync(arrays, w / "plain.h5")
            th.append(m.seconds)
        out[name] = {"bytes": nbytes, "n_arrays": len(arrays), "commit": tc, "h5py": th,
                     "commit_size": (w / "commit.h5").stat().st_size, "h5py_size": (w / "plain.h5").stat().st_size}
        for f in ("commit.h5", "plain.h5"):
            (w / f).unlink()
    return out


_BIG_CHUNK = 256 << 20  # bytes per array in the scale test


def _scale_steps() -> tuple[Any, Any]:
    import txpipe
    from txpipe import Changes

    @txpipe.step("bench_put_big", version="1")
    def put_big(state: Any, *, n_bytes: int, seed: int = 0) -> Changes:
        """Put n_bytes of float64 arrays (at most 256 MiB each, at least 4) under /units/unit_NNN/big."""
        ch = Changes()
        n = max(4, -(-n_bytes // _BIG_CHUNK))
        for i in range(n):
            a = np.empty(n_bytes // n // 8)
            a.fill(seed + i)  # real pages, distinct content
            ch.put(f"units/unit_{i:03d}/big", a)
        ch.put("metadata/acquisition_rate", 20000.0)
        return ch

    @txpipe.step("bench_add_small", version="1")
    def add_small(state: Any) -> Changes:
        """Read one small value and add a small array (touches nothing big)."""
        fs = float(state["metadata/acquisition_rate"])
        return Changes().put("units/unit_000/small", np.arange(1000, dtype=np.float64) * fs)

    return put_big, add_small


def w_scale_commit(gb: float, path: str) -> dict[str, Any]:
    """Build a session of *gb* GB in memory (toy step) and time its commit."""
    from txpipe import PipelineSession

    put_big, _ = _scale_steps()
    s = PipelineSession("scale")
    base = rss()
    s.run(put_big, n_bytes=int(gb * 1e9))
    held = s.nbytes
    with Measure() as m:
        s.save(path)
    return {"gb": gb, "held": held, "base_rss": base, **m.as_dict(), "size": Path(path).stat().st_size}


def w_scale_load(path: str) -> dict[str, Any]:
    """Lazy load of a big file, one small step added, committed back (write-through)."""
    from txpipe import PipelineSession

    _, add_small = _scale_steps()
    base = rss()
    with Measure() as ml:
        s = PipelineSession.load(path)
    with Measure() as ms:
        s.run(add_small)  # write-through: the untouched arrays are copied file to file (H5Ocopy)
    return {"base_rss": base, "load": ml.as_dict(), "step": ms.as_dict(), "size": Path(path).stat().st_size}


def _naive_frif(spikes: np.ndarray, ft: np.ndarray, fs: float) -> np.ndarray:
    """The lab's method: a Python loop over frame intervals, a boolean mask over all spikes each."""
    out = np.zeros(ft.size - 1, np.float32)
    for i in range(ft.size - 1):
        n = np.count_nonzero((spikes >= ft[i]) & (spikes < ft[i + 1]))
        out[i] = n / ((ft[i + 1] - ft[i]) / fs)
    return out


def w_steps(work: str, quick: bool, repeat: int) -> dict[str, Any]:
    """Spike-sorter read, STA and FRIF against the naive methods, in this one process."""
    from txpipe import synth
    from txpipe.mcs import reader as mcs
    from txpipe.kernels import sta
    from txpipe.features.frif import frif
    from txpipe.features.registry import UnitInputs

    bench_read = _load_tool("bench_read")
    out: dict[str, Any] = {}
    rng = np.random.default_rng(7)
    # 1. spike sorter: bulk vs McsPy per-unit cutouts (0-d unit attrs so McsPy runs on numpy 2.4)
    n_units, n_sp = (20, 500) if quick else (100, 5000)
    w = Path(work) / "sorter"
    proto = synth.Protocol((synth.gray_movie("gray_60", 60),))
    t = synth.make_recording(w, protocol=proto, duration_s=n_sp / 10.0, n_units=n_units,
                             rate_range_hz=(10.0, 10.0), response_kinds=["none"] * n_units,
                             unit_attr_style="scalar", write_truth=False, seed=1)
    import McsPy.McsCMOSMEA  # noqa: F401  (import cost outside the timings)

    cmtr = t.paths["cmtr"]
    tb = [bench_read.best_of(lambda: mcs.read_cmtr(cmtr), 1)[0] for _ in range(repeat)]
    tm = [bench_read.best_of(lambda: bench_read.mcspy_units(cmtr), 1)[0] for _ in range(1 if not quick else repeat)]
    out["sorter"] = {"bulk": tb, "mcspy": tm, "n_spikes": int(sum(u.spike_times_us.size for u in t.units)),
                     "n_units": n_units}
    shutil.rmtree(w, ignore_errors=True)
    # 2. STA: 150 units, 10,800-frame 15×15 binary noise, spikes like the lab's (414–4,894 per unit)
    n_u, T = (20, 2400) if quick else (150, 10800)
    movie = (rng.integers(0, 2, size=(T // 4, 15, 15), dtype=np.uint8) * 255).repeat(4, axis=0)
    frames = [np.sort(rng.integers(0, T, size=int(rng.integers(414, 4894)) * T // 10800)) for _ in range(n_u)]
    tf, tr = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fast = sta.sta_counts(frames, movie, (-60, 0))
        tf.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ref = [sta.sta_reference(f, movie, (-60, 0))[0] for f in frames]
        tr.append(time.perf_counter() - t0)
    assert all(np.array_equal(fast.sta[i], ref[i], equal_nan=True) for i in range(n_u))
    out["sta"] = {"fast": tf, "naive": tr, "n_units": n_u, "n_spikes": int(sum(f.size for f in frames)), "frames": T}
    # 3. FRIF: 54,008 frames at 60 Hz (the lab's recording), ~11.5 Hz × 1200 s spikes per unit
    fs = 20000.0
    n_f, n_u, n_naive, dur = (5400, 20, 2, 120.0) if quick else (54008, 150, 3, 1200.0)
    ft = (3 * fs + np.arange(n_f) * fs / 60).astype(np.int64)
    trains = [np.sort(rng.integers(0, int(dur * fs), size=int(rng.uniform(2, 20) * dur))) for _ in range(n_u)]
    acq = "/metadata/acquisition_rate"

    def vec() -> list[np.ndarray]:
        return [frif.fn(UnitInputs(f"u{i}", {"spike_times": s, "/metadata/frame_timestamps": ft, acq: fs}, {}, None),
                     include_x_axis=True)["FRIF"] for i, s in enumerate(trains)]

    tv, tn = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fast_f = vec()
        tv.append((time.perf_counter() - t0) / n_u)
    naive_idx = list(range(0, n_u, max(1, n_u // n_naive)))[:n_naive]
    for _ in range(1 if not quick else repeat):
        t0 = time.perf_counter()
        slow = [_naive_frif(trains[i], ft, fs) for i in naive_idx]
        tn.append((time.perf_counter() - t0) / len(naive_idx))
    for j, i in enumerate(naive_idx):
        np.testing.assert_allclose(fast_f[i], slow[j], rtol=1e-6)
    out["frif"] = {"vec_per_unit": tv, "naive_per_unit": tn, "frames": n_f, "n_units": n_u, "n_naive": len(naive_idx)}
    return out


WORKERS: dict[str, Callable[..., dict[str, Any]]] = {
    "pipeline": w_pipeline,
    "batch": w_batch,
    "commit": w_commit,
    "scale_commit": w_scale_commit,
    "scale_load": w_scale_load,
    "steps": w_steps,
}
_MARK = "@@BENCH-RESULT@@ "


def _worker_main(kind: str, args_json: str) -> None:
    import txpipe

    txpipe.configure_logging(level="error")
    res = WORKERS[kind](**json.loads(args_json))
    res["ru_maxrss"] = __import__("resource").getrusage(__import__("resource").RUSAGE_SELF).ru_maxrss * 1024
    sys.stdout.write("\n" + _MARK + json.dumps(res) + "\n")


def worker(kind: str, **kwargs: Any) -> dict[str, Any]:
    """Run ``WORKERS[kind](**kwargs)`` in a fresh Python process; its result dict."""
    p = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", kind, json.dumps(kwargs)],
                       capture_output=True, text=True)
    for line in p.stdout.splitlines()[::-1]:
        if line.startswith(_MARK):
            return json.loads(line[len(_MARK):])
    raise RuntimeError(f"worker {kind} failed (exit {p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-5000:]}")


# --- the run ----------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table."""

    n: str
    target: str
    measured: str
    ratio: float | None
    goal: str
    ok: bool | None  # None: information only / not run

    def cells(self) -> list[str]:
        r = "" if self.ratio is None else (f"{self.ratio:.3g}" if abs(self.ratio) < 100 else f"{self.ratio:.0f}")
        v = "info" if self.ok is None else ("PASS" if self.ok else "FAIL")
        return [self.n, self.target, self.measured, r, self.goal, v]


class Bench:
    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.quick = a.quick
        self.repeat = a.repeat or (1 if a.quick else 3)
        self.pipe_repeat = a.pipeline_repeat or (1 if a.quick else 2)
        self.batch_repeat = a.batch_repeat or 1
        self.work = Path(a.dir or tempfile.mkdtemp(prefix="txpipe-bench-"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.rows: list[Row] = []
        self.details: list[str] = []
        self.main_out: Path | None = None

    def log(self, msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def add(self, *args: Any) -> None:
        self.rows.append(Row(*args))

    # 1 + 4
    def row_pipeline(self) -> None:
        dur, nu = (60.0, 8) if self.quick else (1200.0, 150)
        self.log(f"row 1: generating {dur:.0f} s × {nu} units")
        t0 = time.perf_counter()
        rec = make_recording(self.work / "main", dur, nu, seed=11)
        self.log(f"  generated in {time.perf_counter() - t0:.1f} s ({rec['n_spikes']} spikes)")
        res: dict[str, list[dict[str, Any]]] = {"deferred": [], "immediate": []}
        for i in range(self.pipe_repeat):
            for mode in ("deferred", "immediate"):
                r = worker("pipeline", rec=rec, out_dir=str(self.work / f"out-{mode}"), mode=mode)
                res[mode].append(r)
                self.log(f"  {mode} rep {i + 1}: {r['seconds']:.2f} s, peak {r['peak'] / MIB:.0f} MiB")
        self.main_out = self.work / "out-deferred" / f"{rec['dataset_id']}.h5"
        lines = ["| step | deferred s | deferred peak RSS MiB | immediate s | immediate peak RSS MiB |",
                 "|---|---|---|---|---|"]
        names = [s["step"] for s in res["deferred"][0]["steps"]]
        for k, name in enumerate(names):
            cells = []
            for mode in ("deferred", "immediate"):
                st = [next((s for s in r["steps"] if s["step"] == name), None) for r in res[mode]]
                if st[0] is None:
                    cells += ["–", "–"]
                else:
                    cells += [f"{median([s['seconds'] for s in st]):.3f}", f"{median([s['peak'] / MIB for s in st]):.0f}"]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        tot = {m: median([r["seconds"] for r in res[m]]) for m in res}
        pk = {m: median([r["peak"] / MIB for r in res[m]]) for m in res}
        size = median([r["size"] for r in res["deferred"]])
        lines.append(f"| **end to end** | **{tot['deferred']:.2f}** | {pk['deferred']:.0f} | **{tot['immediate']:.2f}** "
                     f"| {pk['immediate']:.0f} |")
        base = median([r["base_rss"] / MIB for r in res["deferred"]])
        self.details.append(f"Row 1 recording: {dur:.0f} s × {nu} units, {rec['n_spikes']} spikes, the lab's protocol; "
                            f"output {size / MIB:.1f} MiB; RSS after imports {base:.0f} MiB. Per step (median of "
                            f"{self.pipe_repeat}; immediate steps include their commit):\n\n" + "\n".join(lines))
        scale = 1.0 if not self.quick else None
        cpu = {m: median([r["cpu"] for r in res[m]]) for m in res}
        for mode, lab in (("deferred", LAB_DEFERRED_S), ("immediate", LAB_IMMEDIATE_S)):
            ratio = lab / tot[mode]
            self.add("1", f"whole pipeline {dur / 60:.0f} min × {nu} units, {mode}: lab wall / txpipe wall",
                     f"{tot[mode]:.2f} s (lab {lab:.1f} s), peak {pk[mode]:.0f} MiB (lab {LAB_PEAK_MIB[mode]})",
                     ratio, "≥ 10× lab", (ratio >= 10) if scale else None)
        for mode, lab in (("deferred", LAB_DEFERRED_S), ("immediate", LAB_IMMEDIATE_S)):
            self.add("1", f"same, {mode}: lab wall (CPU = wall, quiet VM) / txpipe CPU time",
                     f"CPU {cpu[mode]:.2f} s (user + system; wall/CPU {tot[mode] / cpu[mode]:.2f} on this shared VM)",
                     lab / cpu[mode], "info", None)
        # 4: peak memory of the deferred run vs its final data size; extra peak during commit
        peaks = [r["peak"] for r in res["deferred"]]
        m_ratio = median(peaks) / size
        net = (median(peaks) - base * MIB) / size
        self.add("4", "SC-004 peak RSS of a deferred run / final file size",
                 f"peak {median(peaks) / MIB:.0f} MiB, file {size / MIB:.0f} MiB (net of imports: {net:.2f}×)",
                 m_ratio, "≤ 1.5×", m_ratio <= 1.5)
        extra = []
        for r in res["deferred"]:
            c = next(s for s in r["steps"] if s["step"] == "commit")
            extra.append((c["peak"] - c["rss0"]) / c["rss0"])
        ex = median(extra)
        self.add("4", "SC-004 extra peak RSS during commit", f"+{ex * 100:.2f} % of the RSS before commit",
                 ex * 100, "≤ 5 %", ex <= 0.05)
        raise_ = []
        for r in res["deferred"]:
            before = max(s["peak"] for s in r["steps"] if s["step"] != "commit")
            c = next(s for s in r["steps"] if s["step"] == "commit")
            raise_.append(max(0.0, c["peak"] - before) / before)
        self.add("4", "same, raise of the run's peak RSS by the commit", f"+{median(raise_) * 100:.2f} % of the peak "
                 "before the commit", median(raise_) * 100, "info", None)

    # 2
    def row_sc001(self) -> None:
        n, dur, nu = (2, 60.0, 8) if self.quick else (10, 300.0, 100)
        self.log(f"row 2: generating {n} recordings of {dur:.0f} s × {nu} units")
        recs = [make_recording(self.work / f"batch{i:02d}", dur, nu, seed=100 + i, name=f"batch{i:02d}-Rec")
                for i in range(n)]
        res: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for i in range(self.batch_repeat):
            for store in ("local", "share"):
                for mode in ("deferred", "classic"):
                    r = worker("batch", recs=recs, out_dir=str(self.work / f"batch-out-{store}-{mode}"), mode=mode, store=store)
                    res.setdefault((store, mode), []).append(r)
                    self.log(f"  {store} {mode} rep {i + 1}: {r['seconds']:.2f} s")
        for store, goal in (("local", 1.2), ("share", 2.0)):
            d = [r["seconds"] for r in res[(store, "deferred")]]
            c = [r["seconds"] for r in res[(store, "classic")]]
            paired = [pc["seconds"] / pd["seconds"] for rc, rd in zip(res[(store, "classic")], res[(store, "deferred")])
                      for pc, pd in zip(rc["per"], rd["per"])]
            ratio = median(c) / median(d)
            where = "local disk" if store == "local" else "modelled share (100 MB/s, 5 ms per open/flush/close)"
            self.add("2", f"SC-001 {n} recordings end to end, classic / deferred, {where}",
                     f"classic {median(c):.1f} s, deferred {median(d):.1f} s; per recording median {median(paired):.2f}× "
                     f"[{min(paired):.2f}–{max(paired):.2f}]", ratio, f"≥ {goal}×", ratio >= goal)
        for mode, goal in (("deferred", 1.05), ("classic", None)):
            per = [p for r in res[("local", mode)] for p in r["per"]]
            wb = median([p["write_bytes"] / p["size"] for p in per])
            wc = median([p["wchar"] / p["size"] for p in per])
            self.add("2", f"SC-001 bytes written per recording / final size, {mode}",
                     f"write_bytes {wb:.3f}×, wchar {wc:.3f}× (file {median([p['size'] for p in per]) / MIB:.1f} MiB)",
                     wb, "≤ 1.05×" if goal else "–", (wb <= goal) if goal else None)
        self.details.append(
            f"Row 2 recordings: {n} × ({dur:.0f} s, {nu} units, the lab's batch protocol), one process per batch and "
            f"mode, {self.batch_repeat} interleaved repetition(s); per-recording median time: " + ", ".join(
                f"{s} {m} {median([p['seconds'] for r in res[(s, m)] for p in r['per']]):.2f} s" for (s, m) in res))

    # 3
    def row_commit(self) -> None:
        src = self.main_out if self.main_out and self.main_out.exists() else None
        if src is None:
            rec = make_recording(self.work / "commit-src", 60.0 if self.quick else 300.0, 10 if self.quick else 100, seed=5)
            worker("pipeline", rec=rec, out_dir=str(self.work / "commit-src-out"), mode="deferred")
            src = self.work / "commit-src-out" / f"{rec['dataset_id']}.h5"
        self.log("row 3: commit vs plain h5py + fsync")
        r = worker("commit", src=str(src), bulk_mb=64 if self.quick else 1024, work=str(self.work / "commit"), repeat=self.repeat)
        for name, c in r.items():
            if not isinstance(c, dict):
                continue
            tc, th = median(c["commit"]), median(c["h5py"])
            ratio = th / tc
            self.add("3", f"commit throughput / plain h5py + fsync, {name} ({c['n_arrays']} arrays)",
                     f"commit {c['bytes'] / MIB / tc:.0f} MiB/s ({tc:.3f} s), h5py {c['bytes'] / MIB / th:.0f} MiB/s "
                     f"({th:.3f} s), {c['bytes'] / MIB:.0f} MiB", ratio, "≥ 0.70", ratio >= 0.70)

    # 5
    def row_scale(self) -> None:
        sizes = [0.02, 0.05, 0.1] if self.quick else [1.0, 2.0, 5.0, 10.0]
        self.log(f"row 5: scale {sizes} GB")
        pts = []
        for gb in sizes:
            path = self.work / f"scale-{gb:g}.h5"
            c = worker("scale_commit", gb=gb, path=str(path))
            ld = worker("scale_load", path=str(path))
            pts.append((gb, c, ld))
            self.log(f"  {gb:g} GB: commit {c['seconds']:.1f} s, load {ld['load']['seconds']:.3f} s, "
                     f"add step {ld['step']['seconds']:.1f} s")
            path.unlink(missing_ok=True)
        x = np.array([p[1]["size"] / 1e9 for p in pts])
        fits = {}
        for key, ys in (("commit s", [p[1]["seconds"] for p in pts]),
                        ("load s", [p[2]["load"]["seconds"] for p in pts]),
                        ("add step + commit s", [p[2]["step"]["seconds"] for p in pts]),
                        ("commit peak RSS GiB", [p[1]["peak"] / 2**30 for p in pts])):
            A = np.c_[np.ones_like(x), x]
            (a0, b), *_ = np.linalg.lstsq(A, np.asarray(ys, float), rcond=None)
            pred = a0 + b * x
            r2 = 1 - float(np.sum((np.array(ys) - pred) ** 2) / max(np.sum((np.array(ys) - np.mean(ys)) ** 2), 1e-30))
            fits[key] = (a0, b, r2, a0 + b * 50)
        gb, c, ld = pts[-1]
        extra = (c["peak"] - c["rss0"]) / c["rss0"]
        self.add("5", f"SC-005 commit of a {c['size'] / 1e9:.1f} GB session",
                 f"{c['seconds']:.1f} s ({c['size'] / MIB / c['seconds']:.0f} MiB/s), peak {c['peak'] / 2**30:.2f} GiB "
                 f"(+{extra * 100:.2f} % in commit)", None, "commits on 24 GB", True)
        grow_load = (ld["load"]["peak"] - ld["load"]["rss0"]) / ld["size"]
        grow_step = (ld["step"]["peak"] - ld["step"]["rss0"]) / ld["size"]
        self.add("5", f"SC-005 lazy load of the {ld['size'] / 1e9:.1f} GB file",
                 f"{ld['load']['seconds']:.3f} s, RSS +{(ld['load']['peak'] - ld['load']['rss0']) / MIB:.1f} MiB "
                 f"(peak {ld['load']['peak'] / MIB:.0f} MiB)", grow_load, "RSS growth ≪ size", grow_load < 0.01)
        self.add("5", "SC-005 load + add one step + commit: untouched arrays not read into memory",
                 f"{ld['step']['seconds']:.1f} s, RSS +{(ld['step']['peak'] - ld['step']['rss0']) / MIB:.1f} MiB "
                 f"of a {ld['size'] / MIB:.0f} MiB file", grow_step, "RSS growth ≪ size", grow_step < 0.01)
        a0, b, r2, p50 = fits["commit s"]
        self.add("5", "SC-005 linear cost model → 50 GB",
                 "; ".join(f"{k} ≈ {v[0]:.3g} + {v[1]:.3g}·GB (R² {v[2]:.3f}) → {v[3]:.3g}" for k, v in fits.items()),
                 None, "model from 4 sizes", None)
        pts_lines = ["| size GB | commit s | commit MiB/s | commit peak RSS MiB | load s | load RSS growth MiB | add step + commit s | add-step RSS growth MiB |",
                     "|---|---|---|---|---|---|---|---|"]
        for gb, c, ld in pts:
            pts_lines.append(f"| {c['size'] / 1e9:.2f} | {c['seconds']:.2f} | {c['size'] / MIB / c['seconds']:.0f} | "
                             f"{c['peak'] / MIB:.0f} | {ld['load']['seconds']:.3f} | "
                             f"{(ld['load']['peak'] - ld['load']['rss0']) / MIB:.1f} | {ld['step']['seconds']:.2f} | "
                             f"{(ld['step']['peak'] - ld['step']['rss0']) / MIB:.1f} |")
        self.details.append("Row 5 points (one fresh process each):\n\n" + "\n".join(pts_lines))

    # 6
    def row_steps(self) -> None:
        self.log("row 6: step speeds vs naive methods")
        r = worker("steps", work=str(self.work / "steps"), quick=self.quick, repeat=self.repeat)
        s = r["sorter"]
        tb, tm = median(s["bulk"]), median(s["mcspy"])
        self.add("6", f"spike-sorter read: McsPy cutouts / txpipe bulk ({s['n_units']} units, {s['n_spikes']} spikes)",
                 f"bulk {tb:.3f} s, McsPy {tm:.2f} s ({tm / s['n_spikes'] * 1e6:.1f} µs/spike)", tm / tb, "≥ 10×", tm / tb >= 10)
        s = r["sta"]
        tf, tn = median(s["fast"]), median(s["naive"])
        self.add("6", f"STA: one window per spike / txpipe counts ({s['n_units']} units, {s['n_spikes']} spikes, {s['frames']} frames)",
                 f"txpipe {tf:.3f} s, naive {tn:.3f} s", tn / tf, "≥ 5×", tn / tf >= 5)
        s = r["frif"]
        tv, tn = median(s["vec_per_unit"]), median(s["naive_per_unit"])
        self.add("6", f"frif: per-frame loop / vectorised ({s['frames']} frames, per unit)",
                 f"vectorised {tv * 1e3:.2f} ms/unit, loop {tn * 1e3:.0f} ms/unit ({s['n_naive']} units)", tn / tv, "–", None)

    def table(self) -> str:
        head = ["#", "target", "measured", "ratio", "goal", "result"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r.cells()) + " |" for r in self.rows]
        return "\n".join(lines)


def machine() -> str:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import h5py
    return (f"{platform.node()}: {os.cpu_count()} CPU ({cpu}), {mem:.0f} GiB RAM, Linux {platform.release()}; "
            f"Python {platform.python_version()}, numpy {np.__version__}, h5py {h5py.version.version} "
            f"(HDF5 {h5py.version.hdf5_version})")


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "--worker":
        _worker_main(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (CI smoke test, ~30 s)")
    ap.add_argument("--repeat", type=int, default=None, help="repetitions (default 3; 2 with --quick)")
    ap.add_argument("--pipeline-repeat", type=int, default=None, help="row 1 repetitions per mode (default 2)")
    ap.add_argument("--batch-repeat", type=int, default=None,
                    help="row 2 repetitions of each 10-recording batch (default 1: the 10 recordings are the repeats)")
    ap.add_argument("--only", default="1,2,3,5,6", help="rows to run, e.g. 1,2 (row 4 comes with row 1)")
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp dir, removed)")
    a = ap.parse_args()
    b = Bench(a)
    only = {x.strip() for x in a.only.split(",")}
    started = _dt.datetime.now().astimezone()
    load0 = " ".join(f"{x:.1f}" for x in os.getloadavg())
    t0 = time.perf_counter()
    try:
        for key, fn in (("1", b.row_pipeline), ("2", b.row_sc001), ("3", b.row_commit), ("5", b.row_scale), ("6", b.row_steps)):
            if key in only:
                t = time.perf_counter()
                fn()
                b.log(f"row {key} done in {time.perf_counter() - t:.0f} s")
    finally:
        if a.dir is None:
            shutil.rmtree(b.work, ignore_errors=True)
    cmd = "python tools/bench.py " + " ".join(sys.argv[1:])
    print(f"txpipe benchmark — {started:%Y-%m-%d %H:%M %Z}; `{cmd.strip()}`; {time.perf_counter() - t0:.0f} s")
    print(f"machine: {machine()}")
    print(f"load average (1/5/15 min) at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}, at the start: {load0}")
    print(f"medians of {b.repeat} repetitions (row 1: {b.pipe_repeat} per mode, row 2: {b.batch_repeat} per "
          f"batch); ratios are within this run\n")
    print(b.table())
    for d in b.details:
        print("\n" + d)
    if any(r.ok is False for r in b.rows):
        print("\nsome targets missed (FAIL rows); see docs/performance.md", file=sys.stderr)


if __name__ == "__main__":
    main()
