"""Tests for txpipe.core.tree: the state tree, its inverses, and the read-only views."""

from __future__ import annotations

import numpy as np
import pytest

from txpipe.errors import InvalidPathError, NodeNotFoundError
from txpipe.core.fingerprint import tree_digests
from txpipe.core.paths import NodePath
from txpipe.core.tree import Group, LazyArray, Leaf, StateView, Tree


def P(s: str) -> NodePath:
    return NodePath.parse(s)


def _tree() -> Tree:
    t = Tree()
    t.put(P("a/x"), Leaf(np.arange(3), {"u": "s"}))
    t.put(P("a/y"), Leaf({"k": [1, (2, "z")]}))
    t.put(P("b"), Leaf("text"))
    return t


class TestTreeMutation:
    """Every mutation returns inverses that restore the tree exactly."""

    def test_put_creates_parents_and_undoes(self):
        """put() creates missing groups; undoing its inverses removes them again."""
        t = Tree()
        before = tree_digests(t)
        invs = t.put(P("a/b/c"), Leaf(1))
        assert isinstance(t.node("a/b"), Group)
        for inv in reversed(invs):
            t.restore(inv)
        assert tree_digests(t) == before

    def test_replace_and_delete_undo(self):
        """Replacing and deleting keep the before-image, and restoring it brings back the same node."""
        t = _tree()
        before = tree_digests(t)
        old = t.node("a/x")
        invs = t.put(P("a/x"), Leaf(5.0)) + t.delete(P("a"))
        for inv in reversed(invs):
            t.restore(inv)
        assert tree_digests(t) == before
        assert t.node("a/x") is old  # a reference, not a copy

    def test_attr_set_and_delete_undo(self):
        """Attribute edits are undone, including attributes that did not exist before."""
        t = _tree()
        before = tree_digests(t)
        invs = t.set_attr(P("a"), "k", 1) + t.set_attr(P("a/x"), "u", "ms") + t.del_attr(P("a/x"), "u")
        invs += t.set_attr(P("new/group"), "z", 2.0)
        for inv in reversed(invs):
            t.restore(inv)
        assert tree_digests(t) == before

    def test_child_order_is_kept_by_restore(self):
        """Restoring a deleted member puts it back at its old position, not at the end."""
        t = _tree()
        invs = t.delete(P("a/x"))
        t.restore(invs[0])
        assert list(t.node("a").children) == ["x", "y"]

    def test_put_under_a_leaf_fails(self):
        """A leaf cannot become a parent."""
        t = _tree()
        with pytest.raises(InvalidPathError, match="holds a value"):
            t.put(P("b/c"), Leaf(1))

    def test_root_is_not_a_value(self):
        """The root can be neither put nor deleted."""
        with pytest.raises(InvalidPathError):
            Tree().put(P(""), Leaf(1))
        with pytest.raises(InvalidPathError):
            Tree().delete(P("/"))

    def test_delete_missing(self):
        """Deleting a missing node raises NodeNotFoundError naming it."""
        with pytest.raises(NodeNotFoundError, match="/nope"):
            _tree().delete(P("nope"))


class TestStateView:
    """The view reads values by path, descends into containers, and is read-only."""

    def test_get_paths(self):
        """Leaves, groups, dict members and list items are reachable by path."""
        v = StateView(_tree())
        assert v["b"] == "text"
        assert v["a/y/k/1/1"] == "z"
        assert sorted(v["a"]) == ["x", "y"]
        assert v.keys("a/y/k") == ["0", "1"]
        assert "a/x" in v and "a/q" not in v and "b/c" not in v
        assert v.get("zzz", 7) == 7
        assert v.attrs("a/x")["u"] == "s"
        assert v.is_group("a") and not v.is_group("b")

    def test_missing_path(self):
        """A missing path raises NodeNotFoundError naming it."""
        with pytest.raises(NodeNotFoundError, match="/a/q"):
            StateView(_tree())["a/q"]

    def test_arrays_are_read_only(self):
        """Arrays handed to steps cannot be written to."""
        t = Tree()
        arr = np.arange(3)
        arr.flags.writeable = False
        t.put(P("x"), Leaf(arr))
        with pytest.raises(ValueError):
            StateView(t)["x"][0] = 5

    def test_attrs_are_read_only(self):
        """The attrs mapping cannot be mutated."""
        with pytest.raises(TypeError):
            StateView(_tree()).attrs("a/x")["u"] = "ms"  # type: ignore[index]

    def test_lazy_leaf_is_read_on_first_access(self):
        """A LazyArray is read once, on first access, and becomes a read-only array."""
        calls = []

        class Src:
            def read(self, path):
                calls.append(path)
                return np.ones(4)

        t = Tree()
        t.put(P("x"), Leaf(LazyArray(Src(), P("x"), (4,), np.dtype("f8"))))
        v = StateView(t)
        assert calls == []
        assert v["x"].sum() == 4 and not v["x"].flags.writeable
        assert calls == [P("x")]
        assert LazyArray(Src(), P("x"), (2, 3), np.dtype("i2")).nbytes == 12


class TestNodePath:
    """Paths are parsed once and malformed ones are refused."""

    @pytest.mark.parametrize("bad", ["a//b", "a/./b", "../a", 3])
    def test_invalid(self, bad):
        """Empty, dot and non-str components are refused."""
        with pytest.raises(InvalidPathError):
            NodePath.parse(bad)

    def test_parse_and_join(self):
        """Slashes at the ends are ignored; / joins; parent and name work."""
        p = NodePath.parse("/units/u1/")
        assert str(p / "x") == "/units/u1/x"
        assert p.parent == NodePath.parse("units") and p.name == "u1"
        assert (p / "x").is_relative_to(p)
