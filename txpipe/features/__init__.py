"""
Feature extractors: a registry (:func:`extractor`) and the built-in extractors.

Built-ins (see ``docs/features.md``): ``frif`` (firing rate per display-frame interval),
``baseline_127`` (spontaneous activity over the baseline movie's trials) and ``step_response``
(ON/OFF responses over a step movie's trials). Results are written by the
``extract_features`` step under ``units/{id}/features/{name}/``.
"""

from txpipe.features.registry import (
    Extractor,
    Output,
    UnitInputs,
    extractor,
    get_extractor,
    list_extractors,
    unregister,
)

# built-in extractors register themselves on import
from txpipe.features import baseline as _baseline  # noqa: E402,F401
from txpipe.features import frif as _frif  # noqa: E402,F401
from txpipe.features import step_response as _step_response  # noqa: E402,F401

__all__ = [
    "Extractor",
    "Output",
    "UnitInputs",
    "extractor",
    "get_extractor",
    "list_extractors",
    "unregister",
]
