"""
The lab's ``hdmea.pipeline``: loading, feature extraction and the deferred-save session.

``add_section_time`` is re-exported here as in the lab.
"""

from txpipe.compat.hdmea.io.section_time import add_section_time
from txpipe.compat.hdmea.pipeline.runner import extract_features, load_recording, load_recording_with_eimage_sta
from txpipe.compat.hdmea.pipeline.session import PipelineSession, SaveState, create_session
from txpipe.compat.hdmea.results import ExtractionResult, LoadResult, LoadWithEImageSTAResult

__all__ = [
    "ExtractionResult",
    "LoadResult",
    "LoadWithEImageSTAResult",
    "PipelineSession",
    "SaveState",
    "add_section_time",
    "create_session",
    "extract_features",
    "load_recording",
    "load_recording_with_eimage_sta",
]
