"""Correct agents never raise a false alarm: per engine, an agent of this suite's own (written as the
engine's docs advise, its one side effect idempotent inside the engine's unit and declared so) runs
the broad plan set of ``correct_agents/plans.yaml`` (storms with Retry-After, timeouts, latency, tool
errors, kills before and after units, a kill during recovery) and a retry/kill sweep of its tool
calls, through the real engine, with zero violations."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from durable_chaos.explore.sweep import sweep_specs
from durable_chaos.run.results import TrialResult
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent / "correct_agents"

ENGINES = {
    # engine: (example directory with the core, the cassette and the script; module; target line)
    "dbos": ("data_analyst", "dbos_correct.py", {"agent": "dbos_correct:analyst"}),
    "prefect": ("data_analyst", "prefect_correct.py", {"agent": "prefect_correct:analyst"}),
    "temporal": ("temporal", "temporal_correct.py", {"agent": "temporal_correct:analyst"}),
    "restate": ("restate", "restate_correct.py", {"agent": "restate_correct:analyst"}),
}
CASSETTES = {
    "data_analyst": "cassettes/data_analyst.yaml",
    "temporal": "../_shared/cassettes/data_analyst.yaml",
    "restate": "../_shared/cassettes/data_analyst_restate.yaml",
}
"""The data analyst's cassette for each example directory."""


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrialRunner]:
    own = TrialRunner(root=tmp_path_factory.mktemp("correct-trials"))
    try:
        yield own
    finally:
        own.close()


def scenario_file(engine: str, directory: Path) -> Path:
    """The engine's correct-agent scenario: its target, the shared plans and sweep."""
    examples, module, target = ENGINES[engine]
    source = ROOT / "scenarios" / examples
    shutil.copytree(source, directory, ignore=shutil.ignore_patterns("*.yaml", "__pycache__"))
    if (source / "cassettes").is_dir():
        shutil.copytree(source / "cassettes", directory / "cassettes", dirs_exist_ok=True)
    shutil.copytree(
        ROOT / "scenarios" / "_shared", directory.parent / "_shared"
    )  # its shared files, beside it
    shutil.copy(HERE / module, directory)
    shared = yaml.safe_load((HERE / "plans.yaml").read_text())
    body = {
        "schema_version": 1,
        "name": f"correct-{engine}",
        "description": f"A correct agent on {engine}: zero violations expected.",
        **target,
        "prompt": "Analyze the sales data for Q4",
        "engines": [engine],
        "cassette": CASSETTES[examples],
        "model_server": {"script": "../_shared/scripts/data_analyst.yaml"},
        "side_effecting_tools": [{"name": "load_dataset", "idempotency": "call_id"}],
        **shared,
    }
    path = directory / f"correct_{engine}.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def violations(results: list[TrialResult]) -> list[str]:
    return [f"{r.spec.plan.name}: {r.verdict}: {r.reason}" for r in results if r.verdict != "pass"]


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_a_correct_agent_passes_the_broad_plan_set_and_a_sweep(
    engine: str, runner: TrialRunner, tmp_path: Path
) -> None:
    scenario = load_scenario(scenario_file(engine, tmp_path / "scenario"))
    specs = [TrialSpec(scenario, engine, plan) for plan in scenario.plans]
    specs += sweep_specs(scenario, engine, runner)
    results = [runner.run(spec) for spec in specs]
    assert violations(results) == [], "\n".join(violations(results))
    assert len(results) == len(scenario.plans) + 8  # 2 tools x 2 phases x (retry, kill)


def test_hypothesis_finds_no_failing_schedule_in_retry_after_storms_on_dbos(
    runner: TrialRunner, tmp_path: Path
) -> None:
    """A 429 storm with Retry-After, longer than the provider SDK's retries, on any model request but
    the last: pydantic-ai answers it under DBOS with a DBOS.sleep step and the request as a new step.
    Hypothesis, exploring such storms on the correct DBOS agent, finds no failing schedule."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from durable_chaos.python_api import Chaos

    chaos = Chaos(runner=lambda: runner, seed=1, regressions=tmp_path / "regressions")
    scenario = chaos.scenario(scenario_file("dbos", tmp_path / "scenario"))

    @settings(max_examples=3, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(occurrence=st.integers(1, 2), times=st.integers(3, 7), status=st.sampled_from([429, 503]))
    def storms_hold(occurrence: int, times: int, status: int) -> None:
        at = {"kind": "model_request", "occurrence": occurrence, "times": times}
        chaos.run(
            scenario, [{"kind": "http_error", "status": status, "retry_after": 0.05, "at": at}]
        ).assert_held()

    storms_hold()
