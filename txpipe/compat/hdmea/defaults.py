"""Where the lab's default equals txpipe's, the shim reads txpipe's: the step's own declaration."""

from __future__ import annotations

from typing import Any

from txpipe.core.step import get_step


def step_default(step_name: str, param: str) -> Any:
    """The declared default of parameter *param* of the registered txpipe step *step_name*.

    Raises:
        LookupError: no such step or parameter, or the parameter is required (a txpipe change the
            shim must follow; it fails at import, so the shim's tests catch it).
    """
    spec = get_step(step_name).params.specs.get(param)
    if spec is None or spec.required:
        raise LookupError(f"txpipe step {step_name!r} declares no default for {param!r}")
    return spec.default


__all__ = ["step_default"]
