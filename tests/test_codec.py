"""Tests for txpipe.core.codec: the value type table round-trips exactly, or fails naming path and type."""

from __future__ import annotations

import datetime
import fractions
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies
from txpipe.core import codec
from txpipe.errors import UnsupportedValueError
from txpipe.core.fingerprint import attrs_digest, value_digest


def _roundtrip(tmp_path: Path, value, attrs=None):
    f = tmp_path / "v.h5"
    v = codec.normalize(value, "/v")
    with h5py.File(f, "w", track_order=True) as h:
        obj = codec.write_value(h, "v", v)
        codec.write_attrs(obj, attrs or {})
    with h5py.File(f, "r") as h:
        return codec.read_value(h["v"]), codec.read_attrs(h["v"])


def _same(a, b) -> bool:
    return value_digest(a) == value_digest(b)


class TestTypeTable:
    """Each row of the type table round-trips with its type, dtype, shape, key type and order."""

    @pytest.mark.parametrize(
        "value",
        [
            np.arange(6, dtype=np.int16).reshape(2, 3),
            np.array(2.5),
            np.zeros((0, 3), dtype=np.complex64),
            np.array([True, False]),
            np.uint64(2**64 - 1),
            np.float16(-0.0),
            True,
            -(2**63),
            2**63 - 1,
            float("nan"),
            -0.0,
            complex(1, -2),
            "",
            "unicode ü € 中文 \U0001f600",
            b"",
            b"\x00\xff",
            None,
            [],
            (),
            {},
            [np.arange(3), np.arange(0), np.arange(5)],
            {3: "x", -1: None, 0: [1, (2.0, b"y")]},
            {"1": 1, "b": {"c": ()}},
            (None, [None], {"k": None}),
        ],
        ids=repr,
    )
    def test_row_roundtrips(self, tmp_path, value):
        """A representative value of every row reads back identical (digest covers type and order)."""
        got, _ = _roundtrip(tmp_path, value)
        assert _same(got, value), (value, got)
        assert type(got) is type(value)

    def test_int_keys_come_back_as_int_in_order(self, tmp_path):
        """A dict with int keys reads back with int keys in insertion order, not sorted."""
        got, _ = _roundtrip(tmp_path, {10: 1, 2: 2, -7: 3})
        assert list(got) == [10, 2, -7]

    def test_arrays_read_back_read_only(self, tmp_path):
        """Arrays read back are read-only, like every array the state holds."""
        got, _ = _roundtrip(tmp_path, np.arange(4))
        assert not got.flags.writeable

    @settings(max_examples=150, deadline=None)
    @given(value=strategies.values())
    def test_generated_values_roundtrip(self, tmp_path_factory, value):
        """Any generated value tree round-trips exactly through HDF5."""
        got, _ = _roundtrip(tmp_path_factory.mktemp("c"), value)
        assert _same(got, value)

    @settings(max_examples=50, deadline=None)
    @given(value=strategies.ragged_lists())
    def test_ragged_lists_roundtrip(self, tmp_path_factory, value):
        """Ragged lists of arrays keep every member's length and dtype."""
        got, _ = _roundtrip(tmp_path_factory.mktemp("r"), value)
        assert _same(got, value)


class TestAttributes:
    """Node attributes read back as the same Python or numpy type."""

    @settings(max_examples=100, deadline=None)
    @given(attrs=strategies.attr_dicts)
    def test_generated_attrs_roundtrip(self, tmp_path_factory, attrs):
        """Generated attribute dicts round-trip (Python scalars stay Python, 0-d arrays stay arrays)."""
        norm = {k: codec.normalize_attr(k, v, "/v") for k, v in attrs.items()}
        _, got = _roundtrip(tmp_path_factory.mktemp("a"), 1, norm)
        assert set(got) == set(norm)
        for k in norm:
            assert type(got[k]) is type(norm[k]), k
        assert attrs_digest(got) == attrs_digest(norm)

    @pytest.mark.parametrize("name", ["", "txpipe_type", "a\x00b"])
    def test_reserved_or_invalid_names_rejected(self, name):
        """Reserved (``txpipe_``) and invalid attribute names are refused, naming the attribute."""
        with pytest.raises(UnsupportedValueError, match="attribute name"):
            codec.normalize_attr(name, 1, "/p")

    @pytest.mark.parametrize("value", [None, b"x", [1, 2], {"a": 1}, np.array(["s"])])
    def test_unsupported_attr_values_rejected(self, value):
        """Attribute values outside the attribute table fail with path@name and the type."""
        with pytest.raises(UnsupportedValueError, match=r"/p@a"):
            codec.normalize_attr("a", value, "/p")


class TestUnsupported:
    """Values outside the table raise UnsupportedValueError naming the path and the type."""

    @pytest.mark.parametrize(
        ("value", "tname"),
        [
            ({1, 2}, "set"),
            (datetime.datetime(2020, 1, 1), "datetime"),
            (Path("/x"), "PosixPath"),
            (fractions.Fraction(1, 3), "Fraction"),
            (np.array(["a"]), "ndarray[<U1]"),
            (np.array([object()]), "ndarray[object]"),
            (np.ma.masked_array([1, 2], mask=[0, 1]), "masked"),
            (np.array([1.0], dtype=">f8"), "ndarray[>f8]"),
            ("a\x00b", "str"),
            (2**63, "int"),
            (np.bytes_(b"x"), "bytes_"),
        ],
        ids=lambda x: x if isinstance(x, str) else type(x).__name__,
    )
    def test_top_level(self, value, tname):
        """The error names the path and the offending type."""
        with pytest.raises(UnsupportedValueError) as ei:
            codec.normalize(value, "/units/u1/x")
        assert ei.value.path == "/units/u1/x"
        assert tname in ei.value.value_type or tname in str(ei.value)
        assert "/units/u1/x" in str(ei.value)

    def test_nested_member_is_named(self):
        """A bad value deep inside a container is reported with its member path."""
        with pytest.raises(UnsupportedValueError) as ei:
            codec.normalize({"a": [1, {"b": {3}}]}, "/p")
        assert ei.value.path == "/p['a'][1]['b']"
        assert ei.value.value_type == "set"

    @pytest.mark.parametrize("value", [{1: 1, "a": 2}, {1.5: 1}, {"a/b": 1}, {"": 1}, {"..": 1}])
    def test_bad_dict_keys(self, value):
        """Mixed, non-str/int, or non-HDF5-name keys are refused."""
        with pytest.raises(UnsupportedValueError):
            codec.normalize(value, "/p")

    def test_normalize_freezes_arrays(self):
        """normalize makes arrays read-only so before-images can be references."""
        a = np.arange(3)
        assert not codec.normalize(a).flags.writeable

    @given(value=strategies.values())
    @settings(max_examples=50, deadline=None)
    def test_normalize_is_idempotent(self, value):
        """Normalising twice gives the same value (and the same digest)."""
        once = codec.normalize(value)
        assert _same(codec.normalize(once), once)


class TestNbytes:
    """nbytes counts payload bytes recursively."""

    def test_nested(self):
        """Arrays count their nbytes, str/bytes their length, scalars 8 bytes."""
        assert codec.nbytes([np.zeros(10), {"a": b"xyz", "b": "ab"}, 1, None]) == 80 + 3 + 2 + 8
        assert codec.nbytes(st) == 0
