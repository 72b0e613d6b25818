"""
A text summary of a txpipe file (``txpipe inspect FILE``).

:func:`summarize` reads a committed file through :func:`txpipe.core.store.open_file` (large arrays stay
on disk: only shapes and dtypes are looked at) and returns a :class:`FileSummary`;
:func:`format_summary` renders it: root attributes, units, sections, features, the journal as a
table, and optionally every node of the layout (``--tree``).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from txpipe.core import store
from txpipe.core.journal import JournalEntry, decode_param
from txpipe.core.paths import SECTION_TIME, SOURCE_FILES, UNITS, NodePath
from txpipe.core.tree import Group, LazyArray, Leaf, Tree


@dataclass
class FileSummary:
    """What :func:`summarize` found in a file. Sizes in bytes; ``sections`` maps movie → shape."""

    path: Path
    bytes: int
    root_attrs: dict[str, Any]
    commit_attrs: dict[str, Any]
    source_files: dict[str, Any]
    units: list[str]
    n_spikes: int
    sections: dict[str, tuple[int, ...]]
    features: dict[str, int]  # feature group name -> number of units that have it
    journal: list[JournalEntry]
    sta_units: int = 0  # units holding at least one features/sta_* group
    duration_s: float | None = None  # recording length in s (None when load_recording did not run)
    tree_lines: list[str] = field(default_factory=list)


def _describe(value: Any) -> str:
    if isinstance(value, LazyArray):
        return f"{value.dtype} {tuple(value.shape)}"
    if isinstance(value, np.ndarray):
        return f"{value.dtype} {value.shape}"
    if isinstance(value, dict):
        return f"dict ({len(value)} members)"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} ({len(value)} items)"
    if isinstance(value, str):
        return f"str {value[:40]!r}" + ("…" if len(value) > 40 else "")
    return f"{type(value).__name__} {value!r}"[:60]


def _shape(leaf: Leaf) -> tuple[int, ...]:
    v = leaf.value
    return tuple(v.shape) if isinstance(v, (LazyArray, np.ndarray)) else ()


def _tree_lines(tree: Tree, max_units: int) -> list[str]:
    lines: list[str] = []

    def walk(group: Group, path: NodePath, depth: int) -> None:
        names = list(group.children)
        shown = names
        if path == UNITS and len(names) > max_units:
            shown = names[:max_units]
        for name in shown:
            node = group.children[name]
            pad = "  " * depth
            if isinstance(node, Group):
                attrs = f"  attrs: {', '.join(sorted(node.attrs))}" if node.attrs else ""
                lines.append(f"{pad}{name}/{attrs}")
                walk(node, path / name, depth + 1)
            else:
                lines.append(f"{pad}{name}  {_describe(node.value)}")
        if len(shown) < len(names):
            lines.append(f"{'  ' * depth}… {len(names) - len(shown)} more units with the same layout")

    walk(tree.root, NodePath(), 0)
    return lines


def summarize(path: str | os.PathLike[str], *, tree: bool = False, max_units: int = 1) -> FileSummary:
    """
    Summarise a committed txpipe file without reading its large arrays.

    Args:
        path: the file.
        tree: also list every node (groups with their attribute names, leaves with dtype/shape).
        max_units: units shown in the tree listing (the others have the same layout).

    Raises:
        FileNotFoundError, NotATxpipeFileError: *path* is not a complete txpipe file.
    """
    p = Path(path)
    opened = store.open_file(p)
    try:
        t = opened.tree
        units_node = t.node(UNITS)
        units = list(units_node.children) if isinstance(units_node, Group) else []
        n_spikes, features, sta_units = 0, Counter(), 0
        for uid in units:
            u = units_node.children[uid]  # type: ignore[union-attr]
            st = u.children.get("spike_times") if isinstance(u, Group) else None
            if isinstance(st, Leaf):
                shp = _shape(st)
                n_spikes += int(shp[0]) if shp else 0
            feats = u.children.get("features") if isinstance(u, Group) else None
            if isinstance(feats, Group):
                features.update(list(feats.children))
                sta_units += any(k.startswith("sta_") for k in feats.children)
        sec_node = t.node(SECTION_TIME)
        sections = {}
        if isinstance(sec_node, Group):
            sections = {k: _shape(v) for k, v in sec_node.children.items() if isinstance(v, Leaf)}
        dur = t.node("metadata/recording_duration_s")
        duration_s = float(dur.materialize()) if isinstance(dur, Leaf) else None
        src = t.node(SOURCE_FILES)
        source_files = dict(src.attrs) if src is not None else {}
        summary = FileSummary(
            path=p.absolute(),
            bytes=p.stat().st_size,
            root_attrs=dict(opened.root_attrs),
            commit_attrs=dict(opened.commit_attrs),
            source_files=source_files,
            units=units,
            n_spikes=n_spikes,
            sections=sections,
            features=dict(features),
            journal=list(opened.journal.entries),
            sta_units=sta_units,
            duration_s=duration_s,
            tree_lines=_tree_lines(t, max_units) if tree else [],
        )
        return summary
    finally:
        opened.source.close()


def human_bytes(n: float) -> str:
    """``1536`` → ``"1.5 KB"`` (powers of 1024)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def human_value(value: Any) -> str:
    """A journal parameter as a person writes it: ``(-60, 0)``, ``[a, b]``, ``{movie: step_up}``,
    paths and names without quotes (the journal's own JSON encoding is not shown)."""
    def fmt(v: Any) -> str:
        if isinstance(v, tuple):
            return "(" + ", ".join(fmt(x) for x in v) + ("," if len(v) == 1 else "") + ")"
        if isinstance(v, list):
            return "[" + ", ".join(fmt(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k}: {fmt(x)}" for k, x in v.items()) + "}"
        if v is None:
            return "none"
        return str(v)

    return fmt(decode_param(value))


def params_lines(params: dict[str, Any]) -> list[str]:
    """``name = value`` lines of a step's parameters, in name order (see :func:`human_value`)."""
    return [f"{k} = {human_value(v)}" for k, v in sorted(params.items())]


def journal_table(entries: list[JournalEntry]) -> str:
    """The journal as a fixed-width table (seq, step, version, seconds, changed nodes), each
    step followed by its parameters, one per line."""
    rows = [("#", "step", "version", "seconds", "changed")]
    for e in entries:
        rows.append((str(e.seq), e.step, e.step_version, f"{e.duration_s:.3f}", str(len(e.changed))))
    w = [max(len(r[i]) for r in rows) for i in range(5)]
    out = []
    for k, r in enumerate(rows):
        out.append(f"  {r[0]:>{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]:>{w[3]}}  {r[4]:>{w[4]}}")
        if k:
            out += [f"  {'':>{w[0]}}    {line}" for line in params_lines(entries[k - 1].params)]
    return "\n".join(out)


NOTATION = (
    "notes: sections: trials per stimulus movie (each trial is a start/end sample pair); "
    "changed: data nodes the step added or replaced; version: the step's algorithm version "
    "(a new version may give other results); seconds: the step's run time."
)
"""The legend ``txpipe inspect`` prints under its summary."""


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def format_summary(s: FileSummary) -> str:
    """Render a :class:`FileSummary` as the text ``txpipe inspect`` prints."""
    ra, ca = s.root_attrs, s.commit_attrs
    lines = [
        f"file        {s.path} ({human_bytes(s.bytes)})",
        f"format      {ra.get('format', '?')}, txpipe {ra.get('txpipe_version', '?')}",
        f"dataset_id  {ra.get('dataset_id', '?')}",
        f"created_at  {ra.get('created_at', '?')}",
        f"updated_at  {ra.get('updated_at', '?')}",
        f"last commit {ca.get('kind', '?')}" + (f" ({ca['checkpoint_name']})" if ca.get("checkpoint_name") else ""),
    ]
    for k in sorted(s.source_files):
        lines.append(f"source      {k} = {s.source_files[k]}")
    if s.units:
        lines.append(f"units       {len(s.units)} ({s.units[0]} … {s.units[-1]}), {s.n_spikes} spikes")
    else:
        lines.append("units       0")
    if s.sections:
        lines.append("sections    " + ", ".join(f"{k} ({_plural(v[0] if v else 0, 'trial')})" for k, v in s.sections.items()))
    else:
        lines.append("sections    none")
    if s.features:
        lines.append("features    " + ", ".join(f"{k} ({n} units)" for k, n in sorted(s.features.items())))
    else:
        lines.append("features    none")
    lines.append(f"sta units   {s.sta_units}")
    lines.append(f"journal     {len(s.journal)} step(s)")
    if s.journal:
        lines.append(journal_table(s.journal))
    if s.tree_lines:
        lines.append("layout (dtype and shape of every dataset; one unit shown)")
        lines += [f"  {x}" for x in s.tree_lines]
    lines.append(NOTATION)
    return "\n".join(lines)
