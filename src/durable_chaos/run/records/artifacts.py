"""Kept artifacts scrubbed of credentials, in place.

A trial directory that is kept (its trial did not pass, or ``--chaos-keep-artifacts``) is what users
read and upload as a CI artifact: its history and ledger (JSON Lines), engine and worker logs, the
harness's traceback. Engine log records are scrubbed as they are written
(:mod:`durable_chaos.run.records.engine_logs`); a worker's output and the JSON Lines records are scrubbed
here once the trial is over (never before: the checkers judge the records as they were written).
Files that are not text (an engine's database, a NUL byte in the first 8 KiB) or larger than
:data:`LIMIT` are left as they are; each changed file is replaced whole (:mod:`durable_chaos.atomic`).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from durable_chaos.atomic import atomic_write_bytes
from durable_chaos.scrub import scrub_json, scrub_text

LIMIT = 64 * 1024 * 1024


def scrub_directory(directory: Path) -> None:
    """Scrub every text file under ``directory`` (symbolic links are not followed). Never raises."""
    with contextlib.suppress(OSError):
        for path in sorted(Path(directory).rglob("*")):
            with contextlib.suppress(OSError):
                if path.is_file() and not path.is_symlink():
                    scrub_file(path)


def scrub_file(path: Path) -> bool:
    """Scrub one text file in place; whether it changed."""
    if path.stat().st_size > LIMIT:
        return False
    with path.open("rb") as handle:
        if b"\0" in handle.read(8192):
            return False
        handle.seek(0)
        data = handle.read()
    text = data.decode("utf-8", "surrogateescape")  # odd bytes survive the round trip
    scrubbed = _scrub_json_lines(text) if path.suffix == ".jsonl" else scrub_text(text)
    if scrubbed == text:
        return False
    atomic_write_bytes(path, scrubbed.encode("utf-8", "surrogateescape"))
    return True


def _scrub_json_lines(text: str) -> str:
    lines = text.split("\n")
    for index, line in enumerate(lines):
        try:
            record = json.loads(line)
        except ValueError:
            lines[index] = scrub_text(line)
            continue
        cleaned = scrub_json(record)
        if cleaned != record:
            lines[index] = json.dumps(cleaned, sort_keys=True, default=str)
    return "\n".join(lines)
