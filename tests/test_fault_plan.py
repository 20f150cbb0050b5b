"""Fault model, boundary selectors, unit identity, armed plans, the HTTP and tool injectors' helpers, and
the JSONL files that histories and ledgers are written to. Pure and fast: no engine, no network."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from pydantic import TypeAdapter, ValidationError

from durable_chaos import jsonl
from durable_chaos.faults.injectors.http import (
    MALFORMED_ARGUMENTS,
    error_response,
    malformed,
    request_fingerprint,
    usage_of,
)
from durable_chaos.faults.injectors.tools import exception_for
from durable_chaos.faults.model import (
    EXPLORE_KINDS,
    FAILING_KINDS,
    FAULT_CLASSES,
    FAULT_KINDS,
    KILL_KINDS,
    SWEEP_DEFAULT_KINDS,
    SWEEP_KINDS,
    UNIT_KINDS,
    Fault,
    HttpErrorFault,
    KillFault,
    LatencyFault,
    MalformedOutputFault,
    Selector,
    ToolErrorFault,
)
from durable_chaos.faults.plan import ArmedPlan
from durable_chaos.faults.units import UnitRef, UnitTracker, fingerprint
from durable_chaos.infra.ledger import Ledger, tokens

FAULT = TypeAdapter(Fault)


def fault(**data: Any) -> Any:
    """A fault validated the way scenario files are (the discriminated union)."""
    return FAULT.validate_python(data)


# ------------------------------------------------------------------------------------------------ selector


@pytest.mark.parametrize(
    ("selector", "kind", "name", "matches"),
    [
        (Selector(), "model_request", "gpt-4o", True),
        (Selector(), "tool_call", "lookup", True),
        (Selector(kind="model_request"), "model_request", "gpt-4o", True),
        (Selector(kind="model_request"), "tool_call", "gpt-4o", False),
        (Selector(kind="tool_call", name="lookup"), "tool_call", "lookup", True),
        (Selector(kind="tool_call", name="lookup"), "tool_call", "lookup_user", False),
        (Selector(kind="tool_call", name="lookup*"), "tool_call", "lookup_user", True),
        (Selector(name="gpt-4?"), "model_request", "gpt-4o", True),
        (Selector(name="gpt-4?"), "model_request", "gpt-4o-mini", False),
        (Selector(name="[st]end_*"), "tool_call", "send_email", True),
        (Selector(name="GPT*"), "model_request", "gpt-4o", False),  # case-sensitive on every platform
    ],
)
def test_selector_matches_unit(selector: Selector, kind: str, name: str, matches: bool) -> None:
    assert selector.matches_unit(kind, name) is matches


@pytest.mark.parametrize(
    "data",
    [
        {"occurrence": 0},
        {"attempt": 0},
        {"times": 0},
        {"times": 1001},
        {"phase": "during"},
        {"kind": "mcp_call"},
        {"unknown": 1},
    ],
)
def test_selector_rejects_invalid_values(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Selector(**data)


def test_selector_defaults() -> None:
    selector = Selector()
    assert selector.model_dump() == {
        "kind": "any",
        "name": "*",
        "occurrence": None,
        "phase": "before",
        "attempt": None,
        "times": 1,
    }


# ------------------------------------------------------------------------------------------------ fault model


def test_fault_kinds_are_the_union_members() -> None:
    assert FAULT_KINDS == (
        "timeout",
        "http_error",
        "latency",
        "tool_error",
        "malformed_output",
        "stream_cut",
        "stream_stall",
        "stream_malformed",
        "stream_error",
        "connection_reset",
        "network",
        "restart",
        "mcp_server_exit",
        "kill",
    )
    required: dict[str, dict[str, object]] = {
        "latency": {"seconds": 1},
        "network": {"target": "model_endpoint", "toxic": "down"},
        "restart": {"target": "database"},
    }
    for kind in FAULT_KINDS:
        extra = required.get(kind, {})
        assert fault(kind=kind, **extra).kind == kind


def test_the_kind_lists_derive_from_each_classs_traits() -> None:
    assert len(FAULT_CLASSES) == len(FAULT_KINDS)
    assert set(FAULT_KINDS) - {"latency", "network", "restart"} == FAILING_KINDS
    assert {"kill"} == KILL_KINDS
    assert SWEEP_KINDS == ("tool_error", "http_error", "timeout", "kill")
    assert SWEEP_DEFAULT_KINDS == ("tool_error", "http_error", "kill")
    assert EXPLORE_KINDS == ("http_error", "tool_error", "timeout", "kill")
    for cls in FAULT_CLASSES:
        traits = cls.traits
        assert traits.unit_kinds and set(traits.unit_kinds) <= set(UNIT_KINDS), cls
        if traits.sweep is not None or traits.explore is not None:  # the sweep and explorer fail units
            assert traits.fails_unit and {"model_request", "tool_call"} & set(traits.unit_kinds), cls
        assert not traits.sweep_default or traits.sweep is not None, cls


def test_unknown_fault_kind_and_extra_fields_are_rejected() -> None:
    with pytest.raises(ValidationError):
        fault(kind="meteor")
    with pytest.raises(ValidationError):
        fault(kind="kill", signal=9)
    with pytest.raises(ValidationError):
        fault(kind="http_error", status=302)


def test_malformed_output_defaults_to_phase_after() -> None:
    assert fault(kind="malformed_output").at.phase == "after"
    data = {"kind": "malformed_output", "at": {"name": "gpt-*", "occurrence": 2}}
    parsed = fault(**data)
    assert (parsed.at.phase, parsed.at.name, parsed.at.occurrence) == ("after", "gpt-*", 2)
    assert data["at"] == {"name": "gpt-*", "occurrence": 2}  # the caller's data is not mutated
    assert MalformedOutputFault(kind="malformed_output").at.phase == "after"
    assert fault(kind="malformed_output", at={"phase": "after"}).at.phase == "after"


def test_malformed_output_rejects_phase_before() -> None:
    with pytest.raises(ValidationError, match="phase must be 'after'"):
        fault(kind="malformed_output", at={"phase": "before"})


def test_other_faults_default_to_phase_before() -> None:
    assert fault(kind="timeout").at.phase == "before"
    assert fault(kind="kill", at={"phase": "after"}).at.phase == "after"


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("ValueError", "builtins.ValueError"),
        ("builtins.KeyError", "builtins.KeyError"),
        ("http.client.HTTPException", "http.client.HTTPException"),
        ("asyncio:CancelledError", "asyncio:CancelledError"),
        ("concurrent.futures:TimeoutError", "concurrent.futures:TimeoutError"),
    ],
)
def test_tool_error_exception_path_is_normalised(given: str, normalised: str) -> None:
    assert fault(kind="tool_error", exception=given).exception == normalised


def test_tool_error_defaults() -> None:
    parsed = fault(kind="tool_error")
    assert (parsed.exception, parsed.message) == ("builtins.RuntimeError", "injected by durable-chaos")


def test_applies_to_unit_kinds() -> None:
    model_only = [fault(kind="timeout"), fault(kind="http_error"), fault(kind="malformed_output")]
    assert all(f.applies_to("model_request") and not f.applies_to("tool_call") for f in model_only)
    tool_error = fault(kind="tool_error")
    assert tool_error.applies_to("tool_call") and not tool_error.applies_to("model_request")
    for anywhere in (fault(kind="latency", seconds=0), fault(kind="kill")):
        assert anywhere.applies_to("tool_call") and anywhere.applies_to("model_request")


# ------------------------------------------------------------------------------------------------ units


def test_unit_tracker_ordinals_and_attempts() -> None:
    tracker = UnitTracker()
    m1, a = tracker.observe("model_request", "gpt-4o", "m1")
    assert (m1.ordinal, a) == (1, 1)
    again, a = tracker.observe("model_request", "gpt-4o", "m1")
    assert again is m1 and a == 2
    t1, a = tracker.observe("tool_call", "lookup", "t1")
    assert (t1.kind, t1.ordinal, a) == ("tool_call", 1, 1)
    m2, a = tracker.observe("model_request", "gpt-4o", "m2")
    assert (m2.ordinal, a) == (2, 1)
    assert tracker.observe("model_request", "gpt-4o", "m1")[1] == 3
    assert [u.label for u in tracker.units] == [
        "model_request #1 (gpt-4o)",
        "tool_call #1 (lookup)",
        "model_request #2 (gpt-4o)",
    ]
    assert m2.as_dict() == {"kind": "model_request", "name": "gpt-4o", "ordinal": 2, "fingerprint": "m2"}


def test_unit_tracker_occurrence_among_matching_units() -> None:
    tracker = UnitTracker()
    m1, _ = tracker.observe("model_request", "gpt-4o", "m1")
    t1, _ = tracker.observe("tool_call", "lookup", "t1")
    t2, _ = tracker.observe("tool_call", "send_email", "t2")
    m2, _ = tracker.observe("model_request", "gpt-4o", "m2")
    assert tracker.occurrence(m2, Selector(kind="model_request")) == 2
    assert tracker.occurrence(t2, Selector(kind="tool_call")) == 2
    assert tracker.occurrence(t2, Selector(kind="tool_call", name="send_*")) == 1
    assert tracker.occurrence(t1, Selector()) == 2  # kind any: in order of first appearance, all kinds
    assert tracker.occurrence(m1, Selector(kind="tool_call")) == 0  # not a unit the selector could strike
    stranger = UnitRef("tool_call", "lookup", 9, "never-seen")
    assert tracker.occurrence(stranger, Selector(kind="tool_call")) == 0


def test_unit_tracker_from_invocations_continues_where_the_killed_worker_stopped() -> None:
    original = UnitTracker()
    invocations = []
    for kind, name, fp in [
        ("model_request", "gpt-4o", "m1"),
        ("model_request", "gpt-4o", "m1"),
        ("tool_call", "lookup", "t1"),
        ("model_request", "gpt-4o", "m2"),
    ]:
        ref, attempt = original.observe(kind, name, fp)
        invocations.append({"event": "invoke", "unit": ref.as_dict(), "attempt": attempt})
    rebuilt = UnitTracker.from_invocations(invocations)
    assert rebuilt.units == original.units
    assert rebuilt.attempts == {"m1": 2, "t1": 1, "m2": 1}
    ref, attempt = rebuilt.observe("model_request", "gpt-4o", "m1")
    assert (ref.ordinal, attempt) == (1, 3)


def test_fingerprint_is_stable_and_ignores_key_order() -> None:
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
    assert len(fingerprint("x")) == 16


# ------------------------------------------------------------------------------------------------ armed plan


def tracked(*units: tuple[str, str, str]) -> tuple[UnitTracker, list[UnitRef]]:
    tracker = UnitTracker()
    return tracker, [tracker.observe(kind, name, fp)[0] for kind, name, fp in units]


def test_select_fires_only_at_its_phase_and_only_times_times() -> None:
    tracker, (m1,) = tracked(("model_request", "gpt-4o", "m1"))
    timeout = fault(kind="timeout", at={"phase": "after", "times": 2})
    plan = ArmedPlan([timeout])
    assert plan.fired == [0]
    assert plan.select(tracker, m1, 1, "before") is None
    assert plan.select(tracker, m1, 1, "after") == (0, timeout)
    assert plan.select(tracker, m1, 2, "after") == (0, timeout)
    assert plan.select(tracker, m1, 3, "after") is None
    assert plan.fired == [2]


def test_select_with_attempt_strikes_only_that_attempt() -> None:
    tracker, (m1,) = tracked(("model_request", "gpt-4o", "m1"))
    plan = ArmedPlan([fault(kind="http_error", status=429, at={"attempt": 2})])
    assert plan.select(tracker, m1, 1, "before") is None
    assert plan.select(tracker, m1, 2, "before") is not None
    assert plan.select(tracker, m1, 2, "before") is None  # times: 1


def test_select_with_occurrence_strikes_the_nth_matching_unit() -> None:
    tracker, (m1, t1, m2) = tracked(
        ("model_request", "gpt-4o", "m1"), ("tool_call", "lookup", "t1"), ("model_request", "gpt-4o", "m2")
    )
    plan = ArmedPlan([fault(kind="http_error", at={"kind": "model_request", "occurrence": 2})])
    assert plan.select(tracker, m1, 1, "before") is None
    assert plan.select(tracker, t1, 1, "before") is None
    assert plan.select(tracker, m2, 1, "before") == (0, plan.faults[0])


def test_select_respects_kind_name_and_what_the_fault_can_strike() -> None:
    tracker, (m1, t1, t2) = tracked(
        ("model_request", "gpt-4o", "m1"), ("tool_call", "lookup", "t1"), ("tool_call", "send_email", "t2")
    )
    plan = ArmedPlan(
        [
            fault(kind="http_error"),  # kind any, but only model requests can get an HTTP error
            fault(kind="tool_error", at={"name": "send_*"}),
        ]
    )
    assert plan.select(tracker, t1, 1, "before") is None
    assert plan.select(tracker, t2, 1, "before") == (1, plan.faults[1])
    assert plan.select(tracker, m1, 1, "before") == (0, plan.faults[0])


def test_select_returns_the_first_matching_fault_in_plan_order() -> None:
    tracker, (t1,) = tracked(("tool_call", "lookup", "t1"))
    first, second = fault(kind="latency", seconds=0), fault(kind="kill")
    plan = ArmedPlan([first, second])
    assert plan.select(tracker, t1, 1, "before") == (0, first)
    assert plan.select(tracker, t1, 2, "before") == (1, second)  # first is spent
    assert plan.select(tracker, t1, 3, "before") is None
    assert plan.fired == [1, 1]


def test_unfired_lists_faults_that_never_fired() -> None:
    tracker, (m1,) = tracked(("model_request", "gpt-4o", "m1"))
    faults = [
        fault(kind="timeout", at={"times": 3}),
        fault(kind="tool_error"),
        fault(kind="kill", at={"phase": "after"}),
    ]
    plan = ArmedPlan(faults)
    assert plan.unfired() == list(enumerate(faults))
    plan.select(tracker, m1, 1, "before")
    plan.select(tracker, m1, 1, "after")
    assert plan.unfired() == [(1, faults[1])]  # a partly spent fault (1 of 3) has fired


def test_armed_plan_keeps_fire_counts_it_is_given() -> None:
    tracker, (m1,) = tracked(("model_request", "gpt-4o", "m1"))
    plan = ArmedPlan([fault(kind="timeout")], fired=[1])  # restored from an earlier worker
    assert plan.select(tracker, m1, 2, "before") is None
    assert plan.unfired() == []


def test_constructed_faults_are_usable_in_a_plan() -> None:
    tracker, (m1,) = tracked(("model_request", "gpt-4o-mini", "m1"))
    plan = ArmedPlan(
        [
            HttpErrorFault(kind="http_error", at=Selector(name="gpt-4o")),
            LatencyFault(kind="latency", seconds=0.0, at=Selector(name="gpt-4o*")),
            KillFault(kind="kill"),
        ]
    )
    assert plan.select(tracker, m1, 1, "before") == (1, plan.faults[1])


# --------------------------------------------------------------------------------------------- http helpers


def chat_completion(message: dict[str, Any], usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": "stop"}],
        "usage": usage or {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }


def request(body: Any = None) -> httpx2.Request:
    content = json.dumps(body if body is not None else {"model": "gpt-4o", "messages": []}).encode()
    return httpx2.Request("POST", "http://test/v1/chat/completions", content=content)


def test_usage_of_json_body() -> None:
    body = json.dumps(chat_completion({"content": "hi"})).encode()
    assert usage_of(body) == {"input_tokens": 12, "output_tokens": 3}
    assert usage_of(b'\n  {"usage": {"input_tokens": 7, "output_tokens": 2}}') == {
        "input_tokens": 7,
        "output_tokens": 2,
    }


def test_usage_of_server_sent_events() -> None:
    chunks = [
        {"choices": [{"delta": {"content": "he"}}], "usage": None},
        {"choices": [{"delta": {"content": "llo"}}], "usage": None},
        {"choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": 9}},
    ]
    stream = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    assert usage_of(stream.encode()) == {"input_tokens": 40, "output_tokens": 9}
    assert usage_of(b'event: x\ndata:{"usage": {"prompt_tokens": 1, "completion_tokens": 1}}\n') == {
        "input_tokens": 1,
        "output_tokens": 1,
    }


@pytest.mark.parametrize("body", [b"", b"not json", b'{"usage": null}', b"data: [DONE]\n", b'{"error": {}}'])
def test_usage_of_without_usage_is_zero(body: bytes) -> None:
    assert usage_of(body) == {"input_tokens": 0, "output_tokens": 0}


def test_error_response_429_with_retry_after() -> None:
    req = request()
    response = error_response(HttpErrorFault(kind="http_error", status=429, retry_after=2.5), req)
    assert response.status_code == 429
    assert response.request is req
    assert response.headers["retry-after"] == "2.5"
    assert response.headers["retry-after-ms"] == "2500"
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": {
            "message": "Rate limit reached for requests. Please try again later.",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }


def test_error_response_other_statuses() -> None:
    response = error_response(HttpErrorFault(kind="http_error"), request())
    assert response.status_code == 500
    assert "retry-after" not in response.headers and "retry-after-ms" not in response.headers
    assert response.json()["error"]["type"] == response.json()["error"]["code"] == "server_error"
    teapot_fault = HttpErrorFault(kind="http_error", status=418, message="short and stout")
    teapot = error_response(teapot_fault, request())
    assert teapot.json()["error"] == {
        "message": "short and stout",
        "type": "api_error",
        "param": None,
        "code": "api_error",
    }
    assert (
        error_response(HttpErrorFault(kind="http_error", status=429, retry_after=3), request()).headers[
            "retry-after"
        ]
        == "3"
    )


async def _complete(fault_: HttpErrorFault, max_retries: int) -> list[httpx2.Request]:
    sent: list[httpx2.Request] = []

    def handler(req: httpx2.Request) -> httpx2.Response:
        sent.append(req)
        return error_response(fault_, req)

    http_client = openai.DefaultAsyncHttpx2Client(transport=httpx2.MockTransport(handler))
    client = openai.AsyncOpenAI(
        api_key="x", base_url="http://test/v1", max_retries=max_retries, http_client=http_client
    )
    try:
        await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    finally:
        await client.close()
    return sent


def test_openai_sdk_raises_its_real_rate_limit_error() -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        asyncio.run(_complete(HttpErrorFault(kind="http_error", status=429, retry_after=1), max_retries=0))
    err = caught.value
    assert err.status_code == 429
    assert err.code == "rate_limit_exceeded" and err.type == "requests"
    assert "Rate limit reached" in err.message
    assert err.request_id == "req_durable_chaos"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
    ],
)
def test_openai_sdk_raises_the_status_specific_error(status: int, error: type[Exception]) -> None:
    with pytest.raises(error):
        asyncio.run(_complete(HttpErrorFault(kind="http_error", status=status), max_retries=0))


def test_openai_sdk_retries_a_429_itself_honouring_retry_after() -> None:
    """The SDK's own retries are separate sends (attempts 1..3 of one unit), all of the same request."""
    sent: list[httpx2.Request] = []

    def handler(req: httpx2.Request) -> httpx2.Response:
        sent.append(req)
        return error_response(HttpErrorFault(kind="http_error", status=429, retry_after=0.001), req)

    async def run() -> None:
        client = openai.AsyncOpenAI(
            api_key="x",
            base_url="http://test/v1",
            max_retries=2,
            http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)),
        )
        try:
            await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        finally:
            await client.close()

    with pytest.raises(openai.RateLimitError):
        asyncio.run(run())
    assert len(sent) == 3
    assert len({request_fingerprint(r) for r in sent}) == 1


def test_request_fingerprint_is_equal_for_resends_of_the_same_request() -> None:
    a = request({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "n": 1})
    b = request({"n": 1, "messages": [{"role": "user", "content": "hi"}], "model": "gpt-4o"})
    c = request({"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]})
    assert request_fingerprint(a) == request_fingerprint(b) != request_fingerprint(c)


def test_malformed_mangles_tool_call_arguments() -> None:
    message = {
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "lookup", "arguments": '{"c": "Paris"}'},
            },
            {
                "id": "call_2",
                "type": "function",
                "function": {"name": "lookup", "arguments": '{"c": "Lyon"}'},
            },
        ],
    }
    content = json.dumps(chat_completion(message)).encode()
    original = httpx2.Response(
        200,
        headers={"content-type": "application/json", "x-request-id": "r1"},
        content=content,
        request=request(),
    )
    mangled = malformed(original, content)
    assert mangled.status_code == 200
    assert mangled.headers["x-request-id"] == "r1"
    assert mangled.headers["content-length"] == str(len(mangled.content))
    assert mangled.request is original.request
    calls = mangled.json()["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["arguments"] for c in calls] == [MALFORMED_ARGUMENTS, MALFORMED_ARGUMENTS]
    assert [c["function"]["name"] for c in calls] == ["lookup", "lookup"]
    with pytest.raises(ValueError):
        json.loads(MALFORMED_ARGUMENTS)
    assert mangled.json()["usage"] == chat_completion({})["usage"]  # still billed the same


def test_malformed_empties_text_content() -> None:
    content = json.dumps(chat_completion({"content": "The answer is 42."})).encode()
    mangled = malformed(httpx2.Response(200, content=content, request=request()), content)
    assert mangled.json()["choices"][0]["message"]["content"] is None


@pytest.mark.parametrize("content", [b"data: {}\n\n", b'{"choices": []}', b'{"object": "list"}', b"[]"])
def test_malformed_leaves_what_it_cannot_parse_unchanged(content: bytes) -> None:
    response = httpx2.Response(200, content=content, request=request())
    assert malformed(response, content) is response


# --------------------------------------------------------------------------------------------- tool helpers


@pytest.mark.parametrize(
    ("path", "cls"),
    [
        ("ValueError", ValueError),
        ("builtins.PermissionError", PermissionError),
        ("asyncio:CancelledError", asyncio.CancelledError),
        ("concurrent.futures.TimeoutError", TimeoutError),
    ],
)
def test_exception_for_instantiates_the_named_class(path: str, cls: type[BaseException]) -> None:
    exc = exception_for(ToolErrorFault(kind="tool_error", exception=path, message="card declined"))
    assert type(exc) is cls
    assert str(exc) == "card declined"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("no_such_module_xyz.Oops", "cannot import module 'no_such_module_xyz'"),
        ("ConectionError", "has no exception 'ConectionError'; did you mean 'ConnectionError'?"),
        ("json:NoSuchError", "has no exception 'NoSuchError'"),
        ("builtins.len", "is not an exception class"),
        ("builtins.int", "is not an exception class"),
        ("os.path", "is not an exception class"),
        ("SystemExit", "is a SystemExit, which stops the process"),
        ("KeyboardInterrupt", "is a KeyboardInterrupt"),
        ("GeneratorExit", "is a GeneratorExit"),
        ("json.JSONDecodeError", "cannot be built from one message string"),
        ("UnicodeDecodeError", "cannot be built from one message string"),
        ("a b:c", "is not an import path"),
        ("builtins.", "is not an import path"),
    ],
)
def test_tool_error_exception_is_checked_when_the_fault_is_built(path: str, reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        ToolErrorFault(kind="tool_error", exception=path)
    assert reason in str(info.value)


def test_exception_for_raises_instead_of_substituting() -> None:
    unchecked = ToolErrorFault.model_construct(
        kind="tool_error", exception="builtins.NoSuchError", message="m"
    )
    with pytest.raises(ValueError, match="no exception 'NoSuchError'"):
        exception_for(unchecked)


# ------------------------------------------------------------------------------------------------ jsonl


def test_jsonl_append_and_read_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    records = [{"t": 1.5, "event": "invoke", "unit": {"kind": "tool_call"}}, {"t": 2.0, "event": "ok"}]
    for record in records:
        jsonl.append(path, record)
    assert jsonl.read(path) == records
    jsonl.append(path, {"path": tmp_path})  # not JSON-serialisable: written as its str()
    assert jsonl.read(path)[-1] == {"path": str(tmp_path)}
    assert path.read_text().count("\n") == 3


def test_jsonl_read_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert jsonl.read(tmp_path / "absent.jsonl") == []


def test_jsonl_ignores_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    jsonl.append(path, {"n": 1})
    jsonl.append(path, {"n": 2})
    with path.open("a") as handle:
        handle.write('{"n": 3, "usage": {"input_t')  # the writer was killed mid-line
    assert jsonl.read(path) == [{"n": 1}, {"n": 2}]


def test_jsonl_stops_at_a_complete_but_corrupt_last_line(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    jsonl.append(path, {"n": 1})
    with path.open("a") as handle:
        handle.write('{"n": \n')
    assert jsonl.read(path) == [{"n": 1}]


def test_ledger_entries_and_tokens(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    ledger.append({"role": "golden", "usage": {"input_tokens": 10, "output_tokens": 1}})
    ledger.append({"role": "faulted", "usage": {"input_tokens": 20, "output_tokens": 2}})
    ledger.append({"role": "resume-1", "usage": {"input_tokens": 30, "output_tokens": 3}})
    entries = ledger.entries()
    assert [e["role"] for e in entries] == ["golden", "faulted", "resume-1"]
    assert all(isinstance(e["t"], float) for e in entries)
    assert [e["role"] for e in ledger.entries("faulted")] == ["faulted"]
    assert tokens(entries) == 66 and tokens([]) == 0
