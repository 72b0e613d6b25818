"""
Every error txpipe raises on purpose.

This module is a leaf: it imports nothing from txpipe, so any module can import it without
cycles. Each class says *when* it is raised. Where a built-in exception fits, the class also
derives from it, so callers can catch either (``except FileNotFoundError`` still works).
"""

from __future__ import annotations


class TxpipeError(Exception):
    """Base class of every error txpipe raises on purpose."""


# --- state, values and steps -----------------------------------------------------------------


class UnsupportedValueError(TxpipeError, TypeError):
    """A step tried to put a value the state (and so the HDF5 codec) cannot hold losslessly.

    Raised when the step's changes are applied, never later at save time. ``path`` is the state
    path and ``value_type`` the offending Python type name.
    """

    def __init__(self, msg: str, *, path: str = "", value_type: str = "") -> None:
        super().__init__(msg)
        self.path = path
        self.value_type = value_type


class InvalidPathError(TxpipeError, ValueError):
    """A state path is malformed (empty component, reserved name, characters HDF5 forbids)."""


class NodeNotFoundError(TxpipeError, KeyError):
    """A state path names nothing in the session's state."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""


class MissingPrerequisiteError(TxpipeError, LookupError):
    """A step needs the output of another step that has not run in this session.

    ``step`` is the step that was called, ``missing`` the step (or state path) it needs.
    """

    def __init__(self, msg: str, *, step: str = "", missing: str = "") -> None:
        super().__init__(msg)
        self.step = step
        self.missing = missing


class StepError(TxpipeError):
    """A step could not do its job with the parameters and state it was given."""


class ParameterError(StepError, ValueError):
    """A step parameter is out of range or of the wrong type (the message names it)."""


class FrameSyncError(StepError):
    """The frame-sync channel gave no usable display-frame pulses (missing channel, flat trace,
    or no rising edge left after dropping the leading ones), or a step needs frame timestamps
    that the recording does not have."""


class RecordingTooShortError(StepError):
    """A movie section, trial or analog section reaches past the end of the recording (past
    its last display frame or last sample); nothing is clipped silently."""


class UnknownStepError(TxpipeError, LookupError):
    """A journal names a step that is not registered (replay needs its module imported)."""


class MemoryLimitError(TxpipeError, MemoryError):
    """Applying a step would push the session's held bytes over its ``memory_limit``."""


class UndoError(TxpipeError):
    """``undo(n)`` asked for more than can be undone (no steps, or entries loaded from a file
    that replaced or deleted values whose before-images were not kept)."""


class SessionBrokenError(TxpipeError):
    """A step's changes failed half-way and could not be rolled back; the session refuses
    further work. The original error is the ``__cause__``."""


class SessionClosedError(TxpipeError):
    """The session was closed (:meth:`~txpipe.PipelineSession.close` or ``discard()``); load its
    file again to continue."""


# --- files: store, commit, lock ----------------------------------------------------------------


class NotATxpipeFileError(TxpipeError, OSError):
    """A file is not a complete txpipe HDF5 file (not HDF5, wrong format, no completion marker)."""


class StaleFileError(TxpipeError, OSError):
    """The session's file changed on disk since the session last read or wrote it; writing
    would silently overwrite someone else's work."""


class LockedError(TxpipeError, OSError):
    """Another live writer holds the lock on the target file. ``holder`` describes it
    (``"pid 4121 on lab-ws3 since 2026-11-26T10:00:00Z"``)."""

    def __init__(self, msg: str, *, holder: str = "") -> None:
        super().__init__(msg)
        self.holder = holder


class CommitError(TxpipeError, OSError):
    """Writing the new version of a file failed (disk full, permission, I/O error). The old
    target is intact and the temporary file has been removed; ``__cause__`` is the OS error."""


class UnsafeTargetError(TxpipeError, FileExistsError):
    """A commit's target is a file txpipe must not replace: an input of the session (same path,
    symlink or hard link), or an existing file that is not a txpipe file (replaced only when
    forced: ``force_overwrite_foreign=True``, ``--force-overwrite-foreign``). Raised before
    anything is written. ``reason`` is ``"input"`` or ``"foreign"``."""

    def __init__(self, msg: str, *, reason: str = "") -> None:
        super().__init__(msg)
        self.reason = reason


# --- MCS input files ---------------------------------------------------------------------------


class McsFileError(TxpipeError, OSError):
    """An MCS input file (``.cmcr`` / ``.cmtr``) is unusable. ``path`` names the file."""

    def __init__(self, msg: str, *, path: str = "") -> None:
        super().__init__(msg)
        self.path = path


class McsFormatError(McsFileError):
    """An MCS file opened but its content is not what a CMOS-MEA recording must hold
    (not an MCS file, not CMOS-MEA, truncated, out-of-range SensorID, wrong attribute type)."""


class McsPairError(McsFileError):
    """A ``.cmcr`` and a ``.cmtr`` do not belong together (durations or link disagree)."""


class InputFileError(TxpipeError, OSError):
    """A non-MCS input (playlist CSV, movie-length CSV, stimulus JSON, movie ``.npy``) is
    missing or malformed. ``path`` names the file."""

    def __init__(self, msg: str, *, path: str = "") -> None:
        super().__init__(msg)
        self.path = path


class ConfigurationError(TxpipeError, ValueError):
    """Arguments that contradict each other or name things that do not exist (an unknown
    playlist, movie or feature; a bad dataset id)."""


class MissingExtraError(TxpipeError, ImportError):
    """An optional feature needs packages that are not installed. ``extra`` names the pip extra
    that installs them (``pip install -e '.[EXTRA]'`` in the txpipe clone)."""

    def __init__(self, msg: str, *, extra: str = "") -> None:
        super().__init__(msg)
        self.extra = extra


class ExportError(TxpipeError, ValueError):
    """A txpipe file cannot be exported as asked: metadata missing or malformed (e.g. no time
    zone for the session start), or the file lacks what the target format requires. ``path``
    names the file."""

    def __init__(self, msg: str, *, path: str = "") -> None:
        super().__init__(msg)
        self.path = path


__all__ = [
    "CommitError",
    "ConfigurationError",
    "ExportError",
    "FrameSyncError",
    "InputFileError",
    "InvalidPathError",
    "LockedError",
    "McsFileError",
    "McsFormatError",
    "McsPairError",
    "MemoryLimitError",
    "MissingExtraError",
    "MissingPrerequisiteError",
    "NodeNotFoundError",
    "NotATxpipeFileError",
    "ParameterError",
    "RecordingTooShortError",
    "SessionBrokenError",
    "SessionClosedError",
    "StaleFileError",
    "StepError",
    "TxpipeError",
    "UndoError",
    "UnknownStepError",
    "UnsafeTargetError",
    "UnsupportedValueError",
]
