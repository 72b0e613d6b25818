"""
Electrical image: exact, chunked zero-phase high-pass of the sensor stream and the spike-triggered
sum of its windows. Pure algorithm: blocks of samples come in through a callable, no state, no
McsPy, no HDF5 (see ``docs/eimage.md``).

Definition. For an analysis window of ``N`` samples ``x[0:N]`` (``C`` channels), the filtered
stream is ``y = sosfiltfilt(sos, x, axis=0)`` exactly as scipy defines it: odd extension by
``padlen`` samples at both ends, forward pass from ``sosfilt_zi · ext[0]``, backward pass from
``sosfilt_zi · (last forward output)``. A unit's image is the mean of ``y[s+lo : s+hi]`` over its
spikes ``s`` (``window_range = (lo, hi)``, samples).

Streaming (chunk of ``B`` samples, overlap ``L``):

* Forward pass: one continuous recursion over the window with its state carried from block to
  block (float64 state), so every forward output equals the whole-window forward pass.
* Backward pass for output rows ``[a, a+B)``: the backward recursion is run from ``a+B+L`` down to
  ``a`` over the forward outputs. Its true starting state at ``a+B+L`` depends on the future, but
  the filter forgets its state like ``r**n`` (``r`` = largest pole radius), so ``L`` is chosen with
  ``r**L`` below 1e-13 (:func:`overlap_samples`): the difference to the whole-window result is
  far below float32 rounding. The last chunk reaches the window's end and uses scipy's exact end
  rule (odd extension + ``sosfilt_zi``), so both window edges are exact, not just the interior.
* Every raw sample is read once; the ``L`` rows past a chunk are kept for the next one.

Accumulation: for every output row ``t`` of a chunk and every unit, the spikes with
``s + lo <= t < s + hi`` add row ``t`` to lag ``t - s - lo`` of the unit's float64 sum. The
windows crossing a chunk boundary get their rows from both chunks, so no spike is lost.

Two implementations: numba (when installed, :mod:`txpipe.kernels._eimage_numba`): the window is
read in steps of at most ``STREAM_ROWS`` rows into two reused int16 buffers (the next step is read
while a worker thread runs the kernel on the current one). Per step, threads share blocks of
``FUSED_BLOCK`` channels; per block and sub-step of at most ``SUB_ROWS`` rows, the forward pass
appends to the block's float32 pending forward outputs, the backward pass runs from the last
pending row down (the last ``L`` rows only set its state) and writes the finished rows in place,
their window sums are added, and the last ``L`` forward outputs stay pending for the next
sub-step. So the forward pass runs once per sample and the backward pass ``1 + L / SUB_ROWS``
times. Pure numpy: the chunk's forward outputs in a float32 buffer, the backward pass over it,
then the window sums. :func:`working_memory_bytes` gives both paths' memory; nothing grows with
``N``. Tests compare both paths with scipy.
"""

from __future__ import annotations

import importlib.util
import math
import os
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from txpipe.errors import ParameterError
from txpipe.kernels.butter import butter_highpass, sosfilt_zi


OVERLAP_TOL = 1e-13
"""The backward pass's forgotten state is below this fraction of its size after the overlap."""

KERNELS = ("auto", "numba", "numpy")
PAR_MIN_VALUES = 1 << 22
"""Blocks smaller than this (samples × channels) run on one thread: starting threads costs more."""

BlockReader = Callable[[int, int], np.ndarray]
"""``read(start, stop) -> (stop - start, C)`` samples of the analysis window (any numeric dtype)."""


def numba_available() -> bool:
    """True when the numba kernels can be used (numba is imported only when first used: ~1 s)."""
    return importlib.util.find_spec("numba") is not None


def resolve_kernel(kernel: str) -> str:
    """``"auto"`` → ``"numba"`` when installed, else ``"numpy"``; checks the name.

    Raises:
        ParameterError: unknown name, or ``"numba"`` asked for but not installed.
    """
    if kernel not in KERNELS:
        raise ParameterError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if kernel == "auto":
        return "numba" if numba_available() else "numpy"
    if kernel == "numba" and not numba_available():
        raise ParameterError("kernel='numba' needs numba (pip install -e '.[fast]' in your txpipe clone)")
    return kernel


# --- filter design ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HighPass:
    """A Butterworth high-pass in second-order sections with what zero-phase streaming needs.

    ``sos`` (n_sections, 6) float64 as ``scipy.signal.butter(..., output="sos")``; ``zi``
    (n_sections, 2) = ``sosfilt_zi(sos)``; ``padlen`` scipy ``sosfiltfilt``'s default odd-extension
    length (samples); ``overlap`` the backward-pass overlap (samples, :func:`overlap_samples`).
    """

    sos: np.ndarray
    zi: np.ndarray
    padlen: int
    overlap: int
    cutoff_hz: float
    order: int
    fs_hz: float


def design_highpass(fs_hz: float, cutoff_hz: float, order: int) -> HighPass:
    """
    Butterworth high-pass of *order* at *cutoff_hz* (Hz) for sampling rate *fs_hz* (Hz).

    Raises:
        ParameterError: cutoff not in (0, fs/2), order not a positive integer.
    """
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
        raise ParameterError(f"filter_order must be a positive integer, got {order!r}")
    nyq = fs_hz / 2.0
    if not (isinstance(cutoff_hz, (int, float, np.floating)) and 0 < float(cutoff_hz) < nyq):
        raise ParameterError(f"cutoff_hz must be in (0, {nyq:g}) Hz (half the sampling rate), got {cutoff_hz!r}")
    sos = np.ascontiguousarray(butter_highpass(int(order), float(cutoff_hz) / nyq)[0], np.float64)
    zi = np.ascontiguousarray(sosfilt_zi(sos), np.float64)
    # scipy sosfiltfilt's default padlen (signal/_signaltools.py)
    ntaps = 2 * len(sos) + 1
    ntaps -= min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    return HighPass(sos, zi, 3 * ntaps, overlap_samples(sos), float(cutoff_hz), int(order), float(fs_hz))


def overlap_samples(sos: np.ndarray, tol: float = OVERLAP_TOL) -> int:
    """
    Samples after which the backward pass has forgotten its starting state to below *tol*.

    The zero-input response of the cascade decays like ``n**(k-1) r**n`` (``r`` the largest pole
    radius, ``k`` the number of sections sharing it); the returned ``L`` satisfies
    ``L**(k-1) r**L < tol`` with a 25 % margin, plus 64 samples.
    """
    p = np.concatenate([np.roots(sec[3:]) for sec in np.asarray(sos, np.float64)]) if len(sos) else np.zeros(0)
    r = float(np.max(np.abs(p))) if p.size else 0.0
    if r <= 0.0:
        return 64
    if r >= 1.0:
        raise ParameterError("the filter is unstable (a pole on or outside the unit circle)")
    k = len(sos)
    n = math.log(tol) / math.log(r)
    for _ in range(50):  # fixed point of n = (log tol - (k-1) log n) / log r
        n = (math.log(tol) - (k - 1) * math.log(max(n, 1.0))) / math.log(r)
    return int(math.ceil(1.25 * n)) + 64


# --- filter kernels -----------------------------------------------------------------------------------


def _filter_rows_numpy(x: np.ndarray, out: np.ndarray, sos: np.ndarray, z: np.ndarray, reverse: bool) -> None:
    """Transposed direct form II over rows of *x* (time × channels), state *z* (n_sec, 2, C) float64
    updated in place; output rows written to *out* (may be *x*). Rows run backwards if *reverse*."""
    n = x.shape[0]
    rows = range(n - 1, -1, -1) if reverse else range(n)
    for t in rows:
        v = x[t].astype(np.float64)
        for k in range(sos.shape[0]):
            b0, b1, b2, _, a1, a2 = sos[k]
            z0, z1 = z[k, 0], z[k, 1]
            y = b0 * v + z0
            z[k, 0] = b1 * v - a1 * y + z1
            z[k, 1] = b2 * v - a2 * y
            v = y
        out[t] = v


_NB: dict[str, Any] = {}


def _nb() -> dict[str, Any]:
    """The numba kernels (:mod:`txpipe.kernels._eimage_numba`), imported on first use."""
    if not _NB:
        from txpipe.kernels import _eimage_numba as m

        _NB.update(add_windows=m.add_windows, add_windows_par=m.add_windows_par,
                   stream_step=m.stream_step)
    return _NB


def add_windows(
    buf: np.ndarray, row0: int, n_rows: int, spikes: np.ndarray, lo: int, acc: np.ndarray, *, kernel: str
) -> None:
    """
    Add to ``acc[j]`` (float64 (W, C)) every row ``buf[t - row0]`` with ``t = s + lo + j`` in
    ``[row0, row0 + n_rows)``, for each spike sample *s* (sorted int64; only spikes whose window
    meets those rows are passed in by :func:`stream_eimage`, others are harmless).
    """
    if spikes.size == 0 or n_rows <= 0:
        return
    width = acc.shape[0]
    if kernel == "numba":
        _nb()["add_windows"](buf, row0, n_rows, spikes, lo, width, acc)
        return
    for j in range(width):
        t = spikes + (lo + j)
        t = t[(t >= row0) & (t < row0 + n_rows)]
        if t.size:
            acc[j] += buf[t - row0].sum(axis=0, dtype=np.float64)


# --- the stream ------------------------------------------------------------------------------------


@dataclass
class EImageSums:
    """Float64 window sums and the per-unit number of windows summed (``counts``).

    :meth:`unit_sum` gives one unit's ``(W, C)`` sum; :attr:`sums` all of them as one
    ``(n_units, W, C)`` array. The numba kernel keeps the sums per channel block
    (``(n_blocks, n_units, W, FUSED_BLOCK)``, ``blocked``); they are rearranged per unit on demand,
    so the whole array is only built if :attr:`sums` is asked for.
    """

    counts: np.ndarray
    full: np.ndarray | None = None
    blocked: np.ndarray | None = None
    n_channels: int = 0
    filter_seconds: float = 0.0
    add_seconds: float = 0.0
    read_seconds: float = 0.0

    def unit_sum(self, u: int) -> np.ndarray:
        """Unit *u*'s float64 sum, ``(W, C)``: row ``j`` is the sum of row ``s + lo + j`` over its spikes."""
        if self.full is not None:
            return self.full[u]
        assert self.blocked is not None
        n_blocks, _, width, bw = self.blocked.shape
        return self.blocked[:, u].transpose(1, 0, 2).reshape(width, n_blocks * bw)[:, : self.n_channels]

    @property
    def sums(self) -> np.ndarray:
        """All units' sums, ``(n_units, W, C)`` float64."""
        if self.full is None:
            self.full = np.stack([self.unit_sum(u) for u in range(len(self.counts))]) if len(self.counts) else \
                np.zeros((0, 0, self.n_channels))
            self.blocked = None
        return self.full


@dataclass(frozen=True)
class _Spikes:
    """All units' sorted spike samples in one array (``flat``), unit u's at ``offsets[u]:offsets[u+1]``."""

    per_unit: list[np.ndarray]
    flat: np.ndarray
    offsets: np.ndarray

    @classmethod
    def of(cls, per_unit: list[np.ndarray]) -> "_Spikes":
        offsets = np.concatenate([[0], np.cumsum([s.size for s in per_unit])]).astype(np.int64)
        return cls(per_unit, np.concatenate(per_unit) if per_unit else np.zeros(0, np.int64), offsets)

    def meeting(self, start: int, stop: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Per unit, the index range ``[first, last)`` into :attr:`flat` of the spikes whose window
        ``[s+lo, s+hi)`` meets the rows ``[start, stop)``."""
        first = np.array([o + np.searchsorted(x, start - hi + 1) for o, x in zip(self.offsets, self.per_unit)], np.int64)
        last = np.array([o + np.searchsorted(x, stop - lo) for o, x in zip(self.offsets, self.per_unit)], np.int64)
        return first, last


def stream_eimage(
    read: BlockReader,
    n_samples: int,
    n_channels: int,
    spikes: Sequence[np.ndarray],
    window_range: tuple[int, int],
    highpass: HighPass | None,
    chunk_samples: int,
    *,
    kernel: str = "auto",
    on_chunk: Callable[[int, int], None] | None = None,
    read_into: Callable[[int, int, np.ndarray], Any] | None = None,
) -> EImageSums:
    """
    Window sums of the zero-phase high-passed stream (or of the raw stream if *highpass* is None).

    Args:
        read: ``read(start, stop)`` → ``(stop-start, n_channels)`` samples of the window; called
            with increasing, non-overlapping ranges (plus one short re-read of the last
            ``padlen + 1`` samples for the end extension).
        n_samples: window length N (samples); must exceed the filter's ``padlen``.
        spikes: per unit, sorted int64 spike samples relative to the window start, each with
            ``0 <= s + lo`` and ``s + hi <= N`` (select them with :func:`select_spikes`).
        window_range: ``(lo, hi)`` samples, ``lo < hi``.
        chunk_samples: output rows per chunk B (memory ~ ``6 · C · (B + overlap)`` bytes).
        kernel: ``"auto"``, ``"numba"`` or ``"numpy"``.
        on_chunk: called with (rows done, N) after each chunk (progress).
        read_into: optional ``read_into(start, stop, out)`` filling *out* in place (saves a copy
            and a fresh allocation per chunk); used by the numba path when given.

    Returns:
        :class:`EImageSums`: ``unit_sum(u)[j]`` (and ``sums[u, j]``) is the float64 sum over
        unit u's spikes of row ``s + lo + j`` of the filtered stream.
    """
    import time

    kern = resolve_kernel(kernel)
    lo, hi = int(window_range[0]), int(window_range[1])
    width = hi - lo
    n_units = len(spikes)
    sp = [np.ascontiguousarray(np.asarray(s, np.int64)) for s in spikes]
    counts = np.array([s.size for s in sp], np.int64)
    res = EImageSums(counts, n_channels=n_channels)
    n = int(n_samples)
    chunk = max(1, int(chunk_samples))
    pad = highpass.padlen if highpass is not None else 0
    overlap = highpass.overlap if highpass is not None else 0
    if highpass is not None and n <= pad:
        raise ParameterError(f"the analysis window ({n} samples) must be longer than the filter's padding ({pad} samples)")

    def timed_read(a: int, b: int) -> np.ndarray:
        t0 = time.perf_counter()
        x = read(a, b)
        res.read_seconds += time.perf_counter() - t0
        if x.shape != (b - a, n_channels):
            raise ValueError(f"read({a}, {b}) returned shape {x.shape}, expected {(b - a, n_channels)}")
        return x

    spk = _Spikes.of(sp)

    def add(buf: np.ndarray, row0: int, n_rows: int) -> None:
        t0 = time.perf_counter()
        # per unit, the spikes whose window [s+lo, s+hi) meets [row0, row0+n_rows)
        first, last = spk.meeting(row0, row0 + n_rows, lo, hi)
        if kern == "numba" and n_rows * n_channels >= PAR_MIN_VALUES:
            _nb()["add_windows_par"](buf, row0, n_rows, spk.flat, first, last, lo, width, acc)
        else:
            for u in range(n_units):
                if last[u] > first[u]:
                    add_windows(buf, row0, n_rows, spk.flat[first[u]:last[u]], lo, acc[u], kernel=kern)
        res.add_seconds += time.perf_counter() - t0

    if kern == "numba" and highpass is not None:
        _stream_fused(read, read_into, n, n_channels, sp, lo, hi, highpass, chunk, res, on_chunk)
        return res
    acc = res.full = np.zeros((n_units, width, n_channels), np.float64)
    buf = np.empty((min(n, chunk + overlap), n_channels), np.float32)
    if highpass is None:
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            buf[: b - a] = timed_read(a, b)
            add(buf, a, b - a)
            if on_chunk is not None:
                on_chunk(b, n)
        return res

    sos, zi = highpass.sos, highpass.zi
    n_sec = sos.shape[0]
    t_f = 0.0

    def run(x: np.ndarray, out: np.ndarray, z: np.ndarray, reverse: bool) -> None:
        nonlocal t_f
        t0 = time.perf_counter()
        _filter_rows_numpy(x, out, sos, z, reverse)
        t_f += time.perf_counter() - t0

    # start: odd extension ext[0:pad] = 2 x[0] - x[pad:0:-1]; forward state from sosfilt_zi · ext[0]
    head = timed_read(0, pad + 1).astype(np.float64)
    pre = 2.0 * head[0] - head[pad:0:-1]
    zf = np.ascontiguousarray(zi[:, :, None] * pre[0][None, None, :]) if pad else np.zeros((n_sec, 2, n_channels))
    if pad:
        run(pre, np.empty_like(pre), zf, False)
    done = 0  # forward outputs exist for window rows [a, done), stored at buf[0 : done - a]
    a = 0
    while a < n:
        e = min(n, a + chunk + overlap)
        if e > done:
            x = timed_read(done, e)
            run(x, buf[done - a : e - a], zf, False)
            done = e
        fb = buf[: e - a]
        if e == n:  # the window's end: scipy's exact rule
            tail = timed_read(n - pad - 1, n).astype(np.float64)
            post = 2.0 * tail[-1] - tail[-2::-1]
            ypost = np.empty_like(post)
            zf_end = zf.copy()
            run(post, ypost, zf_end, False)
            last = ypost[-1] if pad else fb[-1].astype(np.float64)
            zb = np.ascontiguousarray(zi[:, :, None] * last[None, None, :])
            if pad:
                run(ypost, ypost, zb, True)
            run(fb, fb, zb, True)
            add(fb, a, n - a)
            if on_chunk is not None:
                on_chunk(n, n)
            break
        keep = buf[chunk : e - a].copy()  # forward outputs for the next chunk
        zb = np.ascontiguousarray(zi[:, :, None] * fb[-1].astype(np.float64)[None, None, :])
        run(fb, fb, zb, True)
        add(fb, a, chunk)
        buf[: keep.shape[0]] = keep
        a += chunk
        if on_chunk is not None:
            on_chunk(a, n)
    res.filter_seconds = t_f
    return res


SUB_ROWS = 8192
"""Rows per sub-step of the numba kernel: each finishes its rows with one backward pass over them
plus the overlap, so the backward pass costs ``1 + L / SUB_ROWS`` (1.21 at 100 Hz, order 2)."""
STREAM_ROWS = 2 * SUB_ROWS
"""Rows the numba path reads and processes per kernel call (at most ``chunk_samples``), into two
reused buffers (0.14 GB each for the 65 × 65 chip)."""
FUSED_BLOCK = 128
"""Channels per block of the numba kernel (a thread's unit of work; its sums are contiguous)."""


def compute_threads() -> int:
    """Threads the numba kernel runs on: the CPUs this process may use (``os.sched_getaffinity``),
    or ``TXPIPE_THREADS`` when set (a positive integer)."""
    env = os.environ.get("TXPIPE_THREADS")
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ParameterError(f"TXPIPE_THREADS must be a positive integer, got {env!r}")
        return int(env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def working_memory_bytes(kernel: str, chunk_samples: int, overlap: int, n_units: int, width: int, channels: int) -> int:
    """Upper bound (bytes) of :func:`stream_eimage`'s buffers beyond its inputs, for *kernel*
    (``"numba"`` or ``"numpy"``), ``chunk_samples`` rows per chunk, the filter's *overlap* (samples),
    *n_units* sums of *width* lags. Nothing depends on the window length.

    numba: two int16 read buffers of ``min(chunk, STREAM_ROWS)`` rows (2 B per channel each), the
    float32 pending forward outputs (4 B per channel × (``min(chunk, SUB_ROWS)`` + overlap) rows),
    float64 sums, kept per channel block (8 B per channel × width per unit, plus one unit's sum
    rearranged at a time) and each thread's int16 tile and float32 partial sums. numpy: the int16 block, the float32 filter buffer of
    chunk + overlap rows with its overlap copy, and the float64 sums (8 B per channel × width per unit).
    """
    if kernel == "numba":
        cols = -(-channels // FUSED_BLOCK) * FUSED_BLOCK
        step = min(chunk_samples, STREAM_ROWS)
        sub = min(chunk_samples, SUB_ROWS)
        threads = compute_threads()
        return (2 * 2 * channels * step + 4 * cols * (sub + overlap) + 8 * cols * width * (n_units + 1)
                + threads * (2 * sub + 4 * width) * FUSED_BLOCK)
    return channels * (2 * chunk_samples + 4 * (chunk_samples + 2 * overlap) + 8 * width * n_units)


def _stream_fused(read: BlockReader, read_into: Callable[[int, int, np.ndarray], Any] | None, n: int, n_channels: int,
                  sp: list[np.ndarray], lo: int, hi: int, hp: HighPass, chunk: int, res: EImageSums,
                  on_chunk: Callable[[int, int], None] | None) -> None:
    """The numba path (see the module docstring): same definition and exactness argument as the
    numpy path; the forward pass is never repeated, reading overlaps the kernel."""
    import time

    nb = _nb()
    sos, zi, pad, overlap = hp.sos, hp.zi, hp.padlen, hp.overlap
    width = hi - lo
    spk = _Spikes.of(sp)
    t_read = t_f = 0.0

    def get(a: int, b: int, out: np.ndarray | None = None) -> np.ndarray:
        nonlocal t_read
        t0 = time.perf_counter()
        if out is not None and read_into is not None:
            read_into(a, b, out)
            x = out
        else:
            x = read(a, b)
            if x.shape != (b - a, n_channels):
                raise ValueError(f"read({a}, {b}) returned shape {x.shape}, expected {(b - a, n_channels)}")
            if out is not None:
                out[...] = x
                x = out
        t_read += time.perf_counter() - t0
        return x

    head_raw = get(0, pad + 1)
    head = head_raw.astype(np.float64)
    pre = 2.0 * head[0] - head[pad:0:-1]
    zf = np.ascontiguousarray(zi[:, :, None] * pre[0][None, None, :])
    if pad:  # a few rows: numpy, which spares loading a second compiled kernel (~0.3 s)
        _filter_rows_numpy(pre, np.empty_like(pre), sos, zf, False)
    bw = FUSED_BLOCK
    n_blocks = -(-n_channels // bw)
    cols = n_blocks * bw  # channels padded to whole blocks (the padding's results are never used)

    def blocked(z: np.ndarray) -> np.ndarray:  # (n_sec, C) -> (n_blocks, n_sec, bw)
        zp = np.zeros((z.shape[0], cols), np.float64)
        zp[:, :n_channels] = z
        return np.ascontiguousarray(zp.reshape(z.shape[0], n_blocks, bw).transpose(1, 0, 2))

    zf0, zf1 = blocked(zf[:, 0]), blocked(zf[:, 1])
    sub = min(chunk, SUB_ROWS)
    fw = np.empty((n_blocks, sub + overlap, bw), np.float32)  # pending forward outputs per block
    acc = np.zeros((n_blocks, len(sp), width, bw), np.float64)
    no_post = np.zeros((pad, cols), np.float64)
    # stream in STREAM_ROWS-row steps through two small reused buffers (a fresh multi-GB buffer costs
    # more in page faults than reading the same bytes from the page cache): the next step is read
    # while the threads run the kernel on the current one (the kernel releases the GIL)
    chunk = min(chunk, STREAM_ROWS)
    bufs = [np.empty((min(n, chunk), n_channels), head_raw.dtype) for _ in range(2 if n > chunk else 1)]

    n_threads = max(1, min(n_blocks, compute_threads()))
    bounds = [n_blocks * k // n_threads for k in range(n_threads + 1)]
    tiles = np.empty((n_threads, sub, bw), head_raw.dtype)  # each thread's scratch tile

    def run_block_range(*args: Any) -> float:
        t0 = time.perf_counter()
        nb["stream_step"](*args)
        return time.perf_counter() - t0

    def finish(running: list[Future[float]], done_rows: int) -> None:
        nonlocal t_f
        t_f += max(f.result() for f in running)
        if on_chunk is not None:
            on_chunk(done_rows, n)

    a = 0
    p = 0  # forward outputs pending (rows [a - p, a)), the same for every block
    i = 0
    running: list[Future[float]] = []
    done_rows = 0
    with ThreadPoolExecutor(n_threads, thread_name_prefix="txpipe-eimage") as workers:
        try:
            while a < n:
                b = min(n, a + chunk)
                raw = bufs[i % len(bufs)][: b - a]
                get(a, b, raw)  # while the threads run the previous step on the other buffer
                final = b == n
                post = no_post
                if final:
                    tail = raw[b - a - pad - 1 :] if b - a >= pad + 1 else get(n - pad - 1, n)
                    post = np.zeros((pad, cols), np.float64)
                    post[:, :n_channels] = 2.0 * tail[-1].astype(np.float64) - tail[-2::-1]
                p_after = 0 if final else min(p + b - a, overlap)
                f0, f1 = a - p, (n if final else b - p_after)  # the rows this step finalises
                ufirst, ulast = spk.meeting(f0, f1, lo, hi)
                if running:  # steps share the carried state: one at a time, in order
                    finish(running, done_rows)
                args = (raw, a, final, post, sos, zi, zf0, zf1, fw, p, spk.flat, ufirst, ulast, lo, width, acc, sub,
                        overlap)
                running = [workers.submit(run_block_range, *args, bounds[k], bounds[k + 1], tiles[k])
                           for k in range(n_threads)]
                done_rows = f1
                p = p_after
                a = b
                i += 1
            if running:
                finish(running, done_rows)
        finally:  # on an error: start nothing more; leaving the block waits for what runs
            for f in running:
                f.cancel()
    del fw, bufs
    res.blocked = acc  # rearranged per unit when asked for (EImageSums.unit_sum)
    res.read_seconds += t_read
    res.filter_seconds += t_f


def select_spikes(
    samples: np.ndarray, window_start: int, n_samples: int, window_range: tuple[int, int], spike_limit: int | None
) -> tuple[np.ndarray, int, int]:
    """
    The spikes a unit's image uses: sample indices relative to *window_start* whose window
    ``[s+lo, s+hi)`` lies inside ``[0, n_samples)``, the first *spike_limit* of them in time.

    Returns:
        (sorted int64 relative samples, number excluded because their window crosses an edge of
        the analysis window (spikes inside it only), number left out by *spike_limit*).
    """
    lo, hi = int(window_range[0]), int(window_range[1])
    s = np.sort(np.asarray(samples, np.int64) - int(window_start))
    inside = s[(s >= 0) & (s < n_samples)]
    fits = inside[(inside + lo >= 0) & (inside + hi <= n_samples)]
    n_excl = int(inside.size - fits.size)
    n_over = 0
    if spike_limit is not None and fits.size > spike_limit:
        n_over = int(fits.size - spike_limit)
        fits = fits[:spike_limit]
    return fits, n_excl, n_over


def check_window_range(window_range: object) -> tuple[int, int]:
    """``(lo, hi)`` integers with ``lo < hi`` (samples relative to the spike).

    Raises:
        ParameterError: anything else.
    """
    try:
        lo, hi = window_range  # type: ignore[misc]
    except (TypeError, ValueError):
        raise ParameterError(f"window_range must be (lo, hi) samples, got {window_range!r}") from None
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ParameterError(f"window_range must hold integers (samples), got {window_range!r}")
    if not lo < hi:
        raise ParameterError(f"window_range must have lo < hi, got {window_range!r}")
    return int(lo), int(hi)
