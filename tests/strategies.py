"""
Hypothesis strategies for state values, attributes and paths (SPEC §4 type table).

``values()`` draws anything the state accepts: numeric/bool arrays of every supported dtype
(0-d and empty included), numpy scalars, Python scalars, unicode str, bytes, None, and nested
lists / tuples / dicts with str or int keys (ragged lists are lists of arrays). ``leaf_paths()``
draws fixed-depth paths from a small alphabet, so paths collide often and no leaf is a parent.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

DTYPES = [
    np.dtype(t)
    for t in (
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
        "complex64",
        "complex128",
    )
]

dtypes = st.sampled_from(DTYPES)


@st.composite
def arrays(draw, max_dims: int = 3, max_side: int = 4) -> np.ndarray:
    """A numeric or bool array, any supported dtype, 0 to *max_dims* dims (sides may be 0)."""
    dt = draw(dtypes)
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=max_side))
    return draw(hnp.arrays(dt, shape))


@st.composite
def numpy_scalars(draw) -> np.generic:
    """A numpy scalar of any supported dtype (NaN and infinities included for floats)."""
    dt = draw(dtypes)
    return dt.type(draw(hnp.from_dtype(dt)))


texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
"""Unicode strings the codec accepts (no NUL, no lone surrogates)."""

names = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\x00."), min_size=1, max_size=8
)
"""Valid HDF5 member names (dict keys): non-empty, no ``/``, no NUL, no dots (so never ``.``/``..``)."""

python_scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.complex_numbers(allow_nan=True, allow_infinity=True),
)

leaves = st.one_of(
    arrays(),
    numpy_scalars(),
    python_scalars,
    texts,
    st.binary(max_size=16),
    st.none(),
)


def _containers(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(names, children, max_size=4),
        st.dictionaries(st.integers(-(2**40), 2**40), children, max_size=4),
    )


def values() -> st.SearchStrategy:
    """Any value the state accepts, nested up to a handful of leaves."""
    return st.recursive(leaves, _containers, max_leaves=8)


def ragged_lists() -> st.SearchStrategy:
    """A list of 1-D arrays of one dtype and different lengths (e.g. spike trains per trial)."""
    return dtypes.flatmap(
        lambda dt: st.lists(
            st.integers(0, 5).flatmap(lambda n: hnp.arrays(dt, (n,))), min_size=0, max_size=5
        )
    )


attr_names = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzäöüαβ_0123456789"), min_size=1, max_size=8).filter(
    lambda n: not n.startswith("txpipe_") and n not in ("path", "value")
)
"""Attribute names the tests pass as keywords (``Changes.put(path, value, **attrs)``, so never
``path`` or ``value``)."""

attr_values = st.one_of(
    texts,
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True),
    numpy_scalars(),
    arrays(max_dims=2),
)
"""Attribute values: str, bool, int, float, numpy scalars, numeric arrays (0-d and empty too)."""

attr_dicts = st.dictionaries(attr_names, attr_values, max_size=4)

PATH_ALPHABET = ("g0", "g1", "g2")
LEAF_ALPHABET = ("a", "b", "c")


def leaf_paths(depth: int = 2) -> st.SearchStrategy:
    """``g1/b``-style paths of exactly *depth* components: they collide often, none is a parent."""
    return st.tuples(*([st.sampled_from(PATH_ALPHABET)] * (depth - 1)), st.sampled_from(LEAF_ALPHABET)).map(
        "/".join
    )
