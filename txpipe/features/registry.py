"""
The feature-extractor registry.

An extractor is a function of one unit's inputs that returns named outputs. It is declared with
:func:`extractor`, which records its name, version, the state paths it reads and its output
schema::

    import numpy as np
    import txpipe

    @txpipe.features.extractor(
        "spike_count_simple", version="1",
        inputs=("spike_times",),                        # relative: per unit (units/{id}/spike_times)
        outputs={"n_spikes": ("int", "spikes")},
    )
    def spike_count_simple(unit):
        return {"n_spikes": int(unit["spike_times"].size)}

Input paths without a leading ``/`` are read under ``/units/{unit_id}/``; absolute ones
(``/metadata/frame_timestamps``) are global and read once. Paths may name a parameter in braces
(``spike_times_sectioned/{movie}/trials_start_end``), filled from the extractor's parameters.
The extractor's keyword-only arguments are its parameters; their defaults make the canonical
parameter set stored with every result (``params`` attribute, canonical JSON).

Outputs are checked against the schema: each key must be declared, arrays are cast to the
declared dtype (``"float32"``, ``"float64"``, ``"int64"`` …) and scalars become Python
``float``/``int``/``bool`` (dtype ``"float"``, ``"int"``, ``"bool"``).
"""

from __future__ import annotations

import inspect
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from txpipe.errors import ConfigurationError, MissingPrerequisiteError, ParameterError, StepError
from txpipe.core.journal import canonical_json, encode_param
from txpipe.core.params import REQUIRED, Param, ParamSet
from txpipe.core.paths import ACQUISITION_RATE, producer_of
from txpipe.core.tree import StateView

SCALAR_DTYPES = {"float": float, "int": int, "bool": bool}

@dataclass(frozen=True)
class Output:
    """One declared output: dtype (numpy name, or ``float``/``int``/``bool`` for scalars), unit, text."""

    dtype: str
    unit: str = ""
    description: str = ""


@dataclass(frozen=True)
class Extractor:
    """A registered extractor (see the module docstring)."""

    name: str
    version: str
    fn: Callable[..., Mapping[str, Any]] = field(repr=False)
    inputs: tuple[str, ...]
    outputs: Mapping[str, Output]
    description: str = ""
    resolve: Callable[[StateView, dict[str, Any]], dict[str, Any]] | None = field(default=None, repr=False)
    """Fills parameters whose default depends on the state (e.g. which movie), before inputs are read."""
    params: ParamSet = field(init=False, repr=False, compare=False)
    """The declared parameters: keyword-only, with defaults (the same mechanism as steps')."""

    @property
    def qualname(self) -> str:
        return f"{self.fn.__module__}:{self.fn.__qualname__}"

    # --- parameters -----------------------------------------------------------------------
    def __post_init__(self) -> None:
        object.__setattr__(self, "params", ParamSet(f"feature {self.name!r}", self.fn, skip=1))

    @property
    def defaults(self) -> dict[str, Any]:
        return self.params.defaults

    def canonical_params(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults merged with *given*, normalised, checked and JSON-ready
        (:meth:`txpipe.core.params.ParamSet.canonical`).

        Raises:
            ParameterError: an unknown parameter name, or a value the journal cannot record.
        """
        return self.params.canonical(given)

    def params_text(self, params: Mapping[str, Any]) -> str:
        """Canonical JSON of canonical *params* (what the ``params`` attribute holds)."""
        return canonical_json({k: encode_param(v, k) for k, v in params.items()})

    def input_paths(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        """Declared inputs with ``{param}`` placeholders filled from *params*."""
        out = []
        for p in self.inputs:
            names = [f[1] for f in string.Formatter().parse(p) if f[1]]
            missing = [n for n in names if n not in params]
            if missing:
                raise ConfigurationError(f"feature {self.name!r}: input {p!r} names unknown parameter(s) {missing}")
            out.append(p.format(**{n: params[n] for n in names}))
        return tuple(out)

    # --- outputs ------------------------------------------------------------------------
    def coerce_outputs(self, unit_id: str, result: Mapping[str, Any]) -> dict[str, Any]:
        """Check *result* against the schema and cast it (see the module docstring)."""
        if not isinstance(result, Mapping):
            raise StepError(f"feature {self.name!r} on {unit_id}: returned {type(result).__name__}, not a dict")
        extra = sorted(set(result) - set(self.outputs))
        missing = sorted(set(self.outputs) - set(result))
        if extra or missing:
            raise StepError(
                f"feature {self.name!r} on {unit_id}: outputs do not match the declared schema "
                f"(undeclared: {extra}, missing: {missing})"
            )
        out: dict[str, Any] = {}
        for key, spec in self.outputs.items():
            v = result[key]
            if spec.dtype in SCALAR_DTYPES:
                if np.ndim(v) != 0:
                    raise StepError(f"feature {self.name!r} on {unit_id}: output {key!r} must be a scalar {spec.dtype}, got shape {np.shape(v)}")
                out[key] = SCALAR_DTYPES[spec.dtype](np.asarray(v).item())
            else:
                arr = np.asarray(v)
                if arr.dtype != np.dtype(spec.dtype):
                    if arr.dtype.kind in "fc" and np.dtype(spec.dtype).kind in "iub":
                        raise StepError(f"feature {self.name!r} on {unit_id}: output {key!r} is {arr.dtype}, declared {spec.dtype}")
                    arr = arr.astype(spec.dtype)
                out[key] = arr
        return out


_REGISTRY: dict[str, Extractor] = {}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def extractor(
    name: str,
    *,
    version: str,
    inputs: tuple[str, ...] | list[str] = (),
    outputs: Mapping[str, Output | tuple[str, ...] | str],
    description: str = "",
    resolve: Callable[[StateView, dict[str, Any]], dict[str, Any]] | None = None,
) -> Callable[[Callable[..., Mapping[str, Any]]], Extractor]:
    """
    Register a feature extractor (decorator). See the module docstring for an example.

    Args:
        name: the feature name; results go to ``units/{id}/features/{name}``. Names starting
            with ``sta_`` are reserved for :func:`txpipe.compute_sta`.
        version: bump it whenever results change for the same inputs (cached results of another
            version are recomputed).
        inputs: state paths read (relative: per unit; ``/absolute``: global).
        outputs: ``{key: Output(dtype, unit, description)}`` or ``(dtype, unit[, description])``.
        description: one line for listings.
        resolve: ``resolve(state, params) -> params`` fills parameters whose default depends on
            the state (e.g. ``movie=None``: the step movie); raises ConfigurationError when it
            cannot. The filled parameters are the ones stored with the results.

    The decorated function is called as ``fn(unit, **params)`` with a :class:`UnitInputs`.

    Raises:
        ConfigurationError: a bad or reserved name, a name already registered by another function,
            or parameters without defaults.
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigurationError(f"feature name {name!r}: use letters, digits, '_', '.', '-'")
    if name.startswith("sta_"):
        raise ConfigurationError(f"feature name {name!r}: the prefix 'sta_' is reserved for compute_sta results")
    outs: dict[str, Output] = {}
    for k, spec in outputs.items():
        o = spec if isinstance(spec, Output) else Output(spec) if isinstance(spec, str) else Output(*spec)
        if o.dtype not in SCALAR_DTYPES:
            try:
                np.dtype(o.dtype)
            except TypeError as exc:
                raise ConfigurationError(f"feature {name!r}: output {k!r} has unknown dtype {o.dtype!r}") from exc
        outs[k] = o

    def deco(fn: Callable[..., Mapping[str, Any]]) -> Extractor:
        sig = inspect.signature(fn)
        params = list(sig.parameters.values())
        if not params or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
            raise ConfigurationError(f"feature {name!r}: {fn.__qualname__} must take the unit inputs as first argument")
        for p in params[1:]:
            if p.kind is not p.KEYWORD_ONLY or p.default is p.empty or (isinstance(p.default, Param) and p.default.default is REQUIRED):
                raise ConfigurationError(
                    f"feature {name!r}: parameter {p.name!r} of {fn.__qualname__} must be keyword-only with a default"
                )
        ex = Extractor(name, str(version), fn, tuple(inputs), outs, description or (fn.__doc__ or "").strip().split("\n")[0], resolve)
        old = _REGISTRY.get(name)
        if old is not None and old.qualname != ex.qualname:
            raise ConfigurationError(f"feature {name!r} is already registered by {old.qualname}; pick another name")
        _REGISTRY[name] = ex
        return ex

    return deco


def get_extractor(name: str) -> Extractor:
    """The extractor registered as *name*.

    Raises:
        ConfigurationError: no such extractor (the message lists the registered names).
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigurationError(f"no feature extractor named {name!r} (registered: {', '.join(list_extractors()) or 'none'})") from None


def list_extractors() -> list[str]:
    """Registered extractor names, sorted."""
    return sorted(_REGISTRY)


def unregister(name: str) -> None:
    """Remove *name* from the registry (for tests and notebooks that redefine an extractor)."""
    _REGISTRY.pop(name, None)


# --- inputs ----------------------------------------------------------------------------------


class UnitInputs(Mapping):
    """What an extractor sees: its declared inputs for one unit, by declared (filled) path.

    ``unit["spike_times"]``, ``unit["/metadata/frame_timestamps"]``; plus :attr:`unit_id`,
    :attr:`fs_hz` (from ``/metadata/acquisition_rate``) and :attr:`params`.
    """

    def __init__(self, unit_id: str, values: Mapping[str, Any], params: Mapping[str, Any], state: StateView) -> None:
        self.unit_id = unit_id
        self._values = dict(values)
        self.params = dict(params)
        self._state = state

    def __getitem__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise KeyError(f"{key!r} is not a declared input (declared: {list(self._values)})") from None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    @property
    def fs_hz(self) -> float:
        """Acquisition rate in Hz (declare ``/metadata/acquisition_rate`` as an input to use it)."""
        key = str(ACQUISITION_RATE)
        if key not in self._values:
            raise KeyError(f"declare {key!r} as an input to use fs_hz")
        fs = float(np.asarray(self._values[key]).reshape(-1)[0])
        if not fs > 0:
            raise StepError(f"{key}: acquisition rate must be > 0 Hz, got {fs}")
        return fs


def resolve_inputs(
    ex: Extractor, state: StateView, unit_id: str, params: Mapping[str, Any], global_cache: dict[str, Any]
) -> UnitInputs:
    """
    Read *ex*'s declared inputs for *unit_id*.

    Raises:
        MissingPrerequisiteError: an input is not in the state; the message names the unit, the
            path and the step that produces it.
    """
    values: dict[str, Any] = {}
    for p in ex.input_paths(params):
        full = p if p.startswith("/") else f"/units/{unit_id}/{p}"
        if p.startswith("/") and p in global_cache:
            values[p] = global_cache[p]
            continue
        if full not in state:
            producer = producer_of(full)
            msg = (
                f"feature {ex.name!r} on {unit_id}: input {full} is missing; "
                f"it is produced by step {producer!r} (run it first, with this movie/parameters)"
            )
            raise MissingPrerequisiteError(msg, step="extract_features", missing=producer)
        v = state[full]
        if p.startswith("/"):
            global_cache[p] = v
        values[p] = v
    return UnitInputs(unit_id, values, params, state)


__all__ = [
    "Extractor",
    "Output",
    "UnitInputs",
    "extractor",
    "get_extractor",
    "list_extractors",
    "producer_of",
    "resolve_inputs",
    "unregister",
]
