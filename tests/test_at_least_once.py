"""The at-least-once window on all four engines: a kill ``after`` a tool's side effect, inside the
engine's durable unit (a @DBOS.step, a Prefect task, a Temporal activity, a Restate ``ctx.run``), and
before the engine journals the unit's result. Recovery runs the unit's body again, so a tool that bills
every run bills twice (caught by ``tools_exactly_once`` on the bills it really made, observed through
the scenario's ``effects`` function); its twin that deduplicates by a key its engine keeps bills once
and holds every property.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_chaos.run.results import TrialResult
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

TWINS = [
    pytest.param("data_analyst/dbos_billed_step.yaml", "data_analyst/dbos_billed_once_step.yaml", id="dbos"),
    pytest.param(
        "data_analyst/prefect_billed_task.yaml", "data_analyst/prefect_billed_once_task.yaml", id="prefect"
    ),
    pytest.param("temporal/billed_activity.yaml", "temporal/billed_once_activity.yaml", id="temporal"),
    pytest.param("restate/billed_run.yaml", "restate/billed_once_run.yaml", id="restate"),
]


def run(runner: TrialRunner, file: str) -> TrialResult:
    scenario = load_scenario(SCENARIOS / file)
    return runner.run(TrialSpec(scenario, scenario.engines[0], scenario.plans[0]))


def violated(result: TrialResult) -> set[str]:
    return {name for name, verdict in result.verdicts.items() if verdict.held is False}


@pytest.mark.parametrize(("bad", "good"), TWINS)
def test_a_kill_after_the_effect_bills_twice_unless_the_tool_deduplicates(
    runner: TrialRunner, bad: str, good: str
) -> None:
    caught = run(runner, bad)
    assert caught.verdict == "pass", caught.reason
    assert violated(caught) == {"tools_exactly_once"}
    detail = caught.verdicts["tools_exactly_once"].detail
    assert "'load_dataset' made 2 real effect(s)" in detail and "golden run made 1" in detail
    assert "at-least-once window" in detail
    assert caught.resumes == 1

    twin = run(runner, good)
    assert twin.verdict == "pass", twin.reason
    assert violated(twin) == set()
    assert (
        "'load_dataset' made 1 real effect(s), the golden run 1" in twin.verdicts["tools_exactly_once"].detail
    )
    assert twin.resumes == 1
