"""
Hand-made pipeline states for the STA and feature tests (no MCS files, no earlier steps).

:func:`state_from_truth` lays out what steps 1–3 would produce for a synthetic recording
(SPEC §6): frame timestamps and rate, spike times per unit, section times of every movie (with
the lab's pre/post margins) and sectioned trials from the movie's stimulus config.
:func:`state_from_dict` builds a :class:`~txpipe.core.tree.StateView` from ``{path: value}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from txpipe import Changes
from txpipe.core.changes import apply
from txpipe.core.tree import StateView, Tree

PRE, POST = 60, 120


def state_from_dict(values: dict[str, Any], attrs: dict[str, dict[str, Any]] | None = None) -> StateView:
    """A StateView holding *values* at their paths and *attrs* on the named nodes."""
    ch = Changes()
    for p, v in values.items():
        ch.put(p, v)
    for p, a in (attrs or {}).items():
        ch.set_attrs(p, **a)
    tree = Tree()
    apply(tree, ch)
    return StateView(tree)


def state_values_from_truth(truth, movies: list[str] | None = None) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Paths and attrs of a state after load_recording, add_section_time, section_spike_times."""
    ft = np.asarray(truth.frame_onsets, np.int64)
    vals: dict[str, Any] = {
        "/metadata/frame_timestamps": ft.astype(np.uint64),
        "/metadata/acquisition_rate": float(truth.fs_hz),
    }
    attrs: dict[str, dict[str, Any]] = {}
    stim = Path(truth.paths["stimuli_dir"])
    movies = list(truth.movies) if movies is None else movies
    trials: dict[str, np.ndarray] = {}
    for m in movies:
        i = truth.movies.index(m)
        cs, L = truth.content_start_frames[i], truth.movie_lengths[i]
        vals[f"/stimulus/section_time/{m}"] = np.array([[ft[cs - PRE], ft[cs + L + POST + 1]]], np.int64)
        attrs[f"/stimulus/section_time/{m}"] = {"pre_margin_frame_num": PRE}
        sk = json.loads((stim / f"{m}.json").read_text())["section_kwargs"]
        n = np.arange(sk["repeat"])
        start = cs + sk["start_frame"] + n * sk["trial_length_frame"]
        trials[m] = np.column_stack([ft[start], ft[start + sk["trial_length_frame"]]]).astype(np.int64)
    for u in truth.units:
        uid = f"unit_{u.unit_num:03d}"
        sp = np.asarray(u.spike_samples, np.int64)
        vals[f"/units/{uid}/spike_times"] = sp.astype(np.uint64)
        for m, tse in trials.items():
            base = f"/units/{uid}/spike_times_sectioned/{m}"
            per = {k: sp[(sp >= s) & (sp < e)] for k, (s, e) in enumerate(tse)}
            vals[f"{base}/trials_start_end"] = tse
            vals[f"{base}/trials_spike_times"] = per
            vals[f"{base}/full_spike_times"] = np.unique(np.concatenate(list(per.values())))
    return vals, attrs


def state_from_truth(truth, movies: list[str] | None = None) -> StateView:
    """:func:`state_values_from_truth` as a StateView."""
    return state_from_dict(*state_values_from_truth(truth, movies))
