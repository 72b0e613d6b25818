"""
Stateful test of the session against a flat model (STYLE H21).

Rules put / replace / delete / set attributes, undo, save, checkpoint, load-and-continue (from
the target or a checkpoint) and commits that fail with ENOSPC. After every rule: the live state
equals the model, replay(journal) equals the live state, a twin session run with ``defer=False``
has the same content digest, and a SAVED session's file loads back to the same digest.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import strategies
import txpipe
from toysteps import KINDS, make_value, toy_attrs, toy_delete, toy_put
from txpipe.core import atomic
from txpipe.errors import CommitError, UndoError
from txpipe.core.fingerprint import value_digest
from txpipe.core.replay import replay

seeds = st.integers(0, 2**31 - 1)


def _copy_replace(src: Path, dst: Path) -> None:
    """Copy *src* over *dst* as a new file (new inode), never in place.

    HDF5 shares one open-file object per inode inside a process; overwriting a file in place
    while an old session still has it open makes later opens read stale cached metadata.
    """
    tmp = dst.with_name(dst.name + ".copy")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


class SessionVsModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="txpipe-sm-"))
        self.target = self.dir / "t.h5"
        self.s = txpipe.PipelineSession("sm")
        self.twin = txpipe.PipelineSession("sm")  # immediate: bound at once, every step commits
        self.twin.save(self.dir / "twin.h5")
        self.model: dict[str, str] = {}  # leaf path -> value digest
        self.stack: list[dict[str, str]] = []  # model before each journal entry
        self.undoable: list[bool] = []  # per journal entry
        self.checkpoints: list[tuple[Path, dict, list, list]] = []
        txpipe.configure_logging(level="error")

    def _run(self, step, **params) -> None:
        before = dict(self.model)
        self.s.run(step, **params)
        self.twin.run(step, **params)
        self.stack.append(before)
        self.undoable.append(True)

    @rule(p=strategies.leaf_paths(), seed=seeds, kind=st.sampled_from(KINDS))
    def put(self, p, seed, kind):
        self._run(toy_put, path=p, seed=seed, kind=kind)
        self.model[p] = value_digest(make_value(seed, kind))

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def delete(self, data):
        p = data.draw(st.sampled_from(sorted(self.model)))
        self._run(toy_delete, path=p)
        del self.model[p]

    @precondition(lambda self: self.model)
    @rule(data=st.data(), seed=seeds)
    def set_attrs(self, data, seed):
        p = data.draw(st.sampled_from(sorted(self.model)))
        self._run(toy_attrs, path=p, seed=seed)

    @precondition(lambda self: self.stack)
    @rule()
    def undo(self):
        if not self.undoable[-1]:
            with pytest.raises(UndoError):
                self.s.undo()
            return
        self.s.undo()
        self.twin.undo()
        self.model = dict(self.stack.pop())  # a copy: checkpoint snapshots may hold the same dict
        self.undoable.pop()

    @rule()
    def save(self):
        self.s.save(self.target)
        assert self.s.save_state is txpipe.SaveState.SAVED

    @rule()
    def checkpoint(self):
        c = self.dir / f"c{len(self.checkpoints)}.h5"
        self.s.checkpoint(c)
        self.checkpoints.append((c, dict(self.model), [dict(m) for m in self.stack], list(self.undoable)))

    def _continue_from(self, path: Path, model, stack, undoable, defer: bool) -> None:
        self.s.discard()  # replaced on purpose: its uncommitted work is in the model
        if path != self.target:  # resume from a checkpoint: copy it to the target (load binds)
            _copy_replace(path, self.target)
        self.s = txpipe.PipelineSession.load(self.target, defer=defer)
        self.model, self.stack = dict(model), [dict(m) for m in stack]
        # a loaded entry can be undone only if all it did was add
        self.undoable = [
            all(c["op"] in ("added", "group_added") or (c["op"] == "attrs" and c["path"] in {x["path"] for x in e.changed if x["op"] != "attrs"}) for c in e.changed)
            for e in self.s.journal
        ]
        self.twin.discard()
        twin_path = self.dir / "twin.h5"
        _copy_replace(path, twin_path)
        self.twin = txpipe.PipelineSession.load(twin_path)

    @rule(defer=st.booleans())
    def load_and_continue(self, defer):
        self.s.save(self.target)
        self._continue_from(self.target, self.model, self.stack, self.undoable, defer)

    @precondition(lambda self: self.checkpoints)
    @rule(data=st.data(), defer=st.booleans())
    def load_checkpoint(self, data, defer):
        c, model, stack, undoable = data.draw(st.sampled_from(self.checkpoints))
        self._continue_from(c, model, stack, undoable, defer)

    @rule(point=st.sampled_from(["before_write", "after_data", "before_marker", "before_fsync", "before_replace"]))
    def failed_save(self, point):
        old = self.target.read_bytes() if self.target.exists() else None
        was = self.s.save_state

        def hook(name):
            if name == point:
                raise OSError(errno.ENOSPC, "injected")

        atomic.set_fault_hook(hook)
        try:
            with pytest.raises(CommitError):
                self.s.save(self.target)
        finally:
            atomic.set_fault_hook(None)
        assert (self.target.read_bytes() if self.target.exists() else None) == old
        assert atomic.stale_temps(self.target) == []
        assert self.s.save_state is was

    @invariant()
    def agrees_with_model(self):
        leaves = {str(p).lstrip("/"): value_digest(leaf.value) for p, leaf in self.s._tree.walk_leaves()}
        assert leaves == self.model

    @invariant()
    def replay_equals_live(self):
        r = replay(self.s.journal, dataset_id="sm")
        assert r.content_digest() == self.s.content_digest()

    @invariant()
    def deferred_equals_immediate(self):
        assert self.twin.content_digest() == self.s.content_digest()
        assert txpipe.PipelineSession.load(self.dir / "twin.h5").content_digest() == self.s.content_digest()

    @invariant()
    def saved_file_equals_state(self):
        if self.s.save_state is txpipe.SaveState.SAVED:
            assert txpipe.PipelineSession.load(self.s.hdf5_path).content_digest() == self.s.content_digest()

    def teardown(self):
        self.s.discard()
        self.twin.discard()
        shutil.rmtree(self.dir, ignore_errors=True)


SessionVsModel.TestCase.settings = settings(max_examples=30, stateful_step_count=20, deadline=None)
TestSessionVsModel = SessionVsModel.TestCase
