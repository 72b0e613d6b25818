"""
Changes: what a step returns. An ordered list of puts, deletes and attribute edits.

A step never mutates the state; it builds a :class:`Changes` and returns it::

    ch = txpipe.Changes()
    ch.put("units/unit_001/spike_times", samples, unit="sample_index")
    ch.set_attrs("units/unit_001", row=12, col=40)
    ch.delete("units/unit_001/features/frif")
    ch.add_input(fingerprint)          # files the step read, for the journal

Values are checked against the codec's type table when the change is *recorded*, so an
unsupported value fails inside the step that produced it, naming the path and the type.
:func:`apply` applies changes to a tree and returns the inverse operations (before-images of
only what was replaced or deleted) plus a description of what changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from txpipe.core import codec
from txpipe.errors import NodeNotFoundError, SessionBrokenError
from txpipe.core.paths import NodePath, PathLike
from txpipe.core.tree import MISSING, Group, Inverse, Leaf, RestoreNode, Tree


@dataclass(frozen=True, slots=True)
class Put:
    path: NodePath
    value: Any
    attrs: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Delete:
    path: NodePath
    missing_ok: bool


@dataclass(frozen=True, slots=True)
class SetAttrs:
    path: NodePath
    attrs: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DeleteAttrs:
    path: NodePath
    names: tuple[str, ...]


Op = Put | Delete | SetAttrs | DeleteAttrs


@dataclass
class Changes:
    """An ordered set of state edits, plus the input files a step read."""

    ops: list[Op] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    def put(self, path: PathLike, value: Any, **attrs: Any) -> "Changes":
        """Put *value* at *path* (replacing a value or subtree there), with leaf attributes."""
        p = NodePath.parse(path)
        v = codec.normalize(value, str(p))
        a = {k: codec.normalize_attr(k, x, str(p)) for k, x in attrs.items()}
        self.ops.append(Put(p, v, a))
        return self

    def delete(self, path: PathLike, *, missing_ok: bool = False) -> "Changes":
        """Delete the value or subtree at *path*."""
        self.ops.append(Delete(NodePath.parse(path), missing_ok))
        return self

    def set_attrs(self, path: PathLike, **attrs: Any) -> "Changes":
        """Set attributes on the node at *path*; a missing node is created as a group."""
        p = NodePath.parse(path)
        a = {k: codec.normalize_attr(k, x, str(p)) for k, x in attrs.items()}
        self.ops.append(SetAttrs(p, a))
        return self

    def delete_attrs(self, path: PathLike, *names: str) -> "Changes":
        self.ops.append(DeleteAttrs(NodePath.parse(path), tuple(names)))
        return self

    def add_input(self, fingerprint: dict[str, Any]) -> "Changes":
        """Record an input file read by the step (see :func:`txpipe.core.fingerprint.file_fingerprint`)."""
        self.inputs.append(dict(fingerprint))
        return self

    def note(self, **info: Any) -> "Changes":
        """Free-form, JSON-able facts for the journal entry (counts, warnings)."""
        self.notes.update(info)
        return self

    def __len__(self) -> int:
        return len(self.ops)

    def added_bytes(self) -> int:
        """Bytes of payload the puts add (an upper bound on growth of the held state)."""
        return sum(codec.nbytes(op.value) for op in self.ops if isinstance(op, Put))


@dataclass(frozen=True, slots=True)
class Changed:
    """One journal record of what a step changed."""

    path: str
    op: str  # "added" | "replaced" | "deleted" | "attrs" | "group_added"
    value: Any = MISSING  # the new value (for digests), MISSING for deletes/attrs


def apply(tree: Tree, changes: Changes) -> tuple[list[Inverse], list[Changed]]:
    """
    Apply *changes* to *tree* in order.

    Returns the inverse operations (apply newest first to undo) and the change records. If an
    operation fails, the operations already applied are undone before the error propagates; if
    that undo fails too, :class:`~txpipe.errors.SessionBrokenError` is raised (the tree is
    half-applied).
    """
    inverses: list[Inverse] = []
    changed: list[Changed] = []
    try:
        for op in changes.ops:
            if isinstance(op, Put):
                invs = tree.put(op.path, Leaf(op.value, op.attrs))
                for inv in invs[:-1]:
                    changed.append(Changed(str(inv.path), "group_added"))
                old = invs[-1].node  # type: ignore[union-attr]
                changed.append(Changed(str(op.path), "added" if old is MISSING else "replaced", op.value))
                inverses.extend(invs)
            elif isinstance(op, Delete):
                if op.missing_ok and tree.node(op.path) is None:
                    continue
                inverses.extend(tree.delete(op.path))
                changed.append(Changed(str(op.path), "deleted"))
            elif isinstance(op, SetAttrs):
                for k, v in op.attrs.items():
                    invs = tree.set_attr(op.path, k, v)
                    for inv in invs:
                        if isinstance(inv, RestoreNode):
                            changed.append(Changed(str(inv.path), "group_added"))
                    inverses.extend(invs)
                changed.append(Changed(str(op.path), "attrs", dict(op.attrs)))
            elif isinstance(op, DeleteAttrs):
                for k in op.names:
                    inverses.extend(tree.del_attr(op.path, k))
                changed.append(Changed(str(op.path), "attrs", {}))
            else:  # pragma: no cover - Changes only builds the four kinds above
                raise TypeError(f"unknown change {op!r}")
    except BaseException as exc:
        try:
            undo(tree, inverses)
        except BaseException as undo_exc:
            raise SessionBrokenError(
                f"applying changes failed ({type(exc).__name__}: {exc}) and rolling them back failed too "
                f"({type(undo_exc).__name__}: {undo_exc}); the state is half-applied"
            ) from exc
        raise
    return inverses, changed


def undo(tree: Tree, inverses: list[Inverse]) -> None:
    """Apply *inverses* newest first."""
    for inv in reversed(inverses):
        tree.restore(inv)


def inverses_for_additions(paths: list[tuple[str, str]]) -> list[Inverse]:
    """
    Rebuild inverses for an entry loaded from a file whose changes were all additions.

    *paths* are ``(path, op)`` pairs in application order with op ``added`` or ``group_added``.
    """
    invs: list[Inverse] = []
    for p, op in paths:
        if op not in ("added", "group_added"):
            raise NodeNotFoundError(f"{p}: a {op!r} change cannot be undone without its before-image")
        invs.append(RestoreNode(NodePath.parse(p), MISSING))
    return invs


__all__ = ["Changes", "Changed", "apply", "undo", "Group", "Leaf"]
