"""The data-analysis agent's parts that do not depend on an engine: its output type, its tools and
its instructions (shared by the Prefect and DBOS versions, which must send identical requests to
replay the same cassette)."""

from __future__ import annotations

import hashlib
import sqlite3
import tempfile
from pathlib import Path

from pydantic import BaseModel

SALES_Q4 = {
    "revenue": [120.0, 135.5, 128.0, 410.0, 140.25],
    "region": ["north", "south", "east", "west", "north"],
}


class DataAnalysis(BaseModel):
    summary: str
    key_findings: list[str]
    anomalies: list[dict[str, float]]
    recommendations: list[str]


def load_dataset(name: str) -> dict[str, list[float] | list[str]]:
    """Load a dataset by name."""
    if name != "sales_q4":
        raise ValueError(f"unknown dataset {name!r}")
    return SALES_Q4


def compute_statistics(column: str) -> dict[str, float]:
    """Mean, max and min of a numeric column of the loaded dataset."""
    values = [float(v) for v in SALES_Q4[column]]
    return {"mean": round(sum(values) / len(values), 2), "max": max(values), "min": min(values)}


INSTRUCTIONS = "You are an expert data analyst. Load the dataset, compute statistics, then report."


# The side effect of the at-least-once twins (``load_dataset`` billed as a warehouse query): a row in an
# SQLite ledger that every process of a trial shares (the worker that is killed, the one that recovers),
# one per checkout of the examples (every example folder imports this one module from ``_shared``).
# ``bill_query(name)`` bills every call; ``bill_query(name, key)`` bills a key once (INSERT OR IGNORE):
# the idempotent twin keys it by something its engine keeps across retries and recoveries.
LEDGER = Path(tempfile.gettempdir()) / (
    "data-analyst-billing-"
    + hashlib.sha256(str(Path(__file__).resolve().parent.parent).encode()).hexdigest()[:12]
    + ".sqlite"
)


def _ledger() -> sqlite3.Connection:
    connection = sqlite3.connect(LEDGER, timeout=30, isolation_level=None)
    connection.execute(
        "CREATE TABLE IF NOT EXISTS billed (id INTEGER PRIMARY KEY, name TEXT, key TEXT UNIQUE)"
    )
    return connection


def bill_query(name: str, key: str | None = None) -> None:
    """Bill one warehouse query of dataset ``name`` (once per ``key`` when a key is given)."""
    with _ledger() as connection:
        connection.execute("INSERT OR IGNORE INTO billed (name, key) VALUES (?, ?)", (name, key))
    connection.close()


_bills_in_this_process = 0


def bill_query_numbered_per_process(name: str, run_key: str) -> None:
    """KNOWN-BAD, only a warm worker shows it: bill once per (``run_key``, dataset, the number of bills
    *this process* made), a counter kept per process instead of per run. A new worker recovering the run
    numbers its repeat 1, as the killed worker did, so the ledger deduplicates it; a worker that already
    billed another run (a long-lived one) numbers it 2 and bills the query again."""
    global _bills_in_this_process
    _bills_in_this_process += 1
    bill_query(name, key=f"{run_key}:{name}:{_bills_in_this_process}")


def billed_queries() -> int:
    """The queries billed so far (the effects function of the twins' scenarios)."""
    with _ledger() as connection:
        (count,) = connection.execute("SELECT count(*) FROM billed").fetchone()
    connection.close()
    return int(count)
