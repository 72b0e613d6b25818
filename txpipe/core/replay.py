"""
Replay a journal into a fresh session and compare it with the file it came from.

``txpipe verify FILE`` uses :func:`verify`: it re-runs every recorded step, with its recorded
parameters, from the recorded input files, and compares the digest of every node of the result
with the file's. Input files whose size or mtime changed since they were recorded are reported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from txpipe.core.fingerprint import tree_digests
from txpipe.core.journal import JournalEntry
from txpipe.core.session import PipelineSession
from txpipe.core.step import get_step


@dataclass
class VerifyReport:
    """Outcome of :func:`verify`."""

    path: Path
    identical: bool
    n_steps: int
    differences: list[str] = field(default_factory=list)
    changed_inputs: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.identical:
            head = f"IDENTICAL: {self.path} ({self.n_steps} steps replayed)"
        else:
            head = f"DIFFERENT: {self.path}: {len(self.differences)} node(s) differ after replaying {self.n_steps} steps"
        lines = [head, *(f"  {d}" for d in self.differences[:50])]
        if len(self.differences) > 50:
            lines.append(f"  ... and {len(self.differences) - 50} more")
        lines += [f"  input changed since recorded: {c}" for c in self.changed_inputs]
        return "\n".join(lines)


def replay(entries: tuple[JournalEntry, ...] | list[JournalEntry], **session_opts: Any) -> PipelineSession:
    """Re-run *entries* (oldest first) into a new DEFERRED session and return it."""
    s = PipelineSession(**session_opts)
    s._write_through = False
    for e in entries:
        s.run(get_step(e.step), **e.decoded_params)
    return s


def changed_inputs(entries: tuple[JournalEntry, ...] | list[JournalEntry]) -> list[str]:
    """Recorded input files that are missing or whose size/mtime differ now."""
    out = []
    for e in entries:
        for inp in e.inputs:
            p = inp.get("path")
            if not p:
                continue
            try:
                st = os.stat(p)
            except FileNotFoundError:
                out.append(f"{p} (missing; step #{e.seq} {e.step})")
                continue
            if st.st_size != inp.get("size") or st.st_mtime_ns != inp.get("mtime_ns"):
                out.append(f"{p} (size/mtime differ; step #{e.seq} {e.step})")
    return out


def journal_differences(recorded: tuple[JournalEntry, ...], replayed: tuple[JournalEntry, ...]) -> list[str]:
    """What a file's journal claims that its replay does not confirm: the step versions and the
    recorded changes (paths, operations, digests) of each entry."""
    out = []
    for r, f in zip(recorded, replayed):
        where = f"journal step #{r.seq} {r.step!r}"
        if r.step_version != f.step_version:
            out.append(f"{where}: records step_version {r.step_version!r}, the step that replayed it is {f.step_version!r}")
        if list(r.changed) != list(f.changed):
            rec = {(c.get("path"), c.get("op")): c.get("digest") for c in r.changed if isinstance(c, dict)}
            rep = {(c["path"], c["op"]): c["digest"] for c in f.changed}
            bad = sorted({k[0] for k in set(rec) ^ set(rep)} | {k[0] for k in rec.keys() & rep.keys() if rec[k] != rep[k]})
            out.append(f"{where}: recorded changes differ from the replay's ({', '.join(map(str, bad)) or 'order'})")
    return out


def verify(path: str | os.PathLike[str]) -> VerifyReport:
    """Replay the journal of *path* and compare node by node."""
    path = Path(path)
    with PipelineSession.load(path, defer=True) as saved:
        entries = saved.journal
        fresh = replay(entries, dataset_id=saved.dataset_id)
        a, b = tree_digests(saved._tree), tree_digests(fresh._tree)
        fresh.discard()  # a replay is a scratch session: no "uncommitted" warning
    diffs = []
    for p in sorted(set(a) | set(b)):
        if p not in b:
            diffs.append(f"{p}: in the file, not produced by replay")
        elif p not in a:
            diffs.append(f"{p}: produced by replay, not in the file")
        elif a[p] != b[p]:
            diffs.append(f"{p}: content differs")
    diffs += journal_differences(entries, fresh.journal)
    return VerifyReport(path, not diffs, len(entries), diffs, changed_inputs(entries))
