"""
Direct calls into the HDF5 library that h5py uses, for what a commit repeats thousands of times:
create a group or a dataset, write a whole dataset, create and write one attribute.

A 100-unit pipeline output holds ~14,000 attributes, ~3,000 small datasets and ~1,400 groups.
Through h5py's low-level API each of them costs about twice what HDF5 itself spends on it (a
Python identifier object registered per HDF5 object, type and dataspace queries, a conversion
buffer for strings); calling the same HDF5 functions through :mod:`ctypes` leaves HDF5's own
work. Only :mod:`txpipe.core.codec` uses this module; it falls back to h5py's API where these
functions are unavailable (:data:`AVAILABLE` is False: the symbols could not be found through
h5py's extension module), and for what only h5py converts (string arrays and string datasets).

Safety is h5py's:

- every call holds h5py's global lock (``h5py._objects.phil``), so no other thread is inside
  HDF5 at the same time;
- the functions are loaded with :class:`ctypes.PyDLL`, which keeps the GIL during the call and
  raises any Python exception set meanwhile: an error raised by the file object under h5py's
  ``fileobj`` driver (the commit's :class:`~txpipe.core.checkedio.CheckedFile`) propagates as
  itself, exactly as it does through h5py;
- a failure HDF5 reports without a Python exception raises :class:`RuntimeError` naming the
  call, and every identifier opened here is closed before returning.
"""

from __future__ import annotations

import ctypes
from typing import Any

import h5py
import h5py.h5a
import h5py.h5d
import h5py.h5g
import h5py.h5t
import numpy as np
from h5py._objects import phil

_HID = ctypes.c_int64  # hid_t: 64-bit since HDF5 1.10, which every h5py 3 needs
_H5P_DEFAULT = 0
_H5S_ALL = 0


def _load() -> dict[str, Any] | None:
    sig = {  # restype, argtypes
        "H5Gcreate2": (_HID, [_HID, ctypes.c_char_p, _HID, _HID, _HID]),
        "H5Dcreate2": (_HID, [_HID, ctypes.c_char_p, _HID, _HID, _HID, _HID, _HID]),
        "H5Dwrite": (ctypes.c_int, [_HID, _HID, _HID, _HID, _HID, ctypes.c_void_p]),
        "H5Oclose": (ctypes.c_int, [_HID]),
        "H5Acreate2": (_HID, [_HID, ctypes.c_char_p, _HID, _HID, _HID, _HID]),
        "H5Awrite": (ctypes.c_int, [_HID, _HID, ctypes.c_void_p]),
        "H5Aclose": (ctypes.c_int, [_HID]),
        "H5Iinc_ref": (ctypes.c_int, [_HID]),
        "H5Iis_valid": (ctypes.c_int, [_HID]),
    }
    try:
        # dlsym on h5py's extension module also searches the libraries it was linked with: the
        # very libhdf5 (same copy, same identifiers) that h5py calls
        lib = ctypes.PyDLL(h5py.h5a.__file__)
        funcs = {name: getattr(lib, name) for name in sig}
    except (OSError, AttributeError):  # e.g. Windows: an extension module exports no HDF5 symbols
        return None
    for name, (restype, argtypes) in sig.items():
        funcs[name].restype, funcs[name].argtypes = restype, argtypes
    probe = h5py.h5t.C_S1.copy()  # an identifier h5py holds must be valid here: the same library copy
    with phil:
        shared = funcs["H5Iis_valid"](probe.id) > 0
    probe.close()
    return funcs if shared else None


_F = _load()
AVAILABLE = _F is not None
"""Whether the direct calls can be used (else :mod:`txpipe.core.codec` uses h5py's API)."""


class Handle:
    """
    A group or dataset created by :func:`create_group` / :func:`create_dataset`: its HDF5
    identifier is ``.id`` (as on h5py's identifiers, so the functions here take either).
    :meth:`close` it; :meth:`to_h5py` gives an h5py identifier for h5py's API.
    """

    __slots__ = ("id", "_cls")

    def __init__(self, hid: int, cls: type) -> None:
        self.id = hid
        self._cls = cls

    @property
    def valid(self) -> bool:
        return self.id > 0

    def close(self) -> None:
        """Close the object (HDF5 writes what it still holds for it through the file's driver).
        Closing twice does nothing."""
        hid, self.id = self.id, 0
        if hid > 0:
            with phil:
                if _F["H5Oclose"](hid) < 0:  # type: ignore[index]
                    raise RuntimeError("HDF5 could not close an object")

    def to_h5py(self) -> Any:
        """A new h5py identifier (``GroupID`` or ``DatasetID``) of the same object, holding its own
        reference (closing one leaves the other open)."""
        with phil:
            if _F["H5Iinc_ref"](self.id) < 0:  # type: ignore[index]
                raise RuntimeError("HDF5 could not reference an object")
        return self._cls(self.id)


def _name(name: bytes) -> str:
    return name.decode("utf-8", "replace")


def create_group(loc: Any, name: bytes, gcpl: Any) -> Handle:
    """Create group *name* under *loc* (an h5py identifier or a :class:`Handle`) with creation
    properties *gcpl* (an h5py property list). Same errors as :func:`create_attr`."""
    with phil:
        hid = _F["H5Gcreate2"](loc.id, name, _H5P_DEFAULT, gcpl.id, _H5P_DEFAULT)  # type: ignore[index]
    if hid < 0:
        raise RuntimeError(f"HDF5 could not create group {_name(name)!r}")
    return Handle(hid, h5py.h5g.GroupID)


def create_dataset(loc: Any, name: bytes, ftype: Any, space: Any, dcpl: Any) -> Handle:
    """Create dataset *name* under *loc* with file type *ftype*, dataspace *space* and creation
    properties *dcpl* (h5py identifiers). Same errors as :func:`create_attr`."""
    with phil:
        hid = _F["H5Dcreate2"](loc.id, name, ftype.id, space.id, _H5P_DEFAULT, dcpl.id, _H5P_DEFAULT)  # type: ignore[index]
    if hid < 0:
        raise RuntimeError(f"HDF5 could not create dataset {_name(name)!r}")
    return Handle(hid, h5py.h5d.DatasetID)


def _create_attr(loc: Any, name: bytes, ftype: Any, space: Any, mtype: Any, buf: Any) -> None:
    acreate, awrite, aclose = _F["H5Acreate2"], _F["H5Awrite"], _F["H5Aclose"]  # type: ignore[index]
    with phil:
        aid = acreate(loc.id, name, ftype.id, space.id, _H5P_DEFAULT, _H5P_DEFAULT)
        if aid < 0:
            raise RuntimeError(f"HDF5 could not create attribute {_name(name)!r}")
        try:
            if buf is not None and awrite(aid, mtype.id, buf) < 0:
                raise RuntimeError(f"HDF5 could not write attribute {_name(name)!r}")
        except BaseException:
            aclose(aid)  # the first error is the one raised
            raise
        if aclose(aid) < 0:
            raise RuntimeError(f"HDF5 could not close attribute {_name(name)!r}")


def create_attr(loc: Any, name: bytes, ftype: Any, space: Any, mtype: Any, arr: np.ndarray) -> None:
    """
    Create attribute *name* on the object *loc* (an h5py low-level identifier or a
    :class:`Handle`) with file type *ftype* and dataspace *space* (h5py identifiers), write the
    C-contiguous array *arr* (of memory type *mtype*; nothing when it is empty) and close the
    attribute.

    Raises:
        RuntimeError: HDF5 refused (e.g. the attribute exists); or whatever the file object
            raised while HDF5 wrote through it (an OSError under the commit's checked file).
    """
    _create_attr(loc, name, ftype, space, mtype, arr.ctypes.data if arr.size else None)


def create_str_attr(loc: Any, name: bytes, stype: Any, space: Any, text: str) -> None:
    """
    Create the string attribute *name* on *loc* holding *text*, stored as *stype* (a
    variable-length string type, whose memory form is a C string pointer), with the scalar
    dataspace *space*, and close it. Same errors as :func:`create_attr`.

    Raises:
        ValueError: *text* holds a NUL character (a C string cannot).
    """
    if "\x00" in text:
        raise ValueError(f"attribute {_name(name)!r}: strings may not contain NUL characters")
    _create_attr(loc, name, stype, space, stype, ctypes.byref(ctypes.c_char_p(text.encode("utf-8"))))


def write_dataset(dsid: Any, mtype: Any, arr: np.ndarray) -> None:
    """
    Write all of the C-contiguous array *arr* (memory type *mtype*, an h5py type identifier) to
    the dataset *dsid* (an h5py dataset identifier or a :class:`Handle`) of the same shape.

    Raises:
        RuntimeError: HDF5 refused; or whatever the file object raised (see :func:`create_attr`).
    """
    with phil:
        if _F["H5Dwrite"](dsid.id, mtype.id, _H5S_ALL, _H5S_ALL, _H5P_DEFAULT, arr.ctypes.data) < 0:
            raise RuntimeError("HDF5 could not write a dataset")
