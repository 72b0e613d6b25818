"""Lab arguments that txpipe accepts but does not need: one place that says so, in the log."""

from __future__ import annotations

from typing import Any

import structlog

log = structlog.get_logger("txpipe")


def note_ignored(function: str, argument: str, value: Any, lab_default: Any, why: str) -> None:
    """Log INFO ``hdmea_argument_ignored`` when *value* differs from the lab's default.

    At its default the argument is accepted silently: it asks for nothing txpipe does not do.
    """
    if value is lab_default or value == lab_default:
        return
    log.info("hdmea_argument_ignored", function=function, argument=argument, value=repr(value), reason=why)
