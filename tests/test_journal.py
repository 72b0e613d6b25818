"""Tests for txpipe.core.journal: canonical parameters, JSON text round-trip, undoable tails."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from txpipe.errors import ParameterError, UndoError
from txpipe.core.journal import Journal, JournalEntry, canonical_json, decode_param, encode_param

json_params = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda ch: st.lists(ch, max_size=3) | st.lists(ch, max_size=3).map(tuple) | st.dictionaries(st.text(), ch, max_size=3),
    max_leaves=8,
)


def _entry(seq: int, changed=(), inverse=()) -> JournalEntry:
    return JournalEntry(seq, "toy_put", "1", {"p": seq}, (), "0", "t", 0.1, tuple(changed), {}, inverse)


class TestParams:
    """Parameters are recorded as canonical JSON and decoded back to what the step received."""

    @settings(max_examples=100, deadline=None)
    @given(value=json_params)
    def test_roundtrip_through_json_text(self, value):
        """encode → canonical JSON text → decode gives back the value (tuples stay tuples, NaN too)."""
        back = decode_param(json.loads(canonical_json(encode_param(value))))
        assert canonical_json(encode_param(back)) == canonical_json(encode_param(value))
        assert type(back) is type(value)

    def test_paths_and_numpy_scalars(self):
        """Paths become str and numpy scalars their Python value."""
        assert encode_param(Path("/a/b")) == "/a/b"
        assert encode_param(np.int32(3)) == 3 and type(encode_param(np.float32(0.5))) is float
        assert math.isinf(decode_param(encode_param(float("-inf"))))

    @pytest.mark.parametrize("bad", [{1: 2}, {"a": object()}, np.arange(3), b"x", {1, 2}])
    def test_unrecordable(self, bad):
        """Values that cannot be recorded raise ParameterError naming the parameter."""
        with pytest.raises(ParameterError, match="parameter sel"):
            encode_param(bad, "sel")

    def test_canonical_json_sorts_keys(self):
        """Equal data gives equal text whatever the key order."""
        assert canonical_json({"b": 1, "a": [1, 2]}) == canonical_json({"a": [1, 2], "b": 1}) == '{"a":[1,2],"b":1}'


class TestJournal:
    """The journal stores as plain JSON and knows which loaded entries can be undone."""

    def test_text_roundtrip(self):
        """to_text/from_text keep every recorded field; the text is plain JSON."""
        j = Journal([_entry(1, [{"path": "/a", "op": "added", "digest": "d"}]), _entry(2)])
        text = j.to_text()
        assert json.loads(text)["format"] == "txpipe-journal/1"
        back = Journal.from_text(text)
        assert back.entries == j.entries and back.next_seq() == 3

    def test_not_a_journal(self):
        """Text of another format is refused."""
        with pytest.raises(ValueError, match="not a txpipe journal"):
            Journal.from_text('{"format": "x"}')

    def test_loaded_additions_are_undoable_replacements_not(self):
        """A loaded entry that only added is undoable; one that replaced raises UndoError naming it."""
        add = _entry(1, [{"path": "/g", "op": "group_added", "digest": None}, {"path": "/g/a", "op": "added", "digest": "d"}])
        rep = _entry(2, [{"path": "/g/a", "op": "replaced", "digest": "e"}])
        j = Journal.from_text(Journal([add, rep]).to_text())
        with pytest.raises(UndoError, match="#2 'toy_put'"):
            j.pop_undoable(1)
        assert len(j) == 2  # nothing removed by the refused undo
        j2 = Journal.from_text(Journal([add]).to_text())
        assert [e.seq for e in j2.pop_undoable(1)] == [1]

    def test_pop_bounds(self):
        """Undoing more than the journal holds, or a negative count, raises UndoError."""
        j = Journal([_entry(1)])
        with pytest.raises(UndoError, match="only 1"):
            j.pop_undoable(2)
        with pytest.raises(UndoError):
            j.pop_undoable(-1)
        assert j.pop_undoable(0) == [] and len(j) == 1
