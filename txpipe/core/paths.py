"""
State paths: a small value type, parsed once at the boundary, plus the SPEC §6 well-known paths.

A path names a node of the in-memory state exactly as HDF5 names the object in the file:
``NodePath.parse("units/unit_001/spike_times")`` is ``/units/unit_001/spike_times``. Leading and
trailing slashes are ignored; empty components, ``.`` and ``..`` are rejected.
"""

from __future__ import annotations

import fnmatch

from typing import Union

from txpipe.errors import InvalidPathError

RESERVED_PREFIX = "txpipe_"


class NodePath(tuple):
    """An absolute state path; a tuple of non-empty name components. ``NodePath()`` is the root."""

    __slots__ = ()

    def __new__(cls, parts: tuple[str, ...] | list[str] = ()) -> "NodePath":
        for p in parts:
            _check_component(p, parts)
        return super().__new__(cls, tuple(parts))

    @classmethod
    def parse(cls, path: "PathLike") -> "NodePath":
        """Return *path* as a NodePath (a NodePath is returned unchanged)."""
        if isinstance(path, NodePath):
            return path
        if isinstance(path, tuple):
            return cls(tuple(str(p) for p in path))
        if not isinstance(path, str):
            msg = f"state path must be a str or NodePath, got {type(path).__name__}: {path!r}"
            raise InvalidPathError(msg)
        stripped = path.strip("/")
        if not stripped:
            return cls(())
        return cls(tuple(stripped.split("/")))

    def __truediv__(self, other: object) -> "NodePath":
        if isinstance(other, NodePath):
            return NodePath(tuple(self) + tuple(other))
        return NodePath(tuple(self) + tuple(NodePath.parse(str(other))))

    @property
    def parent(self) -> "NodePath":
        """The containing path (the root's parent is the root)."""
        return NodePath(tuple(self[:-1]))

    @property
    def name(self) -> str:
        """The last component ("" for the root)."""
        return self[-1] if self else ""

    def is_relative_to(self, other: "NodePath") -> bool:
        """True if *other* is this path or one of its ancestors."""
        return tuple(self[: len(other)]) == tuple(other)

    def __str__(self) -> str:
        return "/" + "/".join(self)

    def __repr__(self) -> str:
        return f"NodePath({str(self)!r})"


PathLike = Union[str, NodePath]


def _check_component(p: object, parts: object) -> None:
    if not isinstance(p, str):
        raise InvalidPathError(f"path component must be str, got {type(p).__name__} in {parts!r}")
    if p in ("", ".", ".."):
        raise InvalidPathError(f"invalid path component {p!r} in {parts!r}")
    if "/" in p or "\x00" in p:
        raise InvalidPathError(f"path component {p!r} contains '/' or NUL in {parts!r}")


# --- SPEC §6 well-known locations ----------------------------------------------------------------
ROOT = NodePath()
UNITS = NodePath(("units",))
STIMULUS = NodePath(("stimulus",))
LIGHT_REFERENCE = STIMULUS / "light_reference"
SECTION_TIME = STIMULUS / "section_time"
LIGHT_TEMPLATE = STIMULUS / "light_template"
METADATA = NodePath(("metadata",))
ACQUISITION_RATE = METADATA / "acquisition_rate"
SAMPLE_INTERVAL = METADATA / "sample_interval"
FRAME_TIMESTAMPS = METADATA / "frame_timestamps"
FRAME_TIME = METADATA / "frame_time"
DATASET_ID = METADATA / "dataset_id"
SYS_META = METADATA / "sys_meta"
SENSOR_CONVERSION = METADATA / "sensor_conversion"
ANALOG_CONVERSION = METADATA / "analog_conversion"
SOURCE_FILES = NodePath(("source_files",))
PIPELINE = NodePath(("pipeline",))
JOURNAL = PIPELINE / "journal"


def unit_path(unit_id: str) -> NodePath:
    """``/units/{unit_id}``."""
    return UNITS / unit_id


def unit_id_for(unit_num: int) -> str:
    """The unit id for CMTR unit number *unit_num*: ``unit_001`` … (at least 3 digits)."""
    return f"unit_{unit_num:03d}"


# --- self-description for generic HDF5 readers (CF units, HDF5 dimension labels) --------------------
DIMENSION_LABELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("/stimulus/section_time/*", ("occurrence", "bound")),
    ("/units/*/spike_times_sectioned/*/trials_start_end", ("trial", "bound")),
    ("/units/*/features/sta_*/sta", ("lag", "stim_row", "stim_col")),
    ("/units/*/features/eimage_sta/data", ("lag", "sensor_row", "sensor_col")),
)
"""Axis names of the multi-axis datasets of the layout (``*`` matches one path component)."""

CF_UNITS = {"s": "s", "ms": "ms", "Hz": "Hz", "spikes/s": "s-1", "1": "1", "sample_index": "1",
            "adc_counts": "1", "spikes": "1", "trials": "1"}
"""txpipe ``unit`` attribute → the CF (UDUNITS) spelling written beside it as ``units``; a unit
not listed here gets no ``units`` attribute (txpipe does not guess)."""

LABELLED_MIN_NDIM = min(len(labels) for _, labels in DIMENSION_LABELS)
"""Fewest axes a dataset with dimension labels has (datasets of fewer axes need no lookup)."""

_DIM_RULES = tuple(
    (tuple(pattern.strip("/").split("/")), labels) for pattern, labels in DIMENSION_LABELS
)


def dimension_labels(path: "PathLike") -> tuple[str, ...] | None:
    """The axis names the layout gives the dataset at *path* (None if it names none)."""
    parts = tuple(path.strip("/").split("/")) if isinstance(path, str) else tuple(path)
    for rule, labels in _DIM_RULES:
        if len(rule) == len(parts) and all(_match(r, p) for r, p in zip(rule, parts)):
            return labels
    return None


def _match(rule: str, part: str) -> bool:
    if rule == "*":
        return True
    if rule.endswith("*"):
        return part.startswith(rule[:-1])
    return rule == part


# Which step produces a state path (first matching glob wins): the one table error messages ask.
PRODUCERS: tuple[tuple[str, str], ...] = (
    ("/units/*/spike_times_sectioned*", "section_spike_times"),
    ("/units/*/features/sta_*", "compute_sta"),
    ("/units/*/features/eimage_sta*", "compute_eimage_sta"),
    ("/units/*/features*", "extract_features"),
    ("/units/*", "load_recording"),
    ("/stimulus/section_time*", "add_section_time"),
    ("/stimulus/light_template*", "add_section_time"),
    ("/stimulus*", "load_recording"),
    ("/metadata*", "load_recording"),
    ("/source_files*", "load_recording"),
)


def producer_of(path: PathLike) -> str:
    """The step that writes *path* (``"load_recording"`` …), or ``"unknown"``."""
    p = str(NodePath.parse(path))
    for pattern, step_name in PRODUCERS:
        if fnmatch.fnmatchcase(p, pattern):
            return step_name
    return "unknown"
