"""Tests for txpipe.core.store: one canonical layout, lossless round-trip, lazy loading, typed errors."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies
from txpipe.core import changes
from txpipe.core import store
from txpipe.core.changes import Changes
from txpipe.errors import NotATxpipeFileError
from txpipe.core.fingerprint import tree_digests
from txpipe.core.journal import Journal
from txpipe.core.tree import LazyArray, Tree

trees = st.lists(
    st.tuples(strategies.leaf_paths(), strategies.values(), strategies.attr_dicts), min_size=0, max_size=6
)


def _build(items) -> Tree:
    t = Tree()
    ch = Changes()
    for p, v, a in items:
        ch.put(p, v, **a)
    changes.apply(t, ch)
    return t


class TestRoundTrip:
    """write_file then open_file gives the same tree, node for node."""

    @settings(max_examples=60, deadline=None)
    @given(items=trees, root_attrs=strategies.attr_dicts, group_attrs=strategies.attr_dicts)
    def test_generated_trees(self, tmp_path_factory, items, root_attrs, group_attrs):
        """Generated value trees (values, leaf, group and root attributes) round-trip exactly."""
        t = _build(items)
        changes.apply(t, Changes().set_attrs("g0", **group_attrs))
        t.root.attrs.update({k: v for k, v in root_attrs.items() if k not in store.STORE_ROOT_ATTRS})
        f = tmp_path_factory.mktemp("s") / "t.h5"
        store.write_file(t, Journal(), f, kind="save", dataset_id="d1")
        opened = store.open_file(f)
        try:
            assert tree_digests(opened.tree) == tree_digests(t)
        finally:
            opened.source.close()

    def test_large_arrays_are_lazy_and_copied_on_commit(self, tmp_path):
        """Arrays ≥ LAZY_MIN_BYTES load as LazyArray; committing the loaded tree copies them intact."""
        big = np.arange(store.LAZY_MIN_BYTES // 8 + 1, dtype=np.float64)
        t = _build([("g0/a", big, {"unit": "s"}), ("g0/b", np.arange(3), {})])
        f1, f2 = tmp_path / "1.h5", tmp_path / "2.h5"
        store.write_file(t, Journal(), f1, kind="save", dataset_id="d1")
        o1 = store.open_file(f1)
        assert isinstance(o1.tree.node("g0/a").value, LazyArray)
        assert not isinstance(o1.tree.node("g0/b").value, LazyArray)
        store.write_file(o1.tree, o1.journal, f2, kind="checkpoint", dataset_id="d1")
        o2 = store.open_file(f2)
        assert isinstance(o1.tree.node("g0/a").value, LazyArray)  # copying did not read it
        assert tree_digests(o2.tree) == tree_digests(t)
        o1.source.close()
        o2.source.close()


class TestLayout:
    """The file has the SPEC §6 layout and is readable without txpipe."""

    def test_root_and_journal(self, tmp_path):
        """Root attributes, the completion marker and the journal JSON with commit attributes."""
        f = tmp_path / "t.h5"
        store.write_file(_build([("g0/a", 1.5, {})]), Journal(), f, kind="checkpoint", dataset_id="d1", checkpoint_name="c1")
        with h5py.File(f, "r") as h:
            assert h.attrs["format"] == store.FORMAT and h.attrs["dataset_id"] == "d1"
            assert bool(h.attrs[store.COMPLETE_ATTR])
            j = h["pipeline/journal"]
            assert json.loads(j.asstr()[()])["entries"] == []
            assert j.attrs["kind"] == "checkpoint" and j.attrs["checkpoint_name"] == "c1"
            assert h["g0/a"][()] == 1.5


class TestCheckFile:
    """Anything that is not a complete txpipe file gives a typed error naming it."""

    def test_missing(self, tmp_path):
        """A missing path raises FileNotFoundError."""
        with pytest.raises(FileNotFoundError):
            store.check_file(tmp_path / "nope.h5")

    def test_directory(self, tmp_path):
        """A directory is refused."""
        with pytest.raises(NotATxpipeFileError, match="directory"):
            store.check_file(tmp_path)

    def test_not_hdf5(self, tmp_path):
        """A text file is not HDF5."""
        f = tmp_path / "x.h5"
        f.write_text("hello")
        with pytest.raises(NotATxpipeFileError, match="not an HDF5 file"):
            store.open_file(f)

    def test_truncated(self, tmp_path):
        """A truncated txpipe file is refused with a typed error, not an h5py traceback."""
        f = tmp_path / "x.h5"
        store.write_file(_build([("g0/a", np.arange(10_000), {})]), Journal(), f, kind="save", dataset_id="d")
        data = f.read_bytes()
        f.write_bytes(data[: len(data) // 2])
        with pytest.raises(NotATxpipeFileError, match=str(f)):
            store.open_file(f)

    def test_foreign_hdf5(self, tmp_path):
        """An HDF5 file that txpipe did not write is refused naming the format attribute."""
        f = tmp_path / "x.h5"
        with h5py.File(f, "w") as h:
            h["a"] = 1
        with pytest.raises(NotATxpipeFileError, match="not a txpipe file"):
            store.open_file(f)

    def test_incomplete(self, tmp_path):
        """A txpipe file without its completion marker was never committed."""
        f = tmp_path / "x.h5"
        store.write_file(_build([]), Journal(), f, kind="save", dataset_id="d")
        with h5py.File(f, "a") as h:
            del h.attrs[store.COMPLETE_ATTR]
        with pytest.raises(NotATxpipeFileError, match="incomplete"):
            store.open_file(f)

    def test_no_journal(self, tmp_path):
        """A complete-looking file without its journal is refused."""
        f = tmp_path / "x.h5"
        store.write_file(_build([]), Journal(), f, kind="save", dataset_id="d")
        with h5py.File(f, "a") as h:
            del h["pipeline/journal"]
        with pytest.raises(NotATxpipeFileError, match="without /pipeline/journal"):
            store.open_file(f)
