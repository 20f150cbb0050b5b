"""The scripted model server's script: conversations, chosen by a substring of the system prompt, each a
list of replies (text, tool calls, usage) served by turn number."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from durable_chaos.providers.scripted import count_assistant_turns, match_text

__all__ = ["Conversation", "Reply", "Script", "ScriptError", "ToolCall", "Usage", "coerce_script"]


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


def coerce_script(script: Script | dict[str, Any] | str | Path) -> Script:
    """A script given as a :class:`Script`, its dict, or the path of its file."""
    if isinstance(script, Script):
        return script
    if isinstance(script, dict):
        return Script.model_validate(script)
    return Script.from_file(script)
