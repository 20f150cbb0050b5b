"""A small MCP server shipped with the examples: a billing ledger over stdio (FastMCP).

Two tools: ``exchange_rate`` (read-only) and ``record_invoice`` (side-effecting: it books an invoice,
and appends a line to the file named by ``LEDGER_FILE`` when that is set, so a test can count how often
the effect happened). Replies are deterministic, so golden and faulted runs compare equal.

Run it by hand with ``python ledger_server.py`` (it speaks MCP on stdin/stdout).
"""

from __future__ import annotations

import hashlib
import os

from fastmcp import FastMCP

RATES = {"EUR": 1.09, "GBP": 1.27, "JPY": 0.0067}

server = FastMCP("ledger")


@server.tool
def exchange_rate(currency: str) -> float:
    """The USD value of one unit of ``currency``."""
    return RATES[currency.upper()]


@server.tool
def record_invoice(customer: str, amount_usd: float) -> str:
    """Book an invoice for ``customer`` in the ledger and return its id."""
    invoice = "INV-" + hashlib.sha256(f"{customer}:{amount_usd:.2f}".encode()).hexdigest()[:8].upper()
    path = os.environ.get("LEDGER_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as ledger:
            ledger.write(f"{invoice} {customer} {amount_usd:.2f}\n")
    return invoice


if __name__ == "__main__":
    server.run(show_banner=False)
