"""What the harness does with one model request or response, for whichever API it is: whether it
streams, its model, the provider's error for a status, its token usage, its malformed form.

Usage is normalised to the convention of genai-prices and pydantic-ai's ``RequestUsage``:
``input_tokens`` *includes* cached input (Anthropic reports cache reads and writes apart from
``input_tokens``, so they are added), ``output_tokens`` *includes* reasoning tokens (Gemini reports
``thoughtsTokenCount`` apart from ``candidatesTokenCount``, so it is added). ``cache_read_tokens``,
``cache_write_tokens`` and ``reasoning_tokens`` are the parts, reported when the provider reports them.

``api=None`` (a request no provider module recognises) gets OpenAI's shapes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from durable_chaos.providers import openai_common
from durable_chaos.providers.base import API, ErrorShape, json_model_name, json_streaming
from durable_chaos.providers.registry import PROVIDERS, provider
from durable_chaos.providers.sse import event_data, json_documents, with_data


def is_streaming(api: API | None, path: str, body: Any) -> bool:
    """Whether the request asks for a streamed (SSE) response."""
    return provider(api).is_streaming(path, body) if api else json_streaming(path, body)


def model_name(api: API | None, path: str, body: Any) -> str | None:
    """The model a request names: in the JSON body's ``model``, or, for Gemini, in the path."""
    return provider(api).model_name(path, body) if api else json_model_name(path, body)


def price_provider(api: API | None) -> str | None:
    """The genai-prices provider id for an API (None: let genai-prices guess from the model name)."""
    found = PROVIDERS.get(api or "")
    return found.price_provider if found else None


def error_body(api: API | None, status: int, message: str | None = None) -> dict[str, Any]:
    """The JSON error body the provider's API sends for ``status`` (OpenAI's shape when unknown)."""
    return provider(api).error_shape(status, message, None).body


def error_shape(
    api: API | None, status: int, message: str | None = None, retry_after: float | None = None
) -> ErrorShape:
    """Body and headers of the provider's error response (``retry-after`` the way that provider sends it)."""
    return provider(api).error_shape(status, message, retry_after)


def _raw_usages(api: API | None, document: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    if api is None:  # either OpenAI flavour, told apart by its fields
        return openai_common.raw_usages(document, responses=True)
    return provider(api).raw_usages(document)


def usage_of(api: API | None, content: bytes) -> dict[str, int]:
    """Token usage of one response (JSON body or SSE stream), from that provider's usage fields.

    Streams report usage cumulatively in their last usage-bearing event (OpenAI's final chunk or
    ``response.completed``, Gemini's last chunk), except Anthropic, whose ``message_start`` carries the
    input side and whose ``message_delta`` events carry the (cumulative) output count: fields seen later
    override earlier ones. ``api=None`` reads OpenAI-style usage (either flavour).
    """
    merged: dict[str, Any] = {}
    flavour: str | None = None
    for document in json_documents(content):
        for found, usage in _raw_usages(api, document):
            flavour = found
            merged.update({k: v for k, v in usage.items() if v is not None})
    if flavour is None:
        return {"input_tokens": 0, "output_tokens": 0}
    normalised = PROVIDERS[flavour].normalise_usage(merged)
    return {k: v for k, v in normalised.items() if v or k in ("input_tokens", "output_tokens")}


def malformed_body(api: API | None, content: bytes) -> bytes | None:
    """A JSON response body with its tool arguments (or text) mangled so validation fails, or None when
    the body is not one this API's mangler understands. String arguments become invalid JSON, object
    arguments become an object the tool's schema rejects, text becomes empty."""
    try:
        doc = json.loads(content)
    except ValueError:
        return None
    if not isinstance(doc, dict) or not provider(api).mangle(doc):
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
    if not isinstance(doc, dict) or not provider(api).mangle(doc):
        return event
    return with_data(event, json.dumps(doc))


def garbage_event(event: bytes) -> bytes:
    """An SSE event whose data is not JSON (its ``event:`` line kept, so the SDK parses and chokes on it)."""
    return with_data(event, '{"__durable_chaos__": garbage')


def stream_error_event(api: API | None, error_type: str, message: str | None = None) -> bytes | None:
    """The in-stream error event this API sends when a stream fails midway, or None when it has none."""
    found = PROVIDERS.get(api or "")
    return found.stream_error(error_type, message) if found and found.stream_error else None
