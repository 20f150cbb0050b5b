"""Launching DBOS while its system database may be unreachable (a ``restart`` fault ``during: launch``).

Measured on dbos 3.4: ``DBOS.launch()`` does not wait for the database. Its first step (the system
database's migrations) opens a connection, and a refused one raises ``sqlalchemy.exc.OperationalError``
within a tenth of a second; nothing is recovered in that process. ``DBOS.destroy()`` and a new ``DBOS(...)``
then launch again in the same process (registered workflows stay registered), which is what a process
supervisor restarting the application amounts to. ``dbos: {launch_timeout}`` says how long the worker keeps
doing that: 0 is an application that gives up on its first failed launch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

RELAUNCH_INTERVAL_SECONDS = 1.0


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` is the system database refusing or dropping the connection (not a bad config)."""
    from sqlalchemy.exc import OperationalError

    return isinstance(exc, OperationalError)


async def launch_retrying(launch_once: Callable[[], None], timeout: float) -> str | None:
    """Call ``launch_once`` (configure and launch DBOS) until it succeeds or ``timeout`` seconds have
    passed, while the failure is an unreachable database; other failures propagate. None once launched,
    else why not (the last failure, how many launches, for how long)."""
    from dbos import DBOS

    started = time.monotonic()
    attempts = 0
    while True:
        attempts += 1
        try:
            launch_once()
            return None
        except Exception as exc:
            if not unreachable(exc):
                raise
            DBOS.destroy(workflow_completion_timeout_sec=0)
            waited = time.monotonic() - started
            if waited + RELAUNCH_INTERVAL_SECONDS > timeout:
                first_line = str(exc).splitlines()[0] if str(exc) else ""
                return (
                    f"LaunchFailed: DBOS.launch() failed {attempts} time(s) in {waited:.1f} s, the system "
                    f"database unreachable ({type(exc).__name__}: {first_line}); dbos.launch_timeout is "
                    f"{timeout:g} s, and DBOS's launch does not wait for its database: nothing in this "
                    "process recovers the pending workflows"
                )
        await asyncio.sleep(RELAUNCH_INTERVAL_SECONDS)
