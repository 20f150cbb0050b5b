"""The trial history: one JSONL file that every process of a trial appends to.

Each event is flushed and fsynced before the injector acts on it, so a kill loses nothing. The event
names, and who writes each, are in :mod:`durable_chaos.events`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from durable_chaos import jsonl
from durable_chaos.infra.engines.base import EngineAdapter
from durable_chaos.infra.ledger import Ledger


@dataclass(frozen=True)
class History(jsonl.Log):
    """The JSONL history of one trial."""

    def mark(self, event: str, role: str, **fields: Any) -> None:
        self.append({"t": time.time(), "pid": os.getpid(), "role": role, "event": event, **fields})

    def events(self) -> list[dict[str, Any]]:
        return self.records()


@dataclass(frozen=True)
class TrialObserver:
    """The observer injectors report to: history, ledger, and the engine's idea of the current unit."""

    history: History
    ledger: Ledger
    engine: EngineAdapter

    def event(self, record: dict[str, Any]) -> None:
        self.history.append(record)

    def model_exchange(self, record: dict[str, Any]) -> None:
        self.ledger.append(record)

    def unit_context(self) -> dict[str, Any]:
        return self.engine.unit_context()
