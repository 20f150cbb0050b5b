"""MCP on Temporal and DBOS (``scenarios/mcp/temporal*.yaml``, ``dbos_server_exit.yaml``): pydantic-ai's
``TemporalDurability`` runs the ledger server's listing and tool calls as activities, and
``mcp_server_exit`` SIGKILLs the server's stdio process just before the ``exchange_rate`` call.

What the engines do, as observed: a Temporal MCP activity does not reuse a session the run holds (the
workflow cannot do I/O), so the activity's retry connects again, which starts a new server, and the run
completes; with single-attempt activities nothing retries it and ``completes`` (only it) is violated.
Under DBOS the run holds one session, every retry of the MCP step meets the same closed connection,
and ``completes`` (only it) is violated. (Prefect: ``test_mcp_server_exit.py``.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_chaos.faults.injectors.mcp import spawn_hook_present
from durable_chaos.run.results import TrialResult
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

EXAMPLES = Path(__file__).resolve().parent.parent / "scenarios" / "mcp"

pytestmark = pytest.mark.skipif(not spawn_hook_present(), reason="the MCP SDK's spawn function moved")


def run(runner: TrialRunner, file: str) -> TrialResult:
    scenario = load_scenario(EXAMPLES / file)
    return runner.run(TrialSpec(scenario, scenario.engines[0], scenario.plans[0]))


def mcp_attempts(events: list[dict[str, object]], name: str) -> list[object]:
    """Outcomes of the finished attempts of the faulted run's MCP unit ``name``."""
    return [
        e["event"]
        for e in events
        if e.get("role") != "golden"
        and isinstance(unit := e.get("unit"), dict)
        and unit.get("name") == name
        and e["event"] in ("ok", "fail")
    ]


def violated(result: TrialResult) -> set[str]:
    return {name for name, verdict in result.verdicts.items() if verdict.held is False}


def test_temporal_mcp_activity_retry_starts_the_server_again_and_the_run_completes(
    runner: TrialRunner,
) -> None:
    result = run(runner, "temporal_server_exit.yaml")
    assert result.verdict == "pass", result.reason
    assert not violated(result)
    assert mcp_attempts(result.events, "ledger:exchange_rate") == ["fail", "ok"]
    calls = result.to_report()["model_calls"]  # the listing is an activity of its own, once per run
    assert (calls["golden"], calls["mcp_listings"], calls["mcp_listing_units"]) == (3, 1, 1)


def test_temporal_single_attempt_mcp_activity_fails_the_run(runner: TrialRunner) -> None:
    result = run(runner, "temporal_server_exit_single_attempt.yaml")
    assert violated(result) == {"completes"}
    assert result.verdict == "pass", result.reason  # the scenario declares exactly this violation


def test_dbos_step_retries_meet_the_run_held_dead_session(runner: TrialRunner) -> None:
    result = run(runner, "dbos_server_exit.yaml")
    assert violated(result) == {"completes"}
    assert "exceeded its maximum of 3 retries" in result.verdicts["completes"].detail
    assert mcp_attempts(result.events, "ledger:exchange_rate") == ["fail"] * 3
    assert result.verdict == "pass", result.reason
