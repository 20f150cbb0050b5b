"""The flow run's first API calls while the Prefect API server may be down (a ``restart`` fault
``during: launch``).

Measured on prefect 3.9.1: the client retries ``httpx.ConnectError`` only once it has connected (its
``_has_connected``: "fast failure on initial connection issues"), so a new process whose first call meets
a server that is down gets ``httpx.ConnectError: All connection attempts failed`` at once. ``prefect:
{connect_timeout}`` says how long the worker keeps trying again (every second), as a supervisor restarting
the process would: 0 is a process that gives up on its first failed call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
RECONNECT_INTERVAL_SECONDS = 1.0


async def first_contact(call: Callable[[], Awaitable[T]], timeout: float) -> tuple[T | None, str | None]:
    """``call()`` (with a client of its own) again every second for ``timeout`` seconds while the API
    server refuses the connection; ``(None, why)`` when it gave up."""
    import httpx

    started, attempts = time.monotonic(), 0
    while True:
        attempts += 1
        try:
            return await call(), None
        except httpx.ConnectError as exc:
            waited = time.monotonic() - started
            if waited + RECONNECT_INTERVAL_SECONDS > timeout:
                return None, (
                    f"ConnectFailed: the flow run's first API call failed {attempts} time(s) in "
                    f"{waited:.1f} s (ConnectError: {exc}); prefect.connect_timeout is {timeout:g} s, and "
                    "Prefect's client retries a refused connection only once it has connected: nothing in "
                    "this process runs the flow run"
                )
        await asyncio.sleep(RECONNECT_INTERVAL_SECONDS)
