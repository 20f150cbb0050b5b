"""What every dialect of the scripted model server shares: the reply it renders and how requests read.

The scripted server (:mod:`durable_chaos.infra.model_server`) reads its script into pydantic models;
the dialects here only need their shape (:class:`ScriptedReply`), so this package stays beneath infra.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Protocol

CREATED = 1_700_000_000
"""Fixed ``created`` timestamp of every response, so recorded cassettes are byte-stable."""

JSON = "application/json"
SSE = "text/event-stream; charset=utf-8"


class ScriptedUsage(Protocol):
    """Token usage of one scripted reply (``durable_chaos.infra.model_server.Usage``)."""

    @property
    def prompt_tokens(self) -> int: ...
    @property
    def completion_tokens(self) -> int: ...
    @property
    def cached_tokens(self) -> int: ...
    @property
    def reasoning_tokens(self) -> int: ...


class ScriptedCall(Protocol):
    """One tool call of a scripted reply (``durable_chaos.infra.model_server.ToolCall``)."""

    @property
    def name(self) -> str: ...
    @property
    def arguments(self) -> dict[str, Any]: ...


class ScriptedReply(Protocol):
    """One scripted assistant turn (``durable_chaos.infra.model_server.Reply``)."""

    @property
    def text(self) -> str | None: ...
    @property
    def tool_calls(self) -> Sequence[ScriptedCall]: ...
    @property
    def usage(self) -> ScriptedUsage: ...
    @property
    def finish_reason(self) -> str: ...


def split_text(text: str) -> list[str]:
    """Deterministic stream pieces: one word plus its trailing whitespace each."""
    return re.findall(r"\S+\s*|\s+", text)


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


def json_bytes(payload: dict[str, Any]) -> bytes:
    """A JSON response body."""
    return json.dumps(payload).encode()
