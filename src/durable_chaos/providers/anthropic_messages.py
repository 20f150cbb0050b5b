"""Anthropic Messages (``.../v1/messages``): errors, usage, malformed output, and the scripted dialect.

Streams are named events ``message_start`` ... ``message_stop``; ``message_start`` carries the input
side of the usage and ``message_delta`` the (cumulative) output count. ``input_tokens`` excludes cache
reads and writes, which are added when usage is normalised.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from durable_chaos.providers.base import (
    MALFORMED_ARGUMENTS,
    MALFORMED_OBJECT,
    ErrorShape,
    Provider,
    as_int,
    json_model_name,
    json_streaming,
)
from durable_chaos.providers.scripted import (
    JSON,
    SSE,
    ScriptedReply,
    ScriptedUsage,
    content_text,
    count_assistant_turns,
    json_bytes,
    split_text,
)
from durable_chaos.providers.sse import render_named_sse

SERVED_PATHS = frozenset({"/v1/messages"})


def detects(path: str, host: str = "") -> bool:
    """``/v1/messages`` anywhere (gateways too); ``/messages`` alone is too generic, so a host naming
    Anthropic is needed for it."""
    return path.endswith("/v1/messages") or (path.endswith("/messages") and "anthropic" in host)


# ---------------------------------------------------------------------------------------------------- errors

ERRORS = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}
"""Per status: the error's ``type`` and default message."""


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """Anthropic's JSON error body for ``status``."""
    type_, default = ERRORS.get(status, ("api_error" if status >= 500 else "invalid_request_error", "Error."))
    return {"type": "error", "error": {"type": type_, "message": message or default}}


def error_shape(status: int, message: str | None = None, retry_after: float | None = None) -> ErrorShape:
    """Anthropic's error response: ``request-id``, ``x-should-retry`` and ``retry-after`` in seconds."""
    headers = {"content-type": "application/json", "request-id": "req_durable_chaos"}
    headers["x-should-retry"] = "true" if status in (408, 409, 429) or status >= 500 else "false"
    if retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
    return ErrorShape(error_body(status, message), headers)


def stream_error(error_type: str, message: str | None = None) -> bytes:
    """The ``event: error`` Anthropic sends in a stream that fails after its 200 status (e.g. overloaded
    midway): the error body of the same failure on a non-streamed request, as one named event."""
    default = next((text for type_, text in ERRORS.values() if type_ == error_type), "Error.")
    return render_named_sse([{"type": "error", "error": {"type": error_type, "message": message or default}}])


# ----------------------------------------------------------------------------------------------------- usage


def raw_usages(document: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(document, dict):
        return
    message = document.get("message") if document.get("type") == "message_start" else document
    if isinstance(message, dict) and isinstance(message.get("usage"), dict):
        yield "anthropic", message["usage"]


def normalise_usage(usage: dict[str, Any]) -> dict[str, int]:
    read = as_int(usage.get("cache_read_input_tokens"))
    write = as_int(usage.get("cache_creation_input_tokens"))
    return {
        "input_tokens": as_int(usage.get("input_tokens")) + read + write,
        "output_tokens": as_int(usage.get("output_tokens")),
        "cache_read_tokens": read,
        "cache_write_tokens": write,
    }


# ------------------------------------------------------------------------------------------------- malformed


def mangle(doc: dict[str, Any]) -> bool:
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


# ------------------------------------------------------------------------------------------ scripted dialect


def anthropic_system_text(request: dict[str, Any]) -> str:
    """The ``system`` prompt of a Messages request (string or text blocks), or all messages as JSON."""
    system = request.get("system")
    if system:
        return content_text(system)
    return json.dumps(request.get("messages"), ensure_ascii=False, sort_keys=True)


def anthropic_usage(usage: ScriptedUsage, *, output_tokens: int | None = None) -> dict[str, Any]:
    """Messages API ``usage``: ``input_tokens`` excludes what was read from the cache."""
    return {
        "input_tokens": usage.prompt_tokens - min(usage.cached_tokens, usage.prompt_tokens),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": usage.cached_tokens,
        "output_tokens": usage.completion_tokens if output_tokens is None else output_tokens,
    }


def anthropic_blocks(reply: ScriptedReply, turn: int) -> list[dict[str, Any]]:
    """Content blocks of a Messages reply: text, then ``tool_use`` blocks with ids ``toolu_<turn>_<i>``."""
    blocks: list[dict[str, Any]] = []
    if reply.text is not None:
        blocks.append({"type": "text", "text": reply.text})
    for i, call in enumerate(reply.tool_calls):
        blocks.append(
            {"type": "tool_use", "id": f"toolu_{turn}_{i}", "name": call.name, "input": call.arguments}
        )
    return blocks


def build_message(model: str, conversation: int, turn: int, reply: ScriptedReply) -> dict[str, Any]:
    """A complete Messages API response."""
    return {
        "id": f"msg_{conversation}_{turn}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": anthropic_blocks(reply, turn),
        "stop_reason": "tool_use" if reply.tool_calls else "end_turn",
        "stop_sequence": None,
        "usage": anthropic_usage(reply.usage),
    }


def build_message_events(
    model: str, conversation: int, turn: int, reply: ScriptedReply
) -> list[dict[str, Any]]:
    """The events of a streamed Messages reply, ``message_start`` to ``message_stop``."""
    message = build_message(model, conversation, turn, reply)
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "usage": anthropic_usage(reply.usage, output_tokens=1),
    }
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            events.append(
                {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
            )
            for piece in split_text(block["text"]):
                delta = {"type": "text_delta", "text": piece}
                events.append({"type": "content_block_delta", "index": index, "delta": delta})
        else:
            head = {**block, "input": {}}
            events.append({"type": "content_block_start", "index": index, "content_block": head})
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"], sort_keys=True)}
            events.append({"type": "content_block_delta", "index": index, "delta": delta})
        events.append({"type": "content_block_stop", "index": index})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": reply.usage.completion_tokens},
        }
    )
    events.append({"type": "message_stop"})
    return events


def scripted_prompt(request: dict[str, Any]) -> tuple[str, int]:
    """``system`` (or all messages) and the assistant messages so far."""
    return anthropic_system_text(request), count_assistant_turns(request.get("messages") or [])


def scripted_answer(
    model: str, conversation: int, turn: int, reply: ScriptedReply, request: dict[str, Any], stream: bool
) -> tuple[str, bytes]:
    if not stream:
        return JSON, json_bytes(build_message(model, conversation, turn, reply))
    return SSE, render_named_sse(build_message_events(model, conversation, turn, reply))


PROVIDER = Provider(
    api="anthropic",
    price_provider="anthropic",
    detects=detects,
    serves=SERVED_PATHS.__contains__,
    is_streaming=json_streaming,
    model_name=json_model_name,
    error_shape=error_shape,
    raw_usages=raw_usages,
    normalise_usage=normalise_usage,
    mangle=mangle,
    scripted_prompt=scripted_prompt,
    scripted_answer=scripted_answer,
    stream_error=stream_error,
)
