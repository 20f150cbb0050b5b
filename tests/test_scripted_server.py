"""Tests for the scripted OpenAI-compatible server, driven by real pydantic-ai agents and openai."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from pydantic_ai import Agent
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from durable_chaos.infra.model_server import Reply, Script, ScriptedServer
from durable_chaos.providers.openai_chat import build_stream_chunks
from durable_chaos.providers.scripted import CREATED, split_text

WEATHER_SCRIPT = """
conversations:
  - match: "You are a weather bot"
    turns:
      - tool_calls:
          - name: get_weather
            arguments: {city: Paris, unit: celsius}
        usage: {prompt_tokens: 50, completion_tokens: 5}
      - text: "It is sunny in Paris."
        usage: {prompt_tokens: 70, completion_tokens: 7}
  - match: "city facts"
    turns:
      - tool_calls:
          - name: final_result
            arguments: {name: Paris, population: 2100000}
  - match: ""
    turns:
      - text: "first"
      - text: "second and last"
"""


class City(BaseModel):
    name: str
    population: int


@pytest.fixture
def script() -> Script:
    return Script.from_yaml(WEATHER_SCRIPT)


@pytest.fixture
def server(script: Script) -> Iterator[ScriptedServer]:
    with ScriptedServer(script) as srv:
        yield srv


def make_model(server: ScriptedServer) -> OpenAIChatModel:
    return OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(base_url=server.base_url, api_key="test"))


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, str, bytes]:
    """Plain stdlib request returning ``(status, content type, body)`` even for error statuses."""
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


def post_chat(server: ScriptedServer, payload: dict[str, Any], path: str = "/v1/chat/completions") -> Any:
    status, _, body = http("POST", server.url + path, json.dumps(payload).encode())
    assert status == 200, body
    return json.loads(body)


def weather_agent(server: ScriptedServer, calls: list[dict[str, str]]) -> Agent[None, str]:
    agent = Agent(make_model(server), system_prompt="You are a weather bot")

    @agent.tool_plain
    def get_weather(city: str, unit: str) -> str:
        calls.append({"city": city, "unit": unit})
        return f"sunny, 21 degrees {unit}"

    return agent


# ----------------------------------------------------------------------------------------- pydantic-ai agents


def test_tool_calling_agent(server: ScriptedServer) -> None:
    calls: list[dict[str, str]] = []
    result = weather_agent(server, calls).run_sync("What's the weather in Paris?")

    assert calls == [{"city": "Paris", "unit": "celsius"}]
    assert result.output == "It is sunny in Paris."
    assert len(server.requests) == 2
    second = server.requests[1]["messages"]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "tool"]
    assert second[2]["tool_calls"][0]["id"] == "call_0_0"
    assert second[3] == {"role": "tool", "tool_call_id": "call_0_0", "content": "sunny, 21 degrees celsius"}


def test_usage_reaches_result(server: ScriptedServer) -> None:
    result = weather_agent(server, []).run_sync("What's the weather in Paris?")
    usage = result.usage
    assert (usage.input_tokens, usage.output_tokens, usage.requests, usage.tool_calls) == (120, 12, 2, 1)


def test_structured_output(server: ScriptedServer) -> None:
    agent = Agent(make_model(server), output_type=City, system_prompt="Give city facts.")
    result = agent.run_sync("Tell me about Paris")

    assert result.output == City(name="Paris", population=2_100_000)
    (request,) = server.requests
    assert request["tool_choice"] == "required"
    assert [t["function"]["name"] for t in request["tools"]] == ["final_result"]


def test_streaming_agent(server: ScriptedServer) -> None:
    calls: list[dict[str, str]] = []
    agent = weather_agent(server, calls)

    async def run() -> tuple[str, Any]:
        async with agent.run_stream("What's the weather in Paris?") as result:
            text = "".join([piece async for piece in result.stream_text(delta=True)])
        return text, result.usage

    text, usage = asyncio.run(run())
    assert text == "It is sunny in Paris."
    assert calls == [{"city": "Paris", "unit": "celsius"}]
    assert (usage.input_tokens, usage.output_tokens) == (120, 12)
    assert all(r["stream"] and r["stream_options"] == {"include_usage": True} for r in server.requests)


def test_retry_gets_identical_reply(server: ScriptedServer) -> None:
    payload = {"model": "m", "messages": [{"role": "system", "content": "You are a weather bot"}]}
    first = http("POST", server.base_url + "/chat/completions", json.dumps(payload).encode())
    again = http("POST", server.base_url + "/chat/completions", json.dumps(payload).encode())
    assert first == again
    assert len(server.requests) == 2
    server.reset()
    assert server.requests == []


# ----------------------------------------------------------------------------------------- raw openai client


def test_raw_openai_client_parses_completion(server: ScriptedServer) -> None:
    async def run() -> Any:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="test") as client:
            return await client.chat.completions.create(
                model="my-model",
                messages=[
                    {"role": "system", "content": "You are a weather bot"},
                    {"role": "user", "content": "hi"},
                ],
            )

    completion = asyncio.run(run())
    assert completion.id == "chatcmpl-0-0"
    assert completion.created == CREATED
    assert completion.model == "my-model"
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    tool_call = choice.message.tool_calls[0]
    assert tool_call.id == "call_0_0"
    assert tool_call.function.name == "get_weather"
    assert tool_call.function.arguments == '{"city": "Paris", "unit": "celsius"}'
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.total_tokens) == (50, 55)


def test_raw_openai_client_streams_with_usage(server: ScriptedServer) -> None:
    async def run() -> list[Any]:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="test") as client:
            stream = await client.chat.completions.create(
                model="m",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            return [chunk async for chunk in stream]

    chunks = asyncio.run(run())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "first"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 120


def test_stream_without_include_usage_has_no_usage_chunk(server: ScriptedServer) -> None:
    payload = {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True}
    url = server.base_url + "/chat/completions"
    status, content_type, body = http("POST", url, json.dumps(payload).encode())
    assert status == 200 and content_type.startswith("text/event-stream")
    events = body.decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-2]]
    assert all(c["choices"] and "usage" not in c for c in chunks)


def test_concurrent_requests_are_all_logged(server: ScriptedServer) -> None:
    payload = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(lambda _: post_chat(server, payload)["id"], range(32)))
    assert ids == ["chatcmpl-2-0"] * 32
    assert len(server.requests) == 32


# ---------------------------------------------------------------------------------------------- HTTP surface


def test_unknown_path_is_openai_shaped_404(server: ScriptedServer) -> None:
    status, content_type, body = http("POST", server.url + "/v1/nope", b"{}")
    assert (status, content_type) == (404, "application/json")
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"


def test_malformed_json_is_openai_shaped_400(server: ScriptedServer) -> None:
    status, _, body = http("POST", server.base_url + "/chat/completions", b"{not json")
    assert status == 400
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "parse the JSON body" in error["message"]
    assert server.requests == []


def test_errors_surface_through_clients(server: ScriptedServer) -> None:
    async def run() -> None:
        async with openai.AsyncOpenAI(base_url=server.url + "/nope", api_key="test", max_retries=0) as client:
            await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])

    with pytest.raises(openai.NotFoundError) as excinfo:
        asyncio.run(run())
    assert excinfo.value.status_code == 404

    bad = OpenAIChatModel("m", provider=OpenAIProvider(base_url=server.url + "/nope", api_key="test"))
    with pytest.raises(ModelHTTPError) as agent_err:
        Agent(bad).run_sync("hi")
    assert agent_err.value.status_code == 404


def test_models_endpoint_and_both_chat_paths(server: ScriptedServer) -> None:
    status, _, body = http("GET", server.base_url + "/models")
    assert status == 200
    models = json.loads(body)
    assert models["object"] == "list" and models["data"][0]["object"] == "model"

    payload = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    short = post_chat(server, payload, "/chat/completions")
    assert short == post_chat(server, payload, "/v1/chat/completions")


# ------------------------------------------------------------------------------------------------ scripting


def test_turn_selection_and_clamping(server: ScriptedServer) -> None:
    def turn(n_assistant: int) -> Any:
        messages: list[dict[str, Any]] = [{"role": "user", "content": "hello"}]
        messages += [{"role": "assistant", "content": "..."}] * n_assistant
        return post_chat(server, {"model": "m", "messages": messages})

    assert turn(0)["choices"][0]["message"]["content"] == "first"
    assert turn(1)["choices"][0]["message"]["content"] == "second and last"
    past_end = turn(5)
    assert past_end["choices"][0]["message"]["content"] == "second and last"
    assert past_end["id"] == "chatcmpl-2-5"


def test_match_uses_system_prompt_only_when_present(server: ScriptedServer) -> None:
    # The user message mentions the weather bot, but the system prompt decides.
    messages = [
        {"role": "developer", "content": [{"type": "text", "text": "plain helper"}]},
        {"role": "user", "content": "You are a weather bot"},
    ]
    assert post_chat(server, {"model": "m", "messages": messages})["id"] == "chatcmpl-2-0"
    # Without a system message, the whole message list is searched.
    assert post_chat(server, {"model": "m", "messages": messages[1:]})["id"] == "chatcmpl-0-0"


def test_unmatched_request_is_400() -> None:
    script = Script.model_validate({"conversations": [{"match": "only this", "turns": [{"text": "x"}]}]})
    with ScriptedServer(script) as server:
        payload = json.dumps({"model": "m", "messages": [{"role": "user", "content": "other"}]}).encode()
        status, _, body = http("POST", server.base_url + "/chat/completions", payload)
    assert status == 400
    assert json.loads(body)["error"]["code"] == "no_scripted_conversation"


def test_script_files_and_validation(tmp_path: Path, script: Script) -> None:
    yaml_file = tmp_path / "s.yaml"
    yaml_file.write_text(WEATHER_SCRIPT)
    json_file = tmp_path / "s.json"
    json_file.write_text(script.model_dump_json())
    assert Script.from_file(yaml_file) == script == Script.from_file(json_file)
    assert Reply().usage.prompt_tokens == 100 and Reply().usage.completion_tokens == 20

    with pytest.raises(ValueError, match="unsupported"):
        Script.from_file(tmp_path / "s.txt")
    with pytest.raises(ValidationError):
        Script.model_validate({"conversations": [{"match": "", "turns": [{"txt": "typo"}]}]})
    with pytest.raises(ValidationError):
        Script.model_validate({"conversations": [{"match": "", "turns": []}]})


def test_lifecycle() -> None:
    server = ScriptedServer({"conversations": [{"turns": [{"text": "x"}]}]})
    with pytest.raises(RuntimeError):
        _ = server.url
    with server:
        assert server.running and server.base_url == f"http://127.0.0.1:{server.port}/v1"
    assert not server.running
    server.stop()  # idempotent


@settings(max_examples=50, deadline=None)
@given(text=st.text(), n_calls=st.integers(min_value=0, max_value=3))
def test_stream_chunks_reassemble_reply(text: str, n_calls: int) -> None:
    reply = Reply.model_validate(
        {"text": text, "tool_calls": [{"name": f"t{i}", "arguments": {"i": i}} for i in range(n_calls)]}
    )
    assert "".join(split_text(text)) == text
    chunks = build_stream_chunks("m", 0, 3, reply, include_usage=True)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("content") or "" for d in deltas) == text
    args = [tc["function"]["arguments"] for d in deltas for tc in d.get("tool_calls", []) if "id" not in tc]
    assert args == [json.dumps({"i": i}) for i in range(n_calls)]
    assert chunks[-1]["usage"]["total_tokens"] == 120


# ------------------------------------------------------------------------------------------------------ CLI


def test_cli_serves_until_interrupted(tmp_path: Path) -> None:
    script_file = tmp_path / "script.yaml"
    script_file.write_text(WEATHER_SCRIPT)
    command = [sys.executable, "-m", "durable_chaos.infra.model_server", str(script_file)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        assert http("GET", base_url + "/models")[0] == 200
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
