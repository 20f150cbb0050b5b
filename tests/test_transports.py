"""Model traffic reaches the harness whatever HTTP client carries it: ``httpx2`` (openai 3.x's own
client), ``httpx`` (what pydantic-ai 2.5 to 2.22 build, and what users pass), a user-supplied client;
and engine traffic on the same clients is never recorded, faulted or counted."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from durable_chaos.faults.context import Injection, activated
from durable_chaos.faults.injectors.http import model_faults
from durable_chaos.faults.model import HttpErrorFault, Selector
from durable_chaos.faults.plan import ArmedPlan
from durable_chaos.faults.transports import client_modules, is_model_request
from durable_chaos.faults.units import UnitTracker
from durable_chaos.infra.cassettes import CassetteMiss, cassette_traffic
from durable_chaos.infra.model_server import Script, ScriptedServer

SCRIPT = {
    "conversations": [
        {
            "match": "weather",
            "turns": [{"text": "It is sunny.", "usage": {"prompt_tokens": 11, "completion_tokens": 3}}],
        }
    ]
}
BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "What is the weather?"}]}


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.exchanges: list[dict[str, Any]] = []

    def event(self, record: dict[str, Any]) -> None:
        self.events.append(record)

    def model_exchange(self, record: dict[str, Any]) -> None:
        self.exchanges.append(record)

    def unit_context(self) -> dict[str, Any]:
        return {}


@pytest.fixture(scope="module")
def cassette(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cassette recorded through the newest client from the scripted server (as the provider's URL)."""
    path = tmp_path_factory.mktemp("cassette") / "chat.yaml"
    script = Script.model_validate(SCRIPT)
    with ScriptedServer(script) as server, cassette_traffic(path, "record", upstream=server.url):

        async def send() -> None:
            async with client_modules()[0].AsyncClient() as client:
                response = await client.post("https://api.openai.com/v1/chat/completions", json=BODY)
                assert response.status_code == 200

        asyncio.run(send())
    return path


CLIENTS = {m.__name__: m.AsyncClient for m in client_modules()}


def post(client_cls: Any, body: dict[str, Any] = BODY, **client: Any) -> Any:
    async def send() -> Any:
        async with client_cls(**client) as http:
            return await http.post("https://api.openai.com/v1/chat/completions", json=body)

    return asyncio.run(send())


@pytest.mark.parametrize("library", sorted(CLIENTS))
def test_model_traffic_on_either_client_is_replayed_faulted_and_counted(cassette: Path, library: str) -> None:
    recorder = Recorder()
    fault = HttpErrorFault(kind="http_error", status=429, at=Selector(kind="model_request", occurrence=1))
    injection = Injection(ArmedPlan([fault]), UnitTracker(), recorder, "faulted")
    with cassette_traffic(cassette, "replay"), model_faults(), activated(injection):
        struck = post(CLIENTS[library])
        replayed = post(CLIENTS[library])
    assert struck.status_code == 429 and json.loads(struck.content)["error"]["code"] == "rate_limit_exceeded"
    assert replayed.status_code == 200 and "sunny" in replayed.text
    assert [e["event"] for e in recorder.events if e["event"] in {"fault", "ok"}] == ["fault", "ok"]
    assert len(recorder.exchanges) == 1 and recorder.exchanges[0]["usage"]["input_tokens"] == 11


def test_a_user_supplied_client_with_its_own_transport_is_intercepted(cassette: Path) -> None:
    recorder = Recorder()
    injection = Injection(ArmedPlan([]), UnitTracker(), recorder, "golden")
    transport = httpx.AsyncHTTPTransport(retries=0)
    with cassette_traffic(cassette, "replay"), model_faults(), activated(injection):
        response = post(httpx.AsyncClient, transport=transport)
    assert response.status_code == 200 and len(recorder.exchanges) == 1


@pytest.mark.parametrize("library", sorted(CLIENTS))
def test_a_model_request_missing_from_the_cassette_is_refused_not_sent(cassette: Path, library: str) -> None:
    other = {**BODY, "messages": [{"role": "user", "content": "And tomorrow?"}]}
    with cassette_traffic(cassette, "replay") as session, pytest.raises(CassetteMiss, match="was not sent"):
        post(CLIENTS[library], other)
    assert session.misses == [
        f"POST https://api.openai.com/v1/chat/completions (sent through {library}); closest of 1 recorded "
        "/v1/chat/completions request(s) differs at body.messages[0].content: recorded 'What is the "
        "weather?', sent 'And tomorrow?'"
    ]


def test_a_retried_miss_is_one_miss(cassette: Path) -> None:
    other = {**BODY, "messages": [{"role": "user", "content": "And tomorrow?"}]}
    library = sorted(CLIENTS)[0]
    with cassette_traffic(cassette, "replay") as session:
        for _ in range(3):  # what a provider SDK's retries do
            with pytest.raises(CassetteMiss):
                post(CLIENTS[library], other)
    assert len(session.misses) == 1


def test_engine_traffic_on_the_same_clients_is_never_recorded_faulted_or_counted(tmp_path: Path) -> None:
    """A request that is not a provider endpoint (the Prefect API, an engine ingress) passes through."""
    recorder = Recorder()
    fault = HttpErrorFault(kind="http_error", status=500, at=Selector(kind="any", times=5))
    injection = Injection(ArmedPlan([fault]), UnitTracker(), recorder, "faulted")
    path = tmp_path / "engine.yaml"

    async def engine_call(url: str) -> Any:
        async with httpx.AsyncClient() as client:
            return await client.get(f"{url}/api/health")

    with (
        ScriptedServer(Script.model_validate(SCRIPT)) as server,
        cassette_traffic(path, "record"),
        model_faults(),
        activated(injection),
    ):
        response = asyncio.run(engine_call(server.url))
    assert "injected" not in response.text and "rate_limit" not in response.text
    assert recorder.events == [] and recorder.exchanges == []
    assert not path.exists() or "/api/health" not in path.read_text()


def test_model_endpoints_are_recognised_by_path() -> None:
    for url, model in [
        ("https://api.openai.com/v1/chat/completions", True),
        ("http://127.0.0.1:9/v1/responses", True),
        ("https://api.anthropic.com/v1/messages", True),
        ("https://x.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent", True),
        ("http://127.0.0.1:4200/api/flow_runs/", False),
        ("http://127.0.0.1:8080/DurableChaos/run", False),
    ]:
        assert is_model_request(httpx.Request("POST", url)) is model, url


def test_a_cassette_miss_is_one_short_trial_error_saying_how_to_re_record() -> None:
    from durable_chaos.infra.engines.base import RunOutcome
    from durable_chaos.run.trial import setup_errors
    from durable_chaos.scenario.model import Scenario

    scenario = Scenario.model_validate(
        {
            "schema_version": 1,
            "name": "s",
            "agent": "m:a",
            "prompt": "p",
            "engines": ["prefect"],
            "cassette": "c.yaml",
            "plans": [{"name": "p"}],
        }
    )
    miss = "POST https://api.openai.com/v1/chat/completions (sent through httpx); closest ..."
    golden = RunOutcome("golden", False, error=f"CassetteMiss: model request {miss} is not in cassette")
    [error] = setup_errors(scenario, golden, [miss, miss + "2"], ArmedPlan([]))
    assert error.startswith(f"a model request is not in cassette c.yaml: {miss} (and 1 more). Add it with ")
    assert "`pytest --chaos --chaos-record s`" in error and "delete the cassette" in error
