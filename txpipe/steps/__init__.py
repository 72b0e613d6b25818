"""Built-in pipeline steps, registered in pipeline order when this package is imported."""

from txpipe.steps import load_recording as _load_recording  # noqa: E402,F401  (step 1)
from txpipe.steps import compute_eimage_sta as _compute_eimage_sta  # noqa: E402,F401  (step 1b)
from txpipe.steps import add_section_time as _add_section_time  # noqa: E402,F401  (step 2)
from txpipe.steps import add_section_time_analog as _add_section_time_analog  # noqa: E402,F401  (step 2b)
from txpipe.steps import section_spike_times as _section_spike_times  # noqa: E402,F401  (step 3)
from txpipe.steps import compute_sta as _compute_sta  # noqa: E402,F401  (step 4)
from txpipe.steps import extract_features as _extract_features  # noqa: E402,F401  (step 5)
