"""Model faults in the HTTP transport beneath the provider SDK.

What differs between providers (the API of a request, its model name, error bodies, usage fields,
how to mangle a response) is in ``durable_chaos.providers``; this module only intercepts.

Provider SDKs send through ``httpx2`` or ``httpx`` (see :mod:`durable_chaos.faults.transports`).
Patching ``AsyncHTTPTransport.handle_async_request`` of both puts faults *under* the SDK, so a 429
becomes the SDK's real ``RateLimitError`` (after the SDK's own retries) and pydantic-ai's
``ModelHTTPError``, and the durable unit around the request sees exactly what it would see in
production. Only model requests are touched; engine traffic on the same clients passes through.
Every response or error is built with the request's own client library (:func:`module_of`).

The patch wraps whatever handler is installed when it is entered, so entering it *after* the
cassette patch (see ``durable_chaos.infra.cassettes``) places faults in front of the cassette:
a ``before`` fault never reaches the recorded provider, an ``after`` fault lets the exchange
happen (and be billed) and then loses its result.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any

from durable_chaos import events, providers
from durable_chaos.faults.context import Attempt, active, apply_common
from durable_chaos.faults.injectors.streams import faulty_events
from durable_chaos.faults.model import (
    ConnectionResetFault,
    Fault,
    HttpErrorFault,
    MalformedOutputFault,
    StreamCutFault,
    StreamErrorFault,
    StreamFault,
    StreamMalformedFault,
    StreamStallFault,
    TimeoutFault,
)
from durable_chaos.faults.transports import is_model_request, module_of, on_every_transport
from durable_chaos.faults.units import fingerprint

if TYPE_CHECKING:
    import httpx2

MALFORMED_ARGUMENTS = providers.MALFORMED_ARGUMENTS
RESET_MESSAGE = "[Errno 104] Connection reset by peer"
"""What the HTTP client says when the peer resets the connection (a ``connection_reset`` fault)."""


def request_body(request: httpx2.Request) -> Any:
    """The request body as JSON (or text when it is not JSON)."""
    raw = request.content
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")


def request_fingerprint(request: httpx2.Request) -> str:
    """Equal for two sends of the same model request (method, path and JSON body)."""
    return fingerprint(request.method, request.url.path, request_body(request))


def api_of(request: httpx2.Request) -> providers.API | None:
    """The provider API a request is for (see ``durable_chaos.providers``)."""
    return providers.detect(request.url.path, request.url.host)


def endpoint_of(request: httpx2.Request) -> str:
    """Where a model request went: scheme, host, port and path, without userinfo or query (so no
    credential a URL may carry is recorded)."""
    url = request.url
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}{url.path}"


def usage_of(response_body: bytes, api: providers.API | None = None) -> dict[str, int]:
    """Token usage of a response, JSON or server-sent events, from that provider's usage fields."""
    return providers.usage_of(api, response_body)


def error_response(fault: HttpErrorFault, request: httpx2.Request) -> httpx2.Response:
    """An HTTP error shaped like the provider's own, so the SDK raises its real exception."""
    shape = providers.error_shape(api_of(request), fault.status, fault.message, fault.retry_after)
    content = json.dumps(shape.body).encode()
    return module_of(request).Response(fault.status, headers=shape.headers, content=content, request=request)


def _replaced(response: httpx2.Response, request: httpx2.Request, **kwargs: Any) -> httpx2.Response:
    headers = {
        k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-encoding")
    }
    return module_of(request).Response(response.status_code, headers=headers, request=request, **kwargs)


def malformed(
    response: httpx2.Response, content: bytes, request: httpx2.Request | None = None
) -> httpx2.Response:
    """The same response with its tool arguments (or text) mangled so validation fails (JSON or SSE).
    ``request``: the response's request (a transport's response has none set yet)."""
    request = request or response.request
    api = api_of(request)
    if providers.is_event_stream(response.headers.get("content-type", "")):
        events = [providers.malformed_event(api, event) for event in providers.split_events(content)]
        return _replaced(response, request, content=b"".join(events))
    mangled = providers.malformed_body(api, content)
    return response if mangled is None else _replaced(response, request, content=mangled)


def _event_stream(module: Any, events: AsyncIterator[bytes]) -> Any:
    """An async byte stream of ``module`` (httpx or httpx2) that yields ``events``."""

    class Events(module.AsyncByteStream):  # type: ignore[misc,name-defined]
        async def __aiter__(self) -> AsyncIterator[bytes]:
            async for event in events:
                yield event

    return Events()


def stream_fault(
    fault: StreamFault, request: httpx2.Request, response: httpx2.Response, content: bytes
) -> httpx2.Response:
    """The same streamed response, served event by event with ``fault`` acting in the middle."""
    module = module_of(request)
    events = faulty_events(
        fault,
        providers.split_events(content),
        read_timeout=(request.extensions.get("timeout") or {}).get("read"),
        cut=lambda message: module.RemoteProtocolError(message, request=request),
        timed_out=lambda message: module.ReadTimeout(message, request=request),
        error_event=_stream_error_event(fault, request),
    )
    return _replaced(response, request, stream=_event_stream(module, events))


def _stream_error_event(fault: StreamFault, request: httpx2.Request) -> bytes:
    if not isinstance(fault, StreamErrorFault):
        return b""
    return providers.stream_error_event(api_of(request), fault.error_type, fault.message) or b""


def _can_strike(api: providers.API | None) -> Callable[[Fault], bool]:
    """Which faults may strike a response of this API: a ``stream_error`` only where the API has an
    in-stream error event (elsewhere it stays armed)."""
    has_stream_error = providers.stream_error_event(api, "api_error") is not None
    return lambda fault: has_stream_error or not isinstance(fault, StreamErrorFault)


async def _time_out(fault: TimeoutFault, request: httpx2.Request) -> httpx2.Response | None:
    await asyncio.sleep(fault.delay)
    raise module_of(request).ReadTimeout("durable-chaos: injected timeout", request=request)


async def _http_error(fault: HttpErrorFault, request: httpx2.Request) -> httpx2.Response | None:
    return error_response(fault, request)


async def _reset(fault: ConnectionResetFault, request: httpx2.Request, *_: Any) -> httpx2.Response:
    raise module_of(request).ReadError(RESET_MESSAGE, request=request)


Before = Callable[[Any, "httpx2.Request"], Awaitable["httpx2.Response | None"]]
BEFORE: dict[type[Fault], Before] = {
    TimeoutFault: _time_out,
    HttpErrorFault: _http_error,
    ConnectionResetFault: _reset,
}
"""What each fault kind does ``before`` the request is sent: raise, or return the response that replaces
the exchange (None: the request goes ahead). Kinds not listed (and those :func:`apply_common` handles)
let it go ahead."""


async def _time_out_after(
    fault: TimeoutFault, request: httpx2.Request, response: httpx2.Response, content: bytes
) -> httpx2.Response:
    await asyncio.sleep(fault.delay)
    raise module_of(request).ReadTimeout(
        "durable-chaos: injected timeout after the response", request=request
    )


async def _http_error_after(
    fault: HttpErrorFault, request: httpx2.Request, response: httpx2.Response, content: bytes
) -> httpx2.Response:
    return error_response(fault, request)


async def _malformed_after(
    fault: MalformedOutputFault, request: httpx2.Request, response: httpx2.Response, content: bytes
) -> httpx2.Response:
    return malformed(response, content, request)


async def _stream_after(
    fault: StreamFault, request: httpx2.Request, response: httpx2.Response, content: bytes
) -> httpx2.Response:
    return stream_fault(fault, request, response, content)


After = Callable[[Any, "httpx2.Request", "httpx2.Response", bytes], Awaitable["httpx2.Response"]]
AFTER: dict[type[Fault], After] = {
    TimeoutFault: _time_out_after,
    HttpErrorFault: _http_error_after,
    MalformedOutputFault: _malformed_after,
    StreamCutFault: _stream_after,
    StreamStallFault: _stream_after,
    StreamMalformedFault: _stream_after,
    StreamErrorFault: _stream_after,
    ConnectionResetFault: _reset,
}
"""What each fault kind does ``after`` the provider answered (``content``: the response's body): raise,
or return the response the SDK gets instead. Kinds not listed pass the response through."""


async def _before(fault: Fault, request: httpx2.Request) -> httpx2.Response | None:
    if await apply_common(fault):
        return None
    act = BEFORE.get(type(fault))
    return None if act is None else await act(fault, request)


async def _after(
    fault: Fault, request: httpx2.Request, response: httpx2.Response, content: bytes
) -> httpx2.Response:
    if await apply_common(fault):
        return response
    act = AFTER.get(type(fault))
    return response if act is None else await act(fault, request, response, content)


def _record_exchange(
    attempt: Attempt, request: httpx2.Request, endpoint: str, status: int, content: bytes
) -> None:
    """Record an exchange in the ledger. ``endpoint``: where the agent addressed the request, taken before
    it was sent (a recording's stand-in server rewrites the request's URL on the way)."""
    api = api_of(request)
    attempt.injection.observer.model_exchange(
        {
            "role": attempt.injection.role,
            "unit": attempt.unit.as_dict(),
            "attempt": attempt.attempt,
            "fingerprint": attempt.unit.fingerprint,
            "model": providers.model_name(api, request.url.path, request_body(request)),
            "provider": providers.price_provider(api),
            "endpoint": endpoint,
            "status": status,
            "usage": usage_of(content, api),
            "engine": attempt.injection.observer.unit_context(),
        }
    )


def _wrap(original: Any, module: ModuleType) -> Any:
    async def handle_async_request(self: Any, request: httpx2.Request) -> httpx2.Response:
        injection = active()
        if injection is None or not is_model_request(request):
            return await original(self, request)
        await request.aread()
        body, api, endpoint = request_body(request), api_of(request), endpoint_of(request)
        name = providers.model_name(api, request.url.path, body) or "model"
        streaming = providers.is_streaming(api, request.url.path, body)
        attempt = injection.begin("model_request", name, request_fingerprint(request), path=request.url.path)
        fault = attempt.strike("before")
        if fault is not None:
            try:
                replaced = await _before(fault, request)
            except Exception as exc:
                attempt.finish(events.FAIL, error=type(exc).__name__)
                raise
            if replaced is not None:
                attempt.finish(events.FAIL, status=replaced.status_code)
                return replaced
        try:
            response = await original(self, request)
            content = await response.aread()
        except Exception as exc:
            attempt.finish(events.FAIL, error=type(exc).__name__)
            raise
        _record_exchange(attempt, request, endpoint, response.status_code, content)
        fault = attempt.strike("after", streaming=streaming, where=_can_strike(api))
        if fault is not None:
            try:
                response = await _after(fault, request, response, content)
            except Exception as exc:
                attempt.finish(events.FAIL, error=type(exc).__name__)
                raise
            if fault.streaming_only:
                attempt.finish(events.FAIL, status=response.status_code, stream_fault=fault.kind)
                return response
            if response.status_code >= 400 or isinstance(fault, MalformedOutputFault):
                attempt.finish(
                    events.FAIL if response.status_code >= 400 else events.OK,
                    status=response.status_code,
                    malformed=isinstance(fault, MalformedOutputFault),
                )
                return response
        attempt.finish(events.FAIL if response.status_code >= 400 else events.OK, status=response.status_code)
        return response

    handle_async_request.__durable_chaos__ = True  # type: ignore[attr-defined]
    return handle_async_request


@contextmanager
def model_faults() -> Iterator[None]:
    """Install the fault layer on every client's transport (outermost), for the duration of the block."""
    with on_every_transport(_wrap):
        yield
