"""
The lab's ``hdmea.pipeline`` functions: ``load_recording``, ``load_recording_with_eimage_sta``,
``extract_features``, with the lab's keyword names, defaults and result types, each a thin
mapping onto the txpipe step of the same job.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Sequence

import structlog

import txpipe
from txpipe.compat.hdmea.defaults import step_default
from txpipe.compat.hdmea.ignored import note_ignored
from txpipe.compat.hdmea.pipeline.session import warn_if_large
from txpipe.compat.hdmea.results import ExtractionResult, LoadResult, LoadWithEImageSTAResult
from txpipe.errors import ConfigurationError, ParameterError
from txpipe.features import get_extractor, list_extractors
from txpipe.steps.extract_features import DEFAULT_FEATURES

log = structlog.get_logger("txpipe")

PathLike = str | os.PathLike[str]


def _check_session(function: str, session: Any) -> txpipe.PipelineSession:
    if not isinstance(session, txpipe.PipelineSession):
        raise TypeError(f"{function}: session= must be a session from create_session(), got {type(session).__name__}")
    return session


def _pair(function: str, cmcr_path: PathLike | None, cmtr_path: PathLike | None, session: Any = None) -> tuple[str, str]:
    """Both input paths: as given, else the session's ``source_files`` (from ``create_session``
    or an earlier load)."""
    remembered = getattr(session, "source_files", {}) if session is not None else {}
    cmcr = cmcr_path if cmcr_path is not None else remembered.get("cmcr_path")
    cmtr = cmtr_path if cmtr_path is not None else remembered.get("cmtr_path")
    if cmcr is None or cmtr is None:
        missing = [n for n, v in (("cmcr_path", cmcr), ("cmtr_path", cmtr)) if v is None]
        raise ConfigurationError(f"{function}: txpipe needs both the .cmcr and the .cmtr file; {' and '.join(missing)} not given")
    return str(cmcr), str(cmtr)


def load_recording(
    cmcr_path: PathLike | None = None,
    cmtr_path: PathLike | None = None,
    dataset_id: str | None = None,
    *,
    output_dir: PathLike = "artifacts",
    force: bool = False,
    allow_overwrite: bool = False,
    config: dict[str, Any] | None = None,
    session: Any = None,
) -> LoadResult | Any:
    """
    Load a ``.cmcr`` + ``.cmtr`` pair (txpipe's ``load_recording``).

    Without *session*: writes ``output_dir/{dataset_id}.h5`` atomically and returns a
    :class:`LoadResult`; an existing file made from the same inputs and parameters is reused
    (a note in ``warnings``), another one needs ``force=True`` or ``allow_overwrite=True``.
    With *session*: loads into it and returns it (``output_dir``, ``force``,
    ``allow_overwrite``, ``config`` unused). ``config`` has no effect (the lab used it only in
    its cache key; txpipe's cache compares the actual inputs and parameters).

    Raises:
        ConfigurationError: a path missing or a bad dataset id. McsFileError and subclasses:
        unusable input files. FileExistsError: the target exists and was made differently.
    """
    note_ignored("load_recording", "config", config, None, "txpipe's cache compares the inputs and parameters themselves")
    if session is not None:
        s = _check_session("load_recording", session)
        cmcr, cmtr = _pair("load_recording", cmcr_path, cmtr_path, s)
        txpipe.load_recording(cmcr, cmtr, dataset_id if dataset_id is not None else s.dataset_id, session=s)
        warn_if_large(s)
        return s
    cmcr, cmtr = _pair("load_recording", cmcr_path, cmtr_path)
    r = txpipe.load_recording(cmcr, cmtr, dataset_id, output_dir=output_dir, force=force or allow_overwrite)
    return LoadResult(Path(r.hdf5_path), r.dataset_id, r.num_units, True, list(r.warnings))


def load_recording_with_eimage_sta(
    cmcr_path: PathLike,
    cmtr_path: PathLike,
    dataset_id: str | None = None,
    *,
    output_dir: PathLike = "artifacts",
    force: bool = False,
    duration_s: float = step_default("compute_eimage_sta", "duration_s"),
    spike_limit: int = step_default("compute_eimage_sta", "spike_limit"),
    unit_ids: Sequence[Any] | None = step_default("compute_eimage_sta", "unit_ids"),
    window_range: tuple[int, int] = step_default("compute_eimage_sta", "window_range"),
    cutoff_hz: float = step_default("compute_eimage_sta", "cutoff_hz"),
    filter_order: int = step_default("compute_eimage_sta", "filter_order"),
    skip_highpass: bool = step_default("compute_eimage_sta", "skip_highpass"),
    chunk_duration_s: float = step_default("compute_eimage_sta", "chunk_duration_s"),
    load_unit_meta: bool = True,
    load_sys_meta: bool = True,
    session: Any = None,
) -> LoadWithEImageSTAResult | Any:
    """
    ``load_recording`` followed by txpipe's electrical-image step ``compute_eimage_sta``.

    The electrical-image parameters keep the lab's names and units: ``duration_s`` (s of
    recording analysed from its start), ``spike_limit`` (spikes per unit), ``unit_ids``
    (None: every unit; unit ids such as ``"unit_007"`` or CMTR unit numbers such as ``7`` or
    ``"7"``), ``window_range`` (samples before/after
    the spike), ``cutoff_hz`` and ``filter_order`` (Butterworth high-pass), ``skip_highpass``,
    ``chunk_duration_s`` (s of sensor data in memory at once; the result does not depend on it).
    ``load_unit_meta`` and ``load_sys_meta`` have no effect: txpipe always stores the CMTR unit
    table and both files' attributes.

    Without *session*: writes ``output_dir/{dataset_id}.h5`` atomically and returns a
    :class:`LoadWithEImageSTAResult`. With *session*: runs both steps on it and returns it.
    """
    fn = "load_recording_with_eimage_sta"
    note_ignored(fn, "load_unit_meta", load_unit_meta, True, "txpipe always stores the CMTR unit table")
    note_ignored(fn, "load_sys_meta", load_sys_meta, True, "txpipe always stores both files' attributes")
    eimage = dict(duration_s=duration_s, spike_limit=spike_limit, unit_ids=unit_ids, window_range=window_range,
                  cutoff_hz=cutoff_hz, filter_order=filter_order, skip_highpass=skip_highpass,
                  chunk_duration_s=chunk_duration_s)
    t0 = time.perf_counter()
    if session is not None:
        s = _check_session(fn, session)
        cmcr, cmtr = _pair(fn, cmcr_path, cmtr_path, s)
        did = dataset_id if dataset_id is not None else s.dataset_id
        txpipe.load_recording_with_eimage_sta(cmcr, cmtr, did, session=s, **eimage)
        warn_if_large(s)
        return s
    cmcr, cmtr = _pair(fn, cmcr_path, cmtr_path)
    r = txpipe.load_recording_with_eimage_sta(cmcr, cmtr, dataset_id, output_dir=output_dir, force=force, **eimage)
    with txpipe.PipelineSession.load(r.hdf5_path) as done:  # lazy: only the journal and small values are read
        image = [e for e in done.journal if e.step == "compute_eimage_sta"][-1]
        did, n_units = str(done.dataset_id), len(done.units)
    return LoadWithEImageSTAResult(Path(r.hdf5_path), did, n_units, r.units_processed - r.units_without_spikes, True,
                                   round(time.perf_counter() - t0, 6), float(image.notes["compute_seconds"]),
                                   list(r.warnings))


def _split_overrides(features: list[str], config_overrides: dict[str, Any] | None) -> dict[str, dict[str, Any]] | None:
    """The lab's one ``config_overrides`` dict as txpipe's per-feature ``params``: each feature
    gets the keys it declares.

    Raises:
        ParameterError: a key that none of *features* declares (a typo would otherwise be lost).
    """
    if not config_overrides:
        return None
    params: dict[str, dict[str, Any]] = {}
    used: set[str] = set()
    for name in features:
        known = get_extractor(name).defaults
        mine = {k: v for k, v in config_overrides.items() if k in known}
        used |= set(mine)
        if mine:
            params[name] = mine
    unused = sorted(set(config_overrides) - used)
    if unused:
        raise ParameterError(f"extract_features: config_overrides key(s) {unused} are parameters of none of {features}")
    return params


def extract_features(
    hdf5_path: Any = None,
    features: Sequence[str] | None = None,
    *,
    force: bool = False,
    config_overrides: dict[str, Any] | None = None,
    session: Any = None,
) -> ExtractionResult | Any:
    """
    Run feature extractors on every unit (txpipe's ``extract_features``).

    *features*: extractor names (None: txpipe's default features whose inputs exist). A name
    txpipe does not know is reported in ``features_failed`` (and logged) and the others run.
    ``config_overrides``: one dict for every feature, as in the lab; each feature receives the
    keys it declares, and a key no feature declares is a ParameterError. ``force=True``
    recomputes results that are cached (same extractor version, parameters and inputs).

    Without *session*: reads and rewrites *hdf5_path* atomically and returns an
    :class:`ExtractionResult`. With *session*: runs on it and returns it.
    """
    failed: list[str] = []
    names: list[str] | None = None
    if features is not None:
        if isinstance(features, str):
            features = [features]
        known = set(list_extractors())
        failed = [f for f in features if f not in known]
        names = [f for f in features if f in known]
        for f in failed:
            log.warning("hdmea_unknown_feature", feature=f, registered=sorted(known))
    params = _split_overrides(names if names is not None else list(DEFAULT_FEATURES), config_overrides)
    if names is not None and not names:
        # nothing txpipe can run: report like the lab, without touching the file or session
        msg = [f"no feature extractor named {f!r} (registered: {', '.join(sorted(list_extractors()))})" for f in failed]
        if session is not None:
            s = _check_session("extract_features", session)
            getattr(s, "_hdmea_warnings", []).extend(msg)
            return s
        return ExtractionResult(None if hdf5_path is None else Path(str(getattr(hdf5_path, "hdf5_path", hdf5_path))), [], [], failed, msg)
    r = txpipe.extract_features(hdf5_path, names, params=params, force=force, session=session)
    if session is not None:
        getattr(r, "_hdmea_warnings", []).extend(f"no feature extractor named {f!r}" for f in failed)
        return r
    computed = [f for f in r.features_extracted if r.n_computed.get(f, 0) > 0 or r.n_cached.get(f, 0) == 0]
    skipped = [f for f in r.features_extracted if f not in computed]
    warnings = list(r.warnings) + [f"no feature extractor named {f!r}" for f in failed]
    return ExtractionResult(r.hdf5_path, computed, skipped, failed, warnings)


__all__ = ["extract_features", "load_recording", "load_recording_with_eimage_sta"]
