"""Tests for txpipe.core.h5calls: the direct HDF5 calls write exactly what h5py's API writes, and
their errors are the errors h5py's API would raise (file-object errors as themselves)."""

from __future__ import annotations

import errno
import traceback

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies
from txpipe.core import changes, codec, h5calls, store
from txpipe.core.changes import Changes
from txpipe.core.checkedio import CheckedFile
from txpipe.core.fingerprint import tree_digests
from txpipe.core.journal import Journal
from txpipe.core.tree import Tree

pytestmark = pytest.mark.skipif(not h5calls.AVAILABLE, reason="HDF5 functions not reachable through h5py here")


def _type_info(tid) -> tuple:
    """An HDF5 type described independently of the file that holds it."""
    info = (tid.get_class(), tid.get_size())
    if tid.get_class() == h5py.h5t.STRING:
        info += (tid.is_variable_str(), tid.get_cset())
    return info


def _value(obj) -> object:
    if obj.shape is None:
        return None
    v = obj[()]
    if isinstance(v, np.ndarray) and v.dtype.kind == "O":
        return [x.decode() if isinstance(x, bytes) else x for x in v.reshape(-1)]
    if isinstance(v, (np.ndarray, np.generic)):
        return (np.asarray(v).dtype.str, np.asarray(v).shape, np.ascontiguousarray(v).tobytes())
    return v.decode() if isinstance(v, bytes) else v


def _dump(path) -> dict:
    """Every object of the file below the root: kind, layout, type, shape, data, and every
    attribute with its HDF5 type, shape and value (the root's time stamps left out)."""
    out = {}
    with h5py.File(path, "r") as f:
        def attrs(obj):
            got = {}
            for k in obj.attrs:
                aid = obj.attrs.get_id(k)
                got[k] = (_type_info(aid.get_type()), aid.shape, _value_attr(obj.attrs[k]))
            return got

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                layout = obj.id.get_create_plist().get_layout()
                out[name] = ("dataset", layout, _type_info(obj.id.get_type()), obj.shape, _value(obj), attrs(obj))
            else:
                out[name] = ("group", list(obj), attrs(obj))

        f.visititems(visit)
        out["pipeline/journal"][-1].pop("committed_at")
        out["/"] = {k: v for k, v in attrs(f).items() if k not in ("created_at", "updated_at")}
    return out


def _value_attr(v) -> object:
    if isinstance(v, np.ndarray):
        return [x.decode() if isinstance(x, bytes) else x for x in v.reshape(-1)] if v.dtype.kind == "O" else (
            v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, np.generic):
        return (v.dtype.str, v.tobytes())
    return v.decode() if isinstance(v, bytes) else v


def _both_ways(tmp_path, tree: Tree, monkeypatch, name: str = "t") -> tuple[dict, dict]:
    """Commit *tree* with the direct calls and through h5py's API; dump both files."""
    a, b = tmp_path / f"{name}-direct.h5", tmp_path / f"{name}-h5py.h5"
    store.write_file(tree, Journal(), a, kind="save", dataset_id="d1", created_at="t0")
    with monkeypatch.context() as m:
        m.setattr(h5calls, "AVAILABLE", False)
        store.write_file(tree, Journal(), b, kind="save", dataset_id="d1", created_at="t0")
    return _dump(a), _dump(b)


def _tree(values: dict, attrs: dict | None = None) -> Tree:
    t = Tree()
    ch = Changes()
    for p, v in values.items():
        ch.put(p, v)
    for p, a in (attrs or {}).items():
        ch.set_attrs(p, **a)
    changes.apply(t, ch)
    return t


EVERY_KIND = {
    "a/f8": np.linspace(0, 1, 7),
    "a/big": np.arange(codec.COMPACT_MAX_BYTES // 8 + 10, dtype=np.float64),  # contiguous layout
    "a/empty": np.zeros((0, 3), np.int16),
    "a/zero_d": np.array(2.5),
    "a/bools": np.array([True, False]),
    "a/c64": np.array([1 + 2j], np.complex64),
    "b/py_float": 1.5,
    "b/py_int": -(2**63),
    "b/py_bool": True,
    "b/py_complex": complex(1, -2),
    "b/np_scalar": np.uint64(2**64 - 1),
    "b/text": "unicode ü € 中文",
    "b/empty_text": "",
    "b/raw": b"\x00\xff",
    "b/none": None,
    "c/list": [1, "x", [np.arange(3)], None],
    "c/tuple": (1.0, b"y"),
    "c/attrdict": {"n": 3, "ok": True, "s": "μs", "x": 0.5},
    "c/dict_int": {3: "a", -1: np.zeros(2)},
    "stimulus/section_time/m": np.arange(6, dtype=np.int64).reshape(3, 2),  # dimension labels
}
EVERY_ATTRS = {
    "a/f8": {"unit": "s", "n": 3, "flag": False, "x": 0.25, "v": np.arange(3, dtype=np.int32), "z": np.array(1.0)},
    "b/py_float": {"unit": "Hz", "units": "Hz"},  # own CF units equal to the derived ones
    "b/text": {"label": "ü"},
    "stimulus/section_time/m": {"unit": "sample_index", "DIMENSION_LABELS": np.arange(2)},  # a clash: labels win
    "c": {"group_attr": "g"},
}


def test_every_kind_of_value_is_stored_identically(tmp_path, monkeypatch):
    """Each row of the codec's type table, node and group attributes, CF units and dimension
    labels: the file the direct calls write holds the same objects, types, layouts, data and
    attributes as the one h5py's API writes."""
    direct, via_h5py = _both_ways(tmp_path, _tree(EVERY_KIND, EVERY_ATTRS), monkeypatch)
    assert direct == via_h5py
    assert direct["stimulus/section_time/m"][-1]["DIMENSION_LABELS"][2] == ["occurrence", "bound"]
    cls, _, vlen, cset = direct["b/text"][2]
    assert (cls, vlen, cset) == (h5py.h5t.STRING, True, h5py.h5t.CSET_UTF8)  # variable-length UTF-8


def test_lazy_leaves_are_copied_identically(tmp_path, monkeypatch):
    """A tree loaded from a file (large arrays lazy, copied file to file, below groups the
    direct calls created) commits to the same file both ways and reads back as the state."""
    src = tmp_path / "src.h5"
    t = _tree({"g/h/big": np.arange(store.LAZY_MIN_BYTES // 8 + 5, dtype=np.float64), "g/small": 1.0},
              {"g/h/big": {"unit": "s"}})
    store.write_file(t, Journal(), src, kind="save", dataset_id="d1")
    opened = store.open_file(src)
    try:
        changes.apply(opened.tree, Changes().put("g/h/new", np.arange(4)).set_attrs("g/h/big", note="n"))
        direct, via_h5py = _both_ways(tmp_path, opened.tree, monkeypatch, "lazy")
        assert direct == via_h5py
        back = store.open_file(tmp_path / "lazy-direct.h5")
        assert tree_digests(back.tree) == tree_digests(opened.tree)
        back.source.close()
    finally:
        opened.source.close()


@settings(max_examples=30, deadline=None)
@given(items=st.lists(st.tuples(strategies.leaf_paths(), strategies.values(), strategies.attr_dicts), max_size=5))
def test_generated_trees_are_stored_identically(tmp_path_factory, items):
    """Generated value trees with attributes: same file content both ways."""
    t = Tree()
    ch = Changes()
    for p, v, a in items:
        ch.put(p, v, **a)
    changes.apply(t, ch)
    with pytest.MonkeyPatch.context() as mp:
        direct, via_h5py = _both_ways(tmp_path_factory.mktemp("g"), t, mp)
    assert direct == via_h5py


class _FailingRaw:
    """A raw file that fails every write from the moment ``fail`` is set (ENOSPC)."""

    def __init__(self, path):
        self._f = open(path, "w+b", buffering=0)
        self.fail = False

    def write(self, b):
        if self.fail:
            raise OSError(errno.ENOSPC, "No space left on device (test)")
        return self._f.write(b)

    def __getattr__(self, name):
        return getattr(self._f, name)


def test_a_file_object_error_inside_a_direct_call_propagates_as_itself(tmp_path):
    """HDF5 writes through the checked file while a direct call runs (metadata cache
    evictions): the OS error the file raised comes out of the call as itself, and the checked
    file keeps it, exactly as through h5py."""
    path = tmp_path / "f.h5"
    raw = _FailingRaw(path)
    cf = CheckedFile(raw, str(path))
    f = h5py.File(cf, "w", libver=store.LIBVER)
    cfg = f.id.get_mdc_config()
    cfg.set_initial_size, cfg.initial_size, cfg.min_size, cfg.max_size = True, 1 << 20, 1 << 20, 1 << 20
    f.id.set_mdc_config(cfg)
    stype, scalar = codec._str_type(), codec._space(())
    groups = [h5calls.create_group(f.id, f"g{i}".encode(), codec._GCPL or h5py.h5p.create(h5py.h5p.GROUP_CREATE))
              for i in range(50)]
    raw.fail = True
    with pytest.raises(OSError) as ei:
        for i in range(100_000):  # string data fills global heap collections until one is evicted
            h5calls.create_str_attr(groups[i % 50], f"a{i}".encode(), stype, scalar, "x" * 3000)
    assert ei.value.errno == errno.ENOSPC and cf.error is ei.value
    assert any(fr.name == "_create_attr" for fr in traceback.extract_tb(ei.value.__traceback__))
    cf.seal()
    for g in groups:
        codec.close_quietly(g)
    try:
        f.close()
    except Exception:  # noqa: BLE001 - closing after the error may fail too; the file is discarded
        pass
    cf.close()


def test_hdf5_refusal_raises_and_leaves_nothing_open(tmp_path):
    """An attribute created twice: RuntimeError naming it; no attribute identifier left open."""
    with h5py.File(tmp_path / "f.h5", "w", libver=store.LIBVER) as f:
        ds = codec.write_value(f, "d", np.arange(3))
        codec.set_attr(ds, "unit", "s", fresh=True)
        with pytest.raises(RuntimeError, match="'unit'"):
            codec.set_attr(ds, "unit", "ms", fresh=True)
        with pytest.raises(RuntimeError, match="'n'"):
            h5calls.create_attr(ds, b"n", codec._file_type(np.dtype("i8")), codec._space(()),
                                codec._mem_type(np.dtype("i8")), np.asarray(1))
            h5calls.create_attr(ds, b"n", codec._file_type(np.dtype("i8")), codec._space(()),
                                codec._mem_type(np.dtype("i8")), np.asarray(2))
        assert h5py.h5f.get_obj_count(f.id, h5py.h5f.OBJ_ATTR) == 0
        codec.set_attr(ds, "unit", "ms")  # replacing goes through h5py's API
        codec.close(ds)
        assert f["d"].attrs["unit"] == "ms" and f["d"].attrs["n"] == 1
        with pytest.raises(RuntimeError, match="'d'"):
            codec.write_value(f, "d", np.arange(3))
        assert h5py.h5f.get_obj_count(f.id, h5py.h5f.OBJ_DATASET | h5py.h5f.OBJ_ATTR) == 0


def test_handle_close_and_h5py_identifier(tmp_path):
    """A Handle closes once (twice is a no-op); its h5py identifier holds its own reference."""
    with h5py.File(tmp_path / "f.h5", "w") as f:
        g = codec.create_group(f, "g")
        assert isinstance(g, h5calls.Handle) and g.valid
        hid = codec.h5py_id(g)
        assert isinstance(hid, h5py.h5g.GroupID)
        codec.close(g)
        assert not g.valid and hid.valid  # the h5py identifier is still usable
        assert h5py.Group(hid).name == "/g"
        codec.close(g)  # no-op
        hid.close()
        assert h5py.h5f.get_obj_count(f.id, h5py.h5f.OBJ_GROUP) == 0  # nothing left open
