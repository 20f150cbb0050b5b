"""usage_consistent: the pure checker on hand-built histories (both directions), and one known-bad Prefect
agent caught with exactly it next to its correct twin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from durable_chaos.infra.engines import engine_spec
from durable_chaos.infra.engines.base import RunOutcome
from durable_chaos.judge.checkers import usage_consistent
from durable_chaos.judge.evidence import Evidence
from durable_chaos.run.results import TrialResult
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

CLEAN = {"requests": 3, "tool_calls": 2, "input_tokens": 1597, "output_tokens": 131}


def reported(t: float, role: str, **usage: int) -> dict[str, Any]:
    return {"t": t, "pid": 1, "role": role, "event": "run_usage", "engine": {"usage": {**CLEAN, **usage}}}


def fault(t: float, kind: str) -> dict[str, Any]:
    unit = {"kind": "model_request", "name": "gpt-4o", "ordinal": 3, "fingerprint": "fp-new"}
    return {"t": t, "pid": 1, "role": "faulted", "event": "fault", "unit": unit, "attempt": 1,
            "fault": {"index": 0, "kind": kind, "phase": "after"}}  # fmt: skip


def send(role: str, fp: str) -> dict[str, Any]:
    unit = {"kind": "model_request", "name": "gpt-4o", "ordinal": 1, "fingerprint": fp}
    return {"t": 1.0, "role": role, "unit": unit, "fingerprint": fp, "model": "gpt-4o", "status": 200}


def evidence(
    events: list[dict[str, Any]], ledger: list[dict[str, Any]] | None = None, completed: bool = True
) -> Evidence:
    golden = RunOutcome("golden", True, output="x")
    faulted = RunOutcome("faulted", completed, output="x" if completed else None)
    return Evidence(golden, faulted, events, ledger or [], rules=engine_spec("prefect").rules)


def test_the_same_usage_after_a_resume_holds() -> None:
    verdict = usage_consistent(evidence([reported(1, "golden"), reported(2, "resume-1")]))
    assert verdict.held is True and "requests 3" in verdict.detail


def test_usage_counted_again_or_lost_is_named_field_by_field() -> None:
    doubled = usage_consistent(evidence([reported(1, "golden"), reported(2, "faulted", requests=5)]))
    assert doubled.held is False
    assert "requests 5 where the golden run reported 3 (counted again)" in doubled.detail
    lost = usage_consistent(evidence([reported(1, "golden"), reported(2, "resume-1", input_tokens=900)]))
    assert lost.held is False and "input_tokens 900 where the golden run reported 1597 (lost)" in lost.detail


def test_the_last_completed_execution_counts() -> None:
    # a flow attempt that completed the agent run and then failed reports too: the last report is the result
    events = [reported(1, "golden"), reported(2, "faulted", requests=2), reported(3, "faulted")]
    assert usage_consistent(evidence(events)).held is True


def test_not_applicable_without_reports_or_after_a_changed_conversation() -> None:
    assert usage_consistent(evidence([])).held is None  # an entry target reports no usage
    assert usage_consistent(evidence([reported(1, "golden")], completed=False)).held is None
    changed = [reported(1, "golden"), fault(2, "malformed_output"), reported(3, "faulted", requests=4)]
    ledger = [send("golden", "fp-1"), send("faulted", "fp-1"), send("faulted", "fp-new")]
    verdict = usage_consistent(evidence(changed, ledger))
    assert verdict.held is None and "malformed_output changed the conversation" in verdict.detail
    # the same fault kind without any request the golden run did not make is judged
    assert usage_consistent(evidence(changed, ledger[:2])).held is False


# ----------------------------------------------------------------------------------- end to end (Prefect)

EXAMPLES = Path(__file__).resolve().parent.parent / "scenarios" / "data_analyst"


def _trial(runner: TrialRunner, file: str) -> TrialResult:
    scenario = load_scenario(EXAMPLES / file)
    return runner.run(TrialSpec(scenario, "prefect", scenario.plans[0]))


def test_usage_carried_across_a_flow_retry_is_caught_with_exactly_usage_consistent(
    runner: TrialRunner,
) -> None:
    result = _trial(runner, "usage_job_budget.yaml")
    violated = {name for name, verdict in result.verdicts.items() if verdict.held is False}
    assert violated == {"usage_consistent"}, result.reason
    assert result.verdict == "pass", result.reason
    assert (
        "requests 5 where the golden run reported 3 (counted again)"
        in result.verdicts["usage_consistent"].detail
    )


def test_each_runs_own_usage_survives_the_flow_retry(runner: TrialRunner) -> None:
    result = _trial(runner, "usage_run_budget.yaml")
    assert result.verdict == "pass", result.reason
    assert result.verdicts["usage_consistent"].held is True


def test_a_sub_agents_usage_is_lost_when_prefect_replays_the_tool_task(runner: TrialRunner) -> None:
    # A finding about pydantic-ai's Prefect integration, not a bug of the example: the documented
    # delegation (usage=ctx.usage) is counted in a clean run and lost when the tool task is replayed.
    result = _trial(runner, "usage_sub_agent.yaml")
    violated = {name for name, verdict in result.verdicts.items() if verdict.held is False}
    assert violated == {"usage_consistent"}, result.reason
    assert "requests 2 where the golden run reported 3 (lost)" in result.verdicts["usage_consistent"].detail


# ------------------------------------------------------------------- end to end (DBOS, Restate: one each)

SCENARIOS = EXAMPLES.parent


@pytest.mark.parametrize(
    ("engine", "file", "detail"),
    [
        # DBOS: a sub-agent given ctx.usage inside a @DBOS.step; twin: the summarizer's model call a step
        ("dbos", "data_analyst/dbos_usage_sub_agent.yaml", "requests 2 where the golden run reported 3"),
        ("dbos", "data_analyst/dbos_usage_durable_sub_agent.yaml", None),
        # Restate: a job's usage carried into agent.run, counted again when the invocation is retried
        ("restate", "restate/usage_job_budget.yaml", "(counted again)"),
        ("restate", "restate/usage_run_budget.yaml", None),
    ],
    ids=["dbos-known-bad", "dbos-twin", "restate-known-bad", "restate-twin"],
)
def test_usage_lost_or_counted_again_across_dbos_and_restate_boundaries(
    runner: TrialRunner, engine: str, file: str, detail: str | None
) -> None:
    scenario = load_scenario(SCENARIOS / file)
    result = runner.run(TrialSpec(scenario, engine, scenario.plans[0]))
    assert result.verdict == "pass", result.reason
    verdict = result.verdicts["usage_consistent"]
    if detail is None:
        assert verdict.held is True, verdict.detail
    else:
        violated = {name for name, v in result.verdicts.items() if v.held is False}
        assert violated == {"usage_consistent"}, result.reason
        assert detail in verdict.detail, verdict.detail
