"""Where the lab's default equals txpipe's, the shim reads txpipe's (one owner per default)."""

from __future__ import annotations

import inspect
from typing import Any, Callable


def txpipe_default(fn: Callable[..., Any], name: str) -> Any:
    """The default of keyword *name* in txpipe function *fn*'s signature.

    Raises:
        LookupError: *fn* has no such parameter, or it has no default (a txpipe change the shim
            must follow; caught by the shim's tests at import).
    """
    p = inspect.signature(fn).parameters.get(name)
    if p is None or p.default is inspect.Parameter.empty:
        raise LookupError(f"{fn.__module__}.{fn.__qualname__} has no default for {name!r}")
    return p.default


__all__ = ["txpipe_default"]
