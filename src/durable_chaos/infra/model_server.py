"""A deterministic, scripted model server speaking four provider APIs, JSON and streamed (SSE).

Routed by path: OpenAI chat completions (``/v1/chat/completions``), OpenAI Responses (``/v1/responses``),
Anthropic Messages (``/v1/messages``, SSE events ``message_start`` ... ``message_stop``) and Gemini
(``/v1beta/models/{model}:generateContent``, ``:streamGenerateContent?alt=sse``). Errors come in the
API's own shape (``durable_chaos.faults.providers``).

Used offline to record VCR cassettes and to serve live HTTP in tests. Replies are chosen statelessly from
the request alone (conversation by ``match`` substring of the system prompt: chat ``system`` message,
Responses ``instructions``, Anthropic ``system``, Gemini ``systemInstruction``; turn by the number of
assistant turns already in the request), so a retried identical request always gets the identical reply.
Ids are deterministic (``call_<turn>_<i>``, ``toolu_<turn>_<i>``, ``msg_<conversation>_<turn>``, ...).

Example script (YAML)::

    conversations:
      - match: "You are a weather bot"
        turns:
          - tool_calls: [{name: get_weather, arguments: {city: Paris}}]
          - text: "It is sunny in Paris."
            usage: {prompt_tokens: 50, completion_tokens: 7, cached_tokens: 20, reasoning_tokens: 2}
      - match: ""          # fallback: matches every request
        turns:
          - text: "Hello!"

Run standalone: ``python -m durable_chaos.infra.model_server SCRIPT.yaml [--port N]``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field

from durable_chaos.faults import providers

__all__ = [
    "CREATED",
    "Conversation",
    "Reply",
    "Script",
    "ScriptError",
    "ScriptedServer",
    "ToolCall",
    "Usage",
    "build_completion",
    "build_stream_chunks",
    "main",
    "render_sse",
]

CREATED = 1_700_000_000
"""Fixed ``created`` timestamp of every response, so recorded cassettes are byte-stable."""

DEFAULT_MODELS: tuple[str, ...] = ("scripted", "gpt-4o-mini")
CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
RESPONSES_PATHS = frozenset({"/v1/responses", "/responses"})
MESSAGES_PATHS = frozenset({"/v1/messages"})
GEMINI_ROUTE = re.compile(r"^/(v1|v1beta|v1alpha)/models/[^/:]+:(generateContent|streamGenerateContent)$")
MODELS_PATHS = frozenset({"/v1/models", "/models"})


# --------------------------------------------------------------------------------------------- script model


class Usage(BaseModel):
    """Token usage reported for one reply."""

    model_config = ConfigDict(extra="forbid")

    prompt_tokens: int = Field(default=100, ge=0)
    """All input tokens, cached ones included (each API reports them its own way)."""
    completion_tokens: int = Field(default=20, ge=0)
    """All output tokens, reasoning ones included."""
    cached_tokens: int = Field(default=0, ge=0)
    """Of ``prompt_tokens``, how many were read from the provider's prompt cache."""
    reasoning_tokens: int = Field(default=0, ge=0)
    """Of ``completion_tokens``, how many were reasoning (thinking) tokens."""


class ToolCall(BaseModel):
    """One function tool call the scripted assistant makes."""

    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Reply(BaseModel):
    """One assistant turn: text, tool calls, or both."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)

    @property
    def finish_reason(self) -> str:
        """``tool_calls`` when the reply calls tools, else ``stop``."""
        return "tool_calls" if self.tool_calls else "stop"


class Conversation(BaseModel):
    """The turns served to requests whose system prompt contains ``match`` (``""`` matches all)."""

    model_config = ConfigDict(extra="forbid")

    match: str = ""
    turns: list[Reply] = Field(min_length=1)

    def reply_for(self, turn: int) -> Reply:
        """The reply for ``turn``; past the end, the last turn is repeated."""
        return self.turns[min(turn, len(self.turns) - 1)]


class ScriptError(LookupError):
    """No conversation of the script matches a request."""


class Script(BaseModel):
    """A whole scripted server: conversations tried in order, first match wins."""

    model_config = ConfigDict(extra="forbid")

    conversations: list[Conversation]

    @classmethod
    def from_file(cls, path: str | Path) -> Script:
        """Load a script from a ``.yaml``/``.yml`` or ``.json`` file."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix in (".yaml", ".yml"):
            return cls.from_yaml(path.read_text(encoding="utf-8"))
        if suffix == ".json":
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        raise ValueError(f"unsupported script suffix {path.suffix!r} (use .yaml, .yml or .json)")

    @classmethod
    def from_yaml(cls, text: str) -> Script:
        """Parse a script from YAML text."""
        return cls.model_validate(yaml.safe_load(text))

    def select(self, messages: Sequence[Any]) -> tuple[int, int, Reply]:
        """Return ``(conversation index, turn, reply)`` for a request's ``messages``."""
        return self.select_by(match_text(messages), count_assistant_turns(messages))

    def select_by(self, haystack: str, turn: int) -> tuple[int, int, Reply]:
        """Return ``(conversation index, turn, reply)`` for a system prompt (or haystack) and turn number."""
        for index, conversation in enumerate(self.conversations):
            if conversation.match in haystack:
                return index, turn, conversation.reply_for(turn)
        raise ScriptError(f"no scripted conversation matches this request (searched: {haystack[:200]!r})")


def content_text(content: Any) -> str:
    """Flatten an OpenAI message ``content`` (string or list of parts) into text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else json.dumps(content, ensure_ascii=False)


def match_text(messages: Sequence[Any]) -> str:
    """The first system/developer message's text, or the JSON of all messages if there is none."""
    for message in messages:
        if isinstance(message, dict) and message.get("role") in ("system", "developer"):
            return content_text(message.get("content"))
    return json.dumps(list(messages), ensure_ascii=False, sort_keys=True)


def count_assistant_turns(messages: Sequence[Any]) -> int:
    """Number of assistant messages in the request: the index of the reply to serve."""
    return sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "assistant")


# --------------------------------------------------------------------------------------- response building


def completion_id(conversation: int, turn: int) -> str:
    """Deterministic completion id."""
    return f"chatcmpl-{conversation}-{turn}"


def tool_call_payloads(reply: Reply, turn: int) -> list[dict[str, Any]]:
    """OpenAI ``tool_calls`` entries with deterministic ids ``call_<turn>_<i>``."""
    return [
        {
            "id": f"call_{turn}_{i}",
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(call.arguments, sort_keys=True)},
        }
        for i, call in enumerate(reply.tool_calls)
    ]


def usage_payload(usage: Usage) -> dict[str, Any]:
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


def build_completion(model: str, conversation: int, turn: int, reply: Reply) -> dict[str, Any]:
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


def split_text(text: str) -> list[str]:
    """Deterministic stream pieces: one word plus its trailing whitespace each."""
    return re.findall(r"\S+\s*|\s+", text)


def stream_deltas(reply: Reply, turn: int) -> Iterator[dict[str, Any]]:
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
    model: str, conversation: int, turn: int, reply: Reply, *, include_usage: bool = False
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


def error_payload(
    message: str, type_: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """An error body shaped like OpenAI's."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def models_payload(models: Sequence[str]) -> dict[str, Any]:
    """``GET /v1/models`` body."""
    data = [{"id": m, "object": "model", "created": CREATED, "owned_by": "durable-chaos"} for m in models]
    return {"object": "list", "data": data}


# ------------------------------------------------------------------------------- OpenAI Responses API


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


def responses_usage(usage: Usage) -> dict[str, Any]:
    """Responses API ``usage`` object."""
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def responses_items(reply: Reply, conversation: int, turn: int) -> list[dict[str, Any]]:
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
    model: str, conversation: int, turn: int, reply: Reply, *, done: bool = True
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


def build_response_events(model: str, conversation: int, turn: int, reply: Reply) -> list[dict[str, Any]]:
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


# ---------------------------------------------------------------------------------- Anthropic Messages


def anthropic_system_text(request: dict[str, Any]) -> str:
    """The ``system`` prompt of a Messages request (string or text blocks), or all messages as JSON."""
    system = request.get("system")
    if system:
        return content_text(system)
    return json.dumps(request.get("messages"), ensure_ascii=False, sort_keys=True)


def anthropic_usage(usage: Usage, *, output_tokens: int | None = None) -> dict[str, Any]:
    """Messages API ``usage``: ``input_tokens`` excludes what was read from the cache."""
    return {
        "input_tokens": usage.prompt_tokens - min(usage.cached_tokens, usage.prompt_tokens),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": usage.cached_tokens,
        "output_tokens": usage.completion_tokens if output_tokens is None else output_tokens,
    }


def anthropic_blocks(reply: Reply, turn: int) -> list[dict[str, Any]]:
    """Content blocks of a Messages reply: text, then ``tool_use`` blocks with ids ``toolu_<turn>_<i>``."""
    blocks: list[dict[str, Any]] = []
    if reply.text is not None:
        blocks.append({"type": "text", "text": reply.text})
    for i, call in enumerate(reply.tool_calls):
        blocks.append(
            {"type": "tool_use", "id": f"toolu_{turn}_{i}", "name": call.name, "input": call.arguments}
        )
    return blocks


def build_message(model: str, conversation: int, turn: int, reply: Reply) -> dict[str, Any]:
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


def build_message_events(model: str, conversation: int, turn: int, reply: Reply) -> list[dict[str, Any]]:
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


def render_named_sse(events: Sequence[dict[str, Any]]) -> bytes:
    """Server-sent events named by their ``type`` (``event: X`` then ``data: {...}``), Anthropic style."""
    return "".join(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n" for event in events).encode()


# ----------------------------------------------------------------------------------------- Gemini API


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


def gemini_usage(usage: Usage) -> dict[str, Any]:
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


def gemini_parts(reply: Reply, turn: int) -> list[dict[str, Any]]:
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
    reply: Reply,
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


def build_gemini_chunks(model: str, conversation: int, turn: int, reply: Reply) -> list[dict[str, Any]]:
    """The chunks of a streamed Gemini reply: a text piece or a whole function call each."""
    parts = [{"text": piece} for piece in split_text(reply.text or "")]
    parts += [p for p in gemini_parts(reply, turn) if "functionCall" in p]
    if not parts:
        parts = [{"text": ""}]
    return [
        build_gemini(model, conversation, turn, reply, [part], last=i == len(parts) - 1)
        for i, part in enumerate(parts)
    ]


def render_gemini_sse(chunks: Sequence[dict[str, Any]]) -> bytes:
    """Gemini's ``alt=sse`` body: ``data: {...}`` events separated by CRLF blank lines, no end marker."""
    return "".join(f"data: {json.dumps(chunk)}\r\n\r\n" for chunk in chunks).encode()


# ------------------------------------------------------------------------------------------------ HTTP layer


class _HTTPError(Exception):
    """An error to send back as an OpenAI-shaped JSON body."""

    def __init__(self, status: int, payload: dict[str, Any]) -> None:
        super().__init__(payload["error"]["message"])
        self.status = status
        self.payload = payload

    def for_api(self, api: providers.API) -> dict[str, Any]:
        """The same error in the shape of another provider's API."""
        return providers.error_body(api, self.status, str(self))


class _Httpd(ThreadingHTTPServer):
    """The stdlib server, carrying a back-reference to its :class:`ScriptedServer`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], owner: ScriptedServer) -> None:
        super().__init__(address, _Handler)
        self.owner = owner


class _Handler(BaseHTTPRequestHandler):
    """Routes requests to the owning :class:`ScriptedServer`."""

    protocol_version = "HTTP/1.1"
    server_version = "durable-chaos-scripted/1"

    @property
    def owner(self) -> ScriptedServer:
        return cast(_Httpd, self.server).owner

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silence the default per-request stderr logging."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        body = self._read_body()
        path = urlsplit(self.path).path.rstrip("/") or "/"
        api = route(path) if method == "POST" else None
        try:
            if api is not None:
                self._model(api, path, body)
            elif method == "GET" and path in MODELS_PATHS:
                self._send(200, "application/json", _json_bytes(models_payload(self.owner.models)))
            else:
                raise _HTTPError(404, error_payload(f"Invalid URL ({method} {self.path})"))
        except _HTTPError as err:
            payload = err.payload if api in (None, "openai-chat", "openai-responses") else err.for_api(api)
            self._send(err.status, "application/json", _json_bytes(payload))
        except Exception as exc:  # noqa: BLE001 - any bug must still produce a provider-shaped answer
            message = f"scripted server error: {exc!r}"
            self._send(500, "application/json", _json_bytes(providers.error_body(api, 500, message)))

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _model(self, api: providers.API, path: str, raw: bytes) -> None:
        request = parse_chat_request(raw) if api == "openai-chat" else parse_json_request(raw)
        self.owner.record(request)
        if api == "openai-chat":
            content_type, payload = self.owner.respond(request)
        else:
            content_type, payload = self.owner.respond_to(api, path, request)
        self._send(200, content_type, payload)

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if content_type.startswith("text/event-stream"):
            self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(payload)


def route(path: str) -> providers.API | None:
    """The provider API served at ``path`` (exact paths only, so a wrong base URL is a 404)."""
    if path in CHAT_PATHS:
        return "openai-chat"
    if path in RESPONSES_PATHS:
        return "openai-responses"
    if path in MESSAGES_PATHS:
        return "anthropic"
    if GEMINI_ROUTE.match(path):
        return "gemini"
    return None


def _json_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def parse_chat_request(raw: bytes) -> dict[str, Any]:
    """Parse and minimally validate a chat-completions body, raising 400-shaped errors."""
    try:
        request = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        message = f"We could not parse the JSON body of your request. ({exc})"
        raise _HTTPError(400, error_payload(message)) from None
    if not isinstance(request, dict):
        raise _HTTPError(400, error_payload("The request body must be a JSON object."))
    if not isinstance(request.get("messages"), list):
        raise _HTTPError(400, error_payload("'messages' must be a list.", param="messages"))
    return request


def parse_json_request(raw: bytes) -> dict[str, Any]:
    """Parse a JSON object request body, raising 400-shaped errors."""
    try:
        request = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _HTTPError(
            400, error_payload(f"We could not parse the JSON body of your request. ({exc})")
        ) from None
    if not isinstance(request, dict):
        raise _HTTPError(400, error_payload("The request body must be a JSON object."))
    return request


# --------------------------------------------------------------------------------------------- public server


class ScriptedServer:
    """Serve a :class:`Script` over HTTP on 127.0.0.1 in a daemon thread.

    ``with ScriptedServer(script) as server: ... server.base_url ...``
    """

    def __init__(
        self,
        script: Script | dict[str, Any] | str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        models: Sequence[str] = DEFAULT_MODELS,
    ) -> None:
        self.script = _coerce_script(script)
        self.host = host
        self.models = tuple(models)
        self._requested_port = port
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._httpd: _Httpd | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> ScriptedServer:
        """Bind and start serving (idempotent)."""
        if self._httpd is None:
            self._httpd = _Httpd((self.host, self._requested_port), self)
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.02},
                name=f"scripted-server:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        httpd, thread = self._httpd, self._thread
        self._httpd, self._thread = None, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is currently serving."""
        return self._httpd is not None

    # addresses

    @property
    def port(self) -> int:
        """The bound port."""
        if self._httpd is None:
            raise RuntimeError("ScriptedServer is not running; call start() or use it as a context manager")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL, e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"{self.url}/v1"

    # request log

    @property
    def requests(self) -> list[dict[str, Any]]:
        """A snapshot of every parsed chat-completions body received, oldest first."""
        with self._lock:
            return list(self._requests)

    def record(self, request: dict[str, Any]) -> None:
        """Append one parsed request body to the log."""
        with self._lock:
            self._requests.append(request)

    def reset(self) -> None:
        """Clear the request log."""
        with self._lock:
            self._requests.clear()

    # responses

    def respond(self, request: dict[str, Any]) -> tuple[str, bytes]:
        """``(content type, body)`` answering a parsed chat-completions request."""
        try:
            conversation, turn, reply = self.script.select(request["messages"])
        except ScriptError as exc:
            raise _HTTPError(400, error_payload(str(exc), code="no_scripted_conversation")) from None
        model = str(request.get("model") or "scripted")
        if not request.get("stream"):
            return "application/json", _json_bytes(build_completion(model, conversation, turn, reply))
        include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        chunks = build_stream_chunks(model, conversation, turn, reply, include_usage=include_usage)
        return "text/event-stream; charset=utf-8", render_sse(chunks)

    def respond_to(self, api: providers.API, path: str, request: dict[str, Any]) -> tuple[str, bytes]:
        """``(content type, body)`` answering a request to the Responses, Messages or Gemini API."""
        if api == "openai-responses":
            haystack, turn = responses_input_text(request), responses_turns(request)
        elif api == "anthropic":
            haystack = anthropic_system_text(request)
            turn = count_assistant_turns(request.get("messages") or [])
        elif api == "gemini":
            haystack, turn = gemini_system_text(request), gemini_turns(request)
        else:
            return self.respond(request)
        try:
            conversation, turn, reply = self.script.select_by(haystack, turn)
        except ScriptError as exc:
            raise _HTTPError(400, error_payload(str(exc), code="no_scripted_conversation")) from None
        model = providers.model_name(api, path, request) or "scripted"
        stream = providers.is_streaming(api, path, request)
        sse = "text/event-stream; charset=utf-8"
        if api == "openai-responses":
            if not stream:
                return "application/json", _json_bytes(build_response(model, conversation, turn, reply))
            events = build_response_events(model, conversation, turn, reply)
            return sse, render_named_sse(events)
        if api == "anthropic":
            if not stream:
                return "application/json", _json_bytes(build_message(model, conversation, turn, reply))
            return sse, render_named_sse(build_message_events(model, conversation, turn, reply))
        if not stream:
            return "application/json", _json_bytes(build_gemini(model, conversation, turn, reply))
        return sse, render_gemini_sse(build_gemini_chunks(model, conversation, turn, reply))


def _coerce_script(script: Script | dict[str, Any] | str | Path) -> Script:
    if isinstance(script, Script):
        return script
    if isinstance(script, dict):
        return Script.model_validate(script)
    return Script.from_file(script)


# ---------------------------------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a script file until interrupted; prints the base URL first."""
    parser = argparse.ArgumentParser(
        prog="python -m durable_chaos.infra.model_server",
        description="Serve a scripted OpenAI-compatible chat-completions API.",
    )
    parser.add_argument("script", type=Path, help="script file (.yaml, .yml or .json)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="host to bind (default: 127.0.0.1)")
    args = parser.parse_args(argv)
    server = ScriptedServer(Script.from_file(args.script), host=args.host, port=args.port).start()
    print(server.base_url, flush=True)
    try:
        while server._thread is not None and server._thread.is_alive():
            server._thread.join(timeout=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
