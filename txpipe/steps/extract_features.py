"""
Step 5, ``extract_features``: run registered feature extractors on every unit.

Results go to ``units/{id}/features/{name}/{key}`` (one leaf per declared output, with a ``unit``
attribute), and the group ``units/{id}/features/{name}`` carries ``extractor_version``,
``params`` (canonical JSON of the extractor's full parameter set) and ``inputs_digest`` (a digest
of the input values the result was computed from).

Caching: a unit's feature is recomputed unless its group already
holds the same ``extractor_version``, ``params`` *and* ``inputs_digest``; ``force=True``
recomputes everything. A step either applies all its results or none (the session applies its
changes atomically), so a half-written feature never counts as cached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from txpipe.core.changes import Changes
from txpipe.errors import ConfigurationError, ParameterError, StepError, TxpipeError
from txpipe.features import get_extractor
from txpipe.features.registry import Extractor, resolve_inputs
from txpipe.core.fingerprint import value_digest
from txpipe.core.paths import UNITS
from txpipe.core.params import Param
from txpipe.core.session import PipelineSession
from txpipe.core.step import step
from txpipe.steps.classic import classic
from txpipe.core.tree import StateView

DEFAULT_FEATURES = ("frif", "baseline_127", "step_response")
"""Applied when ``features`` is not given, each only if its inputs are in the state."""


def _unit_ids(state: StateView) -> list[str]:
    return state.keys(UNITS) if state.is_group(UNITS) else []


def _inputs_available(ex: Extractor, state: StateView, units: list[str], params: Mapping[str, Any]) -> bool:
    for p in ex.input_paths(params):
        if p.startswith("/"):
            if p not in state:
                return False
        elif not all(f"/units/{u}/{p}" in state for u in units):
            return False
    return True


def requested_features(
    features: Sequence[str] | None, params: Mapping[str, Any] | None
) -> list[tuple[Extractor, dict[str, Any]]]:
    """
    The extractors a call asks for, with their canonical parameters (before any state-dependent
    default such as the step movie is filled in).

    Raises:
        ConfigurationError: an unknown or repeated feature name. ParameterError: bad *params*.
    """
    if features is not None and (isinstance(features, str) or not all(isinstance(f, str) for f in features)):
        raise ParameterError(f"extract_features: features must be a list of names, got {features!r}")
    params = dict(params or {})
    if not all(isinstance(v, Mapping) for v in params.values()):
        raise ParameterError("extract_features: params must map a feature name to a dict of its parameters")
    names = list(DEFAULT_FEATURES if features is None else features)
    if len(set(names)) != len(names):
        raise ConfigurationError(f"extract_features: feature names repeat in {names}")
    stray = sorted(set(params) - set(names))
    if stray:
        raise ParameterError(f"extract_features: params given for feature(s) {stray} that are not run ({names})")
    return [(get_extractor(n), get_extractor(n).canonical_params(params.get(n))) for n in names]


def _resolve_features(
    state: StateView, features: Sequence[str] | None, params: Mapping[str, Any] | None, units: list[str]
) -> list[tuple[Extractor, dict[str, Any]]]:
    chosen = []
    for ex, canon in requested_features(features, params):
        if ex.resolve is not None:
            try:
                canon = ex.resolve(state, canon)
            except ConfigurationError:
                if features is None:  # a default feature whose movie is not there: skipped
                    continue
                raise
        if features is None and not _inputs_available(ex, state, units, canon):
            continue
        chosen.append((ex, canon))
    return chosen


def _preflight(params: dict[str, Any]) -> None:
    """Every feature name is registered and its parameters are valid."""
    requested_features(params["features"], params["params"])


def _check_features(v: Any) -> None:
    if v is not None and not (isinstance(v, list) and all(isinstance(f, str) for f in v)):
        raise ParameterError(f"extract_features: features must be a list of names, got {v!r}")


@step("extract_features", version="1", requires=("load_recording",), method=True, preflight=_preflight)
def extract_features_step(
    state: StateView,
    features: list[str] | None = Param(None, help="feature extractors to run, in order (default: the standard set)",
                                       normalize=lambda v: list(v) if isinstance(v, tuple) else v, check=_check_features),
    *,
    params: dict[str, dict[str, Any]] | None = Param(None, help="per-feature parameters, {name: {param: value}}"),
    force: bool = Param(False, help="recompute even where an identical cached result exists"),
) -> Changes:
    """
    Run feature extractors on every unit.

    Args:
        features: extractor names, in order; None: :data:`DEFAULT_FEATURES` whose inputs exist.
        params: per-feature parameters, ``{"baseline_127": {"bin_s": 2.0}}``.
        force: recompute even where an identical cached result exists.

    Raises:
        ConfigurationError: an unknown feature name (the message lists the registered ones).
        ParameterError: an unknown parameter of a feature.
        MissingPrerequisiteError: a named feature's input is missing for some unit (the message
            names the unit, the path and the step that produces it).
        StepError: an extractor failed on a unit (the cause is kept) or broke its output schema.
    """
    units = _unit_ids(state)
    chosen = _resolve_features(state, features, params, units)
    ch = Changes()
    computed: dict[str, int] = {}
    cached: dict[str, int] = {}
    for ex, canon in chosen:
        text = ex.params_text(canon)
        global_cache: dict[str, Any] = {}
        global_digests: dict[str, str] = {}
        n_new = n_cached = 0
        for uid in state.progress(units, what=ex.name, unit="unit"):
            inputs = resolve_inputs(ex, state, uid, canon, global_cache)
            parts = []
            for k in inputs:
                if k.startswith("/"):
                    if k not in global_digests:
                        global_digests[k] = value_digest(inputs[k])
                    parts.append((k, global_digests[k]))
                else:
                    parts.append((k, value_digest(inputs[k])))
            digest = value_digest(parts)
            gpath = UNITS / uid / "features" / ex.name
            if not force and state.is_group(gpath):
                a = state.attrs(gpath)
                if a.get("extractor_version") == ex.version and a.get("params") == text and a.get("inputs_digest") == digest:
                    n_cached += 1
                    continue
            try:
                raw = ex.fn(inputs, **canon)
            except TxpipeError:
                raise
            except Exception as exc:
                raise StepError(f"feature {ex.name!r} v{ex.version} failed on {uid}: {type(exc).__name__}: {exc}") from exc
            out = ex.coerce_outputs(uid, raw)
            ch.delete(gpath, missing_ok=True)
            for key, value in out.items():
                unit = ex.outputs[key].unit
                if unit:
                    ch.put(gpath / key, value, unit=unit)
                else:
                    ch.put(gpath / key, value)
            ch.set_attrs(gpath, extractor_version=ex.version, params=text, inputs_digest=digest)
            n_new += 1
        computed[ex.name] = n_new
        cached[ex.name] = n_cached
    ch.note(features=[ex.name for ex, _ in chosen], computed=computed, cached=cached, n_units=len(units))
    return ch


@dataclass
class ExtractionResult:
    """What a classic ``extract_features(path, ...)`` call did (SPEC §2.3)."""

    hdf5_path: Path | None
    features_extracted: list[str]
    n_computed: dict[str, int] = field(default_factory=dict)
    n_cached: dict[str, int] = field(default_factory=dict)
    elapsed_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


@classic(extract_features_step)
def extract_features(s: PipelineSession, params: dict[str, Any], seconds: float) -> ExtractionResult:
    """
    Classic, path-based ``extract_features``; takes the step's parameters (see
    :func:`extract_features_step` for them and the errors).

    ``extract_features(path, ["frif"])`` reads *path*, runs the step and commits the file
    atomically, returning an :class:`ExtractionResult`. With ``session=s`` (or
    ``defer_save=True``) the step runs on that (a DEFERRED) session and the session is returned.
    A DEFERRED session given as *hdf5_path* is first saved (WARNING ``implicit_save``).
    """
    notes = s.journal[-1].notes
    return ExtractionResult(
        s.hdf5_path,
        list(notes.get("features", [])),
        dict(notes.get("computed", {})),
        dict(notes.get("cached", {})),
        seconds,
    )
