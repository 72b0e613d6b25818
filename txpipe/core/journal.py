"""
The journal: one entry per applied step, stored in the file as plain JSON text.

An entry records the step name and version, its parameters in canonical JSON (sorted keys,
paths as strings, tuples marked ``{"__tuple__": [...]}``), the input files it read, the txpipe
version, when it started, how long it took, and what it changed (path, kind of change and the
digest of each new value). In memory an entry also keeps its *inverse*: the before-images of
only what it replaced or deleted, so :meth:`Journal.rollback_to` undoes it exactly.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import numpy as np

from txpipe.core import changes as _changes
from txpipe.errors import ParameterError, UndoError
from txpipe.core.tree import Inverse

JOURNAL_FORMAT = "txpipe-journal/1"


# --- canonical parameters ------------------------------------------------------------------------


def encode_param(value: Any, name: str = "params") -> Any:
    """Return *value* as canonical-JSON-ready data; raise ParameterError for anything else."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return {"__float__": repr(value)}
        return value
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return encode_param(value.item(), name)
    if isinstance(value, (PurePath, os.PathLike)):
        return os.fspath(value)
    if isinstance(value, tuple):
        return {"__tuple__": [encode_param(v, f"{name}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [encode_param(v, f"{name}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ParameterError(f"parameter {name}: dict keys must be str, got {type(k).__name__} {k!r}")
            out[k] = encode_param(v, f"{name}.{k}")
        return out
    raise ParameterError(
        f"parameter {name}: {type(value).__name__} cannot be recorded in the journal "
        "(use None, bool, int, float, str, paths, lists, tuples or str-keyed dicts)"
    )


def decode_param(value: Any) -> Any:
    """Inverse of :func:`encode_param` (paths come back as str)."""
    if isinstance(value, list):
        return [decode_param(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__tuple__"}:
            return tuple(decode_param(v) for v in value["__tuple__"])
        if set(value) == {"__float__"}:
            return float(value["__float__"])
        return {k: decode_param(v) for k, v in value.items()}
    return value


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace: equal data gives equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# --- entries -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JournalEntry:
    """One applied step. ``changed`` items are ``{"path", "op", "digest"}`` dicts."""

    seq: int
    step: str
    step_version: str
    params: dict[str, Any]
    inputs: tuple[dict[str, Any], ...]
    txpipe_version: str
    started_at: str
    duration_s: float
    changed: tuple[dict[str, Any], ...]
    notes: dict[str, Any] = field(default_factory=dict)
    inverse: tuple[Inverse, ...] | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "step": self.step,
            "step_version": self.step_version,
            "params": self.params,
            "inputs": list(self.inputs),
            "txpipe_version": self.txpipe_version,
            "started_at": self.started_at,
            "duration_s": self.duration_s,
            "changed": list(self.changed),
            "notes": self.notes,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "JournalEntry":
        return cls(
            seq=int(d["seq"]),
            step=str(d["step"]),
            step_version=str(d.get("step_version", "")),
            params=dict(d.get("params", {})),
            inputs=tuple(d.get("inputs", ())),
            txpipe_version=str(d.get("txpipe_version", "")),
            started_at=str(d.get("started_at", "")),
            duration_s=float(d.get("duration_s", 0.0)),
            changed=tuple(d.get("changed", ())),
            notes=dict(d.get("notes", {})),
            inverse=None,
        )

    @property
    def decoded_params(self) -> dict[str, Any]:
        """The parameters as the step receives them on replay."""
        return {k: decode_param(v) for k, v in self.params.items()}

    def rebuild_inverse(self) -> tuple[Inverse, ...] | None:
        """For an entry read from a file: its inverse if every change was an addition, else None."""
        created = set()
        pairs = []
        for c in self.changed:
            op, p = c["op"], c["path"]
            if op in ("added", "group_added"):
                created.add(p)
                pairs.append((p, op))
            elif op == "attrs" and p in created:
                continue
            else:
                return None
        return tuple(_changes.inverses_for_additions(pairs))


class Journal:
    """The ordered entries of a session, with savepoint-style marks."""

    def __init__(self, entries: list[JournalEntry] | None = None) -> None:
        self._entries: list[JournalEntry] = list(entries or [])

    @property
    def entries(self) -> tuple[JournalEntry, ...]:
        return tuple(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def next_seq(self) -> int:
        return self._entries[-1].seq + 1 if self._entries else 1

    def append(self, entry: JournalEntry) -> None:
        self._entries.append(entry)

    def mark(self) -> int:
        """A savepoint: the current length."""
        return len(self._entries)

    def pop_undoable(self, n: int) -> list[JournalEntry]:
        """Remove and return the last *n* entries (newest first), checking all can be undone."""
        if n < 0:
            raise UndoError(f"undo(n={n}): n must be >= 0")
        if n > len(self._entries):
            raise UndoError(f"undo(n={n}): only {len(self._entries)} step(s) in the journal")
        tail = self._entries[len(self._entries) - n :]
        for e in tail:
            if e.inverse is None:
                raise UndoError(
                    f"undo: step #{e.seq} {e.step!r} was loaded from a file and replaced or deleted values "
                    "whose before-images are not kept; reload an earlier checkpoint instead"
                )
        del self._entries[len(self._entries) - n :]
        return list(reversed(tail))

    def step_names(self) -> list[str]:
        return [e.step for e in self._entries]

    def to_text(self) -> str:
        return canonical_json({"format": JOURNAL_FORMAT, "entries": [e.to_json() for e in self._entries]})

    @classmethod
    def from_text(cls, text: str) -> "Journal":
        d = json.loads(text)
        if not isinstance(d, dict) or d.get("format") != JOURNAL_FORMAT:
            raise ValueError(f"not a txpipe journal (format {d.get('format') if isinstance(d, dict) else None!r})")
        entries = []
        for ed in d["entries"]:
            e = JournalEntry.from_json(ed)
            inv = e.rebuild_inverse()
            entries.append(JournalEntry(**{**e.__dict__, "inverse": inv}))
        return cls(entries)
