"""``mcp_server_exit`` on Prefect (``scenarios/mcp/server_exit*.yaml``): the ledger MCP server's stdio
process is SIGKILLed just before the ``exchange_rate`` call.

What the engine does, as observed: the billing agent's toolset raises protocol errors
(``tool_error_behavior="error"``), so the call fails its Prefect MCP task with the MCP SDK's
``MCPError: Connection closed``. The task's own retries meet the same closed connection (pydantic-ai's
``MCPToolset`` keeps its stdio session for the whole agent run), so all of them fail; the flow's retry
re-runs the agent, which starts the server again, replays the cached model tasks and completes. Without
a flow retry the run fails, and ``completes`` (only it) says so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_chaos.faults.injectors.mcp import spawn_hook_present
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

EXAMPLES = Path(__file__).resolve().parent.parent / "scenarios" / "mcp"

pytestmark = pytest.mark.skipif(not spawn_hook_present(), reason="the MCP SDK's spawn function moved")


def mcp_attempts(events: list[dict[str, object]], name: str) -> list[tuple[object, object]]:
    """``(attempt, outcome)`` of each finished attempt of the faulted run's MCP unit ``name``."""
    return [
        (e["attempt"], e["event"])
        for e in events
        if e.get("role") != "golden"
        and isinstance(unit := e.get("unit"), dict)
        and unit.get("name") == name
        and e["event"] in ("ok", "fail")
    ]


def test_the_flow_retry_restarts_the_server_and_the_run_completes(runner: TrialRunner) -> None:
    scenario = load_scenario(EXAMPLES / "server_exit.yaml")
    result = runner.run(TrialSpec(scenario, scenario.engines[0], scenario.plans[0]))
    assert result.verdict == "pass", result.reason
    assert result.verdicts["completes"].held is True
    assert result.verdicts["tools_exactly_once"].held is True
    attempts = mcp_attempts(result.events, "ledger:exchange_rate")
    assert attempts[-1][1] == "ok" and [o for _, o in attempts[:-1]] == ["fail"] * 3  # task: 1 + 2 retries
    calls = result.to_report()["model_calls"]  # one listing per run, a Prefect task (cache_tools)
    assert (calls["golden"], calls["mcp_listings"], calls["mcp_listing_units"]) == (3, 1, 1)


def test_without_a_flow_retry_the_dead_server_fails_the_run(runner: TrialRunner) -> None:
    scenario = load_scenario(EXAMPLES / "server_exit_no_flow_retry.yaml")
    result = runner.run(TrialSpec(scenario, scenario.engines[0], scenario.plans[0]))
    assert {name for name, verdict in result.verdicts.items() if verdict.held is False} == {"completes"}
    assert "Connection closed" in result.verdicts["completes"].detail
    assert result.verdict == "pass", result.reason  # the scenario declares exactly this violation
