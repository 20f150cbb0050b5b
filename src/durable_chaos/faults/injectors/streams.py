"""Stream faults, independent of the HTTP client library: a streamed response's events served one by
one with the fault acting at its chosen event.

The transport injector (``http.py``) wraps :func:`faulty_events` in its client library's byte stream and
supplies that library's own errors, so a cut stream is the library's ``RemoteProtocolError`` (what a peer
closing mid-body raises) and a stall past the read timeout its ``ReadTimeout``: exactly what each
provider SDK sees when it happens for real, and turns into its own error as it does then (openai and
anthropic >= 2.17 into their ``APIConnectionError`` / ``APITimeoutError``; tests/test_providers.py
compares each with a really broken stream).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from durable_chaos import providers
from durable_chaos.faults.model import (
    StreamCutFault,
    StreamErrorFault,
    StreamFault,
    StreamMalformedFault,
    StreamStallFault,
)

CUT_MESSAGE = "peer closed connection without sending complete message body (incomplete chunked read)"
STALL_MESSAGE = "durable-chaos: the stream stalled past the read timeout"


async def faulty_events(
    fault: StreamFault,
    events: list[bytes],
    *,
    read_timeout: float | None,
    cut: Callable[[str], Exception],
    timed_out: Callable[[str], Exception],
    error_event: bytes = b"",
) -> AsyncIterator[bytes]:
    """The SSE ``events`` of a response with ``fault`` acting among them.

    - ``stream_cut``: after ``after_events`` events (at most all but the last) raise ``cut(...)``;
    - ``stream_stall``: after ``after_events`` events sleep ``seconds``; past ``read_timeout`` (the
      client's), sleep that long and raise ``timed_out(...)``, else carry on;
    - ``stream_malformed``: event ``event`` (1-based, at most the last) has data that is not JSON;
    - ``stream_error``: after ``after_events`` events (at most all but the last) comes ``error_event``
      (the provider's in-stream error, rendered by its provider module) and the stream ends.
    """
    async for event in STREAM_FAULTS[type(fault)](fault, events, read_timeout, cut, timed_out, error_event):
        yield event


async def _malformed(fault: StreamMalformedFault, events: list[bytes], *_: Any) -> AsyncIterator[bytes]:
    bad = min(fault.event, len(events)) - 1
    for index, event in enumerate(events):
        yield providers.garbage_event(event) if index == bad else event


async def _cut(
    fault: StreamCutFault, events: list[bytes], _timeout: Any, cut: Callable[[str], Exception], *_: Any
) -> AsyncIterator[bytes]:
    for event in events[: _at(fault.after_events, events)]:
        yield event
    raise cut(CUT_MESSAGE)


async def _stall(
    fault: StreamStallFault,
    events: list[bytes],
    read_timeout: float | None,
    _cut: Any,
    timed_out: Callable[[str], Exception],
    *_: Any,
) -> AsyncIterator[bytes]:
    at = _at(fault.after_events, events)
    for event in events[:at]:
        yield event
    if read_timeout is not None and fault.seconds > read_timeout:
        await asyncio.sleep(read_timeout)
        raise timed_out(STALL_MESSAGE)
    await asyncio.sleep(fault.seconds)
    for event in events[at:]:
        yield event


async def _error(
    fault: StreamErrorFault, events: list[bytes], _to: Any, _cut: Any, _timed_out: Any, error_event: bytes
) -> AsyncIterator[bytes]:
    for event in events[: _at(fault.after_events, events)]:
        yield event
    yield error_event


def _at(after_events: int, events: list[bytes]) -> int:
    """Where a cut or stall strikes: after ``after_events`` events, at most all but the last."""
    return min(after_events, max(len(events) - 1, 0))


STREAM_FAULTS: dict[type[StreamFault], Callable[..., AsyncIterator[bytes]]] = {
    StreamMalformedFault: _malformed,
    StreamCutFault: _cut,
    StreamStallFault: _stall,
    StreamErrorFault: _error,
}
"""How each stream fault kind serves a stream's events."""
