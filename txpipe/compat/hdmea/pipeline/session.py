"""
The lab's deferred-save session, as a txpipe :class:`txpipe.PipelineSession`.

:func:`create_session` returns a :class:`PipelineSession` (a subclass of txpipe's) that runs the
same steps, journal and atomic commits, and also answers the lab's attributes:
``completed_steps``, ``warnings``, ``unit_count``, ``units`` (a read-only mapping of unit id to
the unit's data), ``memory_estimate_gb``, ``is_saved``/``is_deferred``, ``source_files`` and
``save(output_path=None, *, overwrite=False) -> Path``.
"""

from __future__ import annotations

import os
from types import MappingProxyType
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import structlog

import txpipe
from txpipe import SaveState
from txpipe.core.paths import METADATA, SOURCE_FILES, STIMULUS, UNITS
from txpipe.core.tree import GroupView, StateView
from txpipe.core.dataset_id import dataset_id_for

#: The lab's name of the combined load + electrical-image step, answered by ``completed_steps``
#: when both txpipe steps have run.
EIMAGE_LOAD = "load_recording_with_eimage_sta"

BYTES_PER_GB = 1024**3
MEMORY_WARNING_GB = 8.0
"""A session holding more than this after a load logs WARNING ``hdmea_memory`` (as the lab did)."""


class UnitView(GroupView):
    """One unit, read-only: its datasets and groups by name, and its scalar properties
    (``row``, ``col``, ``unit_num``, ``spike_count`` …, stored as attributes) by name too."""

    def __getitem__(self, key: str) -> Any:
        if key in self._view.keys(self.path):
            return super().__getitem__(key)
        attrs = self.attrs
        if key in attrs:
            return attrs[key]
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        names = self._view.keys(self.path)
        return iter(names + [a for a in self.attrs if a not in names])

    def __len__(self) -> int:
        return sum(1 for _ in self)


class UnitsView(Mapping):
    """Read-only mapping of unit id to :class:`UnitView`, in unit order (the lab's ``units``).

    Iterating gives the unit ids, so ``len(s.units)`` and ``for uid in s.units`` work as on a
    plain txpipe session.
    """

    def __init__(self, view: StateView) -> None:
        self._view = view

    def _ids(self) -> list[str]:
        return self._view.keys(UNITS) if self._view.is_group(UNITS) else []

    def __getitem__(self, unit_id: str) -> UnitView:
        if unit_id not in self._ids():
            raise KeyError(unit_id)
        return UnitView(self._view, UNITS / unit_id)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids())

    def __len__(self) -> int:
        return len(self._ids())

    def __repr__(self) -> str:
        return f"<units {self._ids()}>"


class PipelineSession(txpipe.PipelineSession):
    """
    A txpipe session that also answers the lab's session attributes (see the module docstring).

    Args:
        dataset_id: the recording's id (validated; trailing ``-`` stripped).
        output_dir: where :meth:`save` writes ``{dataset_id}.h5`` when given no path.
        memory_limit: as for :class:`txpipe.PipelineSession`.
        source_files: ``{"cmcr_path": ..., "cmtr_path": ...}`` remembered for a later
            ``load_recording(session=...)`` given no paths.
    """

    def __init__(
        self,
        dataset_id: str | None = None,
        *,
        output_dir: str | os.PathLike[str] = "artifacts",
        memory_limit: int | None = None,
        source_files: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(dataset_id, output_dir=output_dir, memory_limit=memory_limit)
        self._given_sources = {k: str(v) for k, v in (source_files or {}).items() if v}
        self._hdmea_warnings: list[str] = []  # what the shim reports outside any step

    @property
    def completed_steps(self) -> set[str]:
        """Names of the steps applied (journal order lost, as in the lab's set)."""
        names = {e.step for e in self.journal}
        if {"load_recording", "compute_eimage_sta"} <= names:
            names.add(EIMAGE_LOAD)
        return names

    @property
    def warnings(self) -> list[str]:
        """Warnings the applied steps recorded (journal notes), oldest first."""
        out: list[str] = []
        for e in self.journal:
            out.extend(str(w) for w in e.notes.get("warnings", ()))
            for s in e.notes.get("skipped", ()):
                where = s.get("position", s.get("onset_sample", ""))
                out.append(f"{e.step}: skipped {s.get('movie', '')} ({where}): {s.get('reason', '')}")
        return out + self._hdmea_warnings

    @property
    def unit_count(self) -> int:
        """Number of units."""
        return len(super().units)

    @property
    def units(self) -> UnitsView:  # type: ignore[override]
        """Read-only mapping of unit id to the unit's data (iterates the ids, as txpipe's list)."""
        return UnitsView(self.state)

    @property
    def metadata(self) -> Mapping[str, Any]:
        """Read-only view of ``/metadata`` (acquisition_rate, frame_timestamps, sys_meta …)."""
        return self._group(METADATA)

    @property
    def stimulus(self) -> Mapping[str, Any]:
        """Read-only view of ``/stimulus`` (light_reference, section_time, light_template)."""
        return self._group(STIMULUS)

    def _group(self, path: Any) -> Mapping[str, Any]:
        return self.state[path] if self.state.is_group(path) else MappingProxyType({})

    @property
    def memory_estimate_gb(self) -> float:
        """Memory held by the session, GiB: :attr:`nbytes` (all arrays, undo history included)."""
        return self.nbytes / BYTES_PER_GB

    @property
    def is_saved(self) -> bool:
        """The state is all in the session's file."""
        return self.save_state is SaveState.SAVED

    @property
    def is_deferred(self) -> bool:
        """Some state is only in memory."""
        return self.save_state is SaveState.DEFERRED

    @property
    def source_files(self) -> dict[str, Path]:
        """``{"cmcr_path", "cmtr_path"}`` of the loaded recording (else as given to create_session)."""
        attrs = self.state.attrs(SOURCE_FILES) if SOURCE_FILES in self.state else {}
        src = {k: attrs[k] for k in ("cmcr_path", "cmtr_path") if k in attrs} or self._given_sources
        return {k: Path(v) for k, v in src.items()}

    def save(  # type: ignore[override]
        self, output_path: str | os.PathLike[str] | None = None, *, overwrite: bool = False
    ) -> Path:
        """
        Commit the state atomically and bind the session to the file (the lab's signature).

        Default path: the session's own file once it has one, else ``output_dir/{dataset_id}.h5``.
        As in the lab, ``overwrite=False`` refuses to replace another existing file
        (FileExistsError); the session's own file is always updated.
        """
        return super().save(output_path, overwrite=overwrite)

    def ensure_saved(self, default_path: str | os.PathLike[str] | None = None, *, reason: str | None = None) -> Path:  # type: ignore[override]
        """
        The session's file, saving first if some state is only in memory (the lab's signature:
        *default_path* is where a never-saved session goes; default ``output_dir/{dataset_id}.h5``).
        A save made here is logged as WARNING ``implicit_save``.
        """
        if default_path is not None and self.hdf5_path is None and self.is_deferred:
            self._out_path = Path(default_path).absolute()
        return super().ensure_saved(reason or "ensure_saved() was called on a session with unsaved steps")


def warn_if_large(session: txpipe.PipelineSession) -> None:
    """Log WARNING ``hdmea_memory`` if *session* holds more than :data:`MEMORY_WARNING_GB` GiB.

    txpipe's own guard is ``PipelineSession(memory_limit=...)``, which refuses the step instead.
    """
    gb = session.nbytes / BYTES_PER_GB
    if gb > MEMORY_WARNING_GB:
        structlog.get_logger("txpipe").warning("hdmea_memory", dataset_id=session.dataset_id, memory_gb=round(gb, 3),
                                               threshold_gb=MEMORY_WARNING_GB)


def create_session(
    dataset_id: str | None = None,
    cmcr_path: str | os.PathLike[str] | None = None,
    cmtr_path: str | os.PathLike[str] | None = None,
    output_dir: str | os.PathLike[str] = "artifacts",
) -> PipelineSession:
    """
    A new, empty, DEFERRED session (nothing is read or written).

    *dataset_id* defaults to the CMTR file's stem (else the CMCR's) without trailing ``-``;
    given, it is validated and it names the saved file and ``/metadata/dataset_id``. The paths
    are remembered for ``load_recording(session=...)`` given none.

    Raises:
        ConfigurationError: an unusable dataset id.
    """
    if dataset_id is None and (cmtr_path or cmcr_path):
        dataset_id = dataset_id_for(cmtr_path or cmcr_path)  # type: ignore[arg-type]
    return PipelineSession(dataset_id, output_dir=output_dir,
                           source_files={"cmcr_path": cmcr_path, "cmtr_path": cmtr_path})


__all__ = ["PipelineSession", "SaveState", "UnitView", "UnitsView", "create_session", "warn_if_large"]
