"""OpenAI Responses (``.../responses``): usage, malformed output, and the scripted dialect.

Errors are OpenAI's (:mod:`durable_chaos.providers.openai_common`). Streams are named events
(``response.created`` ... ``response.completed``), usage in the last one's ``response``.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from durable_chaos.providers import openai_common
from durable_chaos.providers.base import (
    MALFORMED_ARGUMENTS,
    Provider,
    as_int,
    json_model_name,
    json_streaming,
)
from durable_chaos.providers.scripted import (
    CREATED,
    JSON,
    SSE,
    ScriptedReply,
    ScriptedUsage,
    content_text,
    json_bytes,
    split_text,
)
from durable_chaos.providers.sse import render_named_sse

SERVED_PATHS = frozenset({"/v1/responses", "/responses"})


def detects(path: str, host: str = "") -> bool:
    """Matched on the path's suffix, so OpenAI-compatible gateways count too."""
    return path.endswith("/responses")


# ----------------------------------------------------------------------------------------------------- usage


def normalise_usage(usage: dict[str, Any]) -> dict[str, int]:
    inputs = usage.get("input_tokens_details") or {}
    outputs = usage.get("output_tokens_details") or {}
    return {
        "input_tokens": as_int(usage.get("input_tokens")),
        "output_tokens": as_int(usage.get("output_tokens")),
        "cache_read_tokens": as_int(inputs.get("cached_tokens")),
        "reasoning_tokens": as_int(outputs.get("reasoning_tokens")),
    }


# ------------------------------------------------------------------------------------------------- malformed


def _mangle_item(item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    if item.get("type") == "function_call":
        item["arguments"] = MALFORMED_ARGUMENTS
        return True
    if item.get("type") == "message":
        item["content"] = []
        return True
    return False


def mangle(doc: dict[str, Any]) -> bool:
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
        return _mangle_item(doc["item"])
    response = doc["response"] if isinstance(doc.get("response"), dict) else doc
    changed = False
    for item in response.get("output") or []:
        changed = _mangle_item(item) or changed
    return changed


# ------------------------------------------------------------------------------------------ scripted dialect


def responses_input_text(request: dict[str, Any]) -> str:
    """The system prompt of a Responses request: ``instructions``, or its first system/developer item."""
    if isinstance(request.get("instructions"), str) and request["instructions"]:
        return str(request["instructions"])
    items = request.get("input")
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and item.get("role") in ("system", "developer"):
                return content_text(item.get("content"))
        return json.dumps(items, ensure_ascii=False, sort_keys=True)
    return str(items or "")


def responses_turns(request: dict[str, Any]) -> int:
    """Assistant turns in a Responses request: runs of consecutive output items (messages, calls)."""
    items = request.get("input")
    if not isinstance(items, list):
        return 0
    turns, inside = 0, False
    for item in items:
        output = isinstance(item, dict) and (
            item.get("role") == "assistant" or item.get("type") in ("function_call", "reasoning")
        )
        if output and not inside:
            turns += 1
        inside = bool(output)
    return turns


def responses_usage(usage: ScriptedUsage) -> dict[str, Any]:
    """Responses API ``usage`` object."""
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def responses_items(reply: ScriptedReply, conversation: int, turn: int) -> list[dict[str, Any]]:
    """The ``output`` items of a Responses reply, with deterministic ids."""
    items: list[dict[str, Any]] = []
    if reply.text is not None:
        part = {"type": "output_text", "text": reply.text, "annotations": [], "logprobs": []}
        items.append(
            {
                "id": f"msg_{conversation}_{turn}",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [part],
            }
        )
    for i, call in enumerate(reply.tool_calls):
        items.append(
            {
                "id": f"fc_{turn}_{i}",
                "type": "function_call",
                "call_id": f"call_{turn}_{i}",
                "name": call.name,
                "arguments": json.dumps(call.arguments, sort_keys=True),
                "status": "completed",
            }
        )
    return items


def build_response(
    model: str, conversation: int, turn: int, reply: ScriptedReply, *, done: bool = True
) -> dict[str, Any]:
    """A Responses API ``response`` object (``done=False``: the in-progress shell a stream starts with)."""
    return {
        "id": f"resp_{conversation}_{turn}",
        "object": "response",
        "created_at": CREATED,
        "status": "completed" if done else "in_progress",
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "model": model,
        "output": responses_items(reply, conversation, turn) if done else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": responses_usage(reply.usage) if done else None,
    }


def build_response_events(
    model: str, conversation: int, turn: int, reply: ScriptedReply
) -> list[dict[str, Any]]:
    """The events of a streamed Responses reply, ``response.created`` to ``response.completed``."""
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": build_response(model, conversation, turn, reply, done=False)}
    ]
    for index, item in enumerate(responses_items(reply, conversation, turn)):
        if item["type"] == "message":
            text = item["content"][0]["text"]
            empty_part = {**item["content"][0], "text": ""}
            events.append(
                {"type": "response.output_item.added", "output_index": index, "item": {**item, "content": []}}
            )
            where = {"item_id": item["id"], "output_index": index, "content_index": 0}
            events.append({"type": "response.content_part.added", **where, "part": empty_part})
            for piece in split_text(text):
                events.append({"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []})
            events.append({"type": "response.output_text.done", **where, "text": text, "logprobs": []})
            events.append({"type": "response.content_part.done", **where, "part": item["content"][0]})
        else:
            head = {**item, "arguments": "", "status": "in_progress"}
            events.append({"type": "response.output_item.added", "output_index": index, "item": head})
            where = {"item_id": item["id"], "output_index": index}
            events.append(
                {"type": "response.function_call_arguments.delta", **where, "delta": item["arguments"]}
            )
            events.append(
                {"type": "response.function_call_arguments.done", **where, "arguments": item["arguments"]}
            )
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    events.append(
        {"type": "response.completed", "response": build_response(model, conversation, turn, reply)}
    )
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


def scripted_prompt(request: dict[str, Any]) -> tuple[str, int]:
    """``instructions`` (or the first system item, or all input) and the runs of output items so far."""
    return responses_input_text(request), responses_turns(request)


def scripted_answer(
    model: str, conversation: int, turn: int, reply: ScriptedReply, request: dict[str, Any], stream: bool
) -> tuple[str, bytes]:
    if not stream:
        return JSON, json_bytes(build_response(model, conversation, turn, reply))
    events = build_response_events(model, conversation, turn, reply)
    return SSE, render_named_sse(events)


def stream_error(error_type: str, message: str | None = None) -> bytes:
    """The ``event: error`` the Responses API sends inside a stream that fails after its 200 status
    (``{"type": "error", "code": ..., "message": ..., "param": null}``); the stream ends there."""
    body = openai_common.stream_error_body(error_type, message)
    return render_named_sse(
        [{"type": "error", "code": error_type, **body, "param": None, "sequence_number": 0}]
    )


PROVIDER = Provider(
    api="openai-responses",
    price_provider="openai",
    detects=detects,
    serves=SERVED_PATHS.__contains__,
    is_streaming=json_streaming,
    model_name=json_model_name,
    error_shape=openai_common.error_shape,
    raw_usages=partial(openai_common.raw_usages, responses=True),
    normalise_usage=normalise_usage,
    mangle=mangle,
    scripted_prompt=scripted_prompt,
    scripted_answer=scripted_answer,
    stream_error=stream_error,
)
