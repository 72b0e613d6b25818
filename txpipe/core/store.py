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
import gc
import os
import time
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterable
from typing import Any, Callable

import h5py
import numpy as np

from txpipe.core import atomic, codec
from txpipe.core.checkedio import CheckedFile
from txpipe.core.fingerprint import attrs_digest, value_digest
from txpipe.errors import CommitError, NotATxpipeFileError, UnsafeTargetError
from txpipe.version import __version__
from txpipe.core.journal import Journal
from txpipe.core.paths import CF_UNITS, JOURNAL, LABELLED_MIN_NDIM, PIPELINE, NodePath, dimension_labels
from txpipe.core.tree import Group, Lazy, LazyArray, LazyValue, Leaf, Tree

FORMAT = "txpipe/1"
COMPLETE_ATTR = "txpipe_complete"
STORE_ROOT_ATTRS = ("format", "dataset_id", "txpipe_version", "created_at", "updated_at", COMPLETE_ATTR)
LAZY_MIN_BYTES = 1 << 16
"""Datasets at least this large are read on first access; smaller ones are read at load."""


def _open_raw(path: Path, mode: str) -> Any:
    return open(path, mode, buffering=0)


_file_opener: Callable[[Path, str], Any] = _open_raw


def set_file_opener(opener: Callable[[Path, str], Any] | None) -> Callable[[Path, str], Any]:
    """
    Route the bytes a commit writes through ``opener(path, mode) -> raw binary file``.

    *mode* is ``"w+b"`` (create or truncate *path*) or ``"r+b"``. The default (``None``
    restores it) opens *path* unbuffered. Benchmarks and tests use this to model a slow store,
    e.g. a network share: ``tools/bench.py`` installs an opener returning its ``ThrottledFile``.
    The returned object must be seekable, read and write at the current position and write to
    *path* itself (the commit still fsyncs and renames it by path). Every write goes through
    a :class:`~txpipe.core.checkedio.CheckedFile`, so its errors cannot be lost. Returns the
    previous opener.
    """
    global _file_opener
    previous = _file_opener
    _file_opener = _open_raw if opener is None else opener
    return previous


LIBVER = ("v110", "latest")
"""HDF5 file format bounds for written files: object headers, B-trees and heaps of this format
carry checksums, which the check before the completion marker relies on (readable by HDF5 1.10
and later, which every maintained h5py uses)."""

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


# --- which targets a commit may replace -------------------------------------------------------------


def is_txpipe_file(path: Path) -> bool:
    """Whether *path* is an HDF5 file with txpipe's root ``format`` attribute (complete or not)."""
    try:
        if not h5py.is_hdf5(path):
            return False
        with h5py.File(path, "r") as f:
            fmt = f.attrs.get("format")
    except (OSError, RuntimeError):
        return False
    return (fmt.decode() if isinstance(fmt, bytes) else fmt) == FORMAT


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name the same file: equal once resolved (symlinks), or the same inode
    on the same device (hard links)."""
    pa, pb = Path(a), Path(b)
    try:
        if pa.resolve() == pb.resolve():
            return True
        sa, sb = os.stat(pa), os.stat(pb)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def check_target(
    target: str | os.PathLike[str],
    inputs: "Iterable[tuple[str, str | os.PathLike[str]]]" = (),
    *,
    force_overwrite_foreign: bool = False,
) -> None:
    """
    Refuse a commit target txpipe must not replace, before any work is written.

    *inputs* are ``(who, path)`` pairs: the files the session (or the run) reads.

    Raises:
        UnsafeTargetError: *target* is one of *inputs* (path, symlink or hard link), or it
            exists and is not a txpipe file and *force_overwrite_foreign* is False.
    """
    target = Path(target)
    for who, path in inputs:
        if same_file(target, path):
            raise UnsafeTargetError(
                f"{target}: is an input of this run ({who}: {path}); txpipe never writes over its inputs", reason="input"
            )
    if target.exists() and not force_overwrite_foreign and (target.is_dir() or not is_txpipe_file(target)):
        raise UnsafeTargetError(
            f"{target}: exists and is not a txpipe file; refusing to replace it "
            "(pass force_overwrite_foreign=True, or --force-overwrite-foreign on the command line)",
            reason="foreign",
        )


# --- writing -------------------------------------------------------------------------------------


def _description(node: Leaf, path: str) -> dict[str, Any]:
    """CF ``units`` and dimension labels of the dataset at *path* for generic readers (see
    :func:`codec.write_description`)."""
    unit = node.attrs.get("unit")
    value = node.value
    # labels go only to datasets of as many axes as they name (a copied leaf: its rank is known later)
    multi = isinstance(value, Lazy) or (isinstance(value, np.ndarray) and value.ndim >= LABELLED_MIN_NDIM)
    return {"dims": dimension_labels(path) if multi else None,
            "cf_units": CF_UNITS.get(unit) if isinstance(unit, str) else None}


def _write_group(dst: Any, group: Group, base: str = "") -> None:
    """Write *group*'s children under *dst* (an h5py group or file, or a low-level group
    identifier), closing every object as soon as it is written."""
    for name, node in group.children.items():
        if isinstance(node, Group):
            with codec.closing(codec.create_group(dst, name)) as g:
                codec.write_attrs(g, node.attrs, fresh=True)
                _write_group(g, node, f"{base}/{name}")
        elif isinstance(node.value, LazyValue) and node.value.kind == "attrdict" and node.attrs:
            # a dict of scalars stored as attributes, given node attributes since it was loaded:
            # rewrite it in the dataset form so the two sets of attributes do not mix
            codec.write_node(dst, name, node.value.read(), node.attrs, attrdict=False)
        elif isinstance(node.value, Lazy):
            _copy_lazy(dst, name, node, f"{base}/{name}")
        else:
            codec.write_node(dst, name, node.value, node.attrs, **_description(node, f"{base}/{name}"))


def _copy_lazy(dst: Any, name: str, node: Leaf, path: str) -> None:
    """Copy the lazy leaf *node* from its file to *name* under *dst* (see :func:`_write_group`)
    with the node's attributes."""
    with codec.h5py_group(dst) as hl:
        with codec.closing(node.value.source.copy_to(node.value.path, hl, name)) as obj:  # type: ignore[union-attr]
            codec.replace_attrs(obj, node.attrs)
            codec.write_description(obj, node.attrs, **_description(node, path))


def _write_checked(path: Path, mode: str, body: Callable[[h5py.File], None], *, fsync: bool) -> None:
    """
    Open *path* as HDF5 through a :class:`~txpipe.core.checkedio.CheckedFile`, run *body*, close
    every HDF5 object explicitly, then (with *fsync*) fsync.

    Stops at the first error: from then on nothing more reaches the disk (no flush), and the
    first OS error is raised (as itself: the caller turns it into a CommitError).
    """
    cf = CheckedFile(_file_opener(path, "w+b" if mode == "w" else "r+b"), str(path))
    f: h5py.File | None = None
    try:
        f = h5py.File(cf, mode, **({"track_order": True, "libver": LIBVER} if mode == "w" else {}))
        _cap_metadata_cache(f)
        body(f)
        cf.check()
        # Datasets, attributes and named types write their data when they are closed: each must be
        # closed here, where an error is seen. (A group left open - under threaded Dask workers an
        # identifier of the root group sometimes outlives the write - holds only metadata, which
        # closing the file flushes through the checked file, where an error is seen too.)
        kinds = h5py.h5f.OBJ_DATASET | h5py.h5f.OBJ_ATTR | h5py.h5f.OBJ_DATATYPE
        left = h5py.h5f.get_obj_count(f.id, kinds)
        if left:
            gc.collect()  # an identifier held only by a reference cycle; closing it is still checked
            cf.check()
            left = h5py.h5f.get_obj_count(f.id, kinds)
        if left:  # a bug in this module: an object would be closed (and written) after the file
            names = [f"{h5py.h5i.get_type(i)}:{h5py.h5i.get_name(i)!r}" for i in h5py.h5f.get_obj_ids(f.id, kinds)]
            raise RuntimeError(f"{path}: {left} HDF5 object(s) still open before closing the file: {names}")
        ff, f = f, None
        ff.close()
        cf.check()
        if fsync:
            cf.fsync()
        cf.seal()
    except BaseException as exc:
        cf.seal()  # HDF5 may try to write while it closes: nothing more reaches the disk
        if f is not None:
            try:
                f.close()
            except Exception:  # noqa: BLE001 - the first error is the one raised
                pass
        try:
            cf.close()
        except Exception:  # noqa: BLE001
            pass
        if cf.error is not None and cf.error is not exc:
            raise cf.error from exc
        raise
    cf.close()
    cf.check()


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

    Every HDF5 object is closed explicitly and every byte goes through a checked file, so the
    first write error (ENOSPC, EFBIG, EIO …) stops the commit. Before the completion marker is
    written, the temporary file is read back and compared with the state (:func:`verify_written`).

    Raises:
        CommitError: the write failed; *target* keeps its previous version, the temporary file
            is removed, ``__cause__`` is the OS error.
    """
    target = Path(target)
    t0 = time.perf_counter()
    now = utcnow()
    journal_text = journal.to_text()

    def content(f: h5py.File) -> None:
        f.attrs["format"] = FORMAT
        if dataset_id is not None:
            f.attrs.create("dataset_id", dataset_id, dtype=codec.STR_DTYPE)
        f.attrs["txpipe_version"] = __version__
        f.attrs["created_at"] = created_at or now
        f.attrs["updated_at"] = now
        codec.write_attrs(f, tree.root.attrs)
        _write_group(f, tree.root)
        atomic.fault_point("after_data")
        with codec.closing(f.require_group(str(PIPELINE))) as pipe:
            with codec.closing(pipe.create_dataset(JOURNAL.name, data=journal_text, dtype=codec.STR_DTYPE)) as jds:
                jds.attrs["kind"] = kind
                jds.attrs["checkpoint_name"] = checkpoint_name or ""
                jds.attrs["committed_at"] = now

    def marker(f: h5py.File) -> None:
        f.attrs[COMPLETE_ATTR] = True

    with atomic.atomic_replace(target) as tmp:
        try:
            _write_checked(tmp, "w", content, fsync=False)
            verify_written(tmp, tree, journal_text)
            atomic.fault_point("before_marker")
            _write_checked(tmp, "r+", marker, fsync=True)
        except OSError as exc:  # a bug (any other error) propagates as itself
            if isinstance(exc, CommitError):
                raise
            raise CommitError(f"{target}: commit failed, previous version kept: {exc}") from exc
        size = tmp.stat().st_size
    return CommitInfo(target, size, time.perf_counter() - t0)


# --- verifying what was written ------------------------------------------------------------------

_VERIFY_BLOCK = 1 << 22
"""Arrays are compared in slices of at most this many bytes, read into buffers allocated once per
commit (bounds the commit's extra memory)."""

VERIFY_FULL_BYTES = 1 << 20
"""Arrays up to this size are read back and compared in full before the completion marker.
Larger arrays are compared at VERIFY_SAMPLES evenly spread slices of VERIFY_SAMPLE_BYTES
(first and last included): their bytes went to the OS through one checked write each, and
reading them all back would halve commit throughput (measured by ``tools/bench_commit.py``)."""
VERIFY_SAMPLES = 16
VERIFY_SAMPLE_BYTES = 1 << 16


class _Comparer:
    """Byte-for-byte comparison of written datasets with what they should hold, slice by slice,
    through buffers allocated once per commit."""

    def __init__(self) -> None:
        self._got = np.empty(_VERIFY_BLOCK // 8, np.uint64)
        self._want = np.empty(_VERIFY_BLOCK // 8, np.uint64)
        self._ne = np.empty(_VERIFY_BLOCK // 8, np.bool_)

    def _equal(self, nbytes: int) -> bool:
        n8, rest = divmod(nbytes, 8)
        if n8 and np.not_equal(self._got[:n8], self._want[:n8], out=self._ne[:n8]).any():
            return False
        if rest:
            g, w = self._got.view(np.uint8), self._want.view(np.uint8)
            return bool(np.array_equal(g[n8 * 8 : nbytes], w[n8 * 8 : nbytes]))
        return True

    def same_array(self, dsid: Any, value: np.ndarray) -> bool:
        """Whether the open dataset *dsid* (low-level id: a fraction of the cost of an
        h5py.Dataset) holds exactly *value*."""
        if dsid.dtype != value.dtype or dsid.shape != value.shape:
            return False
        if value.nbytes > _VERIFY_BLOCK or value.ndim == 0:
            return self.same(h5py.Dataset(dsid), value)
        if value.size == 0:
            return True
        got = self._got.view(np.uint8)[: value.nbytes].view(value.dtype).reshape(value.shape)
        dsid.read(h5py.h5s.ALL, h5py.h5s.ALL, got)
        want = self._want.view(np.uint8)[: value.nbytes].view(value.dtype).reshape(value.shape)
        want[...] = value
        return self._equal(value.nbytes)

    def same(self, ds: h5py.Dataset, expected: np.ndarray | h5py.Dataset) -> bool:
        """Whether dataset *ds* holds exactly *expected* (an array, or a source dataset)."""
        shape = tuple(expected.shape)
        if ds.shape != shape or ds.dtype != expected.dtype:
            return False
        if ds.size == 0:
            return True
        if not shape:
            got, want = np.asarray(ds[()]).reshape(1), np.asarray(expected[()]).reshape(1)
            return bool(np.array_equal(got.view(np.uint8), want.view(np.uint8)))
        item = ds.dtype.itemsize
        row = int(np.prod(shape[1:], dtype=np.int64)) * item
        if row > _VERIFY_BLOCK:  # rows too large for one buffer: compare whole slices
            for i in range(shape[0]):
                if not np.array_equal(np.asarray(ds[i]).view(np.uint8), np.ascontiguousarray(expected[i]).view(np.uint8)):
                    return False
            return True
        step = _VERIFY_BLOCK // row
        if ds.nbytes <= VERIFY_FULL_BYTES:
            ranges = [(i, min(shape[0], i + step)) for i in range(0, shape[0], step)]
        else:  # VERIFY_SAMPLES slices of about VERIFY_SAMPLE_BYTES, spread evenly, first and last included
            n = max(1, min(step, VERIFY_SAMPLE_BYTES // row))
            starts = np.linspace(0, shape[0] - n, VERIFY_SAMPLES).astype(np.int64)
            ranges = [(int(i), int(i) + n) for i in np.unique(starts)]
        src = expected if isinstance(expected, np.ndarray) else None
        for batch in _batches(ranges, step):
            rows = sum(j - i for i, j in batch)
            nbytes = rows * row
            got = self._got.view(np.uint8)[:nbytes].view(ds.dtype).reshape((rows,) + shape[1:])
            _read_rows(ds.id, batch, got)
            want = self._want.view(np.uint8)[:nbytes].view(ds.dtype).reshape(got.shape)
            if src is not None:
                k = 0
                for i, j in batch:
                    want[k : k + j - i] = src[i:j]
                    k += j - i
            else:
                _read_rows(expected.id, batch, want)  # type: ignore[union-attr]
            if not self._equal(nbytes):
                return False
        return True


def _batches(ranges: list[tuple[int, int]], max_rows: int) -> list[list[tuple[int, int]]]:
    """Row ranges (each at most *max_rows* rows) sorted, overlaps merged, grouped into batches of
    at most *max_rows* rows: each batch is read with one HDF5 call into the comparison buffers."""
    merged: list[tuple[int, int]] = []
    for i, j in sorted(ranges):
        if merged and i <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(j, merged[-1][1]))
        else:
            merged.append((i, j))
    batches: list[list[tuple[int, int]]] = []
    rows = 0
    for i, j in merged:
        if batches and rows + (j - i) <= max_rows:
            batches[-1].append((i, j))
            rows += j - i
        else:
            batches.append([(i, j)])
            rows = j - i
    return batches


def _read_rows(dsid: Any, batch: list[tuple[int, int]], out: np.ndarray) -> None:
    """Read the rows ``i:j`` of every range in *batch* (sorted, disjoint) of dataset *dsid*
    (low-level id) into *out*, one after the other, with one HDF5 read."""
    rest = out.shape[1:]
    fspace = dsid.get_space()
    fspace.select_none()
    for i, j in batch:
        fspace.select_hyperslab((i,) + (0,) * len(rest), (j - i,) + rest, op=h5py.h5s.SELECT_OR)
    dsid.read(h5py.h5s.create_simple(out.shape), fspace, out)


def _expected(tree: Tree) -> tuple[dict[str, tuple[bool, dict[str, Any], Any]], list[tuple[str, Leaf]]]:
    """What :func:`write_file` writes for *tree* below the root: ``{path: (is_group, stored
    attributes, data)}`` (paths relative to the root, as HDF5 visits them), and the lazy leaves
    (copied from their file: checked against it)."""
    want: dict[str, tuple[bool, dict[str, Any], Any]] = {}
    lazy: list[tuple[str, Leaf]] = []

    def walk(group: Group, prefix: str) -> None:
        for name, node in group.children.items():
            p = prefix + name
            if isinstance(node, Group):
                want[p] = (True, codec.stored_attrs(node.attrs), None)
                walk(node, p + "/")
            elif isinstance(node.value, Lazy):
                lazy.append((p, node))
            else:
                for q, is_group, attrs, data in codec.layout(p, node.value, node.attrs, **_description(node, "/" + p)):
                    want[q] = (is_group, attrs, data)

    walk(tree.root, "")
    return want, lazy


def _verify_objects(f: h5py.File, tree: Tree, cmp: _Comparer) -> str | None:
    """The first difference between the written file *f* and *tree*, or None (see
    :func:`verify_written`)."""
    root_attrs = {k: v for k, v in codec.read_attrs(f).items() if k not in STORE_ROOT_ATTRS}
    if attrs_digest(root_attrs) != attrs_digest(tree.root.attrs):
        return "/: attributes differ"
    want, lazy = _expected(tree)
    got: dict[str, tuple[int, int]] = {}

    def seen(name: bytes, info: Any) -> None:
        got[name.decode("utf-8")] = (info.type, info.num_attrs)

    # every object header is read (and its checksum verified by HDF5) on the way
    h5py.h5o.visit(f.id, seen, info=True)
    got.pop(".", None)
    for name in (PIPELINE.name, str(JOURNAL).lstrip("/")):
        got.pop(name, None)
    for p, node in lazy:
        if p not in got:
            return f"/{p}: missing"
        for q in [q for q in got if q == p or q.startswith(p + "/")]:
            del got[q]
        obj = f[p]
        value = node.value
        m = codec.marker(obj)
        if isinstance(value, LazyArray):
            ok = m is None and isinstance(obj, h5py.Dataset) and cmp.same(obj, value.source.h5[str(value.path)])  # type: ignore[attr-defined]
        else:
            ok = value_digest(codec.read_value(obj)) == value_digest(value)
        ok = ok and (m == "attrdict" or attrs_digest(codec.read_attrs(obj)) == attrs_digest(node.attrs))
        if not ok:
            return f"/{p}: differs from the state"
    if got.keys() != want.keys():
        extra, missing = sorted(got.keys() - want.keys()), sorted(want.keys() - got.keys())
        return f"members differ (missing {missing[:5]}, unexpected {extra[:5]})"
    group_type = h5py.h5o.TYPE_GROUP
    for p, (is_group, attrs, data) in want.items():
        kind, nattrs = got[p]
        if (kind == group_type) != is_group or nattrs != len(attrs):
            return f"/{p}: differs from the state (object kind or number of attributes)"
        if not codec.attrs_in_header(attrs):  # kept in a heap outside the object header
            with codec.closing(h5py.h5o.open(f.id, p.encode("utf-8"))) as oid:
                if not codec.attrs_stored_as(oid, {}, attrs):
                    return f"/{p}: attributes differ"
        if isinstance(data, str):
            obj = f[p]
            text = obj[()] if isinstance(obj, h5py.Dataset) else None
            if (text.decode("utf-8") if isinstance(text, bytes) else text) != data:
                return f"/{p}: differs from the state"
        elif isinstance(data, np.ndarray) and not codec.stored_compact(data):
            with codec.closing(h5py.h5d.open(f.id, p.encode("utf-8"))) as dsid:
                if not cmp.same_array(dsid, data):
                    return f"/{p}: differs from the state"
    return None


def verify_written(path: Path, tree: Tree, journal_text: str) -> None:
    """
    Re-open the file at *path* and check it against *tree* and the journal text, as cheaply as
    a check that cannot pass on a torn file can be (every byte HDF5 wrote has already reached
    the OS through a :class:`~txpipe.core.checkedio.CheckedFile`):

    - every object header is read, which makes HDF5 verify its checksum (object headers hold
      the attributes, see :func:`txpipe.core.codec.attrs_in_header`, and the data of compact
      arrays, see :data:`txpipe.core.codec.COMPACT_MAX_BYTES`);
    - the objects are exactly the state's (paths, group or dataset, number of attributes);
    - the data HDF5 keeps outside object headers is compared with the state: arrays in a data
      block (byte for byte up to :data:`VERIFY_FULL_BYTES`, at :data:`VERIFY_SAMPLES` slices
      above), string values, lazy leaves against the file they come from, the attributes of
      objects whose attributes HDF5 keeps in a heap (:func:`codec.attrs_in_header`), the root's
      attributes, the journal text.

    Raises:
        CommitError: naming the first difference (the file is torn or damaged).
    """
    try:
        with h5py.File(path, "r") as f:
            bad = _verify_objects(f, tree, _Comparer())
            if bad is None:
                jds = f.get(str(JOURNAL))
                if not isinstance(jds, h5py.Dataset) or jds.asstr()[()] != journal_text:
                    bad = f"{JOURNAL}: journal differs"
    except (OSError, RuntimeError, KeyError, ValueError) as exc:  # HDF5: a checksum or signature does not match
        bad = f"unreadable: {exc}"
    if bad is not None:
        raise CommitError(f"{path}: written file does not read back as the state ({bad}); not committed")


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
        try:
            journal = Journal.from_text(jds.asstr()[()])
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed journal {JOURNAL}: {type(exc).__name__}: {exc}") from exc
        commit_attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in jds.attrs.items()}
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        source.close()
        raise NotATxpipeFileError(f"{path}: damaged txpipe file: {exc}") from exc
    return OpenedFile(Tree(root), journal, root_attrs, commit_attrs, source, stamp)
