"""A trial observer for unit tests of the fault layer: keeps the events it is given, sees no engine."""

from __future__ import annotations

from typing import Any


class EventRecorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def event(self, record: dict[str, Any]) -> None:
        self.events.append(record)

    def model_exchange(self, record: dict[str, Any]) -> None:
        pass

    def unit_context(self) -> dict[str, Any]:
        return {}

    def of(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == event]
