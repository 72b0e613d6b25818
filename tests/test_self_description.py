"""The store describes datasets for generic HDF5 readers: CF ``units`` beside txpipe's ``unit``
and dimension labels on the layout's multi-axis datasets, without changing the loaded state."""

from __future__ import annotations

import h5py
import numpy as np

from txpipe.core import changes, store
from txpipe.core.changes import Changes
from txpipe.core.fingerprint import tree_digests
from txpipe.core.journal import Journal
from txpipe.core.paths import dimension_labels
from txpipe.core.tree import Tree

STA = "units/unit_001/features/sta_noise/sta"
TRIALS = "units/unit_001/spike_times_sectioned/step/trials_start_end"
SECTION = "stimulus/section_time/step"


def _tree() -> Tree:
    t = Tree()
    ch = Changes()
    ch.put(STA, np.zeros((store.LAZY_MIN_BYTES // 4, 2, 2), np.float32), movie="noise")  # large: lazy on load
    ch.put(TRIALS, np.array([[0, 10], [10, 20]], np.int64), unit="sample_index")
    ch.put(SECTION, np.array([[0, 30]], np.int64), unit="sample_index")
    ch.put("units/unit_001/spike_times", np.arange(5, dtype=np.uint64), unit="sample_index")
    ch.put("units/unit_001/firing_rate_10hz", np.ones(3, np.float32), unit="spikes/s")
    ch.put("units/unit_001/waveform", np.ones(3, np.float32), unit="cutout_mean")
    ch.put("metadata/x", np.ones(3), unit="s", units="seconds since start")  # the user's own 'units'
    ch.put("metadata/y", np.ones(3), unit="s", units="s")  # the user's own, equal to the CF spelling
    ch.put("metadata/z", np.ones(3), DIMENSION_LABELS="mine")  # a user attribute of that name
    ch.put("other/matrix", np.ones((2, 2)))
    changes.apply(t, ch)
    return t


def _labels(ds: h5py.Dataset) -> list[str]:
    return [d.label for d in ds.dims]


def test_units_and_dimension_labels_are_written(tmp_path):
    f = tmp_path / "a.h5"
    store.write_file(_tree(), Journal(), f, kind="save", dataset_id="d")
    with h5py.File(f, "r") as h:
        assert _labels(h[STA]) == ["lag", "stim_row", "stim_col"]
        assert _labels(h[TRIALS]) == ["trial", "bound"]
        assert _labels(h[SECTION]) == ["occurrence", "bound"]
        assert _labels(h["other/matrix"]) == ["", ""]  # not a layout dataset: no guess
        assert h[TRIALS].attrs["units"] == "1" and h[TRIALS].attrs["unit"] == "sample_index"
        assert h["units/unit_001/firing_rate_10hz"].attrs["units"] == "s-1"
        assert "units" not in h["units/unit_001/waveform"].attrs  # no CF spelling known: none invented
        assert h["metadata/x"].attrs["units"] == "seconds since start"  # the user's attribute wins


def test_state_round_trips_and_recommit_keeps_labels(tmp_path):
    t = _tree()
    f1, f2 = tmp_path / "1.h5", tmp_path / "2.h5"
    store.write_file(t, Journal(), f1, kind="save", dataset_id="d")
    o1 = store.open_file(f1)
    try:
        assert tree_digests(o1.tree) == tree_digests(t)
        assert "units" not in o1.tree.node(TRIALS).attrs
        assert o1.tree.node("metadata/x").attrs["units"] == "seconds since start"
        assert o1.tree.node("metadata/y").attrs["units"] == "s"
        assert o1.tree.node("metadata/z").attrs["DIMENSION_LABELS"] == "mine"
        store.write_file(o1.tree, o1.journal, f2, kind="save", dataset_id="d")  # lazy STA copied
    finally:
        o1.source.close()
    with h5py.File(f2, "r") as h:
        assert _labels(h[STA]) == ["lag", "stim_row", "stim_col"]
        assert h[TRIALS].attrs["units"] == "1"
    o2 = store.open_file(f2)
    try:
        assert tree_digests(o2.tree) == tree_digests(t)
    finally:
        o2.source.close()


def test_dimension_label_rules():
    assert dimension_labels("/units/unit_007/features/sta_any_movie/sta") == ("lag", "stim_row", "stim_col")
    assert dimension_labels("/units/unit_007/features/frif/FRIF") is None
    assert dimension_labels("/units/unit_007/features/sta_x") is None
    assert dimension_labels("/stimulus/section_time/m") == ("occurrence", "bound")


def test_labels_only_when_the_rank_matches(tmp_path):
    t = Tree()
    changes.apply(t, Changes().put(SECTION, np.arange(4, dtype=np.int64)))  # 1-D: the rule names 2 axes
    f = tmp_path / "r.h5"
    store.write_file(t, Journal(), f, kind="save", dataset_id="d")
    with h5py.File(f, "r") as h:
        assert "DIMENSION_LABELS" not in h[SECTION].attrs
