"""The flow run's first API calls while the Prefect API server may be down (a ``restart`` fault
``during: launch``).

Measured on prefect 3.9.1: the client retries ``httpx.ConnectError`` only once it has connected (its
``_has_connected``: "fast failure on initial connection issues"), so a new process whose first call meets
a server that is down gets ``httpx.ConnectError: All connection attempts failed`` at once. ``prefect:
{connect_timeout}`` says how long the worker keeps trying again (every second), as a supervisor restarting
the process would: 0 is a process that gives up on its first failed call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from durable_chaos.infra.engines.adapter_base import Refused, retry_while_refused

T = TypeVar("T")


async def first_contact(call: Callable[[], Awaitable[T]], timeout: float) -> tuple[T | None, str | None]:
    """``call()`` (with a client of its own) again every second for ``timeout`` seconds while the API
    server refuses the connection; ``(None, why)`` when it gave up."""
    import httpx

    result = await retry_while_refused(call, lambda exc: isinstance(exc, httpx.ConnectError), timeout)
    if not isinstance(result, Refused):
        return result, None
    return None, (
        f"ConnectFailed: the flow run's first API call failed {result.attempts} time(s) in "
        f"{result.waited:.1f} s (ConnectError: {result.error}); prefect.connect_timeout is {timeout:g} s, "
        "and Prefect's client retries a refused connection only once it has connected: nothing in "
        "this process runs the flow run"
    )
