"""OpenAI chat completions (``.../chat/completions``): usage, malformed output, and the scripted dialect.

Errors are OpenAI's (:mod:`durable_chaos.providers.openai_common`). Streams are ``data: {chunk}`` events
ended by ``data: [DONE]``; usage comes in the last chunk when ``stream_options.include_usage`` asks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
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
    count_assistant_turns,
    json_bytes,
    match_text,
    split_text,
)

SERVED_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})


def detects(path: str, host: str = "") -> bool:
    """Matched on the path's suffix, so OpenAI-compatible gateways (Azure, OpenRouter, ...) count too."""
    return path.endswith("/chat/completions")


# ----------------------------------------------------------------------------------------------------- usage


def normalise_usage(usage: dict[str, Any]) -> dict[str, int]:
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    return {
        "input_tokens": as_int(usage.get("prompt_tokens")),
        "output_tokens": as_int(usage.get("completion_tokens")),
        "cache_read_tokens": as_int(prompt.get("cached_tokens")),
        "reasoning_tokens": as_int(completion.get("reasoning_tokens")),
    }


# ------------------------------------------------------------------------------------------------- malformed


def mangle(doc: dict[str, Any]) -> bool:
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


# ------------------------------------------------------------------------------------------ scripted dialect


def completion_id(conversation: int, turn: int) -> str:
    """Deterministic completion id."""
    return f"chatcmpl-{conversation}-{turn}"


def tool_call_payloads(reply: ScriptedReply, turn: int) -> list[dict[str, Any]]:
    """OpenAI ``tool_calls`` entries with deterministic ids ``call_<turn>_<i>``."""
    return [
        {
            "id": f"call_{turn}_{i}",
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(call.arguments, sort_keys=True)},
        }
        for i, call in enumerate(reply.tool_calls)
    ]


def usage_payload(usage: ScriptedUsage) -> dict[str, Any]:
    """OpenAI ``usage`` object."""
    total = usage.prompt_tokens + usage.completion_tokens
    payload: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": total,
    }
    if usage.cached_tokens:
        payload["prompt_tokens_details"] = {"cached_tokens": usage.cached_tokens}
    if usage.reasoning_tokens:
        payload["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return payload


def build_completion(model: str, conversation: int, turn: int, reply: ScriptedReply) -> dict[str, Any]:
    """A complete, non-streaming ``chat.completion`` object."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = tool_call_payloads(reply, turn)
    return {
        "id": completion_id(conversation, turn),
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}],
        "usage": usage_payload(reply.usage),
    }


def stream_deltas(reply: ScriptedReply, turn: int) -> Iterator[dict[str, Any]]:
    """The ``delta`` objects of a streamed reply, before the finish chunk."""
    yield {"role": "assistant", "content": "", "refusal": None}
    for piece in split_text(reply.text or ""):
        yield {"content": piece}
    for index, call in enumerate(tool_call_payloads(reply, turn)):
        function = call["function"]
        head = {"id": call["id"], "type": "function", "function": {"name": function["name"], "arguments": ""}}
        yield {"tool_calls": [{"index": index, **head}]}
        yield {"tool_calls": [{"index": index, "function": {"arguments": function["arguments"]}}]}


def build_stream_chunks(
    model: str, conversation: int, turn: int, reply: ScriptedReply, *, include_usage: bool = False
) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of a streamed reply (without the ``[DONE]`` marker)."""
    base = {"id": completion_id(conversation, turn), "object": "chat.completion.chunk", "created": CREATED}
    base["model"] = model

    def chunk(delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        extra = {"usage": None} if include_usage else {}
        return {**base, "choices": [choice], **extra}

    chunks = [chunk(delta, None) for delta in stream_deltas(reply, turn)]
    chunks.append(chunk({}, reply.finish_reason))
    if include_usage:
        chunks.append({**base, "choices": [], "usage": usage_payload(reply.usage)})
    return chunks


def render_sse(chunks: Sequence[dict[str, Any]]) -> bytes:
    """Server-sent-events body: one ``data:`` event per chunk, then ``data: [DONE]``."""
    events = [f"data: {json.dumps(chunk)}\n\n" for chunk in chunks]
    events.append("data: [DONE]\n\n")
    return "".join(events).encode()


def stream_error(error_type: str, message: str | None = None) -> bytes:
    """The error Chat Completions sends inside a stream that fails after its 200 status: a ``data:``
    event whose JSON has an ``error`` object (no ``[DONE]`` follows). The openai SDK raises its
    ``APIError`` for it."""
    body = openai_common.stream_error_body(error_type, message)
    error = {**body, "type": error_type, "param": None, "code": error_type}
    return f"data: {json.dumps({'error': error})}\n\n".encode()


def scripted_prompt(request: dict[str, Any]) -> tuple[str, int]:
    """The first system/developer message (or all messages) and the assistant messages so far."""
    messages = request["messages"]
    return match_text(messages), count_assistant_turns(messages)


def scripted_answer(
    model: str, conversation: int, turn: int, reply: ScriptedReply, request: dict[str, Any], stream: bool
) -> tuple[str, bytes]:
    if not stream:
        return JSON, json_bytes(build_completion(model, conversation, turn, reply))
    include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
    chunks = build_stream_chunks(model, conversation, turn, reply, include_usage=include_usage)
    return SSE, render_sse(chunks)


PROVIDER = Provider(
    api="openai-chat",
    price_provider="openai",
    detects=detects,
    serves=SERVED_PATHS.__contains__,
    is_streaming=json_streaming,
    model_name=json_model_name,
    error_shape=openai_common.error_shape,
    raw_usages=partial(openai_common.raw_usages, responses=False),
    normalise_usage=normalise_usage,
    mangle=mangle,
    scripted_prompt=scripted_prompt,
    scripted_answer=scripted_answer,
    stream_error=stream_error,
)
