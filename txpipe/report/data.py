"""
What the report reads from a recording: :class:`ReportData` and the lookups built on it.

:class:`ReportData` wraps a session's state view and reads each value at most once (lazy arrays
included); the helpers here pick the step movie and the STA of a unit, build the per-unit table
(id, position, spike count, rate) and turn :func:`~txpipe.report.render_report`'s *source* into a
session and the path of its file. No HTML and no matplotlib here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from txpipe.errors import ConfigurationError, NodeNotFoundError
from txpipe.core.journal import decode_param
from txpipe.core.paths import NodePath
from txpipe.core.session import PipelineSession, SaveState
from txpipe.core.tree import StateView
from txpipe.mcs.movies import is_noise_movie, step_movie


class ReportData:
    """What the report reads from a state, each value read at most once (lazy arrays included)."""

    def __init__(self, session: PipelineSession) -> None:
        self.s = session
        self.view: StateView = session.state
        self.steps = {e.step for e in session.journal}
        self.units = list(session.units)
        self.fs = self.scalar("metadata/acquisition_rate")

    def has(self, path: str) -> bool:
        """True if *path* names a node, without reading array data."""
        p = NodePath.parse(path)
        try:
            return p.name in self.view.keys(p.parent)
        except NodeNotFoundError:
            return False

    def get(self, path: str) -> Any:
        return self.view[path] if self.has(path) else None

    def keys(self, path: str) -> list[str]:
        return self.view.keys(path) if self.has(path) else []

    def attrs(self, path: str) -> Mapping[str, Any]:
        return self.view.attrs(path) if self.has(path) else {}

    def scalar(self, path: str) -> float | None:
        v = self.get(path)
        return None if v is None else float(np.asarray(v))

    def ran(self, step: str) -> bool:
        return step in self.steps

    def duration_s(self) -> float | None:
        d = self.scalar("metadata/recording_duration_s")
        if d is None and self.fs:
            n = self.scalar("metadata/n_samples")
            d = None if n is None else n / self.fs
        return d

    def step_params(self, step: str) -> dict[str, Any]:
        """Decoded parameters of the newest journal entry of *step* ({} if it never ran)."""
        for e in reversed(self.s.journal):
            if e.step == step:
                return {k: decode_param(v) for k, v in e.params.items()}
        return {}


def _movie_of_steps(data: ReportData, uid: str | None) -> str | None:
    """The step movie: the one step_response used, else :func:`txpipe.mcs.movies.step_movie`."""
    if uid is None:
        return None
    params = data.attrs(f"units/{uid}/features/step_response").get("params")
    if isinstance(params, str):
        movie = json.loads(params).get("movie")
        if movie and data.has(f"units/{uid}/spike_times_sectioned/{movie}"):
            return str(movie)
    movies = data.keys(f"units/{uid}/spike_times_sectioned")
    named = step_movie(movies)
    if named is not None:
        return named
    others = [m for m in movies if not is_noise_movie(m)]  # any non-noise movie shows the raster
    return others[0] if others else None


def _sta_movie(data: ReportData, uid: str | None) -> str | None:
    if uid is None:
        return None
    stas = [k for k in data.keys(f"units/{uid}/features") if k.startswith("sta_")]
    return stas[0] if stas else None


def _unit_table(data: ReportData) -> list[dict[str, Any]]:
    """Per unit: id, row, col, spike count and rate (spikes/s), read from attributes."""
    dur = data.duration_s()
    out = []
    for uid in data.units:
        a = data.attrs(f"units/{uid}")
        n = a.get("spike_count")
        if n is None:
            st = data.get(f"units/{uid}/spike_times")
            n = 0 if st is None else np.asarray(st).size
        out.append({"id": uid, "row": a.get("row"), "col": a.get("col"), "n": int(n),
                    "rate": int(n) / dur if dur else float("nan")})
    return out


def _session_and_path(source: Any) -> tuple[PipelineSession, Path]:
    if isinstance(source, PipelineSession):
        if source.save_state is SaveState.DEFERRED:
            return source, source.ensure_saved(reason="report needs a file")
        return source, Path(source.hdf5_path)  # type: ignore[arg-type]
    if not isinstance(source, (str, os.PathLike)):
        msg = f"report: expected a txpipe file path or a PipelineSession, got {type(source).__name__}"
        raise ConfigurationError(msg)
    path = Path(source)
    return PipelineSession.load(path, defer=True), path.absolute()
