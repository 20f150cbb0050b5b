"""End-to-end DBOS trials of the deep-research example (scenarios/deep_research): the article's
multi-agent system (planner, concurrent search workflows, an analyst with a sub-agent tool) killed
mid-run and recovered by a new worker, with cassette traffic.

A correct workflow holds every property; the known-bad one (a side-effecting plain function tool,
which DBOS re-runs on recovery) is caught with exactly its violation.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_chaos.infra.engines import EngineUnavailable, adapter_for
from durable_chaos.run.results import TrialResult
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

pytest.importorskip("dbos")
pytest.importorskip("pydantic_ai.durable_exec.dbos")

EXAMPLES = Path(__file__).resolve().parent.parent / "scenarios" / "deep_research"


def dbos_available() -> bool:
    try:
        adapter_for("dbos")
    except EngineUnavailable:
        return False
    return True


pytestmark = pytest.mark.skipif(not dbos_available(), reason="the DBOS engine adapter is not available")


def run_plan(runner: TrialRunner, file: str, plan: str) -> TrialResult:
    scenario = load_scenario(EXAMPLES / file)
    chosen = next(p for p in scenario.plans if p.name == plan)
    return runner.run(TrialSpec(scenario, "dbos", chosen))


def held(result: TrialResult) -> dict[str, bool | None]:
    return {name: verdict.held for name, verdict in result.verdicts.items()}


@pytest.mark.parametrize(
    ("file", "plan"),
    [("kill.yaml", "kill-at-first-fan-out-search"), ("kill.yaml", "kill-in-sub-agent")],
)
def test_killed_deep_research_recovers_without_repeats(runner: TrialRunner, file: str, plan: str) -> None:
    result = run_plan(runner, file, plan)
    assert result.verdict == "pass", result.reason
    assert held(result)["completes"] is True
    assert held(result)["output_matches_golden"] is True
    assert result.resumes == 1
    assert result.calls is not None and result.calls.duplicates == 0
    # The golden run: 1 plan + 3 searches + 3 analyst requests + 1 sub-agent search.
    assert result.calls.golden == 8


def test_plain_function_tool_publishes_twice_after_recovery(runner: TrialRunner) -> None:
    result = run_plan(runner, "unsafe_publish.yaml", "kill-after-report-published")
    violated = {name for name, value in held(result).items() if value is False}
    assert violated == {"tools_exactly_once"}
    assert result.verdict == "pass", result.reason
    assert "'save_report'" in result.verdicts["tools_exactly_once"].detail
