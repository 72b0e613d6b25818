"""Shared pytest fixtures: every test starts and ends with txpipe's default logging."""

from __future__ import annotations

import warnings

import pytest

import txpipe
from txpipe import atomic

# On a failing example Hypothesis' pytest plugin imports libcst (to write a failing-example
# patch), whose import emits a DeprecationWarning from mypy_extensions; the suite's
# ``filterwarnings = error`` turns that into an INTERNALERROR that hides the real failure.
# Importing it once here, with that warning silenced, keeps failure reports readable.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import hypothesis.extra._patching  # noqa: F401
    except ImportError:  # libcst not installed: nothing to pre-import
        pass


@pytest.fixture(autouse=True)
def _reset_txpipe_globals():
    """Reset structlog configuration and the atomic fault hook around every test."""
    txpipe.reset_logging()
    atomic.set_fault_hook(None)
    yield
    atomic.set_fault_hook(None)
    txpipe.reset_logging()
