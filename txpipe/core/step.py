"""
Steps: pure functions of (state, parameters) that return :class:`~txpipe.core.changes.Changes`.

``@txpipe.step("name", version="1")`` registers a function as a journaled step; a session
applies it with ``s.run(fn, **params)``. The registry maps names to steps so that a journal can
be replayed (:mod:`txpipe.core.replay`). Built-in steps are declared the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from txpipe.core.changes import Changes
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
    """

    name: str
    version: str
    fn: StepFn = field(repr=False)
    requires: tuple[str | tuple[str, ...], ...] = ()

    def __call__(self, state: Any, **params: Any) -> Changes:
        return self.fn(state, **params)

    @property
    def __doc__(self) -> str | None:  # type: ignore[override]
        return self.fn.__doc__

    @property
    def qualname(self) -> str:
        return f"{self.fn.__module__}:{self.fn.__qualname__}"


_REGISTRY: dict[str, Step] = {}


def step(
    name: str, *, version: str = "1", requires: tuple[str | tuple[str, ...], ...] = ()
) -> Callable[[StepFn], Step]:
    """
    Declare a journaled step.

    Example::

        @txpipe.step("scale_spikes", version="1")
        def scale_spikes(state, *, factor: float) -> txpipe.Changes:
            ch = txpipe.Changes()
            ...
            return ch

        session.run(scale_spikes, factor=2.0)

    Raises:
        ConfigurationError: another function already registered *name*.
    """

    def deco(fn: StepFn) -> Step:
        s = Step(name, str(version), fn, tuple(requires))
        old = _REGISTRY.get(name)
        if old is not None and old.qualname != s.qualname:
            raise ConfigurationError(f"step {name!r} is already registered by {old.qualname}; pick another name")
        _REGISTRY[name] = s
        return s

    return deco


def get_step(name: str) -> Step:
    """The registered step called *name* (built-in steps are always registered)."""
    import txpipe.steps  # noqa: F401  (registers the built-in steps)

    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise UnknownStepError(f"no step named {name!r} is registered (known: {known}); import its module first") from None


def registered_steps() -> dict[str, Step]:
    """A copy of the registry."""
    return dict(_REGISTRY)
