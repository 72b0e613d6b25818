"""
Logging: the only place structlog is configured.

txpipe modules call ``structlog.get_logger()`` and emit events with stable snake_case names
(listed in ``docs/logging.md``). :func:`configure_logging` chooses readable console output
(default) or one JSON object per line, and the minimum level; :func:`reset_logging` restores
structlog's defaults (tests use it).

Importing txpipe shows warnings and errors only (:func:`configure_default_logging`), unless the
program configured structlog itself; call ``configure_logging(level="info")`` to see every step
and commit. The ``txpipe`` command sets its level from ``-v``/``-q`` (default: warnings).
"""

from __future__ import annotations

import logging
import sys

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
DEFAULT_LEVEL = "warning"
"""txpipe's log level until told otherwise: warnings and errors."""

_state = {"json": False, "level": DEFAULT_LEVEL}


def configure_logging(*, json: bool | None = None, level: str | None = None) -> None:
    """
    Configure txpipe's log output (to stderr).

    Args:
        json: True for one JSON object per line, False for a readable console format;
            None keeps the current choice.
        level: ``"debug"``, ``"info"``, ``"warning"`` or ``"error"``; None keeps the current one.
    """
    if json is not None:
        _state["json"] = json
    if level is not None:
        if level.lower() not in _LEVELS:
            raise ValueError(f"log level must be one of {sorted(_LEVELS)}, got {level!r}")
        _state["level"] = level.lower()
    processors = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if _state["json"]:
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer(sort_keys=True)]
    else:
        processors += [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[_state["level"]]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def configure_default_logging() -> None:
    """At import: console output at :data:`DEFAULT_LEVEL`, unless structlog is already
    configured (by the program using txpipe, whose choice is kept)."""
    if not structlog.is_configured():
        configure_logging()


def reset_logging() -> None:
    """Restore structlog's defaults (unconfigured: every event printed) and txpipe's settings
    (console, :data:`DEFAULT_LEVEL` for the next :func:`configure_logging`)."""
    _state.update(json=False, level=DEFAULT_LEVEL)
    structlog.reset_defaults()
