"""What every provider module declares (:class:`Provider`), and the helpers most of them share.

A provider module (``openai_chat``, ``openai_responses``, ``anthropic_messages``, ``gemini``) holds one
model API's knowledge as pure functions and gathers them in one :class:`Provider`, which
:mod:`durable_chaos.providers.registry` looks up by name, request path or host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from durable_chaos.providers.scripted import ScriptedReply

API = Literal["openai-chat", "openai-responses", "anthropic", "gemini"]

MALFORMED_ARGUMENTS = '{"__durable_chaos__": "malformed'
"""Tool-call arguments that are not even JSON (APIs that send arguments as a JSON string)."""
MALFORMED_OBJECT: dict[str, Any] = {"__durable_chaos__": "malformed"}
"""Tool-call arguments that are JSON but fail the tool's schema (APIs that send arguments as objects)."""


@dataclass(frozen=True)
class ErrorShape:
    """One provider error: the body its API sends for a status, and the headers that go with it."""

    body: dict[str, Any]
    headers: dict[str, str]


@dataclass(frozen=True)
class Provider:
    """One model API, as the harness knows it."""

    api: API
    """The name the harness uses (``openai-chat``, ...)."""
    price_provider: str
    """The genai-prices provider id."""
    detects: Callable[[str, str], bool]
    """``(path, host)``: whether a request (to the real provider or a gateway) is a call to this API."""
    serves: Callable[[str], bool]
    """``path``: whether the scripted model server answers this exact path in this API's dialect."""
    is_streaming: Callable[[str, Any], bool]
    """``(path, body)``: whether the request asks for a streamed (SSE) response."""
    model_name: Callable[[str, Any], str | None]
    """``(path, body)``: the model the request names."""
    error_shape: Callable[[int, str | None, float | None], ErrorShape]
    """``(status, message, retry_after)``: the error response the API sends."""
    raw_usages: Callable[[Any], Iterator[tuple[str, dict[str, Any]]]]
    """``(document)``: ``(flavour, usage object)`` pairs in one JSON body or stream event."""
    normalise_usage: Callable[[dict[str, Any]], dict[str, int]]
    """This API's usage object (merged over a stream) in genai-prices' convention."""
    mangle: Callable[[dict[str, Any]], bool]
    """Mangle one JSON body or stream event in place so validation fails; whether anything changed."""
    scripted_prompt: Callable[[dict[str, Any]], tuple[str, int]]
    """``(request)``: the scripted server's ``(system prompt to match, assistant turns so far)``."""
    scripted_answer: Callable[[str, int, int, ScriptedReply, dict[str, Any], bool], tuple[str, bytes]]
    """``(model, conversation, turn, reply, request, stream)``: the scripted server's
    ``(content type, body)``."""
    stream_error: Callable[[str, str | None], bytes] | None = None
    """``(error type, message)``: the server-sent event this API sends when a streamed response fails
    midway (after its 200 status); None when the API has no such event."""


def json_streaming(path: str, body: Any) -> bool:
    """Whether a JSON request body asks for a stream (``"stream": true``)."""
    return isinstance(body, dict) and bool(body.get("stream"))


def json_model_name(path: str, body: Any) -> str | None:
    """The ``model`` of a JSON request body."""
    if isinstance(body, dict) and body.get("model"):
        return str(body["model"])
    return None


def as_int(value: Any) -> int:
    """A token count, 0 when the field is missing or not a number."""
    return int(value) if isinstance(value, int | float) else 0
