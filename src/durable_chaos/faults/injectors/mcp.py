"""MCP faults beneath the durable unit that wraps an MCP server's tool listing or tool call.

pydantic-ai's durable integrations wrap ``MCPToolset.call_tool`` (and, where the engine makes the
listing a unit, ``MCPToolset.list_tools``) in a task, step or activity, so both methods run inside the
unit: an exception raised here is seen by the engine's own retry machinery. Units are named
``<server id>:<tool>`` and ``<server id>:tools/list`` (MCP tool names cannot contain ``/``).

- ``tool_error`` raises the named exception out of the call, as a server call that raised;
- ``timeout`` makes the MCP client's request time out the way the MCP SDK reports it (an ``McpError``
  with code ``REQUEST_TIMEOUT``) from ``fastmcp.Client``, beneath pydantic-ai, so pydantic-ai maps it
  exactly as it maps a real one (by default a ``ModelRetry`` the model sees);
- ``mcp_server_exit`` SIGKILLs the server's stdio process (its process group) before the call is sent,
  so the call meets a dead server the way it would in production;
- ``latency`` and ``kill`` act as everywhere else.

The server process is found through a checked private hook of the MCP SDK
(``mcp.client.stdio._create_platform_compatible_process``, recorded when it spawns): when that hook is
missing, ``mcp_server_exit`` raises saying so rather than pretending the server died.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from durable_chaos import events
from durable_chaos.faults.context import Attempt, active, apply_common
from durable_chaos.faults.injectors.tools import exception_for
from durable_chaos.faults.model import Fault, McpServerExitFault, TimeoutFault, ToolErrorFault
from durable_chaos.faults.private_apis import MCP_SPAWN
from durable_chaos.faults.units import fingerprint
from durable_chaos.patching import patched

LISTING = "tools/list"
MCP_CLIENT_MODULES = ("pydantic_ai.mcp", "fastmcp")
"""Loaded by any agent that has an MCP server (pydantic-ai's MCP toolsets, FastMCP's client)."""
REQUEST_TIMEOUT = -32001
"""JSON-RPC error code the MCP SDK uses for a request that timed out."""

_pending_timeout: contextvars.ContextVar[TimeoutFault | None] = contextvars.ContextVar(
    "durable_chaos_mcp_timeout", default=None
)


@dataclass(frozen=True)
class _Spawned:
    args: tuple[str, ...]
    pid: int


_spawned: list[_Spawned] = []
"""Stdio MCP server processes spawned in this process (newest last)."""


def server_id(toolset: Any) -> str:
    """The server part of an MCP unit's name: the toolset's ``id``, else its class name."""
    return str(getattr(toolset, "id", None) or type(toolset).__name__)


def unit_name(toolset: Any, tool: str) -> str:
    return f"{server_id(toolset)}:{tool}"


def timeout_error(fault: TimeoutFault, method: str) -> BaseException:
    """The exception the installed MCP SDK raises for a request that timed out."""
    from fastmcp.exceptions import McpError

    message = f"Request {method!r} timed out (injected by durable-chaos)"
    try:
        return McpError(code=REQUEST_TIMEOUT, message=message)  # MCP SDK v2
    except TypeError:  # MCP SDK v1: McpError(ErrorData)
        from mcp.types import ErrorData  # type: ignore[attr-defined]

        return McpError(ErrorData(code=REQUEST_TIMEOUT, message=message))  # type: ignore[arg-type, call-arg, unused-ignore]


def kill_server(toolset: Any) -> list[int]:
    """SIGKILL the live stdio server processes of ``toolset`` (matched by their arguments; all live ones
    when the toolset's transport says nothing). Returns the pids killed."""
    transport = getattr(getattr(toolset, "client", None), "transport", None)
    args = getattr(transport, "args", None)
    candidates = [s for s in _spawned if args is None or s.args == tuple(args)]
    killed = []
    for spawned in candidates:
        try:
            os.killpg(spawned.pid, signal.SIGKILL)  # the SDK spawns the server in its own session
        except ProcessLookupError:
            continue
        except PermissionError:
            os.kill(spawned.pid, signal.SIGKILL)
        killed.append(spawned.pid)
    if not killed:
        problem = MCP_SPAWN.problem()
        if problem is not None:
            raise RuntimeError(f"durable-chaos: mcp_server_exit cannot find MCP server processes: {problem}")
        raise RuntimeError(
            "durable-chaos: mcp_server_exit found no live stdio process of MCP server "
            f"{server_id(toolset)!r} (only stdio servers the MCP SDK spawned in this process can be killed)"
        )
    return killed


async def _raise(fault: ToolErrorFault, toolset: Any) -> None:
    raise exception_for(fault)


async def _time_out(fault: TimeoutFault, toolset: Any) -> None:
    _pending_timeout.set(fault)  # the client's next request (beneath pydantic-ai) times out


async def _server_exit(fault: McpServerExitFault, toolset: Any) -> None:
    kill_server(toolset)
    await asyncio.sleep(0.05)  # let the event loop see the pipe close


ACTS: dict[type[Fault], Callable[[Any, Any], Awaitable[None]]] = {
    ToolErrorFault: _raise,
    TimeoutFault: _time_out,
    McpServerExitFault: _server_exit,
}
"""What each fault kind does to an MCP unit (given the fault and the unit's toolset); kinds not listed
(beyond :func:`apply_common`'s) do nothing here."""


async def _apply(fault: Fault, toolset: Any, method: str) -> None:
    if await apply_common(fault):
        return
    act = ACTS.get(type(fault))
    if act is not None:
        await act(fault, toolset)


async def _unit(toolset: Any, tool: str, fp: str, call: Any, **fields: Any) -> Any:
    injection = active()
    if injection is None:
        return await call()
    attempt: Attempt = injection.begin("mcp", unit_name(toolset, tool), fp, **fields)
    token = _pending_timeout.set(None)
    try:
        fault = attempt.strike("before")
        if fault is not None:
            await _apply(fault, toolset, tool)
        attempt.finish(events.EXECUTE, **fields)
        result = await call()
        fault = attempt.strike("after")
        if fault is not None:
            await _apply(fault, toolset, tool)
    except BaseException as exc:
        attempt.finish(events.FAIL, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        _pending_timeout.reset(token)
    attempt.finish(events.OK, replayed=[])
    return result


async def _client_request(original: Any, method: str, *args: Any, **kwargs: Any) -> Any:
    fault = _pending_timeout.get()
    if fault is None:
        return await original(*args, **kwargs)
    _pending_timeout.set(None)
    await asyncio.sleep(fault.delay)
    raise timeout_error(fault, method)


def mcp_fingerprint(server: str, tool: str, args: dict[str, Any] | None, call_id: str | None) -> str:
    return fingerprint("mcp", server, tool, args, call_id)


@contextmanager
def mcp_faults() -> Iterator[None]:
    """Install the MCP fault layer (``MCPToolset.call_tool`` and ``list_tools``, the FastMCP client's
    requests, and the record of spawned stdio servers) for the duration of the block.

    Only in a process that has loaded an MCP client by then (the agent's module imports it): an agent
    without MCP servers has no MCP call to fault, and importing the clients costs about 2.5 s of every
    session's start."""
    if not any(name in sys.modules for name in MCP_CLIENT_MODULES):
        yield
        return
    from fastmcp import Client
    from pydantic_ai.mcp import MCPToolset

    call_tool = MCPToolset.call_tool
    list_tools = MCPToolset.list_tools
    client_call = Client.call_tool
    client_list = Client.list_tools

    async def patched_call_tool(self: Any, name: str, tool_args: dict[str, Any], ctx: Any, tool: Any) -> Any:
        call_id = getattr(ctx, "tool_call_id", None)
        fp = mcp_fingerprint(server_id(self), name, tool_args, call_id)
        return await _unit(
            self, name, fp, lambda: call_tool(self, name, tool_args, ctx, tool), call_id=call_id
        )

    async def patched_list_tools(self: Any) -> Any:
        fp = mcp_fingerprint(server_id(self), LISTING, None, None)
        return await _unit(self, LISTING, fp, lambda: list_tools(self))

    async def patched_client_call(self: Any, *args: Any, **kwargs: Any) -> Any:
        return await _client_request(
            lambda *a, **k: client_call(self, *a, **k), "tools/call", *args, **kwargs
        )

    async def patched_client_list(self: Any, *args: Any, **kwargs: Any) -> Any:
        return await _client_request(lambda *a, **k: client_list(self, *a, **k), LISTING, *args, **kwargs)

    with ExitStack() as stack:
        stack.enter_context(patched(MCPToolset, "call_tool", patched_call_tool))
        stack.enter_context(patched(MCPToolset, "list_tools", patched_list_tools))
        stack.enter_context(patched(Client, "call_tool", patched_client_call))
        stack.enter_context(patched(Client, "list_tools", patched_client_list))
        stack.enter_context(_recording_spawns())
        yield


@contextmanager
def _recording_spawns() -> Iterator[None]:
    """Record the stdio servers the MCP SDK spawns (a checked private hook; broken, nothing is recorded)."""

    def make(spawn: Any) -> Any:
        async def recording(command: str, args: list[str], *rest: Any, **kwargs: Any) -> Any:
            process = await spawn(command, args, *rest, **kwargs)
            pid = getattr(process, "pid", None)
            if isinstance(pid, int):
                _spawned.append(_Spawned(tuple(args), pid))
            return process

        return recording

    with MCP_SPAWN.patch(make):
        yield


def spawn_hook_present() -> bool:
    """Whether the MCP SDK's private spawn function, which ``mcp_server_exit`` relies on, is usable."""
    return MCP_SPAWN.problem() is None
