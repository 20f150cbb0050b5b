"""MCP faults beneath the durable unit: an agent with an MCP toolset (an in-process FastMCP server, and
the example ledger server over stdio), run with the MCP fault layer and an armed plan, no engine."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from event_recorder import EventRecorder
from fastmcp import FastMCP
from fastmcp.client.transports import PythonStdioTransport
from pydantic import TypeAdapter, ValidationError
from pydantic_ai import Agent
from pydantic_ai.mcp import MCPToolset
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from durable_chaos.faults.context import Injection, activated
from durable_chaos.faults.injectors.mcp import mcp_faults, spawn_hook_present
from durable_chaos.faults.model import Fault, Selector
from durable_chaos.faults.plan import ArmedPlan
from durable_chaos.faults.units import UnitTracker

FAULT: TypeAdapter[Fault] = TypeAdapter(Fault)
LEDGER = Path(__file__).parents[1] / "scenarios" / "mcp" / "ledger_server.py"


def server() -> FastMCP:
    mcp = FastMCP("counter")
    calls: list[str] = []

    @mcp.tool
    def book(customer: str) -> str:
        """Book something for a customer."""
        calls.append(customer)
        return f"booked {customer} ({len(calls)})"

    mcp.calls = calls  # type: ignore[attr-defined]
    return mcp


def scripted(tool: str, args: dict[str, Any]) -> FunctionModel:
    """A model that calls ``tool`` once, then answers with what the tool returned (or the retry prompt)."""

    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart(tool, args, tool_call_id="call_1")])
        last = messages[-1].parts[-1]
        return ModelResponse(parts=[TextPart(f"{type(last).__name__}: {getattr(last, 'content', '')}")])

    return FunctionModel(reply)


@contextmanager
def injected(*faults: dict[str, Any]) -> Iterator[tuple[EventRecorder, ArmedPlan]]:
    recorder = EventRecorder()
    plan = ArmedPlan([FAULT.validate_python(f) for f in faults])
    with mcp_faults(), activated(Injection(plan, UnitTracker(), recorder)):
        yield recorder, plan


def run(toolset: MCPToolset, tool: str = "book", args: dict[str, Any] | None = None) -> str:
    agent = Agent(scripted(tool, args or {"customer": "ACME"}), toolsets=[toolset])
    return asyncio.run(agent.run("go")).output


# ------------------------------------------------------------------------------------------------ the model


def test_selectors_and_faults_accept_mcp_units() -> None:
    assert Selector(kind="mcp", name="ledger:*").matches_unit("mcp", "ledger:record_invoice")
    assert not Selector(kind="mcp").matches_unit("tool_call", "record_invoice")
    assert FAULT.validate_python({"kind": "tool_error", "at": {"kind": "mcp"}}).applies_to("mcp")
    assert FAULT.validate_python({"kind": "timeout"}).applies_to("mcp")
    exit_fault = FAULT.validate_python({"kind": "mcp_server_exit", "at": {"kind": "mcp"}})
    assert exit_fault.applies_to("mcp") and not exit_fault.applies_to("tool_call")
    with pytest.raises(ValidationError):
        FAULT.validate_python({"kind": "tool_error", "at": {"kind": "mcp_call"}})


# ------------------------------------------------------------------------------------------------ injection


def test_units_are_named_by_server_and_tool_and_each_call_executes_once() -> None:
    mcp = server()
    with injected() as (recorder, _):
        output = run(MCPToolset(mcp, id="shop"))
    assert output.startswith("ToolReturnPart: booked ACME (1)")
    names = [e["unit"]["name"] for e in recorder.of("invoke")]
    assert names[0] == "shop:tools/list" and "shop:book" in names
    assert [e["unit"]["kind"] for e in recorder.of("execute")] == ["mcp"] * len(recorder.of("execute"))
    assert len([e for e in recorder.of("execute") if e["unit"]["name"] == "shop:book"]) == 1


def test_tool_error_raises_out_of_the_mcp_unit_before_the_server_sees_the_call() -> None:
    mcp = server()
    with (
        injected(
            {"kind": "tool_error", "exception": "ConnectionError", "at": {"kind": "mcp", "name": "shop:book"}}
        ) as (
            recorder,
            plan,
        ),
        pytest.raises(ConnectionError, match="injected by durable-chaos"),
    ):
        run(MCPToolset(mcp, id="shop"))
    assert plan.fired == [1]
    assert mcp.calls == []  # type: ignore[attr-defined]
    fail = recorder.of("fail")[-1]
    assert fail["unit"]["name"] == "shop:book" and fail["error"].startswith("ConnectionError")


def test_tool_error_after_the_call_lost_its_result_but_the_effect_happened() -> None:
    mcp = server()
    fault = {"kind": "tool_error", "at": {"kind": "mcp", "name": "*:book", "phase": "after"}}
    with injected(fault) as (recorder, plan), pytest.raises(RuntimeError):
        run(MCPToolset(mcp, id="shop"))
    assert plan.fired == [1] and mcp.calls == ["ACME"]  # type: ignore[attr-defined]


def test_timeout_is_the_mcp_sdks_own_error_mapped_by_pydantic_ai() -> None:
    mcp = server()
    fault = {"kind": "timeout", "delay": 0.01, "at": {"kind": "mcp", "name": "shop:book"}}
    with injected(fault) as (_, plan):
        output = run(MCPToolset(mcp, id="shop"))  # tool_error_behavior='retry': the model is told
    assert plan.fired == [1] and mcp.calls == []  # type: ignore[attr-defined]
    assert "timed out" in output and "booked" not in output  # the model saw pydantic-ai's mapping
    with injected(fault), pytest.raises(Exception, match="timed out") as raised:
        run(MCPToolset(server(), id="shop", tool_error_behavior="error"))
    from fastmcp.exceptions import McpError

    assert isinstance(raised.value, McpError)


def test_listing_can_be_struck() -> None:
    fault = {"kind": "tool_error", "at": {"kind": "mcp", "name": "shop:tools/list"}}
    with injected(fault) as (_, plan), pytest.raises(RuntimeError):
        run(MCPToolset(server(), id="shop"))
    assert plan.fired == [1]


def test_without_an_active_injection_the_layer_is_transparent() -> None:
    mcp = server()
    with mcp_faults():
        assert run(MCPToolset(mcp, id="shop")).startswith("ToolReturnPart: booked ACME")


@pytest.mark.skipif(not spawn_hook_present(), reason="the MCP SDK's spawn function moved")
def test_server_exit_kills_the_stdio_server_and_the_call_meets_a_dead_server(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.txt"
    transport = PythonStdioTransport(LEDGER, python_cmd=sys.executable, env={"LEDGER_FILE": str(ledger)})
    fault = {"kind": "mcp_server_exit", "at": {"kind": "mcp", "name": "ledger:record_invoice"}}
    with injected(fault) as (recorder, plan):
        try:
            output = run(
                MCPToolset(transport, id="ledger", init_timeout=60.0),
                "record_invoice",
                {"customer": "ACME", "amount_usd": 1.0},
            )
        except Exception as exc:  # noqa: BLE001 - how a dead server surfaces depends on the SDK
            output = f"raised {type(exc).__name__}: {exc}"
    assert plan.fired == [1]
    assert not ledger.exists()  # the server died before it could book anything
    assert "booked" not in output and "INV-" not in output
    assert "ledger:record_invoice" in {e["unit"]["name"] for e in recorder.of("fault")}


def test_an_agent_without_mcp_servers_never_imports_the_mcp_clients() -> None:
    """Importing them costs seconds of every session's start; only an agent that has MCP needs them."""
    import subprocess

    code = (
        "import sys\n"
        "import durable_chaos.run.runner\n"
        "from durable_chaos.faults.injectors.mcp import MCP_CLIENT_MODULES, mcp_faults\n"
        "with mcp_faults():\n"
        "    pass\n"
        "print([name for name in MCP_CLIENT_MODULES if name in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
