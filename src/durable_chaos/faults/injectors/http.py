"""Model faults in the HTTP transport beneath the provider SDK.

Provider SDKs send through ``httpx2`` or ``httpx`` (see :mod:`durable_chaos.faults.transports`).
Patching ``AsyncHTTPTransport.handle_async_request`` of both puts faults *under* the SDK, so a 429
becomes the SDK's real ``RateLimitError`` (after the SDK's own retries) and pydantic-ai's
``ModelHTTPError``, and the durable unit around the request sees exactly what it would see in
production. Only model requests are touched; engine traffic on the same clients passes through.

The patch wraps whatever handler is installed when it is entered, so entering it *after* the
cassette patch (see ``durable_chaos.fixtures.cassettes``) places faults in front of the cassette:
a ``before`` fault never reaches the recorded provider, an ``after`` fault lets the exchange
happen (and be billed) and then loses its result.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any

from durable_chaos.faults.context import Attempt, active, apply_common
from durable_chaos.faults.model import Fault, HttpErrorFault, MalformedOutputFault, TimeoutFault
from durable_chaos.faults.transports import is_model_request, module_of, on_every_transport
from durable_chaos.faults.units import fingerprint

if TYPE_CHECKING:
    import httpx2

_ERROR_TYPES = {
    429: ("rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
    500: ("server_error", "The server had an error while processing your request."),
    502: ("server_error", "Bad gateway."),
    503: ("service_unavailable", "The engine is currently overloaded, please try again later."),
    529: ("overloaded_error", "Overloaded."),
}
MALFORMED_ARGUMENTS = '{"__durable_chaos__": "malformed'


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


def usage_of(response_body: bytes) -> dict[str, int]:
    """Token usage of an OpenAI-style response, JSON or server-sent events."""
    usage: dict[str, Any] | None = None
    text = response_body.decode(errors="replace")
    candidates = (
        [text]
        if text.lstrip().startswith("{")
        else [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
    )
    for candidate in candidates:
        try:
            parsed = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(parsed, dict) and isinstance(parsed.get("usage"), dict):
            usage = parsed["usage"]
    if not usage:
        return {"input_tokens": 0, "output_tokens": 0}
    return {
        "input_tokens": int(usage.get("prompt_tokens") or usage.get("input_tokens") or 0),
        "output_tokens": int(usage.get("completion_tokens") or usage.get("output_tokens") or 0),
    }


def error_response(fault: HttpErrorFault, request: httpx2.Request) -> httpx2.Response:
    """An HTTP error shaped like the provider's own, so the SDK raises its real exception."""
    error_type, default_message = _ERROR_TYPES.get(fault.status, ("api_error", "Injected HTTP error."))
    body = {
        "error": {
            "message": fault.message or default_message,
            "type": "requests" if fault.status == 429 else error_type,
            "param": None,
            "code": error_type,
        }
    }
    headers = {"content-type": "application/json", "x-request-id": "req_durable_chaos"}
    if fault.retry_after is not None:
        headers["retry-after"] = f"{fault.retry_after:g}"
        headers["retry-after-ms"] = str(int(fault.retry_after * 1000))
    mod = module_of(request)
    return mod.Response(fault.status, headers=headers, content=json.dumps(body).encode(), request=request)


def malformed(response: httpx2.Response, content: bytes) -> httpx2.Response:
    """The same response with its tool arguments (or text) mangled so validation fails."""
    try:
        body = json.loads(content)
        message = body["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        return response
    if message.get("tool_calls"):
        for call in message["tool_calls"]:
            call["function"]["arguments"] = MALFORMED_ARGUMENTS
    else:
        message["content"] = None
    headers = {
        k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-encoding")
    }
    return module_of(response).Response(
        response.status_code, headers=headers, content=json.dumps(body).encode(), request=response.request
    )


async def _before(fault: Fault, request: httpx2.Request) -> httpx2.Response | None:
    if await apply_common(fault):
        return None
    if isinstance(fault, TimeoutFault):
        await asyncio.sleep(fault.delay)
        raise module_of(request).ReadTimeout("durable-chaos: injected timeout", request=request)
    if isinstance(fault, HttpErrorFault):
        return error_response(fault, request)
    return None


async def _after(
    fault: Fault, request: httpx2.Request, response: httpx2.Response, content: bytes
) -> httpx2.Response:
    if await apply_common(fault):
        return response
    if isinstance(fault, TimeoutFault):
        await asyncio.sleep(fault.delay)
        raise module_of(request).ReadTimeout(
            "durable-chaos: injected timeout after the response", request=request
        )
    if isinstance(fault, HttpErrorFault):
        return error_response(fault, request)
    if isinstance(fault, MalformedOutputFault):
        return malformed(response, content)
    return response


def _record_exchange(attempt: Attempt, request: httpx2.Request, status: int, content: bytes) -> None:
    body = request_body(request)
    model = body.get("model") if isinstance(body, dict) else None
    attempt.injection.observer.model_exchange(
        {
            "role": attempt.injection.role,
            "unit": attempt.unit.as_dict(),
            "attempt": attempt.attempt,
            "fingerprint": attempt.unit.fingerprint,
            "model": model,
            "status": status,
            "usage": usage_of(content),
            "engine": attempt.injection.observer.unit_context(),
        }
    )


def _wrap(original: Any, module: ModuleType) -> Any:
    async def handle_async_request(self: Any, request: httpx2.Request) -> httpx2.Response:
        injection = active()
        if injection is None or not is_model_request(request):
            return await original(self, request)
        await request.aread()
        body = request_body(request)
        name = str(body.get("model", "model")) if isinstance(body, dict) else "model"
        attempt = injection.begin("model_request", name, request_fingerprint(request), path=request.url.path)
        fault = attempt.strike("before")
        if fault is not None:
            try:
                replaced = await _before(fault, request)
            except Exception as exc:
                attempt.finish("fail", error=type(exc).__name__)
                raise
            if replaced is not None:
                attempt.finish("fail", status=replaced.status_code)
                return replaced
        try:
            response = await original(self, request)
            content = await response.aread()
        except Exception as exc:
            attempt.finish("fail", error=type(exc).__name__)
            raise
        _record_exchange(attempt, request, response.status_code, content)
        fault = attempt.strike("after")
        if fault is not None:
            try:
                response = await _after(fault, request, response, content)
            except Exception as exc:
                attempt.finish("fail", error=type(exc).__name__)
                raise
            if response.status_code >= 400 or isinstance(fault, MalformedOutputFault):
                attempt.finish(
                    "fail" if response.status_code >= 400 else "ok",
                    status=response.status_code,
                    malformed=isinstance(fault, MalformedOutputFault),
                )
                return response
        attempt.finish("fail" if response.status_code >= 400 else "ok", status=response.status_code)
        return response

    handle_async_request.__durable_chaos__ = True  # type: ignore[attr-defined]
    return handle_async_request


@contextmanager
def model_faults() -> Iterator[None]:
    """Install the fault layer on every client's transport (outermost), for the duration of the block."""
    with on_every_transport(_wrap):
        yield
