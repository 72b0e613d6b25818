"""
Parameter declarations: the one place a step's (or a feature extractor's) parameters live.

A step declares its parameters in its function signature. A plain default is just a default; a
:class:`Param` default adds the unit, a help line, a normaliser (paths made absolute, pairs made
tuples of numbers) and a check that runs before any work::

    @txpipe.step("scale_spikes", version="1")
    def scale_spikes(
        state,
        factor: float = Param(1.0, unit="1", help="multiply spike counts by this", check=check_factor),
        *,
        out_dir: str | None = Param(None, help="where to write", normalize=as_path),
    ) -> txpipe.Changes: ...

From the signature, :class:`ParamSet` derives everything else: the canonical parameters a session
journals (every parameter, defaults filled in, normalised, checked), positional binding for the
session method and the classic function, their signatures, and the CLI defaults and help.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from txpipe.core.journal import encode_param
from txpipe.errors import ConfigurationError, ParameterError


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""The default of a parameter that must be given."""


@dataclass(frozen=True)
class Param:
    """
    A declared parameter default with its metadata.

    Attributes:
        default: the value used when the caller gives none (:data:`REQUIRED`: must be given).
        unit: unit of the value (``"s"``, ``"frames"``, ``"ADC counts"``); shown in help texts.
        help: one line for the CLI and docs.
        normalize: ``f(value) -> value`` applied to every given value (not to a None default)
            before the check, e.g. :func:`as_path`.
        check: ``f(value)`` raising :class:`~txpipe.errors.ParameterError` (or ConfigurationError)
            for a bad value; runs before the step does any work.
    """

    default: Any = REQUIRED
    unit: str = ""
    help: str = ""
    normalize: Callable[[Any], Any] | None = None
    check: Callable[[Any], None] | None = None


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a :class:`ParamSet`: name, kind and its :class:`Param` metadata."""

    name: str
    positional: bool
    param: Param

    @property
    def default(self) -> Any:
        return self.param.default

    @property
    def required(self) -> bool:
        return self.param.default is REQUIRED


class ParamSet:
    """
    The declared parameters of one step or extractor, read from its function's signature.

    Args:
        owner: how error messages name the owner (``"step 'compute_sta'"``).
        fn: the function; its first *skip* parameters (the state, the unit inputs) are not
            parameters.
    """

    def __init__(self, owner: str, fn: Callable[..., Any], *, skip: int = 1) -> None:
        self.owner = owner
        sig = inspect.signature(fn)
        specs = []
        for p in list(sig.parameters.values())[skip:]:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise ParameterError(f"{owner}: *args/**kwargs are not declared parameters ({fn.__qualname__})")
            d = p.default
            meta = d if isinstance(d, Param) else Param(REQUIRED if d is p.empty else d)
            specs.append(ParamSpec(p.name, p.kind is not p.KEYWORD_ONLY, meta))
        self.specs: dict[str, ParamSpec] = {s.name: s for s in specs}
        self._sig = sig.replace(
            parameters=[
                p.replace(default=p.empty if self.specs[p.name].required else self.specs[p.name].default)
                for p in list(sig.parameters.values())[skip:]
            ],
            return_annotation=inspect.Signature.empty,
        )

    def __getitem__(self, name: str) -> ParamSpec:
        return self.specs[name]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.specs.values())

    @property
    def defaults(self) -> dict[str, Any]:
        """Defaults of the optional parameters."""
        return {n: s.default for n, s in self.specs.items() if not s.required}

    @property
    def signature(self) -> inspect.Signature:
        """The parameters as a call signature (Param defaults replaced by their values)."""
        return self._sig

    def bind(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The given arguments of a call by name (positional ones mapped by the declaration).

        Raises:
            ParameterError: too many positional arguments, or one given twice.
        """
        pos = [s.name for s in self.specs.values() if s.positional]
        if len(args) > len(pos):
            raise ParameterError(f"{self.owner}: takes at most {len(pos)} positional parameter(s) ({', '.join(pos)}), got {len(args)}")
        out = dict(zip(pos, args))
        twice = sorted(set(out) & set(kwargs))
        if twice:
            raise ParameterError(f"{self.owner}: parameter(s) {twice} given both by position and by name")
        out.update(kwargs)
        return out

    def canonical(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """
        Every declared parameter, sorted by name: the given value (normalised) or the default,
        checked and recordable in a journal. The same call through any entry point gives the same
        result.

        Raises:
            ParameterError: an unknown parameter, a value its check rejects, or one the journal
                cannot record (a check may raise ConfigurationError instead).
            ConfigurationError: a required parameter is missing.
        """
        given = dict(given or {})
        unknown = sorted(set(given) - set(self.specs))
        if unknown:
            known = ", ".join(sorted(self.specs)) or "none"
            raise ParameterError(f"{self.owner}: unknown parameter(s) {unknown} (known: {known})")
        missing = sorted(n for n, s in self.specs.items() if s.required and n not in given)
        if missing:
            raise ConfigurationError(f"{self.owner}: required parameter(s) {missing} not given")
        out: dict[str, Any] = {}
        for name in sorted(self.specs):
            spec = self.specs[name]
            v = given[name] if name in given else spec.default
            if spec.param.normalize is not None and v is not None:
                v = spec.param.normalize(v)
            if spec.param.check is not None:
                spec.param.check(v)
            encode_param(v, name)  # ParameterError for values a journal cannot hold
            out[name] = v
        return out

    def help(self, name: str) -> str:
        """The help line of *name* with its unit and default, for CLIs and docs."""
        s = self.specs[name]
        text = s.param.help or name
        if s.param.unit:
            text += f" [{s.param.unit}]"
        if not s.required:
            d = s.default
            shown = " ".join(str(x) for x in d) if isinstance(d, tuple) else str(d)
            text += f" (default: {shown})"
        return text


# --- normalisers and checks -----------------------------------------------------------------------


def as_path(value: Any) -> str:
    """A path as an absolute string (``~`` expanded), so journals do not depend on the working directory."""
    if not isinstance(value, (str, os.PathLike)):
        raise ParameterError(f"expected a path, got {type(value).__name__} {value!r}")
    return os.path.abspath(os.path.expanduser(os.fspath(value)))


def as_tuple(kind: type, n: int | None = None) -> Callable[[Any], Any]:
    """A normaliser: a list or tuple becomes a tuple with each number converted to *kind*
    (``float`` or ``int``); other values pass through for the check to reject."""

    def norm(value: Any) -> Any:
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            return value
        items = tuple(value)
        if n is not None and len(items) != n:
            return items
        out = []
        for x in items:
            if isinstance(x, bool) or not _is_number(x):
                return items
            if kind is int and float(x) != int(x):
                return items
            out.append(kind(x))
        return tuple(out)

    return norm


def as_number(kind: type) -> Callable[[Any], Any]:
    """A normaliser: a real number (numpy ones too, not bool) becomes *kind* (``float``/``int``;
    an int only when it is whole); anything else passes through for the check to reject."""

    def norm(value: Any) -> Any:
        if isinstance(value, bool) or not _is_number(value) or isinstance(value, (str, bytes)):
            return value
        if kind is int and float(value) != int(value):
            return value
        return kind(value)

    return norm


def as_names(value: Any) -> Any:
    """A name or sequence of names as a list of str (a lone str becomes a one-item list)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    return value


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) or hasattr(x, "__float__") and not isinstance(x, (str, bytes))


__all__ = ["REQUIRED", "Param", "ParamSet", "ParamSpec", "as_names", "as_number", "as_path", "as_tuple"]
