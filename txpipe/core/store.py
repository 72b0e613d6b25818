"""
The HDF5 store: stream a state tree and its journal into a new file; read a file back lazily.

This and :mod:`txpipe.core.codec` are the only modules that touch h5py. Every file has the same
layout whatever mode wrote it (SPEC §6): the state tree at the root, root attributes
``format="txpipe/1"``, ``dataset_id``, ``txpipe_version``, ``created_at``, ``updated_at``, the
journal as JSON text in ``/pipeline/journal`` (with the commit's ``kind``, ``checkpoint_name``
and ``committed_at`` as its attributes) and, written last, the completion marker
``txpipe_complete=True``.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np

from txpipe.core import atomic

from txpipe.core import codec
from txpipe.errors import NotATxpipeFileError
from txpipe.core.journal import Journal
from txpipe.core.paths import CF_UNITS, JOURNAL, PIPELINE, NodePath, dimension_labels
from txpipe.core.tree import Group, Lazy, LazyArray, LazyValue, Leaf, Tree

FORMAT = "txpipe/1"
COMPLETE_ATTR = "txpipe_complete"
STORE_ROOT_ATTRS = ("format", "dataset_id", "txpipe_version", "created_at", "updated_at", COMPLETE_ATTR)
LAZY_MIN_BYTES = 1 << 16
"""Datasets at least this large are read on first access; smaller ones are read at load."""


_file_opener: Callable[..., h5py.File] = h5py.File


def set_file_opener(opener: Callable[..., h5py.File] | None) -> Callable[..., h5py.File]:
    """
    Route the HDF5 file a commit writes through ``opener(path, mode, **kwargs) -> h5py.File``.

    The default (``None`` restores it) is :class:`h5py.File`. Benchmarks and tests use this to
    model a slow store, e.g. a network share: ``tools/bench.py`` passes an opener that returns
    ``h5py.File(ThrottledFile(path), mode, **kwargs)``. The opener must create or truncate
    *path* itself (the commit still fsyncs and renames it by path) and the returned file must
    release everything it opened when closed. Returns the previous opener.
    """
    global _file_opener
    previous = _file_opener
    _file_opener = h5py.File if opener is None else opener
    return previous


METADATA_CACHE_BYTES = 4 << 20
"""Cap on HDF5's metadata cache while a commit writes (its default grows to 32 MiB)."""


def _cap_metadata_cache(f: h5py.File) -> None:
    """Bound the HDF5 metadata cache of a file being written (SPEC §4: a commit's extra memory
    is a small constant). Measured on a 20-min, 150-unit pipeline output (11k datasets): the
    commit's extra peak RSS fell from +7.5 % to +3.6 % of the state, at the same speed."""
    cfg = f.id.get_mdc_config()
    cfg.set_initial_size = True
    cfg.initial_size = 1 << 20
    cfg.min_size = 1 << 20
    cfg.max_size = METADATA_CACHE_BYTES
    f.id.set_mdc_config(cfg)


def utcnow() -> str:
    """Current UTC time, ISO-8601 with microseconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class CommitInfo:
    """What a commit wrote."""

    path: Path
    bytes: int
    seconds: float


@dataclass(frozen=True)
class FileStamp:
    """Identity of a file version on disk (changes whenever the file is replaced or edited)."""

    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> "FileStamp | None":
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        return cls(st.st_ino, st.st_size, st.st_mtime_ns)


class FileSource:
    """An open, read-only txpipe file that lazy leaves read from."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._h5: h5py.File | None = h5py.File(self.path, "r")

    @property
    def h5(self) -> h5py.File:
        if self._h5 is None:
            raise NotATxpipeFileError(f"{self.path}: source file was closed")
        return self._h5

    def read(self, path: NodePath) -> np.ndarray:
        arr = self.h5[str(path)][()]
        return arr if isinstance(arr, np.ndarray) else np.asarray(arr)

    def read_value(self, path: NodePath) -> Any:
        return codec.read_value(self.h5[str(path)])

    def copy_to(self, path: NodePath, dst_group: h5py.Group, name: str) -> h5py.HLObject:
        """Copy a dataset or a compound value's group into another file, attributes included,
        without reading it into Python memory (HDF5 object copy)."""
        dst_group.copy(self.h5[str(path)], name)
        return dst_group[name]

    def close(self) -> None:
        if self._h5 is not None:
            try:
                self._h5.close()
            finally:
                self._h5 = None

    def __del__(self) -> None:
        if getattr(self, "_h5", None) is not None:
            self.close()


# --- writing -------------------------------------------------------------------------------------


def _describe(obj: h5py.HLObject, node: Leaf, path: str) -> None:
    """CF ``units`` and dimension labels for generic readers (see :func:`codec.write_description`)."""
    if isinstance(obj, h5py.Dataset):
        unit = node.attrs.get("unit")
        codec.write_description(obj, node.attrs, dimension_labels(path),
                                CF_UNITS.get(unit) if isinstance(unit, str) else None)


def _write_group(dst: h5py.Group, group: Group, base: str = "") -> None:
    for name, node in group.children.items():
        if isinstance(node, Group):
            g = dst.create_group(name, track_order=True)
            codec.write_attrs(g, node.attrs)
            _write_group(g, node, f"{base}/{name}")
        elif isinstance(node.value, LazyValue) and node.value.kind == "attrdict" and node.attrs:
            # a dict of scalars stored as attributes, given node attributes since it was loaded:
            # rewrite it in the dataset form so the two sets of attributes do not mix
            obj = codec.write_value(dst, name, node.value.read(), attrdict=False)
            codec.write_attrs(obj, node.attrs)
        elif isinstance(node.value, Lazy):
            obj = node.value.source.copy_to(node.value.path, dst, name)  # type: ignore[attr-defined]
            codec.replace_attrs(obj, node.attrs)
            _describe(obj, node, f"{base}/{name}")
        else:
            obj = codec.write_value(dst, name, node.value, attrdict=not node.attrs)
            codec.write_attrs(obj, node.attrs)
            _describe(obj, node, f"{base}/{name}")


def write_file(
    tree: Tree,
    journal: Journal,
    target: Path,
    *,
    kind: str,
    dataset_id: str | None,
    created_at: str | None = None,
    checkpoint_name: str | None = None,
) -> CommitInfo:
    """
    Commit *tree* and *journal* to *target* atomically (see :mod:`txpipe.core.atomic`).

    Raises:
        CommitError: the write failed; *target* keeps its previous version.
    """
    target = Path(target)
    t0 = time.perf_counter()
    now = utcnow()
    with atomic.atomic_replace(target) as tmp:
        with _file_opener(tmp, "w", track_order=True) as f:
            _cap_metadata_cache(f)
            f.attrs["format"] = FORMAT
            if dataset_id is not None:
                f.attrs.create("dataset_id", dataset_id, dtype=codec.STR_DTYPE)
            from txpipe import __version__

            f.attrs["txpipe_version"] = __version__
            f.attrs["created_at"] = created_at or now
            f.attrs["updated_at"] = now
            codec.write_attrs(f, tree.root.attrs)
            _write_group(f, tree.root)
            atomic.fault_point("after_data")
            pipe = f.require_group(str(PIPELINE))
            jds = pipe.create_dataset(JOURNAL.name, data=journal.to_text(), dtype=codec.STR_DTYPE)
            jds.attrs["kind"] = kind
            jds.attrs["checkpoint_name"] = checkpoint_name or ""
            jds.attrs["committed_at"] = now
            atomic.fault_point("before_marker")
            f.attrs[COMPLETE_ATTR] = True
            f.flush()
        size = tmp.stat().st_size
    return CommitInfo(target, size, time.perf_counter() - t0)


# --- reading -------------------------------------------------------------------------------------


@dataclass
class OpenedFile:
    """What :func:`open_file` returns."""

    tree: Tree
    journal: Journal
    root_attrs: dict[str, Any]
    commit_attrs: dict[str, Any]
    source: FileSource
    stamp: FileStamp | None


def check_file(path: Path) -> None:
    """Raise FileNotFoundError or NotATxpipeFileError unless *path* is a complete txpipe file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise NotATxpipeFileError(f"{path}: is a directory, not a txpipe HDF5 file")
    if not h5py.is_hdf5(path):
        raise NotATxpipeFileError(f"{path}: not an HDF5 file")
    try:
        with h5py.File(path, "r") as f:
            fmt = f.attrs.get("format")
            fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
            if fmt != FORMAT:
                raise NotATxpipeFileError(f"{path}: not a txpipe file (root attribute format={fmt!r}, expected {FORMAT!r})")
            if not bool(f.attrs.get(COMPLETE_ATTR, False)):
                raise NotATxpipeFileError(f"{path}: incomplete txpipe file (no completion marker); it was not committed")
            if str(JOURNAL) not in f:
                raise NotATxpipeFileError(f"{path}: txpipe file without {JOURNAL}")
    except OSError as exc:
        if isinstance(exc, NotATxpipeFileError):
            raise
        raise NotATxpipeFileError(f"{path}: unreadable HDF5 file: {exc}") from exc


def _read_group(src: h5py.Group, source: FileSource) -> Group:
    g = Group(codec.read_attrs(src))
    for name, obj in src.items():
        if isinstance(obj, h5py.Group) and codec.marker(obj) is None:
            g.children[name] = _read_group(obj, source)
            continue
        m = codec.marker(obj)
        attrs = {} if m == "attrdict" else codec.read_attrs(obj)  # an attrdict's attributes are its members
        if isinstance(obj, h5py.Group):  # a dict/list/tuple value: read whole on first access
            g.children[name] = Leaf(LazyValue(source, NodePath.parse(obj.name), m or ""), attrs)
        elif m is None and obj.shape is not None and obj.size * obj.dtype.itemsize >= LAZY_MIN_BYTES:
            g.children[name] = Leaf(LazyArray(source, NodePath.parse(obj.name), tuple(obj.shape), obj.dtype), attrs)
        else:
            g.children[name] = Leaf(codec.read_value(obj), attrs)
    return g


def open_file(path: Path) -> OpenedFile:
    """
    Read a committed txpipe file: the tree (large arrays lazily), the journal and root attributes.

    Raises:
        FileNotFoundError, NotATxpipeFileError
    """
    path = Path(path)
    stamp = FileStamp.of(path)
    check_file(path)
    source = FileSource(path)
    f = source.h5
    try:
        root_attrs = {}
        for k in STORE_ROOT_ATTRS:
            if k in f.attrs:
                v = f.attrs[k]
                root_attrs[k] = v.decode() if isinstance(v, bytes) else (v.item() if isinstance(v, np.generic) else v)
        root = _read_group(f, source)
        root.children.pop(PIPELINE.name, None)
        root.attrs = {k: v for k, v in root.attrs.items() if k not in STORE_ROOT_ATTRS}
        jds = f[str(JOURNAL)]
        journal = Journal.from_text(jds.asstr()[()])
        commit_attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in jds.attrs.items()}
    except (KeyError, ValueError) as exc:
        source.close()
        raise NotATxpipeFileError(f"{path}: damaged txpipe file: {exc}") from exc
    return OpenedFile(Tree(root), journal, root_attrs, commit_attrs, source, stamp)
