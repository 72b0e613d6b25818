"""
The dataset id of a recording: the one rule, used by the session, the steps, the plan and batch.

Default: the ``.cmtr`` file's stem without trailing ``-`` (the lab names spike-sorter results
``{recording}-.cmtr``). An id must be a usable file name: no ``/ \\ : * ? " < > |``.
"""

from __future__ import annotations

import os
from pathlib import Path

from txpipe.errors import ConfigurationError

_INVALID_ID_CHARS = set('/\\:*?"<>|')


def validate_dataset_id(dataset_id: str) -> str:
    """Return *dataset_id* without surrounding spaces and trailing ``-``.

    Raises:
        ConfigurationError: not a str, empty after stripping, or holding a forbidden character.
    """
    if not isinstance(dataset_id, str):
        raise ConfigurationError(f"dataset_id must be a str, got {type(dataset_id).__name__}")
    did = dataset_id.strip().rstrip("-")
    if not did:
        raise ConfigurationError(f"dataset_id {dataset_id!r} is empty after stripping trailing '-'")
    bad = sorted(set(did) & _INVALID_ID_CHARS)
    if bad:
        raise ConfigurationError(f"dataset_id {did!r} contains forbidden characters {''.join(bad)!r}")
    return did


def check_dataset_id(dataset_id: str | None) -> None:
    """A parameter check: None (derive it) or a valid id."""
    if dataset_id is not None:
        validate_dataset_id(dataset_id)


def dataset_id_for(cmtr_path: str | os.PathLike[str], dataset_id: str | None = None) -> str:
    """The dataset id of a recording: *dataset_id* if given, else the ``.cmtr`` stem; validated.

    Raises:
        ConfigurationError: see :func:`validate_dataset_id`.
    """
    return validate_dataset_id(dataset_id if dataset_id is not None else Path(cmtr_path).stem)
