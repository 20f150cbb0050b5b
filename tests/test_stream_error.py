"""The ``stream_error`` fault kind: the provider reports an error inside a stream that began with 200.

Anthropic really does this (``event: error`` with ``overloaded_error`` midway through a streamed Messages
response); the event is rendered by the provider module (``anthropic_messages.stream_error``), so the
real anthropic SDK raises what it raises for a real one and pydantic-ai maps it to the error it is
(``ModelOverloadedError``, status 529, ``in_stream``). The Anthropic SDK does not retry an error that
arrives after the response began, so only the durable unit's retry can ride it out. OpenAI's two APIs
and Gemini have in-stream errors too (``openai_chat``/``openai_responses``/``gemini.stream_error``),
measured through their real SDKs below.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import google.genai.errors
import httpx2
import openai
import pytest
from event_recorder import FAULT, EventRecorder, injected_model_faults
from pydantic_ai import Agent
from pydantic_ai.exceptions import ModelHTTPError, ModelOverloadedError
from pydantic_ai.models import Model
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.google import GoogleModel
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.anthropic import AnthropicProvider
from pydantic_ai.providers.google import GoogleProvider
from pydantic_ai.providers.openai import OpenAIProvider

from durable_chaos import providers
from durable_chaos.faults.model import FAILING_KINDS, traits_of
from durable_chaos.infra.model_server import Script, ScriptedServer
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "providers" / "anthropic.yaml"
SCRIPT = """
conversations:
  - match: "You are a weather bot"
    turns:
      - tool_calls: [{name: get_weather, arguments: {city: Paris}}]
      - text: "It is sunny in Paris today."
"""


def fired(recorder: EventRecorder) -> list[str]:
    return [e["fault"]["kind"] for e in recorder.of("fault")]


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer(Script.from_yaml(SCRIPT)) as srv:
        yield srv


def weather(model: Any) -> str:
    agent = Agent(model, system_prompt="You are a weather bot")

    @agent.tool_plain
    def get_weather(city: str) -> str:
        return "sunny"

    return asyncio.run(agent.run("What's the weather in Paris?")).output


def anthropic_model(server: ScriptedServer, max_retries: int = 2) -> AnthropicModel:
    client = anthropic.AsyncAnthropic(base_url=server.url, api_key="k", max_retries=max_retries, timeout=10)
    return AnthropicModel("claude-haiku-4-5", provider=AnthropicProvider(anthropic_client=client))


def test_anthropics_in_stream_error_event() -> None:
    event = providers.stream_error_event("anthropic", "overloaded_error")
    body = b'{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'
    assert event == b"event: error\ndata: " + body + b"\n\n"
    assert providers.stream_error_event(None, "overloaded_error") is None  # an API it does not know
    fault = FAULT.validate_python({"kind": "stream_error"})
    assert fault.at.phase == "after" and "stream_error" in FAILING_KINDS
    assert traits_of("stream_error").sweep is None and traits_of("stream_error").explore is None


def test_pydantic_ai_sees_the_overloaded_error_the_sdk_does_not_retry(server: ScriptedServer) -> None:
    """With the SDK's own retries on, an in-stream error still reaches the agent: it is not retryable by
    the SDK (the response already began), so the durable unit around the request must retry it."""
    server.reset()
    with (
        injected_model_faults({"kind": "stream_error", "after_events": 2}) as (recorder, _),
        pytest.raises(ModelHTTPError) as excinfo,
    ):
        weather(anthropic_model(server, max_retries=2))
    error = excinfo.value
    assert isinstance(error, ModelOverloadedError) and error.status_code == 529
    assert isinstance(error.__cause__, anthropic.APIStatusError) and error.__cause__.status_code == 200
    assert fired(recorder) == ["stream_error"]
    fails = [e for e in recorder.events if e["event"] == "fail"]
    assert [(e["attempt"], e.get("stream_fault")) for e in fails] == [(1, "stream_error")]


def openai_or_gemini_model(api: str, server: ScriptedServer) -> Model:
    """The real pydantic-ai model for ``api`` with its SDK's own retries on (OpenAI's default, 2)."""
    if api == "gemini":
        provider = GoogleProvider(
            api_key="k", base_url=server.url, http_client=httpx2.AsyncClient(timeout=10)
        )
        return GoogleModel("gemini-2.5-flash", provider=provider)
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=2, timeout=10)
    cls = OpenAIChatModel if api == "openai-chat" else OpenAIResponsesModel
    return cls("gpt-4o-mini", provider=OpenAIProvider(openai_client=client))


@pytest.mark.parametrize(
    ("api", "error_type", "raised", "cause"),
    [
        ("openai-chat", "server_error", "ModelServerError", openai.APIError),
        ("openai-responses", "server_error", "ModelServerError", type(None)),
        ("gemini", "overloaded_error", "ModelOverloadedError", google.genai.errors.ServerError),
    ],
)
def test_openai_and_geminis_in_stream_errors_are_what_the_real_sdks_raise(
    server: ScriptedServer, api: str, error_type: str, raised: str, cause: type[object]
) -> None:
    """Chat Completions streams ``data: {"error": {...}}`` (the openai SDK raises ``APIError``), the
    Responses API ``event: error`` (pydantic-ai reads the event itself), Gemini a ``data:`` chunk that is
    its error body (google-genai raises ``ServerError`` for its code). None is retried by the SDK."""
    server.reset()
    model = openai_or_gemini_model(api, server)
    agent = Agent(model, system_prompt="You are a weather bot")

    @agent.tool_plain
    def get_weather(city: str) -> str:
        return "sunny"

    async def streamed() -> str:
        async with agent.run_stream("What's the weather in Paris?") as result:
            return "".join([piece async for piece in result.stream_text(delta=True)])

    fault = {"kind": "stream_error", "after_events": 2, "error_type": error_type}
    with injected_model_faults(fault) as (recorder, plan), pytest.raises(ModelHTTPError) as excinfo:
        asyncio.run(streamed())
    # compared by name: the raised class is not the object imported from pydantic_ai.exceptions here
    assert type(excinfo.value).__name__ == raised and isinstance(excinfo.value.__cause__, cause)
    assert fired(recorder) == ["stream_error"] and not plan.unfired()
    assert [e["attempt"] for e in recorder.events if e["event"] == "fail"] == [1]  # no SDK retry


@pytest.mark.parametrize(("times", "held"), [(2, True), (8, False)], ids=["retried", "retries-exhausted"])
def test_prefects_model_task_retries_an_in_stream_error(runner: TrialRunner, times: int, held: bool) -> None:
    """The example's plan (overloaded midway through the second streamed response, twice) is ridden out by
    the Prefect model task's retries (3); eight in a row outlast them and the flow's retry (each flow attempt
    gives the task four tries) and ``completes`` catches it."""
    scenario = load_scenario(SCENARIO)
    (plan,) = [p for p in scenario.plans if p.name == "overloaded-mid-stream"]
    fault = plan.faults[0].model_copy(update={"at": plan.faults[0].at.model_copy(update={"times": times})})
    result = runner.run(TrialSpec(scenario, scenario.engines[0], plan.model_copy(update={"faults": [fault]})))
    assert result.verdicts["completes"].held is held, result.verdicts["completes"].detail
    if held:
        assert result.verdict == "pass", result.reason
        assert result.calls is not None and result.calls.duplicates == 0
    else:
        assert {name for name, v in result.verdicts.items() if v.held is False} == {"completes"}
        assert "ModelOverloadedError" in result.verdicts["completes"].detail
