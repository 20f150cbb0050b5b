"""Recovery mode ``warm``: the faulted run resumed in a worker that first ran the agent to completion once
(``resume_worker: warm``), as a long-lived production worker would. Pure tests of the mode's plumbing
(sweep points, expansion, coverage, roles, effects), and one DBOS agent whose per-process state only a warm
resume shows: its bill keyed by a per-process counter is billed twice (``tools_exactly_once``), while a
new worker deduplicates it; the correct twin, keyed by what recovery keeps, holds in a warm worker. The
same twins on Restate (whose warm-up needs an endpoint of its own).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from durable_chaos import events
from durable_chaos.explore.coverage import exercised, universe
from durable_chaos.explore.sweep import CrashPoint, Unit, crash_points, expand
from durable_chaos.judge.effects import EffectsProbe
from durable_chaos.judge.evidence import is_faulted, warm_up_role
from durable_chaos.run.results import TrialResult
from durable_chaos.run.role import engine_context, run_id
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
EXAMPLES = SCENARIOS / "data_analyst"
UNIT = Unit("tool_call", "load_dataset", 1)


def test_warm_is_an_opt_in_sweep_mode_that_resumes_the_same_run_in_a_warm_worker() -> None:
    assert {p.recovery for p in crash_points([UNIT])} == {"retry", "kill"}  # opt-in
    points = crash_points([UNIT], ("tool_error", "kill"), ("retry", "kill", "warm"))
    assert sorted({(p.recovery, p.fault) for p in points}) == [
        ("kill", "kill"),
        ("retry", "tool_error"),
        ("warm", "kill"),
    ]
    scenario = load_scenario(EXAMPLES / "kill.yaml")
    by_mode = {point.recovery: spec.scenario for point, spec in expand(scenario, "dbos", points)}
    assert (by_mode["warm"].resume, by_mode["warm"].resume_worker) == ("same_run", "warm")
    assert (by_mode["kill"].resume, by_mode["kill"].resume_worker) == ("same_run", "new")
    assert by_mode["warm"].path == scenario.path
    assert crash_points([UNIT], ("kill",), ("warm",), upgrade=True)[0].version == "N"  # once, on N


def test_coverage_counts_a_warm_kill_as_warm_and_opts_the_warm_points_in() -> None:
    history = [
        {"role": "golden", "event": events.INVOKE, "unit": {"kind": "tool_call", "name": "load_dataset",
                                                           "ordinal": 0, "fingerprint": "b"}},
        {"role": "faulted", "event": events.FAULT, "unit": {"fingerprint": "b"},
         "fault": {"kind": "kill", "phase": "after", "index": 0}},
    ]  # fmt: skip
    assert exercised(history, "same_run", "warm") == [CrashPoint(UNIT, "after", "kill", "warm")]
    assert exercised(history, "same_run") == [CrashPoint(UNIT, "after", "kill", "kill")]
    assert {p.recovery for p in universe(history)} == {"retry", "kill"}
    assert {p.recovery for p in universe(history, warm=True)} == {"retry", "kill", "warm"}


def test_the_warm_up_is_a_run_of_its_own_that_no_property_counts(tmp_path: Path) -> None:
    scenario = load_scenario(EXAMPLES / "dbos_warm_billed_once_step.yaml")
    role = warm_up_role("resume-2")
    assert role == "warm-up-2" and not is_faulted(role)
    assert engine_context(role) not in (engine_context("faulted"), engine_context("golden"))
    assert run_id(scenario, tmp_path, role) != run_id(scenario, tmp_path, "resume-2")
    probe = EffectsProbe(functions={"t": lambda: 0}, not_faulted={"t": 1})
    probe.readings = {"before": {"t": 0}, "golden": {"t": 1}, "before_faulted": {"t": 1}, "faulted": {"t": 3}}
    assert probe.per_run() == {"t": (1, 1)}  # the warm-up's bill is not the faulted run's


def test_temporals_warm_up_polls_a_task_queue_of_its_own(tmp_path: Path) -> None:
    """Else its worker could pick up the interrupted workflow's tasks before it is warm."""
    pytest.importorskip("temporalio")
    from durable_chaos.infra.engines import RunRequest
    from durable_chaos.infra.engines.temporal.adapter import task_queue
    from durable_chaos.infra.engines.temporal.options import TemporalOptions

    resume, warm_up = (RunRequest(role, "id", tmp_path, warm_up=w) for role, w in [("r", False), ("w", True)])
    assert task_queue(TemporalOptions(), warm_up) != task_queue(TemporalOptions(), resume)


def test_a_warm_worker_resumes_the_same_run() -> None:
    data = load_scenario(EXAMPLES / "dbos_warm_billed_once_step.yaml").model_dump(exclude_unset=True)
    data.pop("path", None)
    with pytest.raises(ValidationError, match="a warm worker resumes the interrupted run"):
        type(load_scenario(EXAMPLES / "kill.yaml")).model_validate({**data, "resume": "new_run"})


def run(runner: TrialRunner, file: str, worker: str | None = None) -> TrialResult:
    scenario = load_scenario(SCENARIOS / file)
    if worker is not None:
        scenario = scenario.model_copy(update={"resume_worker": worker}).located(scenario.path)
    return runner.run(TrialSpec(scenario, scenario.engines[0], scenario.plans[0]))


def violated(result: TrialResult) -> set[str]:
    return {name for name, verdict in result.verdicts.items() if verdict.held is False}


def test_per_process_state_is_caught_only_in_a_warm_worker_and_its_twin_holds(runner: TrialRunner) -> None:
    caught = run(runner, "data_analyst/dbos_warm_billed_per_process.yaml")
    assert caught.verdict == "pass", caught.reason
    assert violated(caught) == {"tools_exactly_once"}
    detail = caught.verdicts["tools_exactly_once"].detail
    assert "'load_dataset' made 2 real effect(s)" in detail and "golden run made 1" in detail
    warm_ups = [e for e in caught.events if e["event"] == events.RUN_END and e["role"] == "warm-up-1"]
    assert [e["completed"] for e in warm_ups] == [True]
    assert caught.resumes == 1

    cold = run(runner, "data_analyst/dbos_warm_billed_per_process.yaml", worker="new")
    assert violated(cold) == set(), cold.reason  # a new worker deduplicates the repeat
    assert not any(e["role"].startswith("warm-up") for e in cold.events)

    twin = run(runner, "data_analyst/dbos_warm_billed_once_step.yaml")
    assert twin.verdict == "pass", twin.reason
    assert violated(twin) == set()
    held = twin.verdicts["tools_exactly_once"].detail
    assert "'load_dataset' made 1 real effect(s), the golden run 1" in held


def test_restates_warm_up_serves_apart_and_the_twins_hold_there_too(runner: TrialRunner) -> None:
    """Restate's warm-up serves an endpoint of its own (the interrupted invocation waits for the resume's);
    the same per-process bug is caught there, its twin holds. (Prefect's and Temporal's twins,
    ``prefect_warm_*`` and ``temporal/warm_*``, behave alike; they are left out of the suite for time.)"""
    caught = run(runner, "restate/warm_billed_per_process.yaml")
    assert caught.verdict == "pass", caught.reason
    assert violated(caught) == {"tools_exactly_once"}
    twin = run(runner, "restate/warm_billed_once_run.yaml")
    assert twin.verdict == "pass", twin.reason
    assert violated(twin) == set()
    warm_ups = [e for e in twin.events if e["event"] == events.RUN_END and e["role"] == "warm-up-1"]
    assert [e["completed"] for e in warm_ups] == [True]


def test_a_merged_shards_record_keeps_the_warm_worker() -> None:
    from durable_chaos.report.merge import recorded_result

    record = {"scenario": "s", "scenario_file": None, "engine": "dbos", "plan": "p", "verdict": "pass"}
    assert recorded_result({**record, "resume_worker": "warm"}).spec.scenario.resume_worker == "warm"
    assert recorded_result(record).spec.scenario.resume_worker == "new"  # a report written before it
