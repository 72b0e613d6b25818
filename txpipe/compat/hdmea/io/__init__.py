"""The lab's ``hdmea.io``: section times and spike sectioning (txpipe steps 2 and 3)."""

from txpipe.compat.hdmea.io.section_time import add_section_time, add_section_time_analog
from txpipe.compat.hdmea.io.spike_sectioning import section_spike_times

__all__ = ["add_section_time", "add_section_time_analog", "section_spike_times"]
