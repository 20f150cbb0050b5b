"""A user's helper module, imported through ``workflow.unsafe.imports_passed_through()``: Temporal's
sandbox restricts ``time.time()`` in workflow code, not in passed-through modules."""

from __future__ import annotations

import time
from datetime import datetime


def seconds_behind(moment: datetime) -> float:
    """How far the wall clock is past ``moment``."""
    return time.time() - moment.timestamp()


def starve(seconds: float) -> None:
    """Hold the workflow thread as a CPU-starved machine does (a blocking wait, no decision made)."""
    time.sleep(seconds)
