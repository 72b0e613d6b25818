"""
txpipe: transactional processing of MCS CMOS-MEA retina recordings into one HDF5 file each.

Public API: :func:`pipeline_session`, :class:`PipelineSession`, :class:`SaveState`,
the step decorator :func:`step` with :class:`Changes`, and the classic path-based step functions.
"""

from txpipe.version import __version__
from txpipe import errors
from txpipe.core.changes import Changes
from txpipe.log import configure_default_logging, configure_logging, reset_logging

configure_default_logging()  # warnings and errors only, unless the program configured structlog
from txpipe.core.session import PipelineSession, SaveState, pipeline_session
from txpipe.core.step import Step, step
from txpipe import steps  # the built-in steps register themselves
from txpipe.steps.load_recording import LoadResult, load_recording
from txpipe.steps.compute_eimage_sta import EImageResult, compute_eimage_sta, load_recording_with_eimage_sta
from txpipe.steps.add_section_time import SectionTimeResult, add_section_time
from txpipe.steps.add_section_time_analog import add_section_time_analog
from txpipe.steps.section_spike_times import SectionResult, section_spike_times
from txpipe import features
from txpipe.steps.compute_sta import compute_sta
from txpipe.steps.extract_features import extract_features
from txpipe.report import report  # the function; use "from txpipe.report import ..." for the module
from txpipe import export, read  # optional packages (pynwb, spikeinterface, pandas, xarray) load on use

__all__ = [
    "Changes",
    "EImageResult",
    "LoadResult",
    "PipelineSession",
    "SaveState",
    "SectionResult",
    "SectionTimeResult",
    "Step",
    "__version__",
    "add_section_time",
    "add_section_time_analog",
    "compute_eimage_sta",
    "compute_sta",
    "configure_logging",
    "errors",
    "export",
    "extract_features",
    "features",
    "load_recording",
    "load_recording_with_eimage_sta",
    "pipeline_session",
    "read",
    "report",
    "reset_logging",
    "section_spike_times",
    "step",
]
