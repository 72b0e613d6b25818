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
from txpipe.core.relocate import PathMap, check_input, map_params, parse_path_map
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
    from txpipe.core.relocate import apply_path_map

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
        if pmap:  # the file records where its inputs were; compare with where they are now
            for _, node in saved._tree.walk():
                node.attrs.update({k: map_params(v, pmap) for k, v in node.attrs.items() if isinstance(v, str)})
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
    return VerifyReport(path, not diffs, len(entries), diffs, changed_inputs(entries, pmap))
