"""
Steps: pure functions of (state, parameters) that return :class:`~txpipe.core.changes.Changes`.

``@txpipe.step("name", version="1")`` registers a function as a journaled step; a session
applies it with ``s.run(fn, **params)``. The function's signature is the one declaration of the
step's parameters (:mod:`txpipe.core.params`): the session canonicalises every call against it
(defaults filled in, paths made absolute, values checked) before the step runs, so every entry
point journals the same parameters for the same call. The registry maps names to steps so that a
journal can be replayed (:mod:`txpipe.core.replay`). Built-in steps are declared the same way and
register themselves when :mod:`txpipe.steps` is imported (``import txpipe`` does that).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from txpipe.core.changes import Changes
from txpipe.core.params import ParamSet
from txpipe.errors import ConfigurationError, UnknownStepError

StepFn = Callable[..., Changes]


@dataclass(frozen=True)
class Step:
    """A registered step.

    Attributes:
        name: verb-first step name, used in the journal, logs and the CLI.
        version: bumped whenever the step's results change for the same inputs.
        fn: ``fn(state, **params) -> Changes``.
        requires: names of steps that must have run before; an inner tuple means "any of".
        method: also offered as a session method ``s.<name>(...)`` (positional parameters as
            declared).
        preflight: ``preflight(canonical_params)`` checks what can be checked without the state
            (input files exist, names are known) and raises a clear error; runners call it for
            every planned step before the first one runs (:meth:`check`).
        params: the declared parameters (from *fn*'s signature).
    """

    name: str
    version: str
    fn: StepFn = field(repr=False)
    requires: tuple[str | tuple[str, ...], ...] = ()
    method: bool = False
    preflight: Callable[[dict[str, Any]], None] | None = field(default=None, repr=False, compare=False)
    params: ParamSet = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", ParamSet(f"{self.name}", self.fn, skip=1))

    def __call__(self, state: Any, **params: Any) -> Changes:
        return self.fn(state, **self.canonical_params(params))

    @property
    def __doc__(self) -> str | None:  # type: ignore[override]
        return self.fn.__doc__

    @property
    def qualname(self) -> str:
        return f"{self.fn.__module__}:{self.fn.__qualname__}"

    def canonical_params(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """What a session journals for a call with *given*: see :meth:`ParamSet.canonical`."""
        return self.params.canonical(given)

    def bind(self, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The parameters of a call ``f(*args, **kwargs)`` by name (not yet canonical)."""
        return self.params.bind(args, kwargs or {})

    def check(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Canonicalise *given* and run the step's preflight checks; returns the canonical
        parameters. Nothing is read from or written to a session."""
        params = self.canonical_params(given)
        if self.preflight is not None:
            self.preflight(params)
        return params

    @property
    def signature(self) -> inspect.Signature:
        """The call signature without the state (for session methods and classic functions)."""
        return self.params.signature


_REGISTRY: dict[str, Step] = {}


def step(
    name: str,
    *,
    version: str = "1",
    requires: tuple[str | tuple[str, ...], ...] = (),
    method: bool = False,
    preflight: Callable[[dict[str, Any]], None] | None = None,
) -> Callable[[StepFn], Step]:
    """
    Declare a journaled step.

    Example::

        @txpipe.step("scale_spikes", version="1")
        def scale_spikes(state, *, factor: float = 1.0) -> txpipe.Changes:
            ch = txpipe.Changes()
            ...
            return ch

        session.run(scale_spikes, factor=2.0)

    With ``method=True`` the step is also a session method: ``session.scale_spikes(factor=2.0)``.
    *preflight* (``f(params)``) checks input files and names before a run starts (see
    :attr:`Step.preflight`).

    Raises:
        ConfigurationError: another function already registered *name*.
    """

    def deco(fn: StepFn) -> Step:
        s = Step(name, str(version), fn, tuple(requires), method, preflight)
        old = _REGISTRY.get(name)
        if old is not None and old.qualname != s.qualname:
            raise ConfigurationError(f"step {name!r} is already registered by {old.qualname}; pick another name")
        _REGISTRY[name] = s
        return s

    return deco


def get_step(name: str) -> Step:
    """The registered step called *name* (``import txpipe`` registers the built-in steps)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise UnknownStepError(f"no step named {name!r} is registered (known: {known}); import its module first") from None


def session_method(name: str) -> Step | None:
    """The registered step offered as session method *name*, or None."""
    st = _REGISTRY.get(name)
    return st if st is not None and st.method else None


def registered_steps() -> dict[str, Step]:
    """A copy of the registry."""
    return dict(_REGISTRY)
