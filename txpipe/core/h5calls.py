"""
Direct calls into the HDF5 library that h5py uses, for the two operations a commit repeats tens of
thousands of times: create and write one attribute, write a whole dataset.

A 100-unit pipeline output holds ~14,000 attributes and ~3,000 small datasets. Through h5py's
low-level API each attribute costs about twice what HDF5 itself spends on it (a Python identifier
object per attribute, type and dataspace queries, a conversion buffer for strings); calling the
same HDF5 functions through :mod:`ctypes` leaves only HDF5's own work. Only :mod:`txpipe.core.codec`
uses this module, and it falls back to h5py's API where these functions are unavailable
(:data:`AVAILABLE` is False: the symbols could not be found through h5py's extension module).

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
import numpy as np
from h5py._objects import phil

_HID = ctypes.c_int64  # hid_t: 64-bit since HDF5 1.10, which every h5py 3 needs
_H5P_DEFAULT = 0
_H5S_ALL = 0


def _load() -> tuple[Any, Any, Any, Any] | None:
    try:
        # dlsym on h5py's extension module also searches the libraries it was linked with: the
        # very libhdf5 (same copy, same identifiers) that h5py calls
        lib = ctypes.PyDLL(h5py.h5a.__file__)
        acreate, awrite, aclose, dwrite = lib.H5Acreate2, lib.H5Awrite, lib.H5Aclose, lib.H5Dwrite
    except (OSError, AttributeError):  # e.g. Windows: an extension module exports no HDF5 symbols
        return None
    acreate.restype, acreate.argtypes = _HID, [_HID, ctypes.c_char_p, _HID, _HID, _HID, _HID]
    awrite.restype, awrite.argtypes = ctypes.c_int, [_HID, _HID, ctypes.c_void_p]
    aclose.restype, aclose.argtypes = ctypes.c_int, [_HID]
    dwrite.restype, dwrite.argtypes = ctypes.c_int, [_HID, _HID, _HID, _HID, _HID, ctypes.c_void_p]
    return acreate, awrite, aclose, dwrite


_FUNCS = _load()
AVAILABLE = _FUNCS is not None
"""Whether the direct calls can be used (else :mod:`txpipe.core.codec` uses h5py's API)."""


def _create_attr(loc: Any, name: bytes, ftype: Any, space: Any, mtype: Any, buf: Any) -> None:
    acreate, awrite, aclose, _ = _FUNCS  # type: ignore[misc]
    with phil:
        aid = acreate(loc.id, name, ftype.id, space.id, _H5P_DEFAULT, _H5P_DEFAULT)
        if aid < 0:
            raise RuntimeError(f"HDF5 could not create attribute {name.decode('utf-8', 'replace')!r}")
        try:
            if buf is not None and awrite(aid, mtype.id, buf) < 0:
                raise RuntimeError(f"HDF5 could not write attribute {name.decode('utf-8', 'replace')!r}")
        except BaseException:
            aclose(aid)  # the first error is the one raised
            raise
        if aclose(aid) < 0:
            raise RuntimeError(f"HDF5 could not close attribute {name.decode('utf-8', 'replace')!r}")


def create_attr(loc: Any, name: bytes, ftype: Any, space: Any, mtype: Any, arr: np.ndarray) -> None:
    """
    Create attribute *name* on the object *loc* (an h5py low-level identifier) with file type
    *ftype* and dataspace *space* (h5py identifiers), write the C-contiguous array *arr* (of
    memory type *mtype*; nothing when it is empty) and close the attribute.

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
        raise ValueError(f"attribute {name.decode('utf-8', 'replace')!r}: strings may not contain NUL characters")
    _create_attr(loc, name, stype, space, stype, ctypes.byref(ctypes.c_char_p(text.encode("utf-8"))))


def write_dataset(dsid: Any, mtype: Any, arr: np.ndarray) -> None:
    """
    Write all of the C-contiguous array *arr* (memory type *mtype*, an h5py type identifier) to
    the dataset *dsid* (an h5py dataset identifier of the same shape).

    Raises:
        RuntimeError: HDF5 refused; or whatever the file object raised (see :func:`create_attr`).
    """
    _, _, _, dwrite = _FUNCS  # type: ignore[misc]
    with phil:
        if dwrite(dsid.id, mtype.id, _H5S_ALL, _H5S_ALL, _H5P_DEFAULT, arr.ctypes.data) < 0:
            raise RuntimeError("HDF5 could not write a dataset")
