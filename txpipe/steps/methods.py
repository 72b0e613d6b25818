"""
Session methods for the built-in steps (SPEC §2.2): ``s.load_recording(...)`` etc.

Each method applies the registered step through :meth:`PipelineSession.run` and returns the
session, so calls chain. The steps themselves live in this package, one module per step.
"""

from __future__ import annotations

from typing import Any


class StepMethods:
    """Mixin of :class:`~txpipe.session.PipelineSession`: one method per built-in step."""

    def run(self, fn: Any, /, **params: Any) -> Any:  # implemented by PipelineSession
        raise NotImplementedError
