"""A harness error aborts the trial at once: a model request missing from the cassette is not retried
by the provider SDK, the engine's unit retries or its flow retries. Real engines (Prefect in the test
process, DBOS in a worker process), real agents whose retries are slow enough to see."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from example_files import copy_shared

from durable_chaos.faults.abort import TrialAborted, abort_trial, aborting
from durable_chaos.run.results import TrialResult
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

EXAMPLES = Path(__file__).resolve().parent.parent / "scenarios" / "data_analyst"
RETRY_DELAY = 30.0
"""Seconds between the agents' model retries: one retry would show in the time to the error."""

AGENTS = {
    "prefect": f"""
from data_analyst_core import INSTRUCTIONS, DataAnalysis, compute_statistics, load_dataset
from pydantic_ai import Agent, FunctionToolset
from pydantic_ai.durable_exec.prefect import PrefectDurability, TaskConfig

DELAY = {RETRY_DELAY}

tools = FunctionToolset([load_dataset, compute_statistics], id="analyst_tools")
analyst = Agent(
    "openai-chat:gpt-4o",
    name="slow_retries",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[tools],
    capabilities=[PrefectDurability(model_task_config=TaskConfig(retries=3, retry_delay_seconds=DELAY))],
)
""",
    "dbos": f"""
from data_analyst_core import INSTRUCTIONS, DataAnalysis, compute_statistics, load_dataset
from pydantic_ai import Agent, FunctionToolset
from pydantic_ai.durable_exec.dbos import DBOSDurability, StepConfig

steps = StepConfig(retries_allowed=True, max_attempts=4, interval_seconds={RETRY_DELAY}, backoff_rate=1.0)
tools = FunctionToolset([load_dataset, compute_statistics], id="analyst_tools")
analyst = Agent(
    "openai-chat:gpt-4o",
    name="slow_retries_dbos",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[tools],
    capabilities=[DBOSDurability(model_step_config=steps)],
)
""",
}


def scenario_with_a_miss(tmp_path: Path, engine: str) -> Path:
    """The data analyst with slow retries and a prompt its cassette never recorded."""
    copy_shared(tmp_path)
    (tmp_path / "cassettes").mkdir()
    shutil.copy(EXAMPLES / "cassettes" / "data_analyst.yaml", tmp_path / "cassettes" / "data_analyst.yaml")
    (tmp_path / f"slow_{engine}.py").write_text(AGENTS[engine])
    path = tmp_path / f"miss_{engine}.yaml"
    path.write_text(
        "schema_version: 1\n"
        f"name: miss-{engine}\n"
        f"agent: slow_{engine}:analyst\n"
        "prompt: A prompt that was never recorded\n"
        f"engines: [{engine}]\n"
        "cassette: cassettes/data_analyst.yaml\n"
        "model_server: {script: script.yaml}\n"
        "plans:\n"
        "  - name: tool-error\n"
        "    faults: [{kind: tool_error, at: {kind: tool_call, name: load_dataset}}]\n"
    )
    return path


def events(result: TrialResult, event: str) -> list[dict[str, Any]]:
    return [e for e in result.events if e["event"] == event]


def assert_aborted_once(result: TrialResult, path: Path) -> None:
    assert result.verdict == "error"
    assert result.reason.count("not in cassette") == 1
    assert re.search(
        r"closest of \d+ recorded /v1/chat/completions request\(s\) differs at body", result.reason
    )
    assert f"`pytest --chaos --chaos-record {path}`" in result.reason
    assert "never fired" not in result.reason and "golden run (no faults) failed" not in result.reason
    [aborted] = events(result, "aborted")
    assert aborted["role"] == "golden" and aborted["kind"] == "cassette_miss"
    # one attempt of the model request: neither the SDK, nor the engine's unit retries, nor the flow's
    assert [e["attempt"] for e in events(result, "invoke") if e["unit"]["kind"] == "model_request"] == [1]
    # the faulted run never started
    assert {e["role"] for e in events(result, "run_start")} == {"golden"}


def test_a_cassette_miss_aborts_a_prefect_run_before_its_task_retries(
    runner: TrialRunner, tmp_path: Path
) -> None:
    path = scenario_with_a_miss(tmp_path, "prefect")
    scenario = load_scenario(path)
    result = runner.run(TrialSpec(scenario, "prefect", scenario.plans[0]))
    assert_aborted_once(result, path)
    # in this process: the run ended within the first retry delay of the missed request
    [invoke] = [e for e in events(result, "invoke") if e["unit"]["kind"] == "model_request"]
    [end] = events(result, "run_end")
    assert end["t"] - invoke["t"] < RETRY_DELAY
    assert result.golden is not None and result.golden.error is not None
    assert result.golden.error.startswith("aborted: model request POST https://api.openai.com/v1/chat")


def test_a_cassette_miss_ends_a_dbos_worker_before_its_step_retries(
    runner: TrialRunner, tmp_path: Path
) -> None:
    path = scenario_with_a_miss(tmp_path, "dbos")
    scenario = load_scenario(path)
    started = time.monotonic()
    result = runner.run(TrialSpec(scenario, "dbos", scenario.plans[0]))
    elapsed = time.monotonic() - started
    assert_aborted_once(result, path)
    assert elapsed < RETRY_DELAY  # engine start, worker start and all: less than one retry delay
    [end] = [e for e in result.events if e["event"] == "run_end"] or [None]
    assert end is None  # the worker ended at the miss: nothing after it ran


def test_outside_a_run_the_error_itself_is_raised_and_inside_a_base_exception() -> None:
    with pytest.raises(ValueError, match="boom"):
        abort_trial(ValueError("boom"), kind="k", detail="d")
    with aborting() as state, pytest.raises(TrialAborted, match="boom"):
        try:
            abort_trial(ValueError("boom"), kind="k", detail="d")
        except Exception:  # noqa: BLE001 - what an engine's retry loop catches
            pytest.fail("an engine retrying Exception caught the abort")
    assert state.reason == "boom"
    assert not issubclass(TrialAborted, Exception)


def test_a_fault_the_faulted_run_never_reached_says_the_run_failed_first() -> None:
    """The golden run completed, but the faulted run failed on its own before the planned unit (a flaky
    agent or engine): the trial is an error whose reason is that failure, not a selector that matched
    nothing."""
    from durable_chaos.faults.model import KillFault, Selector
    from durable_chaos.faults.plan import ArmedPlan
    from durable_chaos.infra.engines import RunOutcome
    from durable_chaos.run.trial import setup_errors

    scenario = load_scenario(EXAMPLES / "kill.yaml")
    golden = RunOutcome("golden", True, output={})
    armed = ArmedPlan([KillFault(kind="kill", at=Selector(kind="model_request", occurrence=2))])
    failed = RunOutcome("faulted", False, error="activity heartbeat timeout")
    errors = setup_errors(scenario, golden, [], armed, golden_failure_is_error=False, faulted=failed)
    assert errors == [
        "planned fault #1 (kill at {'kind': 'model_request', 'occurrence': 2}) never fired: "
        "the faulted run failed before reaching it: activity heartbeat timeout"
    ]
    completed = RunOutcome("faulted", True, output={})
    errors = setup_errors(scenario, golden, [], armed, golden_failure_is_error=False, faulted=completed)
    assert errors[0].endswith("never fired: no unit matched its selector")
