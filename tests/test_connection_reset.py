"""The ``connection_reset`` fault kind: the peer resets the connection to the model endpoint.

Added as the worked example of a unit-level fault kind: its class and traits in faults/model.py, its
entry in the HTTP injector's tables (faults/injectors/http.py); everything else (what fails a unit, the
naive-restart accounting, the scenario schema) follows from the traits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from event_recorder import FAULT, injected_model_faults
from pydantic_ai import Agent
from pydantic_ai.exceptions import ModelConnectionError
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from durable_chaos.faults.injectors.http import RESET_MESSAGE
from durable_chaos.faults.model import FAILING_KINDS, FAULT_KINDS, traits_of
from durable_chaos.infra.model_server import Script, ScriptedServer
from durable_chaos.run.results import TrialResult
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.model import Plan
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

EXAMPLES = Path(__file__).resolve().parent.parent / "scenarios" / "data_analyst"
SCRIPT = """
conversations:
  - match: "You are a weather bot"
    turns:
      - tool_calls: [{name: get_weather, arguments: {city: Paris}}]
      - text: "It is sunny in Paris today."
"""


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer(Script.from_yaml(SCRIPT)) as srv:
        yield srv


def weather(server: ScriptedServer, max_retries: int) -> str:
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=max_retries, timeout=10)
    agent = Agent(
        OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(openai_client=client)),
        system_prompt="You are a weather bot",
    )

    @agent.tool_plain
    def get_weather(city: str) -> str:
        return "sunny"

    return asyncio.run(agent.run("What's the weather in Paris?")).output


def test_connection_reset_is_a_unit_failing_model_fault() -> None:
    reset = FAULT.validate_python({"kind": "connection_reset"})
    assert "connection_reset" in FAULT_KINDS and "connection_reset" in FAILING_KINDS
    assert reset.applies_to("model_request") and not reset.applies_to("tool_call")
    assert traits_of("connection_reset").sweep is None  # sweeps and explore tables keep their kinds


@pytest.mark.parametrize("phase", ["before", "after"])
def test_a_reset_is_the_sdks_connection_error(server: ScriptedServer, phase: str) -> None:
    server.reset()
    fault = {"kind": "connection_reset", "at": {"phase": phase}}
    with injected_model_faults(fault) as (recorder, _), pytest.raises(ModelConnectionError) as excinfo:
        weather(server, max_retries=0)
    assert isinstance(excinfo.value.__cause__, openai.APIConnectionError)
    assert RESET_MESSAGE in repr(excinfo.value.__cause__.__cause__)
    fired = [e["fault"] for e in recorder.events if e["event"] == "fault"]
    assert fired == [{"index": 0, "kind": "connection_reset", "phase": phase}]


def test_the_sdks_own_retry_rides_out_one_reset(server: ScriptedServer) -> None:
    server.reset()
    with injected_model_faults({"kind": "connection_reset", "at": {"occurrence": 1}}) as (recorder, _):
        assert weather(server, max_retries=1) == "It is sunny in Paris today."
    attempts = [
        (e["unit"]["ordinal"], e["attempt"], e["event"]) for e in recorder.events if e["event"] != "fault"
    ]
    assert attempts[:4] == [(1, 1, "invoke"), (1, 1, "fail"), (1, 2, "invoke"), (1, 2, "ok")]


def reset_trial(runner: TrialRunner, file: str, phase: str, times: int) -> TrialResult:
    """The example scenario with one plan: the second model request's connection reset ``times`` times (the
    OpenAI SDK sends three times before the engine sees an error)."""
    scenario = load_scenario(EXAMPLES / file)
    fault = {"kind": "connection_reset", "at": {"kind": "model_request", "occurrence": 2, "phase": phase}}
    fault["at"]["times"] = times
    plan = Plan(name=f"reset-{phase}", faults=[FAULT.validate_python(fault)])
    return runner.run(TrialSpec(scenario, scenario.engines[0], plan))


@pytest.mark.parametrize("phase", ["before", "after"])
def test_prefect_retries_a_reset_model_request_and_the_run_completes(runner: TrialRunner, phase: str) -> None:
    result = reset_trial(runner, "timeout.yaml", phase, times=3)
    assert result.verdict == "pass", result.reason
    assert result.verdicts["completes"].held is True
    assert result.calls is not None and result.calls.duplicates == 0
    assert (
        result.tokens is not None and result.tokens.naive_restart > result.tokens.golden
    )  # it failed a unit


def test_an_agent_without_retries_is_caught(runner: TrialRunner) -> None:
    result = reset_trial(runner, "no_retries.yaml", "before", times=3)
    assert {name for name, verdict in result.verdicts.items() if verdict.held is False} == {"completes"}
    assert result.verdict == "pass", result.reason  # the scenario declares exactly this violation
    assert "ModelConnectionError" in result.verdicts["completes"].detail
