"""
The transactional session: in-memory state, journal with undo, atomic commits.

A :class:`PipelineSession` applies steps to an in-memory :class:`~txpipe.core.tree.Tree`, records
each in its :class:`~txpipe.core.journal.Journal` and writes the state to HDF5 only when asked
(:meth:`~PipelineSession.save`, :meth:`~PipelineSession.checkpoint`, the end of a
:func:`pipeline_session` block) or, once the session is bound to a file, after every step
(*write-through*, the classic behaviour). See ``docs/concepts.md``.

Vocabulary (transaction package → txpipe): ``begin`` = entering :func:`pipeline_session` (takes
the target's lock); ``commit`` = :func:`txpipe.core.store.write_file` behind save/checkpoint; ``abort``
= an exception in the block (event ``rollback``); savepoint rollback = :meth:`~PipelineSession.undo`.
"""

from __future__ import annotations

import contextlib
import enum
import os
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import structlog

from txpipe.core import changes as _changes
from txpipe.core import atomic, codec
from txpipe.core import store
from txpipe.core.changes import Changes
from txpipe.core.dataset_id import validate_dataset_id
from txpipe.errors import (
    ConfigurationError,
    MemoryLimitError,
    MissingPrerequisiteError,
    SessionBrokenError,
    SessionClosedError,
    StaleFileError,
    StepError,
)
from txpipe.core.fingerprint import tree_digests, value_digest
from txpipe.core.journal import Journal, JournalEntry, encode_param
from txpipe.core.locking import TargetLock
from txpipe.core.paths import DATASET_ID, UNITS
from txpipe.core.step import Step, registered_steps, session_method
from txpipe.version import __version__
from txpipe.core.tree import MISSING, Group, Lazy, Leaf, Reporter, RestoreNode, StateView, Tree


class SaveState(enum.Enum):
    """Whether the session's state is all in its file (SAVED) or only in memory (DEFERRED)."""

    DEFERRED = "deferred"
    SAVED = "saved"


class _Bookkeeping:
    """What the uncommitted-work warning needs, held apart from the session so that the one
    warning mechanism (a :func:`weakref.finalize` of the session, which also runs at interpreter
    exit) can run after the session itself is gone."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.dirty = False
        self.last_committed_seq = 0
        self.dataset_id: str | None = None
        self.quiet = False  # discarded on purpose (or rolled back): no warning
        self.warned = False

    def uncommitted_steps(self) -> list[str]:
        return [e.step for e in self.journal.entries if e.seq > self.last_committed_seq]

    def warn(self, where: str) -> None:
        if self.warned or self.quiet or not self.dirty:
            return
        self.warned = True
        structlog.get_logger("txpipe").warning(
            "uncommitted",
            dataset_id=self.dataset_id,
            where=where,
            steps=self.uncommitted_steps(),
            hint="call save() or checkpoint(); deferred work is only in memory",
        )


class PipelineSession:
    """
    In-memory state of one recording, its journal, and its binding to an HDF5 file.

    Args:
        dataset_id: the recording's id (default: set by ``load_recording`` from the CMTR name).
        output_dir: where :meth:`save` writes ``{dataset_id}.h5`` when given no path.
        memory_limit: optional cap in bytes on :attr:`nbytes`; a step whose result would exceed it
            raises :class:`~txpipe.errors.MemoryLimitError` before anything is applied.
        progress: ``reporter(items, *, desc, unit, total)`` that steps report their per-unit
            progress to (through ``state.progress``); None: no progress display. ``txpipe run``
            passes a terminal progress bar. Settable later as :attr:`progress`.
    """

    def __init__(
        self,
        dataset_id: str | None = None,
        *,
        output_dir: str | os.PathLike[str] = "artifacts",
        memory_limit: int | None = None,
        progress: Reporter | None = None,
    ) -> None:
        self.progress = progress
        self._tree = Tree()
        self._book = _Bookkeeping(Journal())
        self._dataset_id = validate_dataset_id(dataset_id) if dataset_id is not None else None
        self.output_dir = Path(output_dir)
        self.memory_limit = memory_limit
        self._hdf5_path: Path | None = None
        self._stamp: store.FileStamp | None = None
        self._created_at: str | None = None
        self._write_through: bool | None = None  # None: auto (write through once bound)
        self._out_path: Path | None = None
        self._work_path: Path | None = None  # immediate mode over an existing target: see pipeline_session
        self._forced: set[Path] = set()  # targets the caller allowed to replace although not txpipe files
        self._locks: dict[Path, TargetLock] = {}
        self._broken: BaseException | None = None
        self._closed = False
        self._book.dataset_id = self._dataset_id
        self._finalizer = weakref.finalize(self, _Bookkeeping.warn, self._book, "session released or interpreter exit")

    # state the uncommitted-work warning reads lives in the bookkeeping object
    @property
    def _journal(self) -> Journal:
        return self._book.journal

    @_journal.setter
    def _journal(self, value: Journal) -> None:
        self._book.journal = value

    @property
    def _dirty(self) -> bool:
        return self._book.dirty

    @_dirty.setter
    def _dirty(self, value: bool) -> None:
        self._book.dirty = value
        self._book.dataset_id = self.dataset_id

    @property
    def _last_committed_seq(self) -> int:
        return self._book.last_committed_seq

    @_last_committed_seq.setter
    def _last_committed_seq(self, value: int) -> None:
        self._book.last_committed_seq = value

    # --- read access -------------------------------------------------------------------------
    @property
    def state(self) -> StateView:
        """Read-only view of the state by HDF5-like paths."""
        return StateView(self._tree)

    @property
    def journal(self) -> tuple[JournalEntry, ...]:
        """The applied steps, oldest first."""
        return self._journal.entries

    @property
    def save_state(self) -> SaveState:
        """SAVED when the session is bound to a file that holds all of its state."""
        return SaveState.SAVED if self._hdf5_path is not None and not self._dirty else SaveState.DEFERRED

    @property
    def hdf5_path(self) -> Path | None:
        """The file this session is bound to (None until its first save)."""
        return self._hdf5_path

    @property
    def dataset_id(self) -> str | None:
        """The recording's id: given explicitly, else ``/metadata/dataset_id`` of the state."""
        if self._dataset_id is not None:
            return self._dataset_id
        n = self._tree.node(DATASET_ID)
        return n.value if isinstance(n, Leaf) and isinstance(n.value, str) else None

    @property
    def units(self) -> list[str]:
        """Unit ids under ``/units``, in order."""
        n = self._tree.node(UNITS)
        return list(n.children) if isinstance(n, Group) else []

    @property
    def nbytes(self) -> int:
        """Bytes of array, string and scalar payload held in memory: the state plus undo history.

        Arrays shared between the state and before-images count once; lazy arrays not read yet
        count zero (they are on disk).
        """
        seen: set[int] = set()
        total = 0

        def add(value: Any) -> None:
            nonlocal total
            if isinstance(value, Lazy):
                return
            if isinstance(value, (list, tuple)):
                for v in value:
                    add(v)
            elif isinstance(value, dict):
                for v in value.values():
                    add(v)
            elif id(value) not in seen:
                seen.add(id(value))
                total += codec.nbytes(value)

        def add_node(node: Any) -> None:
            if isinstance(node, Leaf):
                add(node.value)
            elif isinstance(node, Group):
                for c in node.children.values():
                    add_node(c)

        add_node(self._tree.root)
        for e in self._journal.entries:
            for inv in e.inverse or ():
                if isinstance(inv, RestoreNode) and inv.node is not MISSING:
                    add_node(inv.node)
        return total

    def content_digest(self) -> str:
        """One digest of the whole state (values, attributes, structure, order); not the journal."""
        return value_digest(list(tree_digests(self._tree).items()))

    def __repr__(self) -> str:
        return (
            f"<PipelineSession {self.dataset_id!r} {self.save_state.name} steps={len(self._journal)} "
            f"file={str(self._hdf5_path) if self._hdf5_path else None}>"
        )

    # --- running steps -----------------------------------------------------------------------
    def _log(self) -> Any:
        return structlog.get_logger("txpipe").bind(dataset_id=self.dataset_id)

    def _check_usable(self) -> None:
        if self._closed:
            raise SessionClosedError(f"session {self.dataset_id!r} was closed; load its file again to continue")
        if self._broken is not None:
            raise SessionBrokenError(
                f"session {self.dataset_id!r} is in an unknown state after a failed rollback; load it again from its file"
            ) from self._broken

    def _check_requires(self, st: Step) -> None:
        done = set(self._journal.step_names())
        for req in st.requires:
            options = (req,) if isinstance(req, str) else tuple(req)
            if not done.intersection(options):
                need = " or ".join(repr(o) for o in options)
                msg = f"step {st.name!r} needs {need} to have run first in this session (dataset {self.dataset_id!r})"
                raise MissingPrerequisiteError(msg, step=st.name, missing=options[0])

    def _write_target(self) -> Path | None:
        if self._write_through is False:
            return None
        if self._write_through is True:
            return self._hdf5_path or self._work_path or self._out_path
        return self._hdf5_path

    def __getattr__(self, name: str) -> Any:
        """``s.load_recording(...)`` etc.: registered steps declared with ``method=True``."""
        st = session_method(name) if not name.startswith("_") else None
        if st is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

        def method(*args: Any, **kwargs: Any) -> "PipelineSession":
            return self.run(st, **st.bind(args, kwargs))

        method.__name__ = method.__qualname__ = name
        method.__doc__ = f"Apply step {name!r} (see its declaration); returns the session.\n\n{st.fn.__doc__ or ''}"
        method.__signature__ = st.signature  # type: ignore[attr-defined]
        return method

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {n for n, st in registered_steps().items() if st.method})

    def run(self, fn: Step, /, **params: Any) -> "PipelineSession":
        """
        Apply step *fn* with *params*, record it in the journal, and write through if bound.

        The parameters are canonicalised against the step's declaration first (every parameter
        journaled, defaults filled in, paths absolute, values checked), so the same call journals
        the same thing from any entry point. Returns the session (chainable). Nothing changes if
        the step raises.
        """
        self._check_usable()
        if not isinstance(fn, Step):
            raise TypeError(f"run() takes a step declared with @txpipe.core.step, got {type(fn).__name__} {fn!r}")
        self._check_requires(fn)
        params = fn.canonical_params(params)
        enc = {k: encode_param(v, k) for k, v in params.items()}
        started = store.utcnow()
        t0 = time.perf_counter()
        # with a memory limit, values a step reads from the file are not kept (it still has them):
        # else one large lazy read would count against the limit for ever and refuse every later step
        lazies = []
        if self.memory_limit is not None:
            lazies = [(leaf, leaf.value) for _, leaf in self._tree.walk_leaves() if isinstance(leaf.value, Lazy)]
        try:
            result = fn.fn(StateView(self._tree, reporter=self.progress, step=fn.name), **params)
        finally:
            for leaf, lazy in lazies:
                leaf.value = lazy
        if not isinstance(result, Changes):
            raise StepError(f"step {fn.name!r} returned {type(result).__name__}, not txpipe.Changes")
        if self.memory_limit is not None:
            projected = self.nbytes + result.added_bytes()
            if projected > self.memory_limit:
                raise MemoryLimitError(
                    f"step {fn.name!r} would raise the session's held memory to {projected} bytes, "
                    f"over memory_limit={self.memory_limit} bytes; nothing was applied"
                )
        was_dirty = self._dirty
        try:
            inverses, changed = _changes.apply(self._tree, result)
        except SessionBrokenError as exc:
            self._broken = exc
            raise
        records = tuple(
            {"path": c.path, "op": c.op, "digest": None if c.value is MISSING else value_digest(c.value)}
            for c in changed
        )
        entry = JournalEntry(
            seq=self._journal.next_seq(),
            step=fn.name,
            step_version=fn.version,
            params=enc,
            inputs=tuple(result.inputs),
            txpipe_version=__version__,
            started_at=started,
            duration_s=round(time.perf_counter() - t0, 6),
            changed=records,
            notes=dict(result.notes),
            inverse=tuple(inverses),
        )
        self._journal.append(entry)
        self._dirty = True
        log = self._log()  # bound after the step: load_recording sets the dataset id
        log.info("step", step=fn.name, seq=entry.seq, duration_s=entry.duration_s, n_changed=len(records))
        target = self._write_target()
        if target is not None:
            try:
                self._commit(target, kind="save", bind=True)
            except BaseException as exc:
                self._journal.pop_undoable(1)
                try:
                    _changes.undo(self._tree, list(inverses))
                except BaseException as undo_exc:
                    self._broken = undo_exc
                    raise SessionBrokenError(
                        f"session {self.dataset_id!r}: committing step {fn.name!r} failed ({type(exc).__name__}: {exc}) "
                        f"and rolling the step back failed too ({type(undo_exc).__name__}: {undo_exc})"
                    ) from exc
                self._dirty = was_dirty
                raise
        return self

    def undo(self, n: int = 1) -> "PipelineSession":
        """Revert the last *n* steps exactly (state and journal); writes through if bound."""
        self._check_usable()
        entries = self._journal.pop_undoable(n)
        for e in entries:
            _changes.undo(self._tree, list(e.inverse or ()))
        if entries:
            self._dirty = True
        self._log().info("undo", n=n, steps=[e.step for e in entries])
        target = self._write_target()
        if target is not None and entries:
            self._commit(target, kind="save", bind=True)
        return self

    # --- committing --------------------------------------------------------------------------
    def _default_path(self) -> Path:
        if self._out_path is not None:
            return self._out_path
        if self._hdf5_path is not None:  # a session bound to a file (loaded or saved) saves back to it
            return self._hdf5_path
        if self.dataset_id is None:
            raise ConfigurationError("session has no dataset_id yet; give save() a path or run load_recording first")
        return self.output_dir / f"{self.dataset_id}.h5"

    def _commit(
        self,
        path: str | os.PathLike[str],
        *,
        kind: str,
        bind: bool,
        overwrite: bool = True,
        checkpoint_name: str | None = None,
        force_overwrite_foreign: bool = False,
    ) -> Path:
        self._check_usable()
        target = Path(path).absolute()
        log = self._log()
        lock = self._locks.get(target) or TargetLock(target)
        with lock:
            is_bound = self._hdf5_path == target
            if is_bound and store.FileStamp.of(target) != self._stamp:
                raise StaleFileError(
                    f"{target}: changed on disk since this session last read or wrote it; "
                    "reload it with PipelineSession.load() or save to another path"
                )
            if not is_bound:
                if not overwrite and target.exists():
                    raise FileExistsError(f"{target}: exists and overwrite=False")
                store.check_target(
                    target, self._input_files(), force_overwrite_foreign=force_overwrite_foreign or target in self._forced
                )
                if target.exists():
                    log.warning("overwrite", path=str(target), kind=kind)
            info = store.write_file(
                self._tree,
                self._journal,
                target,
                kind=kind,
                dataset_id=self.dataset_id,
                created_at=self._created_at,
                checkpoint_name=checkpoint_name,
            )
            stamp = store.FileStamp.of(target)
        log.info("commit", path=str(target), kind=kind, bytes=info.bytes, seconds=round(info.seconds, 6))
        if bind:
            self._hdf5_path = target
            self._stamp = stamp
            self._dirty = False
            self._last_committed_seq = self._journal.next_seq() - 1
            if self._created_at is None:
                self._created_at = store.utcnow()
            self._repoint_lazy_leaves(target)
        return target

    def _input_files(self) -> list[tuple[str, str]]:
        """``(step, path)`` of every input file the journal records (never a commit target)."""
        out = []
        for e in self._journal.entries:
            for inp in e.inputs:
                if isinstance(inp, dict) and isinstance(inp.get("path"), str):
                    out.append((f"read by step {e.step!r}", inp["path"]))
        return out

    def _repoint_lazy_leaves(self, target: Path) -> None:
        """Make lazy leaves read from the newly committed file (which holds the same datasets)."""
        lazies = [leaf for _, leaf in self._tree.walk_leaves() if isinstance(leaf.value, Lazy)]
        if not lazies:
            return
        source = store.FileSource(target)
        for leaf in lazies:
            leaf.value = leaf.value.rebound(source)

    def save(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        overwrite: bool = True,
        force_overwrite_foreign: bool = False,
    ) -> Path:
        """
        Commit the whole state atomically and bind the session to that file (state SAVED).

        Default *path*: the ``pipeline_session`` target, else ``output_dir/{dataset_id}.h5``.
        An existing txpipe file other than the session's own is replaced with a WARNING
        ``overwrite`` event, or :class:`FileExistsError` is raised when ``overwrite=False``.
        An input of the session is never replaced, nor is an existing file that is not a
        txpipe file unless ``force_overwrite_foreign=True``
        (:class:`~txpipe.errors.UnsafeTargetError`, before anything is written).

        If the commit fails (:class:`~txpipe.errors.CommitError`, e.g. the disk is full), the
        session is unchanged and still holds all its work: free space and call ``save()`` again.
        """
        target = Path(path) if path is not None else self._default_path()
        return self._commit(
            target, kind="save", bind=True, overwrite=overwrite, force_overwrite_foreign=force_overwrite_foreign
        )

    def checkpoint(
        self,
        path: str | os.PathLike[str],
        *,
        checkpoint_name: str | None = None,
        overwrite: bool = True,
        force_overwrite_foreign: bool = False,
    ) -> Path:
        """
        Commit a snapshot of the state to another file; the session's state and binding stay.

        Raises:
            FileExistsError: *path* exists and ``overwrite=False`` (else WARNING ``overwrite``).
            UnsafeTargetError: *path* is an input of the session, or an existing file that is
                not a txpipe file (unless ``force_overwrite_foreign=True``).
            ConfigurationError: *path* is the session's own file (use :meth:`save`).
        """
        target = Path(path).absolute()
        if target in (self._hdf5_path, self._out_path, self._work_path):
            raise ConfigurationError(f"{target}: is this session's own target; use save() instead of checkpoint()")
        out = self._commit(
            target,
            kind="checkpoint",
            bind=False,
            overwrite=overwrite,
            checkpoint_name=checkpoint_name,
            force_overwrite_foreign=force_overwrite_foreign,
        )
        self._log().info("checkpoint", path=str(out), checkpoint_name=checkpoint_name, steps=len(self._journal))
        return out

    def ensure_saved(self, reason: str = "an HDF5 path is required") -> Path:
        """
        Return the session's file, saving first (WARNING ``implicit_save``) if it is DEFERRED.
        """
        if self.save_state is SaveState.SAVED:
            return self._hdf5_path  # type: ignore[return-value]
        target = self._hdf5_path or self._default_path()
        self._log().warning("implicit_save", path=str(target), reason=reason)
        return self._commit(target, kind="implicit_save", bind=True)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, defer: bool = False, **opts: Any) -> "PipelineSession":
        """
        Resume from a committed file: state and journal restored, SAVED, bound to *path*.

        Arrays of 64 KiB or more are read on first access, so loading a large file is fast.
        With ``defer=True`` later steps stay in memory until :meth:`save`; by default they write
        through to *path*.

        Raises:
            FileNotFoundError, NotATxpipeFileError
        """
        opened = store.open_file(Path(path))
        s = cls(opened.root_attrs.get("dataset_id"), **opts)
        s._tree = opened.tree
        s._journal = opened.journal
        s._hdf5_path = Path(path).absolute()
        s._stamp = opened.stamp
        s._created_at = opened.root_attrs.get("created_at")
        s._last_committed_seq = s._journal.next_seq() - 1
        s._write_through = False if defer else None
        return s

    # --- lifecycle ---------------------------------------------------------------------------
    def _uncommitted_steps(self) -> list[str]:
        return self._book.uncommitted_steps()

    def _warn_uncommitted(self, where: str) -> None:
        self._book.dataset_id = self.dataset_id
        self._book.warn(where)

    @property
    def closed(self) -> bool:
        """True after :meth:`close` or :meth:`discard`: the session refuses further work."""
        return self._closed

    def _sources(self) -> list[Any]:
        """The open files lazy values of the state and of the undo history read from."""
        found: dict[int, Any] = {}

        def visit(node: Any) -> None:
            if isinstance(node, Leaf):
                if isinstance(node.value, Lazy):
                    found.setdefault(id(node.value.source), node.value.source)
            elif isinstance(node, Group):
                for c in node.children.values():
                    visit(c)

        visit(self._tree.root)
        for e in self._journal.entries:
            for inv in e.inverse or ():
                if isinstance(inv, RestoreNode) and inv.node is not MISSING:
                    visit(inv.node)
        return list(found.values())

    def close(self) -> None:
        """
        End the session: a WARNING ``uncommitted`` if it holds work not committed anywhere, then
        the files its lazy arrays read from are closed. Idempotent; afterwards every step, save or
        checkpoint raises :class:`~txpipe.errors.SessionClosedError`.
        """
        if self._closed:
            return
        self._warn_uncommitted("close")
        self._finalizer.detach()
        self._closed = True
        for src in self._sources():
            close = getattr(src, "close", None)
            if close is not None:
                close()

    def _promote_work_file(self) -> None:
        """Make the immediate-mode work file the ``pipeline_session`` target (one atomic rename)."""
        work, out = self._work_path, self._out_path
        assert work is not None and out is not None
        with TargetLock(work):
            if store.FileStamp.of(work) != self._stamp:
                raise StaleFileError(f"{work}: changed on disk during the run; {out} was left as it was")
            atomic.promote(work, out)
        self._hdf5_path = out
        self._work_path = None
        self._log().info("commit", path=str(out), kind="promote", source=str(work))

    def discard(self) -> None:
        """Drop the session's uncommitted work on purpose (no warning) and :meth:`close` it."""
        self._book.quiet = True
        self.close()

    def __enter__(self) -> "PipelineSession":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """``with PipelineSession.load(path) as s:`` closes the session at the end of the block
        (an exception discards its uncommitted work without the warning)."""
        if exc_type is not None:
            self._book.quiet = True
        self.close()


def partial_path(out: str | os.PathLike[str]) -> Path:
    """Where an immediate-mode run over an existing *out* commits its steps until it succeeds:
    ``NAME.partial.h5`` beside ``NAME.h5``."""
    out = Path(out)
    return out.with_name(atomic.short_name(f"{out.stem}.partial", out.suffix or ".h5"))


@contextlib.contextmanager
def pipeline_session(
    out_path: str | os.PathLike[str],
    *,
    defer: bool = True,
    overwrite: bool = True,
    resume: bool = False,
    dataset_id: str | None = None,
    force_overwrite_foreign: bool = False,
    **opts: Any,
) -> Iterator[PipelineSession]:
    """
    A session whose state is committed to *out_path* atomically when the block ends.

    Args:
        out_path: the target HDF5 file.
        defer: True: steps change memory only; the block's normal exit commits. False: every
            step commits immediately (the classic behaviour). If *out_path* already exists
            (and *resume* is False), those commits go to ``NAME.partial.h5`` beside it, which
            replaces *out_path* (one rename) only when the block ends normally: a failed run
            never leaves *out_path* worse than before, and the steps it did finish stay in the
            partial file (WARNING ``partial_kept``).
        overwrite: False: raise FileExistsError on entry if *out_path* exists. True: replace it
            at commit with a WARNING ``overwrite`` event.
        resume: start from *out_path*'s content and journal (if it exists).
        dataset_id, **opts: passed to :class:`PipelineSession`.
        force_overwrite_foreign: allow *out_path* to be an existing file that is not a txpipe
            file (else :class:`~txpipe.errors.UnsafeTargetError` on entry, before any work).

    An exception inside the block commits nothing (event ``rollback``) and propagates; the
    target keeps its last committed content. The target's lock is held for the whole block, so
    a second writer fails fast with :class:`~txpipe.errors.LockedError`. If the final commit
    fails (:class:`~txpipe.errors.CommitError`), the session keeps its work: ``s.save()``
    again once the cause is fixed.
    """
    out = Path(out_path).absolute()
    if out.exists() and not overwrite and not resume:
        raise FileExistsError(f"{out}: exists and overwrite=False")
    store.check_target(out, force_overwrite_foreign=force_overwrite_foreign)
    lock = TargetLock(out).acquire()
    s: PipelineSession | None = None
    try:
        if resume and out.exists():
            s = PipelineSession.load(out, **opts)
        else:
            s = PipelineSession(dataset_id, **opts)
        s._out_path = out
        s._write_through = not defer
        if not defer and not resume and out.exists():
            s._work_path = partial_path(out)
        if force_overwrite_foreign:
            s._forced.add(out)
        s._locks[out] = lock
        try:
            yield s
        except BaseException as exc:
            s._book.quiet = True  # rolled back on purpose: no "uncommitted" warning
            s._log().warning("rollback", path=str(out), error=f"{type(exc).__name__}: {exc}", steps=s._uncommitted_steps())
            if s._work_path is not None and s.hdf5_path == s._work_path:
                done = [e.step for e in s.journal if e.seq <= s._last_committed_seq]
                s._log().warning("partial_kept", path=str(s._work_path), target=str(out), steps=done)
            raise
        if s._work_path is not None and s.hdf5_path == s._work_path and s.save_state is SaveState.SAVED:
            s._promote_work_file()
        elif s.save_state is SaveState.DEFERRED or s.hdf5_path != out:
            s.save(out, overwrite=True)  # also when save(other) inside the block moved the binding
    finally:
        if s is not None:
            s._locks.pop(out, None)
        lock.release()
