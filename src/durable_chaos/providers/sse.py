"""Server-sent events, as the provider APIs send them: splitting a body into events, reading an event's
data, and writing named events (Anthropic's and the OpenAI Responses API's ``event: X`` / ``data: {...}``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any


def is_event_stream(content_type: str) -> bool:
    """Whether a response's ``content-type`` is server-sent events."""
    return content_type.split(";")[0].strip().lower() == "text/event-stream"


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


def json_documents(content: bytes) -> Iterator[Any]:
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


def with_data(event: bytes, data: str) -> bytes:
    """``event`` with its ``data:`` lines replaced by one ``data: <data>`` line (other lines and the
    event's line ending kept)."""
    head = [
        line for line in event.decode(errors="replace").splitlines() if line and not line.startswith("data:")
    ]
    newline = "\r\n" if event.endswith(b"\r\n\r\n") else "\n"
    lines = [*head, f"data: {data}"]
    return (newline.join(lines) + newline + newline).encode()


def render_named_sse(events: Sequence[dict[str, Any]]) -> bytes:
    """Server-sent events named by their ``type`` (``event: X`` then ``data: {...}``), Anthropic style."""
    return "".join(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n" for event in events).encode()
