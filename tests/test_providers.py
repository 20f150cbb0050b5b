"""Every provider through the same path: the real pydantic-ai model class and the provider's real SDK,
talking to the scripted server, with the fault layer underneath.

Per provider API (OpenAI chat completions, OpenAI Responses, Anthropic Messages, Gemini): an agent run
with a tool call works (JSON and streamed); each injected HTTP fault reaches the agent as that SDK's
real exception and pydantic-ai's ``ModelHTTPError`` with the right status; usage is read from the
provider's own usage fields and priced through genai-prices with the right provider id; streaming
faults produce the SDK's real error; recorded cassettes hold no trace of the provider's key.

Skipped without the ``providers`` extra (the Anthropic and google-genai SDKs).
"""

# ruff: noqa: E402  (the SDK-dependent imports come after the importorskip of the providers extra)

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

anthropic = pytest.importorskip("anthropic", reason="needs the providers extra")
genai_errors = pytest.importorskip("google.genai.errors", reason="needs the providers extra")
from pydantic import TypeAdapter
from pydantic_ai import Agent
from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelConnectionError,
    ModelHTTPError,
    ModelTimeoutError,
)
from pydantic_ai.models import Model
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.google import GoogleModel
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.anthropic import AnthropicProvider
from pydantic_ai.providers.google import GoogleProvider
from pydantic_ai.providers.openai import OpenAIProvider

from durable_chaos import providers
from durable_chaos.faults.context import Injection, activated
from durable_chaos.faults.injectors.http import model_faults
from durable_chaos.faults.model import Fault
from durable_chaos.faults.plan import ArmedPlan
from durable_chaos.faults.units import UnitTracker
from durable_chaos.infra.cassettes import cassette_traffic
from durable_chaos.infra.model_server import Reply, Script, ScriptedServer, Usage
from durable_chaos.judge.pricing import entry_price, unit_price
from durable_chaos.providers.anthropic_messages import build_message, build_message_events
from durable_chaos.providers.gemini import build_gemini, build_gemini_chunks, render_gemini_sse
from durable_chaos.providers.openai_chat import build_stream_chunks, render_sse
from durable_chaos.providers.openai_responses import build_response, build_response_events
from durable_chaos.providers.sse import render_named_sse

APIS = ("openai-chat", "openai-responses", "anthropic", "gemini")
MODEL = {
    "openai-chat": "gpt-4o-mini",
    "openai-responses": "gpt-4o-mini",
    "anthropic": "claude-sonnet-4-5",
    "gemini": "gemini-2.5-flash",
}
PRICE_PROVIDER = {
    "openai-chat": "openai",
    "openai-responses": "openai",
    "anthropic": "anthropic",
    "gemini": "google",
}

WEATHER_SCRIPT = """
conversations:
  - match: "You are a weather bot"
    turns:
      - tool_calls: [{name: get_weather, arguments: {city: Paris}}]
        usage: {prompt_tokens: 50, completion_tokens: 5, cached_tokens: 10}
      - text: "It is sunny in Paris today."
        usage: {prompt_tokens: 70, completion_tokens: 9, reasoning_tokens: 2}
"""
FAULT = TypeAdapter(Fault)


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer(Script.from_yaml(WEATHER_SCRIPT)) as srv:
        yield srv


def make_model(
    api: str,
    server: ScriptedServer | BrokenStreams | None,
    *,
    timeout: float = 10.0,
    api_key: str | None = "k",
    max_retries: int = 0,
) -> Model:
    """The real pydantic-ai model class for ``api``, its SDK's own retries off unless ``max_retries``;
    ``server=None``: the provider's real base URL (for recording through a redirect)."""
    if api in ("openai-chat", "openai-responses"):
        client = openai.AsyncOpenAI(
            base_url=server.base_url if server else None,
            api_key=api_key,
            max_retries=max_retries,
            timeout=timeout,
        )
        cls = OpenAIChatModel if api == "openai-chat" else OpenAIResponsesModel
        return cls(MODEL[api], provider=OpenAIProvider(openai_client=client))
    if api == "anthropic":
        aclient = anthropic.AsyncAnthropic(
            base_url=server.url if server else None, api_key=api_key, max_retries=max_retries, timeout=timeout
        )
        return AnthropicModel(MODEL[api], provider=AnthropicProvider(anthropic_client=aclient))
    http_client = httpx2.AsyncClient(timeout=timeout)
    provider = GoogleProvider(
        api_key=api_key, base_url=server.url if server else None, http_client=http_client
    )
    return GoogleModel(MODEL[api], provider=provider)  # google-genai does not retry unless told to


def weather_agent(model: Model, calls: list[str]) -> Agent[None, str]:
    agent = Agent(model, system_prompt="You are a weather bot")

    @agent.tool_plain
    def get_weather(city: str) -> str:
        calls.append(city)
        return "sunny, 21 degrees"

    return agent


def run(agent: Agent[None, str], stream: bool) -> tuple[str, Any]:
    """Run the agent once (``run_stream`` when ``stream``), returning its output and usage."""

    async def go() -> tuple[str, Any]:
        if stream:
            async with agent.run_stream("What's the weather in Paris?") as result:
                text = "".join([piece async for piece in result.stream_text(delta=True)])
            return text, result.usage
        done = await agent.run("What's the weather in Paris?")
        return done.output, done.usage

    return asyncio.run(go())


class Recorder:
    """An injection observer that keeps what it is told."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.exchanges: list[dict[str, Any]] = []

    def event(self, record: dict[str, Any]) -> None:
        self.events.append(record)

    def model_exchange(self, record: dict[str, Any]) -> None:
        self.exchanges.append(record)

    def unit_context(self) -> dict[str, Any]:
        return {}

    def fired(self) -> list[str]:
        return [e["fault"]["kind"] for e in self.events if e["event"] == "fault"]


@contextmanager
def injected(*faults: dict[str, Any]) -> Iterator[Recorder]:
    """The fault layer on the httpx2 transport with an armed plan of ``faults``."""
    recorder = Recorder()
    plan = ArmedPlan([FAULT.validate_python(f) for f in faults])
    with model_faults(), activated(Injection(plan, UnitTracker(), recorder)):
        yield recorder


# ------------------------------------------------------------------------------------- (a) plain agent runs


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("api", APIS)
def test_agent_with_a_tool_call_runs_on_every_provider(
    api: str, stream: bool, server: ScriptedServer
) -> None:
    server.reset()
    calls: list[str] = []
    output, usage = run(weather_agent(make_model(api, server), calls), stream)

    assert output == "It is sunny in Paris today."
    assert calls == ["Paris"]
    assert (usage.requests, usage.tool_calls) == (2, 1)
    first, second = server.requests
    key = {
        "openai-chat": "messages",
        "openai-responses": "input",
        "anthropic": "messages",
        "gemini": "contents",
    }
    assert key[api] in first and key[api] in second
    assert bool(first.get("stream")) == stream or api in ("gemini", "anthropic")


def test_scripted_ids_are_deterministic(server: ScriptedServer) -> None:
    reply = Reply(tool_calls=[{"name": "f", "arguments": {"a": 1}}])  # type: ignore[list-item]
    assert build_message("m", 0, 1, reply)["content"][0]["id"] == "toolu_1_0"
    assert build_response("m", 0, 1, reply)["output"][0]["call_id"] == "call_1_0"
    assert (
        build_gemini("m", 0, 1, reply)["candidates"][0]["content"]["parts"][0]["functionCall"]["id"]
        == "call_1_0"
    )
    assert build_response_events("m", 0, 1, reply) == build_response_events("m", 0, 1, reply)


# ----------------------------------------------------------------------------- (b) HTTP faults, real errors

HTTP_CASES = [
    ("openai-chat", 429, openai.RateLimitError),
    ("openai-chat", 500, openai.InternalServerError),
    ("openai-chat", 503, openai.InternalServerError),
    ("openai-responses", 429, openai.RateLimitError),
    ("openai-responses", 500, openai.InternalServerError),
    ("openai-responses", 503, openai.InternalServerError),
    ("anthropic", 429, anthropic.RateLimitError),
    ("anthropic", 529, anthropic.OverloadedError),
    ("anthropic", 500, anthropic.InternalServerError),
    ("gemini", 429, genai_errors.ClientError),
    ("gemini", 503, genai_errors.ServerError),
    ("gemini", 500, genai_errors.ServerError),
]


@pytest.mark.parametrize(("api", "status", "sdk_error"), HTTP_CASES)
def test_http_fault_is_the_sdks_real_exception(
    api: str, status: int, sdk_error: type[Exception], server: ScriptedServer
) -> None:
    retry_after = 7 if status == 429 else None
    fault = {"kind": "http_error", "status": status, "retry_after": retry_after}
    with injected(fault) as recorder, pytest.raises(ModelHTTPError) as excinfo:
        run(weather_agent(make_model(api, server), []), stream=False)

    error = excinfo.value
    assert error.status_code == status
    assert isinstance(error.__cause__, sdk_error)
    cause: Any = error.__cause__
    assert recorder.fired() == ["http_error"]
    body = error.body
    if api == "anthropic":
        expected = {429: "rate_limit_error", 529: "overloaded_error", 500: "api_error"}[status]
        assert isinstance(body, dict) and body["error"]["type"] == expected
        assert cause.type == expected
    elif api == "gemini":
        expected = {429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE", 500: "INTERNAL"}[status]
        assert (cause.status, cause.code) == (expected, status)
    else:
        assert cause.code == providers.error_body(api, status)["error"]["code"]  # type: ignore[arg-type]
    if retry_after is not None:
        assert error.retry_after == retry_after


@pytest.mark.parametrize("api", ["openai-responses", "anthropic"])
def test_sdk_retries_an_injected_429_itself(api: str, server: ScriptedServer) -> None:
    """The SDK's own retry (honouring ``retry-after`` and Anthropic's ``x-should-retry``) absorbs one 429:
    each HTTP send is an attempt of the same unit."""
    model = make_model(api, server, max_retries=1)
    fault = {"kind": "http_error", "status": 429, "retry_after": 0.01, "at": {"occurrence": 1}}
    with injected(fault) as recorder:
        output, _ = run(weather_agent(model, []), stream=False)
    assert output == "It is sunny in Paris today."
    invokes = [(e["unit"]["ordinal"], e["attempt"]) for e in recorder.events if e["event"] == "invoke"]
    assert invokes[:2] == [(1, 1), (1, 2)]


TIMEOUT_CAUSE: dict[str, type[Exception]] = {
    "openai-chat": openai.APITimeoutError,
    "openai-responses": openai.APITimeoutError,
    "anthropic": anthropic.APITimeoutError,
    "gemini": httpx2.ReadTimeout,  # google-genai lets httpx's timeout through unwrapped
}


@pytest.mark.parametrize("api", APIS)
def test_timeout_fault_is_the_sdks_timeout(api: str, server: ScriptedServer) -> None:
    with injected({"kind": "timeout"}), pytest.raises(ModelTimeoutError) as excinfo:
        run(weather_agent(make_model(api, server), []), stream=False)
    assert isinstance(excinfo.value.__cause__, TIMEOUT_CAUSE[api])


# ------------------------------------------------------------------------------------------ (c) usage, price


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("api", APIS)
def test_usage_and_dollars_come_from_the_providers_fields(
    api: str, stream: bool, server: ScriptedServer
) -> None:
    with injected() as recorder:
        _, usage = run(weather_agent(make_model(api, server), []), stream)

    first = {"input_tokens": 50, "output_tokens": 5, "cache_read_tokens": 10}
    second = {"input_tokens": 70, "output_tokens": 9, "reasoning_tokens": 2}
    if api == "anthropic":  # Anthropic does not report thinking tokens apart from output tokens
        del second["reasoning_tokens"]
    assert [e["usage"] for e in recorder.exchanges] == [first, second]
    assert [(e["model"], e["provider"]) for e in recorder.exchanges] == [
        (MODEL[api], PRICE_PROVIDER[api])
    ] * 2
    # pydantic-ai read the same fields the same way
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens) == (120, 14, 10)

    dollars = sum((entry_price(e) or Decimal("NaN") for e in recorder.exchanges), Decimal(0))
    assert dollars > 0
    assert dollars == pytest.approx(
        usage.cost, rel=Decimal("1e-9")
    )  # pydantic-ai prices through genai-prices too


def test_price_depends_on_the_provider_id_and_cache() -> None:
    full = unit_price("claude-sonnet-4-5", 1000, 100, "anthropic")
    cached = unit_price("claude-sonnet-4-5", 1000, 100, "anthropic", cache_read_tokens=800)
    assert full is not None and cached is not None and cached < full
    assert unit_price("no-such-model-anywhere", 10, 10, "anthropic") is None


# ------------------------------------------------------------------------------------------ (d) stream faults


class BrokenStreams:
    """A real server whose streams really break: it forwards each request to the scripted server, sends
    the first ``after_events`` events of the reply, then closes the connection mid-body (``stream_cut``)
    or goes silent (``stream_stall``). What an SDK raises here is its real error for that situation."""

    def __init__(self, upstream: ScriptedServer, kind: str, after_events: int) -> None:
        self.upstream, self.kind, self.after_events = upstream, kind, after_events
        self.closing = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                skip = {"host", "content-length", "accept-encoding", "connection"}
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                forwarded = urllib.request.Request(outer.upstream.url + self.path, body, headers)
                with urllib.request.urlopen(forwarded, timeout=10) as reply:
                    events = providers.split_events(reply.read())
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                sent = b"".join(events[: outer.after_events])
                self.wfile.write(b"%x\r\n%s\r\n" % (len(sent), sent))
                self.wfile.flush()
                if outer.kind == "stream_stall":
                    outer.closing.wait(30)
                self.close_connection = True  # the body's last chunk never comes

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.base_url = f"{self.url}/v1"

    def __enter__(self) -> BrokenStreams:
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def real_error(
    api: str, kind: str, server: ScriptedServer
) -> tuple[type[BaseException], type[BaseException]]:
    """The error pydantic-ai raises, and its cause (the SDK's error), when a stream really breaks."""
    with BrokenStreams(server, kind, after_events=2) as broken, pytest.raises(Exception) as excinfo:
        run(weather_agent(make_model(api, broken, timeout=0.2), []), stream=True)
    assert excinfo.value.__cause__ is not None
    return type(excinfo.value), type(excinfo.value.__cause__)


STREAM_ERRORS: dict[str, type[Exception]] = {
    "stream_cut": ModelConnectionError,
    "stream_stall": ModelTimeoutError,
}


@pytest.mark.parametrize("kind", list(STREAM_ERRORS))
@pytest.mark.parametrize("api", APIS)
def test_stream_fault_is_the_sdks_real_error(api: str, kind: str, server: ScriptedServer) -> None:
    """An injected cut or stall surfaces exactly as a real one does with the installed SDK (anthropic
    >= 2.17 wraps the transport's error in its own ``APIConnectionError`` / ``APITimeoutError``, older
    releases let httpx's error through)."""
    real = real_error(api, kind, server)
    assert real[0] is STREAM_ERRORS[kind]
    fault: dict[str, Any] = {"kind": kind, "after_events": 2}
    if kind == "stream_stall":
        fault["seconds"] = 30
    with injected(fault) as recorder, pytest.raises(Exception) as excinfo:
        run(weather_agent(make_model(api, server, timeout=0.2), []), stream=True)
    assert (type(excinfo.value), type(excinfo.value.__cause__)) == real
    assert recorder.fired() == [kind]
    assert [e.get("stream_fault") for e in recorder.events if e["event"] == "fail"] == [kind]


MALFORMED_CAUSE: dict[str, type[Exception]] = {
    "openai-chat": json.JSONDecodeError,
    "openai-responses": json.JSONDecodeError,
    "anthropic": json.JSONDecodeError,
    "gemini": genai_errors.UnknownApiResponseError,
}


@pytest.mark.parametrize("api", APIS)
def test_malformed_stream_event_is_the_sdks_real_error(api: str, server: ScriptedServer) -> None:
    with (
        injected({"kind": "stream_malformed", "event": 2}) as recorder,
        pytest.raises(ModelAPIError) as excinfo,
    ):
        run(weather_agent(make_model(api, server, timeout=0.2), []), stream=True)
    assert isinstance(excinfo.value.__cause__, MALFORMED_CAUSE[api])
    assert recorder.fired() == ["stream_malformed"]
    assert [e.get("stream_fault") for e in recorder.events if e["event"] == "fail"] == ["stream_malformed"]


def test_stream_faults_are_selected_only_for_streaming_requests() -> None:
    tracker = UnitTracker()
    unit, _ = tracker.observe("model_request", "gpt-4o", "fp")
    plan = ArmedPlan([FAULT.validate_python({"kind": "stream_cut"})])
    assert plan.faults[0].at.phase == "after"
    assert plan.select(tracker, unit, 1, "after") is None
    assert plan.select(tracker, unit, 1, "after", streaming=True) == (0, plan.faults[0])
    with pytest.raises(ValueError, match="phase must be 'after'"):
        FAULT.validate_python({"kind": "stream_stall", "at": {"phase": "before"}})


def test_short_stall_only_slows_the_stream(server: ScriptedServer) -> None:
    with injected({"kind": "stream_stall", "seconds": 0.05, "after_events": 1}) as recorder:
        output, _ = run(weather_agent(make_model("openai-chat", server, timeout=2), []), stream=True)
    assert output == "It is sunny in Paris today."
    assert recorder.fired() == ["stream_stall"]


@pytest.mark.parametrize("api", ["openai-chat", "openai-responses", "gemini"])
def test_stream_faults_leave_requests_that_do_not_stream_alone(api: str, server: ScriptedServer) -> None:
    """(Anthropic's model class streams every request, so a stream fault always finds one there.)"""
    with injected({"kind": "stream_cut"}) as recorder:
        output, _ = run(weather_agent(make_model(api, server), []), stream=False)
    assert output == "It is sunny in Paris today."
    assert recorder.fired() == []


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("api", APIS)
def test_malformed_output_never_reaches_the_tool(api: str, stream: bool, server: ScriptedServer) -> None:
    calls: list[str] = []
    with injected({"kind": "malformed_output", "at": {"occurrence": 1}}) as recorder:
        output, usage = run(weather_agent(make_model(api, server), calls), stream)
    assert recorder.fired() == ["malformed_output"]
    assert calls == []  # the mangled tool call failed validation and was sent back to the model
    assert output == "It is sunny in Paris today."
    assert usage.requests == 2


# ----------------------------------------------------------------------------- durable_chaos.providers, pure


@pytest.mark.parametrize(
    ("path", "host", "api"),
    [
        ("/v1/chat/completions", "api.openai.com", "openai-chat"),
        ("/openai/deployments/x/chat/completions", "x.openai.azure.com", "openai-chat"),
        ("/v1/responses", "api.openai.com", "openai-responses"),
        ("/v1/messages", "api.anthropic.com", "anthropic"),
        ("/v1beta/models/gemini-2.5-flash:generateContent", "generativelanguage.googleapis.com", "gemini"),
        (
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            "generativelanguage.googleapis.com",
            "gemini",
        ),
        ("/api/flows/", "127.0.0.1", None),
    ],
)
def test_detect(path: str, host: str, api: str | None) -> None:
    assert providers.detect(path, host) == api


def test_the_registry_knows_every_api_by_name_request_path_and_scripted_route() -> None:
    assert tuple(providers.PROVIDERS) == APIS
    routes = {
        "openai-chat": "/v1/chat/completions",
        "openai-responses": "/v1/responses",
        "anthropic": "/v1/messages",
        "gemini": "/v1beta/models/gemini-2.5-flash:generateContent",
    }
    for api, path in routes.items():
        assert providers.provider(api).api == api  # type: ignore[arg-type]
        assert providers.detect(path) == api and providers.served(path) == api
    assert providers.served("/v2/chat/completions") is None  # the scripted server answers exact paths
    assert providers.provider(None).api == "openai-chat"  # unknown requests get OpenAI's shapes


def test_the_providers_package_is_a_low_floor_importing_no_sdk_and_no_other_layer() -> None:
    code = (
        "import sys, durable_chaos.providers; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('openai', 'anthropic', 'google') "
        "or m.startswith(('durable_chaos.faults', 'durable_chaos.infra', 'durable_chaos.run'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_gemini_model_and_streaming_come_from_the_path() -> None:
    path = "/v1beta/models/gemini-2.5-pro:streamGenerateContent"
    assert providers.model_name("gemini", path, {"contents": []}) == "gemini-2.5-pro"
    assert providers.is_streaming("gemini", path, {})
    assert not providers.is_streaming("gemini", path.replace("streamG", "g"), {})
    assert providers.model_name("anthropic", "/v1/messages", {"model": "claude-x"}) == "claude-x"
    assert providers.is_streaming("anthropic", "/v1/messages", {"stream": True})


def test_error_shapes() -> None:
    anthropic_429 = providers.error_shape("anthropic", 429, retry_after=3)
    assert anthropic_429.body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": anthropic_429.body["error"]["message"]},
    }
    assert anthropic_429.headers["retry-after"] == "3"
    gemini = providers.error_shape("gemini", 429, retry_after=3).body["error"]
    assert (gemini["code"], gemini["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert gemini["details"][0]["retryDelay"] == "3s"
    assert providers.error_body("openai-chat", 429)["error"]["code"] == "rate_limit_exceeded"


USAGE = Usage(prompt_tokens=40, completion_tokens=12, cached_tokens=8, reasoning_tokens=3)
REPLY = Reply(text="hello there world", usage=USAGE)


@pytest.mark.parametrize(
    ("api", "body", "expected"),
    [
        ("openai-chat", render_sse(build_stream_chunks("m", 0, 0, REPLY, include_usage=True)), "all"),
        ("openai-responses", json.dumps(build_response("m", 0, 0, REPLY)).encode(), "all"),
        ("openai-responses", render_named_sse(build_response_events("m", 0, 0, REPLY)), "all"),
        ("anthropic", json.dumps(build_message("m", 0, 0, REPLY)).encode(), "no-reasoning"),
        ("anthropic", render_named_sse(build_message_events("m", 0, 0, REPLY)), "no-reasoning"),
        ("gemini", json.dumps(build_gemini("m", 0, 0, REPLY)).encode(), "all"),
        ("gemini", render_gemini_sse(build_gemini_chunks("m", 0, 0, REPLY)), "all"),
    ],
)
def test_usage_of_each_api_json_and_sse(api: Any, body: bytes, expected: str) -> None:
    usage = {"input_tokens": 40, "output_tokens": 12, "cache_read_tokens": 8, "reasoning_tokens": 3}
    if expected == "no-reasoning":
        del usage["reasoning_tokens"]
    assert providers.usage_of(api, body) == usage


def test_usage_without_knowing_the_api_reads_either_openai_flavour() -> None:
    events = render_named_sse(build_response_events("m", 0, 0, REPLY))
    assert providers.usage_of(None, events)["input_tokens"] == 40
    chat = render_sse(build_stream_chunks("m", 0, 0, REPLY, include_usage=True))
    assert providers.usage_of(None, chat)["output_tokens"] == 12


@pytest.mark.parametrize(
    ("api", "sdk_error"), [("anthropic", anthropic.BadRequestError), ("gemini", genai_errors.ClientError)]
)
def test_scripted_server_errors_come_in_the_apis_shape(api: str, sdk_error: type[Exception]) -> None:
    srv = ScriptedServer({"conversations": [{"match": "nobody says this", "turns": [{"text": "x"}]}]})
    with srv.start(), pytest.raises(ModelHTTPError) as excinfo:
        run(weather_agent(make_model(api, srv), []), stream=False)
    assert excinfo.value.status_code == 400
    assert isinstance(excinfo.value.__cause__, sdk_error)
    assert "no scripted conversation matches" in str(excinfo.value.body)


def test_split_events_keeps_separators() -> None:
    body = b"data: 1\r\n\r\ndata: 2\r\n\r\n"
    assert providers.split_events(body) == [b"data: 1\r\n\r\n", b"data: 2\r\n\r\n"]
    assert b"".join(providers.split_events(b"event: a\ndata: 1\n\nevent: b\ndata: 2\n\n")).count(b"\n\n") == 2


# ------------------------------------------------------------------------------------- cassettes, scrubbed

FAKE_KEYS = {
    "OPENAI_API_KEY": "sk-" + "proj-durableChaosFakeKey0123456789abcdefABCDEF",  # fake, split
    "ANTHROPIC_API_KEY": "sk-" + "ant-api03-durableChaosFakeKey0123456789abcdef-AAAA",  # fake
    "GOOGLE_API_KEY": "AIza" + "SyDurableChaosFakeKey0123456789abcd",
}
PROVIDER_HOST = {
    "openai-chat": "api.openai.com",
    "openai-responses": "api.openai.com",
    "anthropic": "api.anthropic.com",
    "gemini": "generativelanguage.googleapis.com",
}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("api", APIS)
def test_recorded_cassette_holds_no_key(
    api: str, stream: bool, server: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in FAKE_KEYS.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "cassette.yaml"
    with cassette_traffic(path, "record", upstream=server.url):
        output, _ = run(weather_agent(make_model(api, None, api_key=None), []), stream)
    assert output == "It is sunny in Paris today."

    text = path.read_text()
    assert PROVIDER_HOST[api] in text
    for value in FAKE_KEYS.values():
        assert value not in text
        assert value[-12:] not in text

    # and the cassette replays without the stand-in server
    with cassette_traffic(path, "replay") as session:
        replayed, _ = run(weather_agent(make_model(api, None, api_key=None), []), stream)
    assert replayed == output and session.misses == []


def test_key_query_parameter_is_scrubbed(server: ScriptedServer, tmp_path: Path) -> None:
    key = FAKE_KEYS["GOOGLE_API_KEY"]
    url = (
        f"https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent?key={key}"
    )
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "systemInstruction": {"parts": []}}

    async def send() -> int:
        async with httpx2.AsyncClient() as client:
            return (await client.post(url, json=body)).status_code

    path = tmp_path / "cassette.yaml"
    fallback = ScriptedServer({"conversations": [{"turns": [{"text": "hi"}]}]})
    with fallback, cassette_traffic(path, "record", upstream=fallback.start().url):
        assert asyncio.run(send()) == 200
    text = path.read_text()
    assert "generateContent" in text
    assert key not in text  # the parameter stays, its value is redacted
