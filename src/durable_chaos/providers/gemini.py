"""Google Gemini (``.../models/{model}:generateContent``, ``:streamGenerateContent?alt=sse``): errors,
usage, malformed output, and the scripted dialect.

The model and whether the call streams are in the path, not the body. ``thoughtsTokenCount`` is
reported apart from ``candidatesTokenCount`` and is added to the output when usage is normalised.
Streams are ``data: {...}`` events separated by CRLF blank lines, each a whole
``GenerateContentResponse``, with no end marker.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from durable_chaos.providers.base import MALFORMED_OBJECT, ErrorShape, Provider, as_int
from durable_chaos.providers.scripted import (
    JSON,
    SSE,
    ScriptedReply,
    ScriptedUsage,
    content_text,
    json_bytes,
    split_text,
)

PATH = re.compile(r"/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent)$")
SERVED_ROUTE = re.compile(r"^/(v1|v1beta|v1alpha)/models/[^/:]+:(generateContent|streamGenerateContent)$")


def detects(path: str, host: str = "") -> bool:
    return bool(PATH.search(path))


def serves(path: str) -> bool:
    return bool(SERVED_ROUTE.match(path))


def is_streaming(path: str, body: Any) -> bool:
    match = PATH.search(path.rstrip("/"))
    return bool(match and match.group("method") == "streamGenerateContent")


def model_name(path: str, body: Any) -> str | None:
    match = PATH.search(path.rstrip("/"))
    return match.group("model") if match else None


# ---------------------------------------------------------------------------------------------------- errors

ERRORS = {
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
"""Per status: the google.rpc status and default message."""


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """Gemini's JSON error body for ``status``."""
    google_status, default = ERRORS.get(
        status, ("INTERNAL" if status >= 500 else "FAILED_PRECONDITION", "Error.")
    )
    return {"error": {"code": status, "message": message or default, "status": google_status}}


def error_shape(status: int, message: str | None = None, retry_after: float | None = None) -> ErrorShape:
    """Gemini's error response: ``retry-after`` in seconds, and a ``RetryInfo`` detail in the body."""
    headers = {"content-type": "application/json; charset=UTF-8"}
    if retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
    body = error_body(status, message)
    if retry_after is not None:
        body["error"]["details"] = [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after:g}s"}
        ]
    return ErrorShape(body, headers)


# ----------------------------------------------------------------------------------------------------- usage


def raw_usages(document: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(document, dict) and isinstance(document.get("usageMetadata"), dict):
        yield "gemini", document["usageMetadata"]


def normalise_usage(usage: dict[str, Any]) -> dict[str, int]:
    reasoning = as_int(usage.get("thoughtsTokenCount"))
    return {
        "input_tokens": as_int(usage.get("promptTokenCount")) + as_int(usage.get("toolUsePromptTokenCount")),
        "output_tokens": as_int(usage.get("candidatesTokenCount")) + reasoning,
        "cache_read_tokens": as_int(usage.get("cachedContentTokenCount")),
        "reasoning_tokens": reasoning,
    }


# ------------------------------------------------------------------------------------------------- malformed


def mangle(doc: dict[str, Any]) -> bool:
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


# ------------------------------------------------------------------------------------------ scripted dialect


def gemini_system_text(request: dict[str, Any]) -> str:
    """The ``systemInstruction`` text of a generateContent request, or all contents as JSON."""
    instruction = request.get("systemInstruction") or request.get("system_instruction")
    if isinstance(instruction, dict):
        return content_text(instruction.get("parts"))
    return json.dumps(request.get("contents"), ensure_ascii=False, sort_keys=True)


def gemini_turns(request: dict[str, Any]) -> int:
    """Model turns already in the request's ``contents``."""
    contents = request.get("contents") or []
    return sum(1 for c in contents if isinstance(c, dict) and c.get("role") == "model")


def gemini_usage(usage: ScriptedUsage) -> dict[str, Any]:
    """``usageMetadata``: candidates exclude thoughts, the prompt count includes cached content."""
    candidates = usage.completion_tokens - min(usage.reasoning_tokens, usage.completion_tokens)
    metadata: dict[str, Any] = {
        "promptTokenCount": usage.prompt_tokens,
        "candidatesTokenCount": candidates,
        "totalTokenCount": usage.prompt_tokens + usage.completion_tokens,
    }
    if usage.cached_tokens:
        metadata["cachedContentTokenCount"] = usage.cached_tokens
    if usage.reasoning_tokens:
        metadata["thoughtsTokenCount"] = usage.reasoning_tokens
    return metadata


def gemini_parts(reply: ScriptedReply, turn: int) -> list[dict[str, Any]]:
    """``parts`` of a Gemini reply: text, then ``functionCall`` parts with ids ``call_<turn>_<i>``."""
    parts: list[dict[str, Any]] = []
    if reply.text is not None:
        parts.append({"text": reply.text})
    for i, call in enumerate(reply.tool_calls):
        parts.append({"functionCall": {"id": f"call_{turn}_{i}", "name": call.name, "args": call.arguments}})
    return parts


def build_gemini(
    model: str,
    conversation: int,
    turn: int,
    reply: ScriptedReply,
    parts: list[dict[str, Any]] | None = None,
    *,
    last: bool = True,
) -> dict[str, Any]:
    """A ``GenerateContentResponse`` (``parts``: the ones of one stream chunk; ``last``: it carries the
    finish reason)."""
    candidate: dict[str, Any] = {
        "content": {"role": "model", "parts": gemini_parts(reply, turn) if parts is None else parts},
        "index": 0,
    }
    if last:
        candidate["finishReason"] = "STOP"
    return {
        "candidates": [candidate],
        "usageMetadata": gemini_usage(reply.usage),
        "modelVersion": model,
        "responseId": f"resp-{conversation}-{turn}",
    }


def build_gemini_chunks(
    model: str, conversation: int, turn: int, reply: ScriptedReply
) -> list[dict[str, Any]]:
    """The chunks of a streamed Gemini reply: a text piece or a whole function call each."""
    parts = [{"text": piece} for piece in split_text(reply.text or "")]
    parts += [p for p in gemini_parts(reply, turn) if "functionCall" in p]
    if not parts:
        parts = [{"text": ""}]
    return [
        build_gemini(model, conversation, turn, reply, [part], last=i == len(parts) - 1)
        for i, part in enumerate(parts)
    ]


STREAM_ERROR_STATUS = {
    "overloaded_error": 503,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
}
"""The HTTP status of an in-stream error, by the fault's ``error_type`` (Anthropic's names; 500 otherwise)."""


def stream_error(error_type: str, message: str | None = None) -> bytes:
    """The error Gemini sends inside a stream that fails after its 200 status: a ``data:`` chunk that is
    the error body (``{"error": {"code", "message", "status"}}``). google-genai raises its ``APIError``
    for the code (``ServerError`` for 5xx, ``ClientError`` for 4xx)."""
    status = STREAM_ERROR_STATUS.get(error_type, 500)
    return f"data: {json.dumps(error_body(status, message))}\r\n\r\n".encode()


def render_gemini_sse(chunks: Sequence[dict[str, Any]]) -> bytes:
    """Gemini's ``alt=sse`` body: ``data: {...}`` events separated by CRLF blank lines, no end marker."""
    return "".join(f"data: {json.dumps(chunk)}\r\n\r\n" for chunk in chunks).encode()


def scripted_prompt(request: dict[str, Any]) -> tuple[str, int]:
    """``systemInstruction`` (or all contents) and the model turns so far."""
    return gemini_system_text(request), gemini_turns(request)


def scripted_answer(
    model: str, conversation: int, turn: int, reply: ScriptedReply, request: dict[str, Any], stream: bool
) -> tuple[str, bytes]:
    if not stream:
        return JSON, json_bytes(build_gemini(model, conversation, turn, reply))
    return SSE, render_gemini_sse(build_gemini_chunks(model, conversation, turn, reply))


PROVIDER = Provider(
    api="gemini",
    price_provider="google",
    detects=detects,
    serves=serves,
    is_streaming=is_streaming,
    model_name=model_name,
    error_shape=error_shape,
    raw_usages=raw_usages,
    normalise_usage=normalise_usage,
    mangle=mangle,
    scripted_prompt=scripted_prompt,
    scripted_answer=scripted_answer,
    stream_error=stream_error,
)
