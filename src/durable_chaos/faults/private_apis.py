"""The MCP SDK's private API the MCP fault layer uses, as a checked hook (see :mod:`durable_chaos.patching`).

Checked when the MCP fault layer is installed: broken, no spawned server is recorded and an
``mcp_server_exit`` fault is an error naming the MCP SDK's version and the hook, never a kill of the
wrong process or a pretended one.
"""

from __future__ import annotations

from durable_chaos.patching import Hook

MCP_SPAWN = Hook(
    library="mcp",
    target="mcp.client.stdio:_create_platform_compatible_process",
    why=(
        "mcp_server_exit must kill the stdio server process the SDK spawned, and the SDK does not expose "
        "that process (its stdio_client keeps it inside the context manager)"
    ),
    properties=("mcp_server_exit",),
    parameters=("command", "args"),
)
"""Spawn an MCP server's stdio process (recorded, so ``mcp_server_exit`` can kill it)."""

HOOKS = (MCP_SPAWN,)
"""Every private API of the MCP SDK the harness relies on."""
