"""
Replay a journal into a fresh session and compare it with the file it came from.

``txpipe verify FILE`` uses :func:`verify`: it re-runs every recorded step, with its recorded
parameters, from the recorded input files, and compares the digest of every node of the result
with the file's. Input files that are missing or hold other content than when they were recorded
(size or sampled digest) are reported; a *path map* (``OLD=NEW``) replays from input files that
moved since.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from txpipe.core.fingerprint import tree_digests
from txpipe.core.journal import JournalEntry, decode_param
from txpipe.core.relocate import PathMap, apply_path_map, check_input, map_params, parse_path_map
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


def replay(entries: tuple[JournalEntry, ...] | list[JournalEntry], *, path_map: PathMap = (),
           **session_opts: Any) -> PipelineSession:
    """Re-run *entries* (oldest first) into a new DEFERRED session and return it; recorded
    absolute paths in parameters go through *path_map* (:mod:`txpipe.core.relocate`)."""
    s = PipelineSession(**session_opts)
    s._write_through = False
    for e in entries:
        params = {k: decode_param(map_params(v, path_map)) for k, v in e.params.items()}
        s.run(get_step(e.step), **params)
    return s


def changed_inputs(entries: tuple[JournalEntry, ...] | list[JournalEntry], path_map: PathMap = ()) -> list[str]:
    """Recorded input files that are missing or hold other content now (size or sampled digest;
    a new mtime alone is not a change), looked for at their recorded path after *path_map*."""
    out = []
    for e in entries:
        for inp in e.inputs:
            p = inp.get("path")
            if not p:
                continue
            chk = check_input(inp, apply_path_map(p, path_map))
            if chk.status != "same":
                out.append(f"{chk.describe()} (step #{e.seq} {e.step})")
    return out


def journal_differences(recorded: tuple[JournalEntry, ...], replayed: tuple[JournalEntry, ...],
                        moved: frozenset[str] = frozenset()) -> list[str]:
    """What a file's journal claims that its replay does not confirm: the step versions and the
    recorded changes (paths, operations, digests) of each entry. Nodes in *moved* (whose
    attributes record input paths that a path map rewrote) are expected to differ."""
    out = []
    for r, f in zip(recorded, replayed):
        where = f"journal step #{r.seq} {r.step!r}"
        if r.step_version != f.step_version:
            out.append(f"{where}: records step_version {r.step_version!r}, the step that replayed it is {f.step_version!r}")
        if list(r.changed) != list(f.changed):
            rec = {(c.get("path"), c.get("op")): c.get("digest") for c in r.changed if isinstance(c, dict)}
            rep = {(c["path"], c["op"]): c["digest"] for c in f.changed}
            bad = sorted({k[0] for k in set(rec) ^ set(rep)} | {k[0] for k in rec.keys() & rep.keys() if rec[k] != rep[k]})
            bad = [b for b in bad if str(b) not in moved]
            if not bad and set(rec) == set(rep):
                continue
            out.append(f"{where}: recorded changes differ from the replay's ({', '.join(map(str, bad)) or 'order'})")
    return out


def verify(path: str | os.PathLike[str], *, path_map: PathMap | list[str] | tuple[str, ...] = ()) -> VerifyReport:
    """
    Replay the journal of *path* and compare node by node.

    Args:
        path: a txpipe file.
        path_map: ``OLD=NEW`` items (or ``(old, new)`` pairs): input files recorded under
            ``OLD`` are read from ``NEW`` (the data moved, or is mounted elsewhere).

    Raises:
        FileNotFoundError: an input file is missing; the message names it and suggests a path map.
    """
    path = Path(path)
    pmap = parse_path_map(path_map)
    with PipelineSession.load(path, defer=True) as saved:
        entries = saved.journal
        missing = [c for c in changed_inputs(entries, pmap) if ": missing" in c]
        if missing:
            raise FileNotFoundError(
                f"{path}: cannot replay, recorded input file(s) not found: {'; '.join(missing[:3])}"
                f"{' …' if len(missing) > 3 else ''}. If the data moved, give --path-map OLD=NEW "
                "(API: path_map=['OLD=NEW'])"
            )
        fresh = replay(entries, path_map=pmap, dataset_id=saved.dataset_id)
        moved: set[str] = set()
        if pmap:  # the file records where its inputs were; compare with where they are now
            for npath, node in saved._tree.walk():
                new = {k: map_params(v, pmap) for k, v in node.attrs.items() if isinstance(v, str)}
                if any(node.attrs[k] != v for k, v in new.items()):
                    moved.add(str(npath))
                    node.attrs.update(new)
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
    diffs += journal_differences(entries, fresh.journal, frozenset(moved))
    return VerifyReport(path, not diffs, len(entries), diffs, changed_inputs(entries, pmap))
