"""Launching DBOS while its system database may be unreachable (a ``restart`` fault ``during: launch``).

Measured on dbos 3.4: ``DBOS.launch()`` does not wait for the database. Its first step (the system
database's migrations) opens a connection, and a refused one raises ``sqlalchemy.exc.OperationalError``
within a tenth of a second; nothing is recovered in that process. ``DBOS.destroy()`` and a new ``DBOS(...)``
then launch again in the same process (registered workflows stay registered), which is what a process
supervisor restarting the application amounts to. ``dbos: {launch_timeout}`` says how long the worker keeps
doing that: 0 is an application that gives up on its first failed launch.
"""

from __future__ import annotations

from collections.abc import Callable

from durable_chaos.infra.engines.adapter_base import Refused, retry_while_refused


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` is the system database refusing or dropping the connection (not a bad config)."""
    from sqlalchemy.exc import OperationalError

    return isinstance(exc, OperationalError)


async def launch_retrying(launch_once: Callable[[], None], timeout: float) -> str | None:
    """Call ``launch_once`` (configure and launch DBOS) until it succeeds or ``timeout`` seconds have
    passed, while the failure is an unreachable database; other failures propagate. None once launched,
    else why not (the last failure, how many launches, for how long)."""
    from dbos import DBOS

    async def attempt() -> None:
        try:
            launch_once()
        except Exception as exc:
            if unreachable(exc):
                DBOS.destroy(workflow_completion_timeout_sec=0)
            raise

    refused = await retry_while_refused(attempt, unreachable, timeout)
    if not isinstance(refused, Refused):
        return None
    exc = refused.error
    first_line = str(exc).splitlines()[0] if str(exc) else ""
    return (
        f"LaunchFailed: DBOS.launch() failed {refused.attempts} time(s) in {refused.waited:.1f} s, the "
        f"system database unreachable ({type(exc).__name__}: {first_line}); dbos.launch_timeout is "
        f"{timeout:g} s, and DBOS's launch does not wait for its database: nothing in this "
        "process recovers the pending workflows"
    )
