"""Import an optional dependency, or raise :class:`~txpipe.errors.MissingExtraError` naming the
pip extra that installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

from txpipe.errors import MissingExtraError


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """``importlib.import_module(module)``; if it is missing, a MissingExtraError saying that
    *purpose* needs it and ``pip install -e '.[EXTRA]'`` in the txpipe clone installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(f"{purpose} needs {module.split('.')[0]}, which is not installed "
                                f"({exc}): pip install -e '.[{extra}]' in the txpipe clone", extra=extra) from exc


__all__ = ["require"]
