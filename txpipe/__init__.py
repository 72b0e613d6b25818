"""
txpipe: transactional processing of MCS CMOS-MEA retina recordings into one HDF5 file each.

Public API (SPEC §2): :func:`pipeline_session`, :class:`PipelineSession`, :class:`SaveState`,
the step decorator :func:`step` with :class:`Changes`, and the classic path-based step functions.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("txpipe")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

from txpipe import errors
from txpipe.changes import Changes
from txpipe.log import configure_logging, reset_logging
from txpipe.session import PipelineSession, SaveState, pipeline_session
from txpipe.step import Step, step

__all__ = [
    "Changes",
    "PipelineSession",
    "SaveState",
    "Step",
    "__version__",
    "configure_logging",
    "errors",
    "pipeline_session",
    "reset_logging",
    "step",
]
