"""
The single type table: which values the state accepts and their lossless HDF5 form.

================  =========================================  ==============================
Python value      HDF5 object                                marker attribute
================  =========================================  ==============================
ndarray           dataset, same dtype and shape (0-d too)    (none)
numpy scalar      0-d dataset of its dtype                   ``txpipe_type="npscalar"``
bool / int        0-d bool / int64 dataset                   ``txpipe_type="bool"/"int"``
float / complex   0-d float64 / complex128 dataset           ``txpipe_type="float"/"complex"``
str               UTF-8 variable-length string dataset       ``txpipe_type="str"``
bytes             1-D uint8 dataset                          ``txpipe_type="bytes"``
None              empty dataspace (``h5py.Empty``)           ``txpipe_type="none"``
list / tuple      group, members ``"0"``, ``"1"`` …          ``txpipe_type="list"/"tuple"``
dict of scalars   group whose attributes are the members      ``txpipe_type="attrdict"``
(str keys; bool,  (creation order kept)
int, float, str)
dict              group in insertion order                   ``txpipe_type="dict"``,
                                                             ``txpipe_keys="str"/"int"``
================  =========================================  ==============================

Arrays must have a numeric or bool dtype (kinds ``b i u f c``). Containers nest freely, so
ragged lists are lists of arrays. Anything else (sets, datetimes, ``Path``, objects, object
arrays, strings with NUL) raises :class:`~txpipe.errors.UnsupportedValueError` naming the path
and the type when a step puts it, never later at save time.

Node attributes accept str, bool, int, float, numpy scalars and numeric arrays. Python scalar
attributes are recorded in the JSON attribute ``txpipe_attr_types`` so they read back as the
same Python type. Attribute and member names starting with ``txpipe_`` are reserved.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import h5py
import numpy as np
from h5py._objects import ObjectID

from txpipe.core import compression, h5calls
from txpipe.core.paths import CF_UNITS
from txpipe.errors import UnsupportedValueError

TYPE_ATTR = "txpipe_type"
KEYS_ATTR = "txpipe_keys"
ATTR_TYPES_ATTR = "txpipe_attr_types"
OWN_UNITS_ATTR = "txpipe_own_units"
RESERVED_PREFIX = "txpipe_"
NUMERIC_KINDS = frozenset("biufc")
_INT64 = (-(2**63), 2**63 - 1)
STR_DTYPE = h5py.string_dtype("utf-8")


def _fail(path: str, value: Any, why: str) -> UnsupportedValueError:
    tname = type(value).__name__
    if isinstance(value, np.ndarray):
        tname = f"ndarray[{value.dtype}]"
    return UnsupportedValueError(f"{path}: cannot hold {tname}: {why}", path=path, value_type=tname)


def _check_name(path: str, key: str) -> None:
    if key == "" or key in (".", "..") or "/" in key or "\x00" in key:
        raise UnsupportedValueError(f"{path}: dict key {key!r} is not a valid HDF5 name", path=path, value_type="str")


def _check_str(path: str, value: str) -> None:
    if "\x00" in value:
        raise _fail(path, value, "strings may not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _fail(path, value, "string is not encodable as UTF-8") from exc


def normalize(value: Any, path: str = "") -> Any:
    """
    Check that *value* can be held losslessly and return it ready for the state.

    Arrays are frozen in place (``writeable=False``) so that later references (undo
    before-images) never need copies; ``np.str_`` becomes ``str``; lists, tuples and dicts are
    rebuilt with their members normalised.

    Raises:
        UnsupportedValueError: naming *path* (and the member inside it) and the type.
    """
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        if isinstance(value, np.ma.MaskedArray):
            raise _fail(path, value, "masked arrays would lose their mask; store data and mask separately")
        if type(value) is not np.ndarray:  # subclasses (e.g. np.matrix) become plain arrays
            value = np.asarray(value)
        if value.dtype.kind not in NUMERIC_KINDS or value.dtype.names is not None:
            raise _fail(path, value, "only numeric and bool arrays are supported")
        if value.dtype.byteorder == ">":
            raise _fail(path, value, "big-endian arrays are not supported; use .astype(dtype.newbyteorder('='))")
        value.flags.writeable = False
        return value
    if isinstance(value, np.generic):
        if value.dtype.kind not in NUMERIC_KINDS:
            if isinstance(value, np.str_):
                s = str(value)
                _check_str(path, s)
                return s
            raise _fail(path, value, "only numeric and bool numpy scalars are supported")
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise _fail(path, value, "Python int outside the int64 range")
        return value
    if isinstance(value, (float, complex)):
        return value
    if isinstance(value, str):
        _check_str(path, value)
        return str(value)
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        items = [normalize(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return items if type(value) is list else tuple(items)
    if type(value) is dict:
        kinds = {type(k) for k in value}
        if kinds - {str, int}:
            bad = next(k for k in value if type(k) not in (str, int))
            raise _fail(path, value, f"dict keys must all be str or all int, found {type(bad).__name__} key {bad!r}")
        if len(kinds) > 1:
            raise _fail(path, value, "dict keys must all be str or all int, not a mix")
        out = {}
        for k, v in value.items():
            if isinstance(k, str):
                _check_name(path, k)
            elif not _INT64[0] <= k <= _INT64[1]:
                raise _fail(path, value, f"int dict key {k} outside the int64 range")
            out[k] = normalize(v, f"{path}[{k!r}]")
        return out
    raise _fail(path, value, "not one of the supported types (see txpipe.core.codec)")


def normalize_attr(name: str, value: Any, path: str = "") -> Any:
    """Check an attribute value; return it ready to store (arrays frozen)."""
    where = f"{path}@{name}"
    if not isinstance(name, str) or not name or name.startswith(RESERVED_PREFIX) or "\x00" in name:
        raise UnsupportedValueError(f"{where}: invalid or reserved attribute name {name!r}", path=path, value_type="str")
    if isinstance(value, (bool, int, float, str)) and not isinstance(value, np.generic):
        return normalize(value, where)
    if isinstance(value, np.generic) and value.dtype.kind in NUMERIC_KINDS:
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in NUMERIC_KINDS and value.dtype.names is None:
        return normalize(value, where)
    raise _fail(where, value, "attributes may be str, bool, int, float, numpy scalars or numeric arrays")


def nbytes(value: Any) -> int:
    """Bytes of payload held by *value* (array data, string/bytes length), recursively."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, np.generic):
        return int(value.nbytes)
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, (list, tuple)):
        return sum(nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(nbytes(v) for v in value.values())
    if value is None or isinstance(value, (bool, int, float, complex)):
        return 8 if value is not None else 0
    return 0


# --- writing -------------------------------------------------------------------------------------


COMPACT_MAX_BYTES = 60 << 10
"""Arrays up to this many bytes (60 KiB, under HDF5's 64 KiB limit for one header message) are
stored in the compact layout: their data lives in the dataset's object header, which HDF5
checksums, so re-opening the file checks them."""

ATTRS_COMPACT_MAX = 1 << 12
"""Objects this module creates keep up to this many attributes in their object header (HDF5's
default is 8), where HDF5 checksums them; more go to a separate heap."""

_DCPLS: dict[bool, Any] = {}
_GCPL: Any = None


def attrs_in_header(stored: dict[str, Any]) -> bool:
    """Whether HDF5 keeps the attributes *stored* (as :func:`stored_attrs` gives them) in the
    object header of an object this module creates: at most :data:`ATTRS_COMPACT_MAX` of them,
    none too large for one header message; otherwise they all go to a separate heap."""
    return len(stored) <= ATTRS_COMPACT_MAX and not any(
        isinstance(v, np.ndarray) and v.nbytes > COMPACT_MAX_BYTES for v in stored.values()
    )


def _compact_attrs(plist: Any) -> Any:
    plist.set_attr_phase_change(ATTRS_COMPACT_MAX, 6)
    return plist


def _compact_dcpl(compact: bool = True) -> Any:
    """Dataset creation properties: no timestamps; compact layout or contiguous; attributes in
    the object header (see :data:`ATTRS_COMPACT_MAX`). Created once, shared by every dataset."""
    dcpl = _DCPLS.get(compact)
    if dcpl is None:
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_obj_track_times(False)
        if compact:
            dcpl.set_layout(h5py.h5d.COMPACT)
        _DCPLS[compact] = _compact_attrs(dcpl)
    return dcpl


# HDF5 types and the scalar dataspace, created once: a commit writes tens of thousands of small
# objects, and building these for each one was a third of the cost of writing an attribute.
_FILE_TYPES: dict[np.dtype, Any] = {}
_MEM_TYPES: dict[np.dtype, Any] = {}
_SCALAR_SPACE: Any = None


def _file_type(dtype: np.dtype) -> Any:
    """The HDF5 type stored for *dtype* (what ``h5py.h5t.py_create(dtype, logical=True)`` gives;
    numeric and bool dtypes only, see :func:`_str_type` for strings)."""
    tid = _FILE_TYPES.get(dtype)
    if tid is None:
        tid = _FILE_TYPES[dtype] = h5py.h5t.py_create(dtype, logical=True)
    return tid


def _mem_type(dtype: np.dtype) -> Any:
    """The HDF5 type of a numpy buffer of *dtype* when h5py writes it (``h5py.h5t.py_create(dtype)``,
    what ``DatasetID.write`` and ``AttrID.write`` build when given none; for str arrays the Python
    object type, which h5py's conversion turns into variable-length strings)."""
    tid = _MEM_TYPES.get(dtype)
    if tid is None:
        tid = _MEM_TYPES[dtype] = h5py.h5t.py_create(dtype)
    return tid


def _str_type() -> Any:
    """The HDF5 type stored for str: variable-length UTF-8 (``py_create(STR_DTYPE, logical=True)``)."""
    global _STR_TYPE
    if _STR_TYPE is None:
        _STR_TYPE = h5py.h5t.py_create(STR_DTYPE, logical=True)
    return _STR_TYPE


_STR_TYPE: Any = None


def _space(shape: tuple[int, ...]) -> Any:
    """A dataspace of *shape* (the scalar one is shared)."""
    global _SCALAR_SPACE
    if shape:
        return h5py.h5s.create_simple(shape)
    if _SCALAR_SPACE is None:
        _SCALAR_SPACE = h5py.h5s.create(h5py.h5s.SCALAR)
    return _SCALAR_SPACE


def _oid(obj: Any) -> Any:
    """The low-level identifier of an h5py object (or *obj* if it is one, or a
    :class:`~txpipe.core.h5calls.Handle`)."""
    return obj if isinstance(obj, (ObjectID, h5calls.Handle)) else obj.id


def h5py_id(obj: Any) -> Any:
    """An h5py low-level identifier for *obj* (what :func:`create_group` and :func:`write_value`
    return, or an h5py object) to use with h5py's API. For a
    :class:`~txpipe.core.h5calls.Handle` it is a new identifier the caller closes."""
    return obj.to_h5py() if isinstance(obj, h5calls.Handle) else _oid(obj)


@contextlib.contextmanager
def h5py_group(obj: Any) -> Iterator[h5py.Group]:
    """``with h5py_group(obj) as g:`` *obj* (an h5py group or file, a low-level group identifier
    or what :func:`create_group` returns) as an h5py Group, for h5py's API; an identifier opened
    for it is closed at the end (*obj* stays open)."""
    if isinstance(obj, h5py.Group):
        yield obj
    elif isinstance(obj, h5calls.Handle):
        with closing(obj.to_h5py()) as gid:
            yield h5py.Group(gid)
    else:
        yield h5py.Group(obj)


def create_group(parent: Any, name: str) -> Any:
    """Create group *name* under *parent* (an h5py group or file, or what this function returns),
    members and attributes in creation order, attributes in the object header (see
    :data:`ATTRS_COMPACT_MAX`). Returns a low-level identifier (an h5py ``GroupID`` or a
    :class:`~txpipe.core.h5calls.Handle`); the caller closes it (:func:`close`)."""
    global _GCPL
    if _GCPL is None:
        order = h5py.h5p.CRT_ORDER_TRACKED | h5py.h5p.CRT_ORDER_INDEXED
        gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
        gcpl.set_link_creation_order(order)
        gcpl.set_attr_creation_order(order)
        _GCPL = _compact_attrs(gcpl)
    if h5calls.AVAILABLE:
        return h5calls.create_group(_oid(parent), name.encode("utf-8"), _GCPL)
    return h5py.h5g.create(_oid(parent), name.encode("utf-8"), gcpl=_GCPL)


def _create_dataset(parent: Any, name: str, tid: Any, space: Any, dcpl: Any, data: np.ndarray | None) -> Any:
    """Create dataset *name* under *parent* and write all of *data* (C-contiguous) to it; return
    the low-level identifier (the caller closes it)."""
    loc, bname = _oid(parent), name.encode("utf-8")
    if h5calls.AVAILABLE:
        dsid = h5calls.create_dataset(loc, bname, tid, space, dcpl)
    else:
        dsid = h5py.h5d.create(loc, bname, tid, space, dcpl=dcpl)
    try:
        if data is None:
            pass
        elif h5calls.AVAILABLE and data.dtype.kind != "O":
            h5calls.write_dataset(dsid, _mem_type(data.dtype), data)
        elif isinstance(dsid, h5calls.Handle):  # string data: through h5py's conversion
            with closing(dsid.to_h5py()) as hid:
                hid.write(h5py.h5s.ALL, h5py.h5s.ALL, data, mtype=_mem_type(data.dtype))
        else:
            dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, data, mtype=_mem_type(data.dtype))
    except BaseException:
        close_quietly(dsid)
        raise
    return dsid


def stored_compact(arr: np.ndarray) -> bool:
    """Whether :func:`write_value` stores *arr* in the compact layout (data inside the
    checksummed object header) rather than in a separate data block."""
    return arr.nbytes <= COMPACT_MAX_BYTES and compression.dcpl_for(arr) is None


def _create_array(parent: Any, name: str, arr: np.ndarray) -> Any:
    """Create a dataset holding *arr* through h5py's low-level API: compact up to
    :data:`COMPACT_MAX_BYTES`, contiguous above (chunked + shuffle + gzip under compression).

    Same values as ``parent.create_dataset(name, data=arr)`` (no creation timestamps, as
    h5py's default), at a fraction of the per-dataset cost, which matters for files with tens
    of thousands of small trial arrays. Returns the low-level dataset identifier; the caller
    closes it.
    """
    dcpl = compression.dcpl_for(arr)
    dcpl = _compact_dcpl(arr.nbytes <= COMPACT_MAX_BYTES) if dcpl is None else _compact_attrs(dcpl)
    return _create_dataset(parent, name, _file_type(arr.dtype), _space(arr.shape), dcpl,
                           np.ascontiguousarray(arr) if arr.size else None)


def close(obj: Any) -> None:
    """Close an h5py object (high- or low-level) now, raising any error HDF5 reports.

    HDF5 writes small datasets and metadata when their objects close; an object left to
    Python's garbage collector can only print "Exception ignored", so every object a commit
    opens is closed through here.
    """
    oid = _oid(obj)
    if oid.valid:
        oid.close()


def close_quietly(obj: Any) -> None:
    """Close *obj* while another error is already propagating (that first error wins)."""
    try:
        close(obj)
    except Exception:  # noqa: BLE001 - the first error is the one the caller raises
        pass


@contextlib.contextmanager
def closing(obj: Any) -> Iterator[Any]:
    """``with closing(obj):`` close *obj* at the end; an error inside the block wins over one
    from closing."""
    try:
        yield obj
    except BaseException:
        close_quietly(obj)
        raise
    close(obj)


def _is_attrdict(value: Any) -> bool:
    """A non-empty dict of str keys (not reserved) to Python bool/int/float/str values: stored as
    one group's attributes, which costs a fraction of one dataset per member."""
    return (
        type(value) is dict
        and bool(value)
        and all(
            type(k) is str and not k.startswith(RESERVED_PREFIX) and type(v) in (bool, int, float, str)
            for k, v in value.items()
        )
    )


def _rank(value: Any) -> int | None:
    """The rank of the dataset :func:`write_value` writes for *value*, or None for a group."""
    if isinstance(value, np.ndarray):
        return value.ndim
    if isinstance(value, (list, tuple, dict)):
        return None
    return int(isinstance(value, bytes))  # bytes: 1-D uint8; other scalars, str and None: 0-d


def write_node(parent: Any, name: str, value: Any, attrs: dict[str, Any], *, attrdict: bool = True,
               dims: tuple[str, ...] | None = None, cf_units: str | None = None) -> None:
    """Create *name* under *parent* (an h5py group or file, or its low-level identifier) holding
    *value* with node attributes *attrs*, and close it.

    A dict of scalars goes to the attribute form only when *attrs* is empty (the two sets of
    attributes must not mix). *dims* / *cf_units*: see :func:`write_description`.
    """
    obj = write_value(parent, name, value, attrdict=attrdict and not attrs)
    try:  # (not `with closing(...)`: this runs for every object a commit writes)
        stored = stored_attrs(attrs) if attrs else {}
        rank = _rank(value)
        if rank is not None and (dims is not None or cf_units is not None):
            stored.update(description_attrs(attrs, rank, dims, cf_units))  # (a description attribute wins)
        for k, v in stored.items():
            set_attr(obj, k, v, fresh=True)
    except BaseException:
        close_quietly(obj)
        raise
    obj.close()


def write_value(parent: Any, name: str, value: Any, *, attrdict: bool = True) -> Any:
    """Create *name* under *parent* (an h5py group or file, or its low-level identifier) holding
    *value* (already normalised); return its low-level identifier open (the caller closes it,
    see :func:`close`). Members of containers are closed as they are written.

    *attrdict* False keeps a dict of scalars out of the attribute form: the caller is about to
    give the object attributes of its own, which must not mix with the members.
    """
    if isinstance(value, np.ndarray):
        return _create_array(parent, name, value)
    if isinstance(value, (list, tuple)):
        g = create_group(parent, name)
        try:
            set_attr(g, TYPE_ATTR, "list" if isinstance(value, list) else "tuple", fresh=True)
            for i, v in enumerate(value):
                write_node(g, str(i), v, {})
        except BaseException:
            close_quietly(g)
            raise
        return g
    if attrdict and _is_attrdict(value):
        g = create_group(parent, name)
        try:
            set_attr(g, TYPE_ATTR, "attrdict", fresh=True)
            write_attrs(g, value, fresh=True)
        except BaseException:
            close_quietly(g)
            raise
        return g
    if isinstance(value, dict):
        g = create_group(parent, name)
        try:
            set_attr(g, TYPE_ATTR, "dict", fresh=True)
            set_attr(g, KEYS_ATTR, "int" if value and isinstance(next(iter(value)), int) else "str", fresh=True)
            for k, v in value.items():
                write_node(g, str(k), v, {})
        except BaseException:
            close_quietly(g)
            raise
        return g
    if value is None:
        ds = _create_dataset(parent, name, _file_type(np.dtype("u1")), h5py.h5s.create(h5py.h5s.NULL), _compact_dcpl(False), None)
        tag = "none"
    elif isinstance(value, np.generic):
        ds = _create_array(parent, name, np.asarray(value))
        tag = "npscalar"
    elif isinstance(value, bool):
        ds = _create_array(parent, name, np.asarray(value, dtype=np.bool_))
        tag = "bool"
    elif isinstance(value, int):
        ds = _create_array(parent, name, np.asarray(value, dtype=np.int64))
        tag = "int"
    elif isinstance(value, float):
        ds = _create_array(parent, name, np.asarray(value, dtype=np.float64))
        tag = "float"
    elif isinstance(value, complex):
        ds = _create_array(parent, name, np.asarray(value, dtype=np.complex128))
        tag = "complex"
    elif isinstance(value, str):
        ds = _create_dataset(parent, name, _str_type(), _space(()), _compact_dcpl(), np.array(value, dtype=STR_DTYPE))
        tag = "str"
    elif isinstance(value, bytes):
        ds = _create_array(parent, name, np.frombuffer(value, dtype=np.uint8))
        tag = "bytes"
    else:  # normalize() rejects everything else before it can get here
        raise UnsupportedValueError(f"{name}: unsupported {type(value).__name__}")
    try:
        set_attr(ds, TYPE_ATTR, tag, fresh=True)
    except BaseException:
        close_quietly(ds)
        raise
    return ds


def _attr_array(value: Any) -> np.ndarray:
    """The array an attribute value is stored as (str: variable-length UTF-8)."""
    return np.array(value, dtype=STR_DTYPE) if isinstance(value, str) else np.asarray(value)


def set_attr(obj: Any, name: str, value: Any, *, fresh: bool = False) -> None:
    """Create (or replace) one attribute of *obj* (an h5py object or low-level identifier, or a
    :class:`~txpipe.core.h5calls.Handle`).

    Same stored form as ``obj.attrs[name] = value`` (str as variable-length UTF-8, numbers
    with their dtype) at a fraction of the cost, which matters for files with tens of thousands
    of attributes. *fresh*: the caller knows *obj* has no attribute *name* (it just created
    *obj* and writes each name once), so the check for one to replace is skipped.
    """
    oid = _oid(obj)
    bname = name.encode("utf-8")
    arr = None if isinstance(value, str) else np.asarray(value)
    if fresh and h5calls.AVAILABLE and (arr is None or arr.dtype.kind != "O"):
        if arr is None:
            h5calls.create_str_attr(oid, bname, _str_type(), _space(()), value)
        else:
            h5calls.create_attr(oid, bname, _file_type(arr.dtype), _space(arr.shape), _mem_type(arr.dtype),
                                np.ascontiguousarray(arr))
        return
    # through h5py's API: replacing an attribute, string arrays, or no direct calls available
    hid = h5py_id(obj)
    try:
        if not fresh and h5py.h5a.exists(hid, bname):
            h5py.h5a.delete(hid, bname)
        if arr is None:
            arr, tid = np.array(value, dtype=STR_DTYPE), _str_type()
        elif arr.dtype.kind == "O":  # string arrays (dimension labels): the type is built each time, as h5py does
            tid = h5py.h5t.py_create(arr.dtype, logical=True)
        else:
            tid = _file_type(arr.dtype)
        with closing(h5py.h5a.create(hid, bname, tid, _space(arr.shape))) as aid:
            if arr.size:
                aid.write(np.ascontiguousarray(arr), mtype=_mem_type(arr.dtype))
    except BaseException:
        if hid is not oid:
            close_quietly(hid)
        raise
    if hid is not oid:
        close(hid)


def stored_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """The HDF5 attributes that hold node attributes *attrs*: each value in its stored type, plus
    ``txpipe_attr_types`` recording Python scalar types so they read back exactly."""
    out: dict[str, Any] = {}
    types = {}
    for k, v in attrs.items():
        if isinstance(v, np.generic):  # before the Python checks: np.float64 is a float subclass
            out[k] = v
        elif isinstance(v, bool):
            out[k] = np.bool_(v)
            types[k] = "bool"
        elif isinstance(v, int):
            out[k] = np.int64(v)
            types[k] = "int"
        elif isinstance(v, float):
            out[k] = np.float64(v)
            types[k] = "float"
        else:  # str, or a numeric array
            out[k] = v
            if isinstance(v, np.ndarray) and v.ndim == 0:  # h5py reads 0-d attributes back as scalars
                types[k] = "ndarray0"
    if types:
        out[ATTR_TYPES_ATTR] = json.dumps(types, sort_keys=True)
    return out


def write_attrs(obj: Any, attrs: dict[str, Any], *, fresh: bool = False) -> None:
    """Write node attributes (see :func:`stored_attrs`) to *obj* (an h5py object or its low-level
    identifier); *fresh*: see :func:`set_attr`."""
    for k, v in stored_attrs(attrs).items():
        set_attr(obj, k, v, fresh=fresh)


def attrs_stored_as(oid: Any, attrs: dict[str, Any], markers: dict[str, Any] | None = None) -> bool:
    """Whether the object *oid* (low-level id) holds exactly the attributes :func:`write_attrs`
    writes for *attrs* plus the reserved *markers*, values compared byte for byte (strings as
    text)."""
    want = {**(markers or {}), **stored_attrs(attrs)}
    if h5py.h5a.get_num_attrs(oid) != len(want):
        return False
    for k, v in want.items():
        arr = _attr_array(v)
        try:
            aid = h5py.h5a.open(oid, k.encode("utf-8"))
        except KeyError:
            return False
        with closing(aid):
            if aid.shape != arr.shape:
                return False
            is_str = isinstance(v, str) or h5py.check_string_dtype(arr.dtype) is not None  # str, or labels
            tid = aid.get_type()  # compared as HDF5 types: cheaper than building a numpy dtype
            if is_str:
                if tid.get_class() != h5py.h5t.STRING or not tid.is_variable_str():
                    return False
            elif tid != h5py.h5t.py_create(arr.dtype, logical=True):
                return False
            if not arr.size:
                continue
            got = np.empty(arr.shape, dtype=arr.dtype)
            aid.read(got)
            if is_str:
                if [x.decode("utf-8") if isinstance(x, bytes) else x for x in got.reshape(-1)] != list(arr.reshape(-1)):
                    return False
            elif not np.array_equal(got.reshape(-1).view(np.uint8), np.ascontiguousarray(arr).reshape(-1).view(np.uint8)):
                return False
    return True


def description_attrs(attrs: dict[str, Any], ndim: int, dims: tuple[str, ...] | None,
                      cf_units: str | None) -> dict[str, Any]:
    """The attributes :func:`write_description` adds to a dataset of rank *ndim* with node
    attributes *attrs* (also what a commit's read-back check expects beside them)."""
    out: dict[str, Any] = {}
    if cf_units is not None:
        if "units" not in attrs:
            out["units"] = cf_units
        elif attrs["units"] == cf_units:
            out[OWN_UNITS_ATTR] = np.bool_(True)
    if dims is not None and ndim == len(dims):  # the attribute HDF5's H5DSset_label writes
        out["DIMENSION_LABELS"] = np.array(dims, dtype=STR_DTYPE)
    return out


def write_description(obj: h5py.HLObject, attrs: dict[str, Any], dims: tuple[str, ...] | None,
                      cf_units: str | None) -> None:
    """Describe a dataset for generic readers: a CF ``units`` attribute *cf_units* (the spelling
    of its txpipe ``unit``) and HDF5 dimension labels *dims* (readable with h5py's
    ``ds.dims[i].label``). Reading leaves both out, so the state round-trips exactly: dimension
    labels are string arrays, which node attributes cannot be, and ``units`` equal to the CF
    spelling of ``unit`` is derived, unless the node set that ``units`` itself (then
    ``txpipe_own_units`` marks it). At most one attribute write each."""
    if not isinstance(obj, h5py.Dataset):
        return
    for k, v in description_attrs(attrs, obj.ndim, dims, cf_units).items():
        set_attr(obj, k, v)


def _derived(obj: h5py.HLObject, name: str, value: Any) -> bool:
    """True for the attributes :func:`write_description` derived (see there)."""
    if name == "DIMENSION_LABELS":
        return isinstance(value, np.ndarray) and value.dtype.kind in "OSU"
    if name == "units" and OWN_UNITS_ATTR not in obj.attrs:
        unit = obj.attrs.get("unit")
        unit = unit.decode() if isinstance(unit, bytes) else unit
        value = value.decode() if isinstance(value, bytes) else value
        return isinstance(unit, str) and isinstance(value, str) and CF_UNITS.get(unit) == value
    return False


def replace_attrs(obj: h5py.HLObject, attrs: dict[str, Any]) -> None:
    """Make *obj*'s user attributes exactly *attrs* (reserved ``txpipe_type``/``txpipe_keys``
    markers are kept; the recorded Python attribute types are rewritten). A dict stored as
    attributes (``attrdict``) never has attributes of its own, so it is left as it is."""
    if marker(obj) == "attrdict":
        if attrs:
            raise UnsupportedValueError(f"{obj.name}: a dict stored as attributes cannot take node attributes")
        return
    for k in list(obj.attrs):
        if k in (ATTR_TYPES_ATTR, OWN_UNITS_ATTR) or not k.startswith(RESERVED_PREFIX):
            del obj.attrs[k]
    write_attrs(obj, attrs)


# --- checking what was written --------------------------------------------------------------------


def layout(path: str, value: Any, attrs: dict[str, Any], *, attrdict: bool = True,
           dims: tuple[str, ...] | None = None, cf_units: str | None = None) -> Iterator[tuple[str, bool, dict[str, Any], Any]]:
    """
    The objects :func:`write_node` creates for *value* with node attributes *attrs* (and *dims* /
    *cf_units*, see :func:`write_description`) at *path*, parents first: ``(path, is_group,
    attributes as stored with the reserved markers, data)``, data being the array a dataset
    holds, the text of a string dataset, or None (groups, None).

    The reading side of this module's type table, used to check a commit before it is marked
    complete.
    """
    attrdict = attrdict and not attrs
    stored = stored_attrs(attrs)
    if (dims is not None or cf_units is not None) and not isinstance(value, (list, tuple, dict)):
        ndim = value.ndim if isinstance(value, np.ndarray) else int(isinstance(value, bytes))
        stored.update(description_attrs(attrs, ndim, dims, cf_units))
    if isinstance(value, np.ndarray):
        yield path, False, stored, value
        return
    if isinstance(value, (list, tuple, dict)):
        if isinstance(value, (list, tuple)):
            markers: dict[str, Any] = {TYPE_ATTR: "list" if isinstance(value, list) else "tuple"}
            members = [(str(i), v) for i, v in enumerate(value)]
        elif attrdict and _is_attrdict(value):
            markers = {TYPE_ATTR: "attrdict", **stored_attrs(value)}
            members = []
        else:
            markers = {TYPE_ATTR: "dict", KEYS_ATTR: "int" if value and isinstance(next(iter(value)), int) else "str"}
            members = [(str(k), v) for k, v in value.items()]
        yield path, True, {**markers, **stored}, None
        for n, v in members:
            yield from layout(f"{path}/{n}", v, {})
        return
    data: Any
    if value is None:
        tag, data = "none", None
    elif isinstance(value, np.generic):
        tag, data = "npscalar", np.asarray(value)
    elif isinstance(value, bool):
        tag, data = "bool", np.asarray(value, dtype=np.bool_)
    elif isinstance(value, int):
        tag, data = "int", np.asarray(value, dtype=np.int64)
    elif isinstance(value, float):
        tag, data = "float", np.asarray(value, dtype=np.float64)
    elif isinstance(value, complex):
        tag, data = "complex", np.asarray(value, dtype=np.complex128)
    elif isinstance(value, bytes):
        tag, data = "bytes", np.frombuffer(value, dtype=np.uint8)
    elif isinstance(value, str):
        tag, data = "str", value
    else:  # normalize() rejects everything else before it can get here
        raise UnsupportedValueError(f"{path}: unsupported {type(value).__name__}")
    yield path, False, {TYPE_ATTR: tag, **stored}, data


# --- reading -------------------------------------------------------------------------------------


def marker(obj: h5py.HLObject) -> str | None:
    """The ``txpipe_type`` marker of *obj*, or None for plain arrays and tree groups."""
    m = obj.attrs.get(TYPE_ATTR)
    if m is None:
        return None
    return m.decode() if isinstance(m, bytes) else str(m)


def read_attrs(obj: h5py.HLObject) -> dict[str, Any]:
    """Node attributes as the state holds them (reserved ``txpipe_*`` attributes left out)."""
    raw = obj.attrs.get(ATTR_TYPES_ATTR)
    types = json.loads(raw) if raw is not None else {}
    out: dict[str, Any] = {}
    for k in obj.attrs:
        if k.startswith(RESERVED_PREFIX):
            continue
        v = obj.attrs[k]
        if k in ("units", "DIMENSION_LABELS") and _derived(obj, k, v):
            continue
        t = types.get(k)
        if t == "bool":
            v = bool(v)
        elif t == "int":
            v = int(v)
        elif t == "float":
            v = float(v)
        elif t == "ndarray0":
            v = np.array(v)
            v.flags.writeable = False
        elif isinstance(v, bytes):
            v = v.decode("utf-8")
        elif isinstance(v, np.ndarray):
            v.flags.writeable = False
        out[k] = v
    return out


def read_value(obj: h5py.Dataset | h5py.Group) -> Any:
    """Read the value stored at *obj* by :func:`write_value` (eagerly)."""
    m = marker(obj)
    if isinstance(obj, h5py.Group):
        if m in ("list", "tuple"):
            items = [read_value(obj[str(i)]) for i in range(len(obj))]
            return items if m == "list" else tuple(items)
        if m == "attrdict":
            return read_attrs(obj)
        if m == "dict":
            kt = obj.attrs.get(KEYS_ATTR)
            kt = kt.decode() if isinstance(kt, bytes) else kt
            return {(int(k) if kt == "int" else k): read_value(obj[k]) for k in obj}
        raise UnsupportedValueError(f"{obj.name}: group is not a txpipe value (marker {m!r})", path=obj.name)
    if m is None:
        arr = obj[()]
        if not isinstance(arr, np.ndarray):  # 0-d datasets come back as numpy scalars
            arr = np.asarray(arr)
        arr.flags.writeable = False
        return arr
    if m == "none":
        return None
    if m == "npscalar":
        return obj[()]
    if m == "bool":
        return bool(obj[()])
    if m == "int":
        return int(obj[()])
    if m == "float":
        return float(obj[()])
    if m == "complex":
        return complex(obj[()])
    if m == "str":
        return obj.asstr()[()]
    if m == "bytes":
        return obj[()].tobytes()
    raise UnsupportedValueError(f"{obj.name}: unknown txpipe_type marker {m!r}", path=obj.name)
