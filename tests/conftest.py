"""Shared pytest fixtures: every test starts and ends with txpipe's default logging."""

from __future__ import annotations

import warnings

import pytest

import txpipe
from txpipe import synth  # On a failing example Hypothesis' pytest plugin imports libcst (to write a failing-example
from txpipe.core import atomic
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


# --- synthetic recordings shared by the reader and generator tests ----------------------------

# Edge switches that still give a readable pair (the others are bad inputs, built per test).
READABLE_EDGES = ("zero_spike_unit", "only_excluded_unit", "spikes_at_bounds", "unit_gaps",
                  "no_frame_sync")


@pytest.fixture(scope="module")
def default_rec(tmp_path_factory: pytest.TempPathFactory) -> synth.GroundTruth:
    """The default synthetic recording (8 units, default protocol, seed 0)."""
    return synth.make_recording(tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="module")
def edge_rec(tmp_path_factory: pytest.TempPathFactory) -> synth.GroundTruth:
    """A readable recording with every non-fatal edge switch and 12 regular units."""
    return synth.make_recording(tmp_path_factory.mktemp("edge"), n_units=12, edge=READABLE_EDGES,
                                seed=3)


@pytest.fixture(scope="module")
def tiny_protocol() -> synth.Protocol:
    """A one-movie protocol (60 gray frames) for fast small files."""
    return synth.Protocol((synth.gray_movie("gray_60", 60),))
