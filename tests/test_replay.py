"""Tests for txpipe.core.replay: replaying a file's journal reproduces it; differences are reported."""

from __future__ import annotations

import h5py

import txpipe
from toysteps import toy_attrs, toy_delete, toy_put
from txpipe.errors import UnknownStepError
from txpipe.core.journal import JournalEntry
from txpipe.core.replay import replay, verify


def _file(tmp_path):
    s = txpipe.PipelineSession("ds")
    s.run(toy_put, path="g0/a", seed=1, kind="nested").run(toy_put, path="g0/b", seed=2)
    s.run(toy_attrs, path="g0", seed=3).run(toy_delete, path="g0/a").run(toy_put, path="g1/a", seed=4, kind="ragged")
    return s, s.save(tmp_path / "x.h5")


class TestVerify:
    """verify() says IDENTICAL for an untouched file and names the nodes that differ otherwise."""

    def test_identical(self, tmp_path):
        """Replaying the journal gives the same digests node by node."""
        s, f = _file(tmp_path)
        rep = verify(f)
        assert rep.identical and rep.n_steps == 5 and rep.summary().startswith("IDENTICAL")
        assert replay(s.journal, dataset_id="ds").content_digest() == s.content_digest()

    def test_tampered(self, tmp_path):
        """A value edited outside txpipe is reported as differing."""
        _, f = _file(tmp_path)
        with h5py.File(f, "a") as h:
            h["g0/b"][...] = 0 if h["g0/b"].size else h["g0/b"][...]
            h["g1"].attrs["extra"] = 1
        rep = verify(f)
        assert not rep.identical and any(d.startswith("/g1: content differs") for d in rep.differences)

    def test_unknown_step(self):
        """A journal naming an unregistered step fails with UnknownStepError naming it."""
        e = JournalEntry(1, "no_such_step", "1", {}, (), "0", "t", 0.0, ())
        try:
            replay([e])
        except UnknownStepError as exc:
            assert "no_such_step" in str(exc)
        else:
            raise AssertionError("replay of an unknown step must fail")


class TestDocsExample:
    """The runnable example in docs/concepts.md runs and its assertions hold."""

    def test_concepts_example(self):
        """Execute the example's code block."""
        import re
        from pathlib import Path

        src = (Path(__file__).parents[1] / "docs" / "concepts.md").read_text()
        code = re.search(r"```python\n(.*?)```", src, re.S).group(1)
        exec(compile(code, "docs/concepts.md", "exec"), {})
