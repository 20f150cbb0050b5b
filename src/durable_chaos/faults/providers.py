"""What the harness knows about each model provider's HTTP API, as pure functions.

Four APIs, told apart by the request's URL path (and host, for OpenAI's Responses path):

========================  ==========================================  =====================
API                       path                                        genai-prices provider
========================  ==========================================  =====================
``openai-chat``           ``.../chat/completions``                    ``openai``
``openai-responses``      ``.../responses``                           ``openai``
``anthropic``             ``.../v1/messages``                         ``anthropic``
``gemini``                ``.../models/{model}:generateContent``,     ``google``
                          ``...:streamGenerateContent`` (``?alt=sse``)
========================  ==========================================  =====================

For each API this module knows: whether a request streams, its model name (Gemini's is in the path),
an error body shaped like the provider's real one per status (so the SDK raises its real exception
class), token usage from the provider's own usage fields (JSON bodies and SSE streams), and how to
mangle a response so that validation fails (``malformed_output``).

Usage is normalised to the convention of genai-prices and pydantic-ai's ``RequestUsage``:
``input_tokens`` *includes* cached input (Anthropic reports cache reads and writes apart from
``input_tokens``, so they are added), ``output_tokens`` *includes* reasoning tokens (Gemini reports
``thoughtsTokenCount`` apart from ``candidatesTokenCount``, so it is added). ``cache_read_tokens``,
``cache_write_tokens`` and ``reasoning_tokens`` are the parts, reported when the provider reports them.

Nothing here imports an SDK, an engine or pytest: inputs are paths, hosts, headers and bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "API",
    "MALFORMED_ARGUMENTS",
    "MALFORMED_OBJECT",
    "ErrorShape",
    "detect",
    "error_body",
    "error_shape",
    "is_event_stream",
    "is_streaming",
    "malformed_body",
    "malformed_event",
    "model_name",
    "price_provider",
    "split_events",
    "usage_of",
]

API = Literal["openai-chat", "openai-responses", "anthropic", "gemini"]

MALFORMED_ARGUMENTS = '{"__durable_chaos__": "malformed'
"""Tool-call arguments that are not even JSON (APIs that send arguments as a JSON string)."""
MALFORMED_OBJECT: dict[str, Any] = {"__durable_chaos__": "malformed"}
"""Tool-call arguments that are JSON but fail the tool's schema (APIs that send arguments as objects)."""

_GEMINI_PATH = re.compile(r"/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent)$")


# ----------------------------------------------------------------------------------------------- detection


def detect(path: str, host: str = "") -> API | None:
    """The provider API a request is for, from its URL path (and host), or None when it is not a model call.

    The OpenAI paths are matched on their suffix so that OpenAI-compatible gateways (Azure, OpenRouter,
    a scripted server under ``/v1``) count too; Anthropic's ``/v1/messages`` likewise (``/messages``
    alone is too generic, so a host naming Anthropic is needed for it).
    """
    path = path.rstrip("/")
    if path.endswith("/chat/completions"):
        return "openai-chat"
    if path.endswith("/responses"):
        return "openai-responses"
    if path.endswith("/v1/messages") or (path.endswith("/messages") and "anthropic" in host):
        return "anthropic"
    if _GEMINI_PATH.search(path):
        return "gemini"
    return None


def is_streaming(api: API | None, path: str, body: Any) -> bool:
    """Whether the request asks for a streamed (SSE) response."""
    if api == "gemini":
        match = _GEMINI_PATH.search(path.rstrip("/"))
        return bool(match and match.group("method") == "streamGenerateContent")
    return isinstance(body, dict) and bool(body.get("stream"))


def is_event_stream(content_type: str) -> bool:
    """Whether a response's ``content-type`` is server-sent events."""
    return content_type.split(";")[0].strip().lower() == "text/event-stream"


def model_name(api: API | None, path: str, body: Any) -> str | None:
    """The model a request names: in the JSON body's ``model``, or, for Gemini, in the path."""
    if api == "gemini":
        match = _GEMINI_PATH.search(path.rstrip("/"))
        return match.group("model") if match else None
    if isinstance(body, dict) and body.get("model"):
        return str(body["model"])
    return None


def price_provider(api: API | None) -> str | None:
    """The genai-prices provider id for an API (None: let genai-prices guess from the model name)."""
    return {
        "openai-chat": "openai",
        "openai-responses": "openai",
        "anthropic": "anthropic",
        "gemini": "google",
    }.get(api or "")


# ---------------------------------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class ErrorShape:
    """One provider error: the body its API sends for a status, and the headers that go with it."""

    body: dict[str, Any]
    headers: dict[str, str]


_OPENAI_ERRORS = {
    400: ("invalid_request_error", "invalid_request_error", "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden."),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
    500: ("server_error", "server_error", "The server had an error while processing your request."),
    502: ("server_error", "server_error", "Bad gateway."),
    503: (
        "service_unavailable",
        "service_unavailable",
        "The engine is currently overloaded, please try again later.",
    ),
    529: ("overloaded_error", "overloaded_error", "Overloaded."),
}
_ANTHROPIC_ERRORS = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}
_GEMINI_ERRORS = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "API key not valid. Please pass a valid API key."),
    403: ("PERMISSION_DENIED", "The caller does not have permission."),
    404: ("NOT_FOUND", "Requested entity was not found."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: (
        "INTERNAL",
        "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    ),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}


def error_body(api: API | None, status: int, message: str | None = None) -> dict[str, Any]:
    """The JSON error body the provider's API sends for ``status`` (OpenAI's shape when unknown)."""
    if api == "anthropic":
        type_, default = _ANTHROPIC_ERRORS.get(
            status, ("api_error" if status >= 500 else "invalid_request_error", "Error.")
        )
        return {"type": "error", "error": {"type": type_, "message": message or default}}
    if api == "gemini":
        google_status, default = _GEMINI_ERRORS.get(
            status, ("INTERNAL" if status >= 500 else "FAILED_PRECONDITION", "Error.")
        )
        return {"error": {"code": status, "message": message or default, "status": google_status}}
    type_, code, default = _OPENAI_ERRORS.get(status, ("api_error", "api_error", "Injected HTTP error."))
    return {"error": {"message": message or default, "type": type_, "param": None, "code": code}}


def error_shape(
    api: API | None, status: int, message: str | None = None, retry_after: float | None = None
) -> ErrorShape:
    """Body and headers of the provider's error response (``retry-after`` the way that provider sends it)."""
    headers = {"content-type": "application/json"}
    if api == "anthropic":
        headers["request-id"] = "req_durable_chaos"
        headers["x-should-retry"] = "true" if status in (408, 409, 429) or status >= 500 else "false"
    elif api == "gemini":
        headers["content-type"] = "application/json; charset=UTF-8"
    else:
        headers["x-request-id"] = "req_durable_chaos"
    if retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
        if api in ("openai-chat", "openai-responses", None):
            headers["retry-after-ms"] = str(int(retry_after * 1000))
    body = error_body(api, status, message)
    if api == "gemini" and retry_after is not None:
        body["error"]["details"] = [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after:g}s"}
        ]
    return ErrorShape(body, headers)


# ----------------------------------------------------------------------------------------------------- usage


def split_events(content: bytes) -> list[bytes]:
    """The events of an SSE body, each with its terminating blank line (any of ``\\n``, ``\\r\\n``)."""
    events = re.split(rb"(?<=\r\n\r\n)|(?<=\n\n)|(?<=\r\r)", content)
    return [event for event in events if event]


def event_data(event: bytes) -> str | None:
    """The ``data:`` payload of one SSE event (lines joined), or None when it has none."""
    lines = [line for line in event.decode(errors="replace").splitlines() if line.startswith("data:")]
    if not lines:
        return None
    return "\n".join(line[5:].removeprefix(" ") for line in lines)


def _json_documents(content: bytes) -> Iterator[Any]:
    """The JSON body, or each SSE event's JSON data, of a response."""
    text = content.lstrip()
    if text.startswith((b"{", b"[")):
        try:
            document = json.loads(text)
        except ValueError:
            return
        yield document
        return
    for event in split_events(content):
        data = event_data(event)
        if data is None:
            continue
        try:
            yield json.loads(data)
        except ValueError:
            continue


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0


def _openai_chat_usage(usage: dict[str, Any]) -> dict[str, int]:
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    return {
        "input_tokens": _int(usage.get("prompt_tokens")),
        "output_tokens": _int(usage.get("completion_tokens")),
        "cache_read_tokens": _int(prompt.get("cached_tokens")),
        "reasoning_tokens": _int(completion.get("reasoning_tokens")),
    }


def _openai_responses_usage(usage: dict[str, Any]) -> dict[str, int]:
    inputs = usage.get("input_tokens_details") or {}
    outputs = usage.get("output_tokens_details") or {}
    return {
        "input_tokens": _int(usage.get("input_tokens")),
        "output_tokens": _int(usage.get("output_tokens")),
        "cache_read_tokens": _int(inputs.get("cached_tokens")),
        "reasoning_tokens": _int(outputs.get("reasoning_tokens")),
    }


def _anthropic_usage(usage: dict[str, Any]) -> dict[str, int]:
    read = _int(usage.get("cache_read_input_tokens"))
    write = _int(usage.get("cache_creation_input_tokens"))
    return {
        "input_tokens": _int(usage.get("input_tokens")) + read + write,
        "output_tokens": _int(usage.get("output_tokens")),
        "cache_read_tokens": read,
        "cache_write_tokens": write,
    }


def _gemini_usage(usage: dict[str, Any]) -> dict[str, int]:
    reasoning = _int(usage.get("thoughtsTokenCount"))
    return {
        "input_tokens": _int(usage.get("promptTokenCount")) + _int(usage.get("toolUsePromptTokenCount")),
        "output_tokens": _int(usage.get("candidatesTokenCount")) + reasoning,
        "cache_read_tokens": _int(usage.get("cachedContentTokenCount")),
        "reasoning_tokens": reasoning,
    }


def _raw_usages(api: API | None, document: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(flavour, usage object)`` pairs found in one JSON document (a body or one stream event)."""
    if not isinstance(document, dict):
        return
    if api == "gemini":
        if isinstance(document.get("usageMetadata"), dict):
            yield "gemini", document["usageMetadata"]
        return
    if api == "anthropic":
        message = document.get("message") if document.get("type") == "message_start" else document
        if isinstance(message, dict) and isinstance(message.get("usage"), dict):
            yield "anthropic", message["usage"]
        return
    if api in ("openai-responses", None) and isinstance(document.get("response"), dict):
        document = document["response"]  # response.completed / response.incomplete events
    usage = document.get("usage")
    if isinstance(usage, dict):
        yield ("openai-chat" if "prompt_tokens" in usage else "openai-responses"), usage


_NORMALISE: dict[str, Callable[[dict[str, Any]], dict[str, int]]] = {
    "openai-chat": _openai_chat_usage,
    "openai-responses": _openai_responses_usage,
    "anthropic": _anthropic_usage,
    "gemini": _gemini_usage,
}


def usage_of(api: API | None, content: bytes) -> dict[str, int]:
    """Token usage of one response (JSON body or SSE stream), from that provider's usage fields.

    Streams report usage cumulatively in their last usage-bearing event (OpenAI's final chunk or
    ``response.completed``, Gemini's last chunk), except Anthropic, whose ``message_start`` carries the
    input side and whose ``message_delta`` events carry the (cumulative) output count: fields seen later
    override earlier ones. ``api=None`` reads OpenAI-style usage (either flavour).
    """
    merged: dict[str, Any] = {}
    flavour: str | None = None
    for document in _json_documents(content):
        for found, usage in _raw_usages(api, document):
            flavour = found
            merged.update({k: v for k, v in usage.items() if v is not None})
    if flavour is None:
        return {"input_tokens": 0, "output_tokens": 0}
    normalised = _NORMALISE[flavour](merged)
    return {k: v for k, v in normalised.items() if v or k in ("input_tokens", "output_tokens")}


# ------------------------------------------------------------------------------------------------- malformed


def _mangle_openai_chat(doc: dict[str, Any]) -> bool:
    changed = False
    for choice in doc.get("choices") or []:
        if isinstance(choice.get("message"), dict):  # a whole completion
            message = choice["message"]
            for call in message.get("tool_calls") or []:
                call["function"]["arguments"] = MALFORMED_ARGUMENTS
            if not message.get("tool_calls"):
                message["content"] = None
            changed = True
        elif isinstance(choice.get("delta"), dict):  # one stream chunk
            delta = choice["delta"]
            for call in delta.get("tool_calls") or []:
                function = call.get("function") or {}
                if function.get("arguments"):
                    function["arguments"] = MALFORMED_ARGUMENTS
                    changed = True
            if delta.get("content"):
                delta["content"] = ""
                changed = True
    return changed


def _mangle_responses_item(item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    if item.get("type") == "function_call":
        item["arguments"] = MALFORMED_ARGUMENTS
        return True
    if item.get("type") == "message":
        item["content"] = []
        return True
    return False


def _mangle_openai_responses(doc: dict[str, Any]) -> bool:
    kind = doc.get("type", "")
    if kind == "response.function_call_arguments.delta":
        doc["delta"] = ""
        return True
    if kind == "response.function_call_arguments.done":
        doc["arguments"] = MALFORMED_ARGUMENTS
        return True
    if kind in ("response.output_text.delta",):
        doc["delta"] = ""
        return True
    if kind in ("response.output_text.done",):
        doc["text"] = ""
        return True
    if "item" in doc:
        return _mangle_responses_item(doc["item"])
    response = doc["response"] if isinstance(doc.get("response"), dict) else doc
    changed = False
    for item in response.get("output") or []:
        changed = _mangle_responses_item(item) or changed
    return changed


def _mangle_anthropic(doc: dict[str, Any]) -> bool:
    kind = doc.get("type")
    if kind == "message":
        blocks = [b for b in doc.get("content") or [] if isinstance(b, dict)]
        for block in blocks:
            if block.get("type") == "tool_use":
                block["input"] = dict(MALFORMED_OBJECT)
        doc["content"] = [b for b in blocks if b.get("type") != "text"]
        return True
    if kind == "content_block_start" and isinstance(doc.get("content_block"), dict):
        block = doc["content_block"]
        if block.get("type") == "text":
            block["text"] = ""
        return block.get("type") == "text"
    if kind == "content_block_delta" and isinstance(doc.get("delta"), dict):
        delta = doc["delta"]
        if delta.get("type") == "input_json_delta":
            delta["partial_json"] = MALFORMED_ARGUMENTS if delta.get("partial_json") else ""
            return True
        if delta.get("type") == "text_delta":
            delta["text"] = ""
            return True
    return False


def _mangle_gemini(doc: dict[str, Any]) -> bool:
    changed = False
    for candidate in doc.get("candidates") or []:
        content = candidate.get("content") or {}
        parts = [p for p in content.get("parts") or [] if isinstance(p, dict)]
        for part in parts:
            if isinstance(part.get("functionCall"), dict):
                part["functionCall"]["args"] = dict(MALFORMED_OBJECT)
                changed = True
        kept = [p for p in parts if "text" not in p]
        if len(kept) != len(parts):
            content["parts"] = kept
            changed = True
    return changed


_MANGLE: dict[str, Callable[[dict[str, Any]], bool]] = {
    "openai-chat": _mangle_openai_chat,
    "openai-responses": _mangle_openai_responses,
    "anthropic": _mangle_anthropic,
    "gemini": _mangle_gemini,
}


def malformed_body(api: API | None, content: bytes) -> bytes | None:
    """A JSON response body with its tool arguments (or text) mangled so validation fails, or None when
    the body is not one this API's mangler understands. String arguments become invalid JSON, object
    arguments become an object the tool's schema rejects, text becomes empty."""
    try:
        doc = json.loads(content)
    except ValueError:
        return None
    if not isinstance(doc, dict) or not _MANGLE[api or "openai-chat"](doc):
        return None
    return json.dumps(doc).encode()


def malformed_event(api: API | None, event: bytes) -> bytes:
    """One SSE event with its tool arguments (or text) mangled; unchanged when there is nothing to mangle."""
    data = event_data(event)
    if data is None:
        return event
    try:
        doc = json.loads(data)
    except ValueError:
        return event
    if not isinstance(doc, dict) or not _MANGLE[api or "openai-chat"](doc):
        return event
    head = [
        line for line in event.decode(errors="replace").splitlines() if line and not line.startswith("data:")
    ]
    newline = "\r\n" if event.endswith(b"\r\n\r\n") else "\n"
    lines = [*head, f"data: {json.dumps(doc)}"]
    return (newline.join(lines) + newline + newline).encode()


def garbage_event(event: bytes) -> bytes:
    """An SSE event whose data is not JSON (its ``event:`` line kept, so the SDK parses and chokes on it)."""
    head = [
        line for line in event.decode(errors="replace").splitlines() if line and not line.startswith("data:")
    ]
    newline = "\r\n" if event.endswith(b"\r\n\r\n") else "\n"
    lines = [*head, 'data: {"__durable_chaos__": garbage']
    return (newline.join(lines) + newline + newline).encode()
