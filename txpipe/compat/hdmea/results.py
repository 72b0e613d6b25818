"""
The lab's result types, with the lab's attribute names (what the classic calls return).

Each is filled from txpipe's own result object or the step's journal entry; nothing is computed
here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class LoadResult:
    """``load_recording``: the file written, the dataset id, the unit count, warnings.

    ``stage1_completed`` is True whenever a result is returned (a failed load raises).
    """

    hdf5_path: Path
    dataset_id: str
    num_units: int
    stage1_completed: bool
    warnings: list[str] = field(default_factory=list)


@dataclass
class LoadWithEImageSTAResult:
    """``load_recording_with_eimage_sta``: as :class:`LoadResult`, plus the electrical image.

    ``units_with_sta``: units whose electrical image averaged at least one spike;
    ``elapsed_seconds``: the whole call, s; ``filter_time_seconds``: the part of it spent
    high-pass filtering and averaging the sensor stream (one pass; reading excluded), s.
    """

    hdf5_path: Path
    dataset_id: str
    num_units: int
    units_with_sta: int
    stage1_completed: bool
    elapsed_seconds: float
    filter_time_seconds: float
    warnings: list[str] = field(default_factory=list)


@dataclass
class SectionResult:
    """``section_spike_times``: units and movies processed, the padding in s and in samples.

    ``trial_repeats`` echoes the (ignored) argument; ``success`` is True whenever a result is
    returned (a failure raises).
    """

    success: bool
    units_processed: int
    movies_processed: list[str]
    trial_repeats: int
    pad_margin: tuple[float, float]
    pre_samples: int
    post_samples: int
    warnings: list[str] = field(default_factory=list)


@dataclass
class STAResult:
    """``compute_sta``: the noise movie, units processed, the window in display frames.

    A unit that cannot be computed makes the call raise, so ``units_failed`` is 0 and
    ``failed_units`` empty whenever a result is returned.
    """

    hdf5_path: Path | None
    movie_name: str
    units_processed: int
    units_failed: int
    cover_range: tuple[int, int]
    elapsed_seconds: float
    warnings: list[str] = field(default_factory=list)
    failed_units: list[str] = field(default_factory=list)


@dataclass
class ExtractionResult:
    """``extract_features``: features computed, skipped (every unit cached) and failed (unknown
    names; a feature that fails on a unit raises)."""

    hdf5_path: Path | None
    features_extracted: list[str]
    features_skipped: list[str]
    features_failed: list[str]
    warnings: list[str] = field(default_factory=list)


__all__ = ["ExtractionResult", "LoadResult", "LoadWithEImageSTAResult", "STAResult", "SectionResult"]
