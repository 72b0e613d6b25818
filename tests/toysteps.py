"""
Toy steps for the session tests: deterministic values generated from a seed.

Step parameters must be JSON, so a step cannot take a value; it takes ``(seed, kind)`` and
:func:`make_value` builds the same value every time. Imported by the tests (and by the crash
test's child process), which registers the steps for :func:`txpipe.core.replay.replay`.
"""

from __future__ import annotations

import numpy as np

import txpipe
from txpipe import Changes

KINDS = ("array", "npscalar", "int", "float", "str", "bytes", "none", "nested", "ragged", "empty", "zero_d")


def make_value(seed: int, kind: str):
    """The value of *kind* for *seed* (same arguments, same value, bit for bit)."""
    rng = np.random.default_rng(seed)
    if kind == "array":
        dt = rng.choice(["float64", "int32", "uint8", "bool", "complex64", "float16"])
        shape = tuple(int(n) for n in rng.integers(0, 5, size=int(rng.integers(1, 4))))
        return (rng.standard_normal(shape) * 100).astype(dt)
    if kind == "npscalar":
        return np.float32(rng.standard_normal())
    if kind == "int":
        return int(rng.integers(-(2**62), 2**62))
    if kind == "float":
        return float(rng.standard_normal())
    if kind == "str":
        return "".join(rng.choice(list("abcäöü€αβγ 中文"), size=int(rng.integers(0, 10))))
    if kind == "bytes":
        return rng.bytes(int(rng.integers(0, 10)))
    if kind == "none":
        return None
    if kind == "nested":
        return {
            "a": [int(rng.integers(100)), (float(rng.random()), "x")],
            "b": {int(k): rng.integers(0, 9, size=int(k)) for k in rng.permutation(4)},
            "c": None,
        }
    if kind == "ragged":
        return [rng.random(int(n)) for n in rng.integers(0, 6, size=int(rng.integers(0, 5)))]
    if kind == "empty":
        return np.empty((0, int(rng.integers(0, 3))), dtype="float32")
    if kind == "zero_d":
        return np.array(rng.integers(-5, 5), dtype="int16")
    raise ValueError(f"unknown toy kind {kind!r}; expected one of {KINDS}")


def make_attrs(seed: int) -> dict:
    """Attributes for *seed*: one of each attribute type."""
    rng = np.random.default_rng(seed + 10_000)
    return {
        "label": f"attr-{seed}-ü",
        "count": int(rng.integers(0, 1000)),
        "gain": float(rng.random()),
        "flag": bool(rng.integers(2)),
        "scale": np.float32(rng.random()),
        "window": rng.integers(0, 9, size=3),
    }


@txpipe.step("toy_put", version="1")
def toy_put(state, *, path: str, seed: int, kind: str = "array") -> Changes:
    """Put ``make_value(seed, kind)`` at *path* (replacing what is there)."""
    return Changes().put(path, make_value(seed, kind), seed=seed)


@txpipe.step("toy_delete", version="1")
def toy_delete(state, *, path: str, missing_ok: bool = False) -> Changes:
    """Delete *path*."""
    return Changes().delete(path, missing_ok=missing_ok)


@txpipe.step("toy_attrs", version="1")
def toy_attrs(state, *, path: str, seed: int) -> Changes:
    """Set ``make_attrs(seed)`` on *path* (a missing path becomes a group)."""
    return Changes().set_attrs(path, **make_attrs(seed))


@txpipe.step("toy_sum", version="1", requires=("toy_put",))
def toy_sum(state, *, src: str, dst: str) -> Changes:
    """Put the sum of the array at *src* at *dst* (reads the state, needs ``toy_put`` first)."""
    return Changes().put(dst, np.asarray(state[src]).sum())


@txpipe.step("toy_bad", version="1")
def toy_bad(state, *, path: str, what: str = "set") -> Changes:
    """Try to put an unsupported value (a set, an object array, a datetime)."""
    import datetime

    bad = {"set": {1, 2}, "object": np.array([object()]), "datetime": datetime.datetime(2020, 1, 1)}[what]
    return Changes().put(path, bad)


@txpipe.step("toy_fail", version="1")
def toy_fail(state, *, path: str) -> Changes:
    """Puts at *path*, then a put below an existing leaf, which fails when applied."""
    return Changes().put(path, 1.0).put(f"{path}/below", 2.0)


@txpipe.step("toy_big", version="1")
def toy_big(state, *, n_bytes: int, fill: float, n_arrays: int = 4, prefix: str = "big") -> Changes:
    """Put *n_arrays* float64 arrays of *n_bytes* in total, filled with *fill*, under *prefix*."""
    ch = Changes()
    per = n_bytes // n_arrays // 8
    for i in range(n_arrays):
        arr = np.full(per, fill, dtype=np.float64)
        arr[i % per if per else 0 : per : 4096] = fill + i  # distinguish arrays and pages
        ch.put(f"{prefix}/a{i}", arr, unit="V")
    ch.put(f"{prefix}/fill", float(fill))
    return ch
