"""Tests for txpipe.core.changes: recording checks values, apply returns exact inverses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies
from txpipe.core import changes
from txpipe.core.changes import Changes
from txpipe.errors import InvalidPathError, NodeNotFoundError, UnsupportedValueError
from txpipe.core.fingerprint import tree_digests
from txpipe.core.tree import Tree


class TestRecording:
    """Changes checks values when a step records them."""

    def test_unsupported_value_fails_at_put(self):
        """An unsupported value fails inside put(), naming the path and the type."""
        with pytest.raises(UnsupportedValueError) as ei:
            Changes().put("units/u1/x", {1, 2})
        assert ei.value.path == "/units/u1/x" and ei.value.value_type == "set"

    def test_unsupported_attr_fails_at_put(self):
        """An unsupported attribute fails inside put()."""
        with pytest.raises(UnsupportedValueError, match="/x@bad"):
            Changes().put("x", 1, bad=None)

    def test_added_bytes(self):
        """added_bytes sums the payload of the puts."""
        ch = Changes().put("a", np.zeros(10)).put("b", b"xyz").delete("c")
        assert ch.added_bytes() == 83 and len(ch) == 3


class TestApply:
    """apply() applies in order and returns inverses restoring the tree exactly."""

    @settings(max_examples=60, deadline=None)
    @given(
        ops=st.lists(
            st.tuples(st.sampled_from(["put", "del", "attrs"]), strategies.leaf_paths(), strategies.values()),
            min_size=1,
            max_size=8,
        )
    )
    def test_inverse_restores(self, ops):
        """Applying random changes and then their inverses gives back the original digests."""
        t = Tree()
        changes.apply(t, Changes().put("g0/a", 1).put("g1/b", "x"))
        before = tree_digests(t)
        ch = Changes()
        for kind, p, v in ops:
            if kind == "put":
                ch.put(p, v)
            elif kind == "del":
                ch.delete(p, missing_ok=True)
            else:
                ch.set_attrs(p, k=1)
        invs, recs = changes.apply(t, ch)
        assert {r.op for r in recs} <= {"added", "replaced", "deleted", "attrs", "group_added"}
        changes.undo(t, invs)
        assert tree_digests(t) == before

    def test_failure_half_way_undoes_the_applied_part(self):
        """If an operation fails, the earlier ones are undone before the error propagates."""
        t = Tree()
        changes.apply(t, Changes().put("a", 1))
        before = tree_digests(t)
        with pytest.raises(InvalidPathError):
            changes.apply(t, Changes().put("b", 2).put("a/c", 3))
        assert tree_digests(t) == before

    def test_delete_missing_raises_unless_missing_ok(self):
        """Deleting a missing path raises NodeNotFoundError; missing_ok skips it."""
        t = Tree()
        with pytest.raises(NodeNotFoundError):
            changes.apply(t, Changes().delete("nope"))
        invs, recs = changes.apply(t, Changes().delete("nope", missing_ok=True))
        assert invs == [] and recs == []

    def test_records(self):
        """Change records say added / replaced / deleted / group_added / attrs."""
        t = Tree()
        _, r1 = changes.apply(t, Changes().put("g/a", 1))
        _, r2 = changes.apply(t, Changes().put("g/a", 2).set_attrs("g", x=1).delete("g/a"))
        assert [(r.path, r.op) for r in r1] == [("/g", "group_added"), ("/g/a", "added")]
        assert [(r.path, r.op) for r in r2] == [("/g/a", "replaced"), ("/g", "attrs"), ("/g/a", "deleted")]

    def test_rebuilt_inverses_refuse_replacements(self):
        """Inverses can be rebuilt from records only when every change was an addition."""
        assert len(changes.inverses_for_additions([("/g", "group_added"), ("/g/a", "added")])) == 2
        with pytest.raises(NodeNotFoundError, match="replaced"):
            changes.inverses_for_additions([("/g/a", "replaced")])
