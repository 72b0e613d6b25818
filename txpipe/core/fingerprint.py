"""
Digests of values and fingerprints of input files.

:func:`value_digest` hashes a state value canonically (type, dtype, shape, bytes, key types and
order), so equal digests mean values that round-trip to the same thing. :func:`file_fingerprint`
describes an input file without a full pass over it: size, mtime, a hash of its first and last
MiB, and optionally the digest of the data a step actually read.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from txpipe.core.tree import Group, Lazy, Tree

_SAMPLE_BYTES = 1 << 20
_ARRAY_BLOCK = 1 << 24  # hash large arrays in 16 MiB slices to bound temporary memory


def _h() -> "hashlib._Hash":
    return hashlib.blake2b(digest_size=16)


def _update(h: "hashlib._Hash", value: Any) -> None:
    if isinstance(value, Lazy):
        value = value.read()
    if isinstance(value, np.ndarray):
        h.update(b"A" + value.dtype.str.encode() + repr(value.shape).encode())
        flat = np.ascontiguousarray(value).reshape(-1)
        step = max(1, _ARRAY_BLOCK // max(1, value.dtype.itemsize))
        for i in range(0, flat.size, step):
            h.update(flat[i : i + step].tobytes())
    elif isinstance(value, np.generic):
        h.update(b"N" + value.dtype.str.encode() + value.tobytes())
    elif value is None:
        h.update(b"0")
    elif isinstance(value, bool):
        h.update(b"B1" if value else b"B0")
    elif isinstance(value, int):
        h.update(b"I" + str(value).encode())
    elif isinstance(value, float):
        h.update(b"F" + np.float64(value).tobytes())
    elif isinstance(value, complex):
        h.update(b"C" + np.complex128(value).tobytes())
    elif isinstance(value, str):
        b = value.encode("utf-8")
        h.update(b"S" + str(len(b)).encode() + b":" + b)
    elif isinstance(value, bytes):
        h.update(b"Y" + str(len(value)).encode() + b":" + value)
    elif isinstance(value, (list, tuple)):
        h.update((b"L" if isinstance(value, list) else b"T") + str(len(value)).encode())
        for v in value:
            _update(h, v)
    elif isinstance(value, dict):
        h.update(b"D" + str(len(value)).encode())
        for k, v in value.items():
            _update(h, k)
            _update(h, v)
    else:
        raise TypeError(f"cannot digest {type(value).__name__}")


def value_digest(value: Any) -> str:
    """Hex digest of *value* (128-bit BLAKE2b over a canonical encoding)."""
    h = _h()
    _update(h, value)
    return h.hexdigest()


def attrs_digest(attrs: dict[str, Any]) -> str:
    """Hex digest of an attribute dict (order-insensitive)."""
    return value_digest({k: attrs[k] for k in sorted(attrs)})


def file_fingerprint(path: str | os.PathLike[str], data_digest: str | None = None) -> dict[str, Any]:
    """
    Describe an input file for the journal without reading all of it.

    Returns ``{"path", "size", "mtime_ns", "sample_digest", "data_digest"}``; *sample_digest*
    hashes the first and last MiB, *data_digest* is whatever digest the caller computed of the
    data it actually read (None if not given).
    """
    p = Path(path)
    st = p.stat()
    h = _h()
    with open(p, "rb") as f:
        h.update(f.read(_SAMPLE_BYTES))
        if st.st_size > _SAMPLE_BYTES:
            f.seek(max(_SAMPLE_BYTES, st.st_size - _SAMPLE_BYTES))
            h.update(f.read(_SAMPLE_BYTES))
    return {
        "path": str(p.resolve()),
        "size": int(st.st_size),
        "mtime_ns": int(st.st_mtime_ns),
        "sample_digest": h.hexdigest(),
        "data_digest": data_digest,
    }


def tree_digests(tree: Tree) -> dict[str, str]:
    """
    Digest of every node of *tree*: ``{path: digest}`` in walk order.

    A group's digest covers its attributes and child order; a leaf's covers its value and
    attributes. Two trees with equal mappings hold the same content.
    """
    out: dict[str, str] = {}
    for path, node in tree.walk():
        if isinstance(node, Group):
            out[str(path)] = value_digest(["group", list(node.children), attrs_digest(node.attrs)])
        else:
            out[str(path)] = value_digest(["leaf", value_digest(node.value), attrs_digest(node.attrs)])
    return out
