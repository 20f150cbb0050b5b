"""What the billing agents share: instructions and the MCP toolset of the ledger server."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal

from fastmcp.client.transports import PythonStdioTransport
from pydantic_ai.mcp import MCPToolset

SERVER = Path(__file__).with_name("ledger_server.py")

INSTRUCTIONS = (
    "You are a billing clerk. Convert the amount to USD with the ledger's exchange_rate tool, book it "
    "with record_invoice, and answer with the invoice id."
)


def ledger_toolset(
    tool_error_behavior: Literal["retry", "error", "failed"] = "retry", cache_tools: bool = True
) -> MCPToolset:
    """The ledger server over stdio, run with this interpreter. ``LEDGER_FILE`` is passed through, so
    the server's side effects can be counted; an explicit ``id`` names the server's durable units.
    ``tool_error_behavior="error"`` lets a failed call (a dead server's ``McpError``) fail the durable
    unit instead of telling the model (pydantic-ai's default, ``"retry"``); ``cache_tools=False`` lists
    the server's tools again for every model request (each listing a durable unit of its own)."""
    env = {"LEDGER_FILE": os.environ["LEDGER_FILE"]} if "LEDGER_FILE" in os.environ else {}
    transport = PythonStdioTransport(SERVER, python_cmd=sys.executable, env=env, keep_alive=False)
    return MCPToolset(
        transport,
        id="ledger",
        init_timeout=60.0,
        tool_error_behavior=tool_error_behavior,
        cache_tools=cache_tools,
    )
