"""
Optional compression of the arrays a commit writes (``--compress``; off by default).

:func:`compression` is a context manager: commits made inside it store every array of at least
:data:`MIN_BYTES` chunked, byte-shuffled and gzip-compressed (HDF5's ``shuffle`` + ``deflate``
filters, readable by any HDF5 reader without plugins). Smaller arrays, strings and scalars stay
contiguous: the filters would cost more than they save there. Values, digests and the layout are
the same with or without it; only the bytes on disk differ. ``docs/performance.md`` has the
measured size/time trade-off.

The setting lives in a :class:`contextvars.ContextVar`, so it applies to the commits of the
current thread or task only.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import h5py
import numpy as np

from txpipe.errors import ConfigurationError

DEFAULT_LEVEL = 1
"""gzip level of ``--compress`` (1 fastest … 9 smallest): level 4 saved only 3 % more than 1 on a
10-minute recording for 2.5× the commit time (``docs/performance.md``)."""

MIN_BYTES = 16 * 1024
"""Arrays smaller than this (in bytes) are never compressed."""

_level: contextvars.ContextVar[int | None] = contextvars.ContextVar("txpipe_compression", default=None)
_dcpls: dict[tuple[int, tuple[int, ...], int], h5py.h5p.PropDCID] = {}


@contextlib.contextmanager
def compression(level: int | None = DEFAULT_LEVEL) -> Iterator[None]:
    """Compress the arrays of commits made inside the block with gzip *level* (None: off)."""
    if level is not None and (isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 9):
        raise ConfigurationError(f"compression level must be an int from 1 to 9 or None, got {level!r}")
    token = _level.set(level)
    try:
        yield
    finally:
        _level.reset(token)


def current_level() -> int | None:
    """The gzip level in effect (None: no compression)."""
    return _level.get()


def dcpl_for(arr: np.ndarray) -> h5py.h5p.PropDCID | None:
    """The dataset creation properties for *arr* under the current setting, or None for the
    default (contiguous) layout."""
    level = _level.get()
    if level is None or arr.ndim == 0 or arr.nbytes < MIN_BYTES or arr.dtype.kind not in "biufc":
        return None
    chunks = h5py.filters.guess_chunk(arr.shape, None, arr.dtype.itemsize)
    key = (level, tuple(chunks), arr.dtype.itemsize)
    dcpl = _dcpls.get(key)
    if dcpl is None:
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_obj_track_times(False)
        dcpl.set_chunk(tuple(chunks))
        dcpl.set_shuffle()
        dcpl.set_deflate(level)
        _dcpls[key] = dcpl
    return dcpl
