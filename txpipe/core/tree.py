"""
The in-memory state: a tree of groups and leaves addressed by :class:`~txpipe.core.paths.NodePath`.

Groups hold ordered children and attributes; leaves hold one value (see :mod:`txpipe.core.codec`)
and attributes. A leaf loaded from a file may be *lazy*: it holds a :class:`LazyArray` that reads
its dataset on first access. The tree does no I/O of its own and knows nothing of steps; the
session mutates it only through :meth:`Tree.apply`, which returns the inverse operations that
undo the change exactly.
"""

from __future__ import annotations

import itertools

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

import numpy as np

from txpipe.errors import InvalidPathError, NodeNotFoundError
from txpipe.core.paths import NodePath, PathLike


class ArraySource(Protocol):
    """Where a lazy leaf's data lives (the store's open file)."""

    def read(self, path: NodePath) -> np.ndarray: ...

    def read_value(self, path: NodePath) -> Any: ...


class Lazy:
    """A value still in a file: read on first access. Subclasses say what it is."""

    source: ArraySource
    path: NodePath

    def read(self) -> Any:
        raise NotImplementedError

    def rebound(self, source: ArraySource) -> "Lazy":
        """The same lazy value read from another (identical) source."""
        raise NotImplementedError


@dataclass(eq=False)
class LazyArray(Lazy):
    """A dataset not read yet: its shape and dtype are known, its data is read on first access."""

    source: ArraySource
    path: NodePath
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def read(self) -> np.ndarray:
        arr = self.source.read(self.path)
        arr.flags.writeable = False
        return arr

    def rebound(self, source: ArraySource) -> "LazyArray":
        return LazyArray(source, self.path, self.shape, self.dtype)


@dataclass(eq=False)
class LazyValue(Lazy):
    """A compound value (dict, list, tuple) not read yet; read whole on first access."""

    source: ArraySource
    path: NodePath
    kind: str  # "dict" | "list" | "tuple"

    def read(self) -> Any:
        return self.source.read_value(self.path)

    def rebound(self, source: ArraySource) -> "LazyValue":
        return LazyValue(source, self.path, self.kind)


class Leaf:
    """A value and its attributes."""

    __slots__ = ("value", "attrs")

    def __init__(self, value: Any, attrs: dict[str, Any] | None = None) -> None:
        self.value = value
        self.attrs: dict[str, Any] = dict(attrs or {})

    @property
    def is_lazy(self) -> bool:
        return isinstance(self.value, Lazy)

    def materialize(self) -> Any:
        if isinstance(self.value, Lazy):
            self.value = self.value.read()
        return self.value


class Group:
    """Ordered children and attributes."""

    __slots__ = ("children", "attrs")

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        self.children: dict[str, Group | Leaf] = {}
        self.attrs: dict[str, Any] = dict(attrs or {})


Node = Group | Leaf


class _Missing:
    _inst = None

    def __new__(cls) -> "_Missing":
        if cls._inst is None:
            cls._inst = super().__new__(cls)
        return cls._inst

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""Marks "nothing was there" in before-images."""


# --- inverse operations --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RestoreNode:
    """Put *node* (a detached Group/Leaf, or MISSING to delete) back at *path*.

    *index* is the member's position in its parent when it was deleted, so that restoring it
    keeps the group's member order (which HDF5 files and digests record).
    """

    path: NodePath
    node: Any
    index: int | None = None


@dataclass(frozen=True, slots=True)
class RestoreAttr:
    """Set attribute *name* of *path* back to *value* (MISSING: delete it)."""

    path: NodePath
    name: str
    value: Any


Inverse = RestoreNode | RestoreAttr


class Tree:
    """The state tree. Mutated only through :meth:`apply_*`, each returning its inverses."""

    def __init__(self, root: Group | None = None) -> None:
        self.root = root if root is not None else Group()

    # --- lookup ---
    def node(self, path: PathLike) -> Node | None:
        """The Group or Leaf at *path*, or None."""
        p = NodePath.parse(path)
        cur: Node = self.root
        for part in p:
            if not isinstance(cur, Group):
                return None
            nxt = cur.children.get(part)
            if nxt is None:
                return None
            cur = nxt
        return cur

    def walk_leaves(self, start: PathLike = "") -> Iterator[tuple[NodePath, Leaf]]:
        """Every leaf under *start*, depth first, in child order."""
        p0 = NodePath.parse(start)
        n = self.node(p0)
        if n is None:
            return
        stack: list[tuple[NodePath, Node]] = [(p0, n)]
        while stack:
            p, n = stack.pop()
            if isinstance(n, Leaf):
                yield p, n
            else:
                for name in reversed(list(n.children)):
                    stack.append((p / name, n.children[name]))

    def walk(self) -> Iterator[tuple[NodePath, Node]]:
        """Every node (groups included, root first), depth first in child order."""
        stack: list[tuple[NodePath, Node]] = [(NodePath(), self.root)]
        while stack:
            p, n = stack.pop()
            yield p, n
            if isinstance(n, Group):
                for name in reversed(list(n.children)):
                    stack.append((p / name, n.children[name]))

    # --- mutation (each returns inverses, applied newest first to undo) ---
    def _parent_for_write(self, path: NodePath, inverses: list[Inverse]) -> Group:
        if not path:
            raise InvalidPathError("cannot put a value at the root path '/'")
        cur = self.root
        for i, part in enumerate(path[:-1]):
            nxt = cur.children.get(part)
            if nxt is None:
                nxt = Group()
                cur.children[part] = nxt
                inverses.append(RestoreNode(NodePath(path[: i + 1]), MISSING))
            elif isinstance(nxt, Leaf):
                raise InvalidPathError(f"{path}: {NodePath(path[: i + 1])} holds a value, not a group")
            cur = nxt
        return cur

    def put(self, path: NodePath, node: Node) -> list[Inverse]:
        """Place *node* at *path* (replacing whatever was there); create missing parent groups."""
        inverses: list[Inverse] = []
        parent = self._parent_for_write(path, inverses)
        old = parent.children.get(path.name, MISSING)
        parent.children[path.name] = node
        inverses.append(RestoreNode(path, old))
        return inverses

    def delete(self, path: NodePath) -> list[Inverse]:
        """Remove the node at *path*; raise NodeNotFoundError if there is none."""
        if not path:
            raise InvalidPathError("cannot delete the root")
        parent = self.node(path.parent)
        if not isinstance(parent, Group) or path.name not in parent.children:
            raise NodeNotFoundError(f"{path}: nothing to delete")
        index = list(parent.children).index(path.name)
        old = parent.children.pop(path.name)
        return [RestoreNode(path, old, index)]

    def require_group(self, path: NodePath) -> tuple[Group, list[Inverse]]:
        """The group at *path*, created (with parents) if missing."""
        if not path:
            return self.root, []
        inverses: list[Inverse] = []
        parent = self._parent_for_write(path, inverses)
        g = parent.children.get(path.name)
        if g is None:
            g = Group()
            parent.children[path.name] = g
            inverses.append(RestoreNode(path, MISSING))
        return g, inverses

    def set_attr(self, path: NodePath, name: str, value: Any) -> list[Inverse]:
        """Set one attribute; the node is created as a group if *path* names nothing."""
        n = self.node(path)
        inverses: list[Inverse] = []
        if n is None:
            n, inverses = self.require_group(path)
        inverses.append(RestoreAttr(path, name, n.attrs.get(name, MISSING)))
        n.attrs[name] = value
        return inverses

    def del_attr(self, path: NodePath, name: str) -> list[Inverse]:
        n = self.node(path)
        if n is None or name not in n.attrs:
            raise NodeNotFoundError(f"{path}@{name}: no such attribute")
        return [RestoreAttr(path, name, n.attrs.pop(name))]

    def restore(self, inv: Inverse) -> None:
        """Apply one inverse operation."""
        if isinstance(inv, RestoreAttr):
            n = self.node(inv.path)
            if n is None:
                raise NodeNotFoundError(f"{inv.path}: cannot restore attribute {inv.name!r} of a missing node")
            if inv.value is MISSING:
                n.attrs.pop(inv.name, None)
            else:
                n.attrs[inv.name] = inv.value
            return
        parent = self.node(inv.path.parent)
        if not isinstance(parent, Group):
            raise NodeNotFoundError(f"{inv.path}: cannot restore under a missing group")
        if inv.node is MISSING:
            parent.children.pop(inv.path.name, None)
        elif inv.index is not None and inv.path.name not in parent.children:
            items = list(parent.children.items())
            items.insert(inv.index, (inv.path.name, inv.node))
            parent.children.clear()
            parent.children.update(items)
        else:
            parent.children[inv.path.name] = inv.node


# --- read-only views handed to steps and users -----------------------------------------------


def _descend(value: Any, parts: tuple[str, ...], full: NodePath) -> Any:
    for part in parts:
        if isinstance(value, dict):
            if part in value:
                value = value[part]
                continue
            try:
                key = int(part)
            except ValueError:
                raise NodeNotFoundError(f"{full}: no member {part!r}") from None
            if key not in value:
                raise NodeNotFoundError(f"{full}: no member {part!r}")
            value = value[key]
        elif isinstance(value, (list, tuple)):
            try:
                value = value[int(part)]
            except (ValueError, IndexError):
                raise NodeNotFoundError(f"{full}: no member {part!r}") from None
        else:
            raise NodeNotFoundError(f"{full}: {part!r} is inside a {type(value).__name__}, not a container")
    return value


class GroupView(Mapping):
    """Read-only view of a group: a Mapping of child names to values or nested GroupViews."""

    def __init__(self, view: "StateView", path: NodePath) -> None:
        self._view = view
        self.path = path

    def __getitem__(self, key: str) -> Any:
        return self._view[self.path / key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._view.keys(self.path))

    def __len__(self) -> int:
        return len(self._view.keys(self.path))

    @property
    def attrs(self) -> Mapping[str, Any]:
        return self._view.attrs(self.path)

    def __repr__(self) -> str:
        return f"<GroupView {self.path} ({len(self)} members)>"


T = TypeVar("T")


class ProgressCounter:
    """A manually advanced progress report (see :meth:`StateView.counter`)."""

    def __init__(self, items: Iterable[Any]) -> None:
        self._it: Iterator[Any] | None = iter(items)

    def update(self, n: int = 1) -> None:
        """*n* more items done."""
        if self._it is not None:
            for _ in range(n):
                next(self._it, None)

    def close(self) -> None:
        """Finish the report (idempotent)."""
        it, self._it = self._it, None
        close = getattr(it, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> "ProgressCounter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

Reporter = Callable[..., Iterable[Any]]
"""``reporter(items, *, desc, unit, total) -> iterable`` yielding the same items (e.g. a tqdm bar)."""


class StateView:
    """
    Read-only access to a :class:`Tree` by HDF5-like paths.

    ``view["units/unit_001/spike_times"]`` returns the value (arrays are read-only; lazy arrays
    are read on first access); a group path returns a :class:`GroupView`. Paths may continue
    into dict/list values: ``view["units/unit_001/spike_times_sectioned/m/trials_spike_times/0"]``.
    """

    def __init__(self, tree: Tree, *, reporter: "Reporter | None" = None, step: str = "") -> None:
        self._tree = tree
        self._reporter = reporter
        self._step = step

    def progress(self, items: Iterable[T], *, what: str = "", unit: str = "unit", total: int | None = None) -> Iterable[T]:
        """
        Iterate over *items*, reporting progress to the session's reporter (a bar on a terminal
        under ``txpipe run``; nothing by default). Steps wrap their long loops in it::

            for uid in state.progress(units, unit="unit"):
                ...

        Args:
            what: shown after the step name (e.g. the feature being computed).
            unit: what one item is.
            total: the number of items when ``len(items)`` is not available.
        """
        if self._reporter is None:
            return items
        desc = f"{self._step} {what}".strip()
        return self._reporter(items, desc=desc, unit=unit, total=total)

    def counter(self, total: int, *, what: str = "", unit: str = "chunk") -> "ProgressCounter":
        """Progress for work that finishes in callbacks rather than a loop (a streamed kernel)::

            with state.counter(n_chunks, unit="chunk") as done:
                kernel(..., on_chunk=lambda *_: done.update())
        """
        return ProgressCounter(self.progress(itertools.repeat(None, total), what=what, unit=unit, total=total))

    def _resolve(self, path: PathLike) -> tuple[Node | None, NodePath, tuple[str, ...]]:
        p = NodePath.parse(path)
        cur: Node = self._tree.root
        for i, part in enumerate(p):
            if isinstance(cur, Leaf):
                return cur, p, tuple(p[i:])
            nxt = cur.children.get(part)
            if nxt is None:
                return None, p, ()
            cur = nxt
        return cur, p, ()

    def __getitem__(self, path: PathLike) -> Any:
        node, p, rest = self._resolve(path)
        if node is None:
            raise NodeNotFoundError(f"{p}: not in the state")
        if isinstance(node, Group):
            return GroupView(self, p)
        value = node.materialize()
        return _descend(value, rest, p) if rest else value

    def get(self, path: PathLike, default: Any = None) -> Any:
        try:
            return self[path]
        except NodeNotFoundError:
            return default

    def __contains__(self, path: object) -> bool:
        """Whether *path* names a group or a leaf (reads nothing); a path into a dict/list value
        reads that value (a lazy one from its file) to look inside."""
        try:
            node, p, rest = self._resolve(path)  # type: ignore[arg-type]
            if node is None:
                return False
            if not rest:
                return True
            _descend(node.materialize(), rest, p)  # type: ignore[union-attr]
        except (NodeNotFoundError, InvalidPathError):
            return False
        return True

    def is_group(self, path: PathLike) -> bool:
        node, _, rest = self._resolve(path)
        return isinstance(node, Group) and not rest

    def keys(self, path: PathLike = "") -> list[str]:
        """Child names of the group (or dict/list value) at *path*, in order."""
        node, p, rest = self._resolve(path)
        if node is None:
            raise NodeNotFoundError(f"{p}: not in the state")
        if isinstance(node, Group) and not rest:
            return list(node.children)
        value = _descend(node.materialize(), rest, p) if rest else node.materialize()
        if isinstance(value, dict):
            return [str(k) for k in value]
        if isinstance(value, (list, tuple)):
            return [str(i) for i in range(len(value))]
        raise NodeNotFoundError(f"{p}: holds a {type(value).__name__}, which has no members")

    def attrs(self, path: PathLike = "") -> Mapping[str, Any]:
        """The attributes of the node at *path* (read-only mapping)."""
        node, p, rest = self._resolve(path)
        if node is None or rest:
            raise NodeNotFoundError(f"{p}: not a node of the state")
        return MappingProxyType(node.attrs)

    def __repr__(self) -> str:
        return f"<StateView {list(self._tree.root.children)}>"
