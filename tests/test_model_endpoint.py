"""same_model_endpoint: the pure checker on hand-built ledgers (both directions), the endpoint the HTTP
layer records, and one known-bad Prefect flow caught with exactly it next to its correct twin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from durable_chaos.faults.injectors.http import endpoint_of
from durable_chaos.infra.engines import engine_spec
from durable_chaos.infra.engines.base import RunOutcome
from durable_chaos.judge.checkers import same_model_endpoint
from durable_chaos.judge.evidence import Evidence
from durable_chaos.run.results import TrialResult
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

GATEWAY = "https://llm-gateway.example.com/v1/chat/completions"
PUBLIC = "https://api.openai.com/v1/chat/completions"


def send(
    t: float, role: str, endpoint: str | None, model: str = "gpt-4o", ordinal: int = 1
) -> dict[str, Any]:
    unit = {"kind": "model_request", "name": model, "ordinal": ordinal, "fingerprint": f"fp{ordinal}"}
    entry = {"t": t, "role": role, "unit": unit, "attempt": 1, "fingerprint": unit["fingerprint"]}
    entry.update(model=model, status=200, usage={"input_tokens": 1, "output_tokens": 1}, engine={})
    if endpoint is not None:
        entry["endpoint"] = endpoint
    return entry


def fault(t: float, role: str, kind: str) -> dict[str, Any]:
    unit = {"kind": "model_request", "name": "gpt-4o", "ordinal": 2, "fingerprint": "fp2"}
    return {"t": t, "pid": 1, "role": role, "event": "fault", "unit": unit, "attempt": 1,
            "fault": {"index": 0, "kind": kind, "phase": "before"}}  # fmt: skip


def evidence(ledger: list[dict[str, Any]], events: list[dict[str, Any]] | None = None) -> Evidence:
    golden, faulted = RunOutcome("golden", True, output="x"), RunOutcome("faulted", True, output="x")
    return Evidence(golden, faulted, events or [], ledger, rules=engine_spec("prefect").rules)


GOLDEN = [send(1, "golden", GATEWAY, ordinal=1), send(2, "golden", GATEWAY, ordinal=2)]


def test_requests_to_the_golden_runs_endpoint_hold() -> None:
    verdict = same_model_endpoint(
        evidence([*GOLDEN, send(3, "faulted", GATEWAY), send(4, "resume-1", GATEWAY)])
    )
    assert verdict.held is True, verdict.detail
    assert GATEWAY in verdict.detail


def test_a_resume_that_sends_to_another_base_url_is_named() -> None:
    verdict = same_model_endpoint(
        evidence([*GOLDEN, send(3, "faulted", GATEWAY), send(4, "resume-1", PUBLIC, ordinal=2)])
    )
    assert verdict.held is False
    assert PUBLIC in verdict.detail and "resume-1" in verdict.detail and "model_request #2" in verdict.detail


def test_another_model_on_the_same_url_is_a_violation_too() -> None:
    verdict = same_model_endpoint(evidence([*GOLDEN, send(3, "resume-1", GATEWAY, model="gpt-4o-mini")]))
    assert verdict.held is False and "gpt-4o-mini" in verdict.detail


def test_a_fallback_after_a_failed_model_request_is_not_a_violation() -> None:
    ledger = [*GOLDEN, send(4, "faulted", PUBLIC, model="gpt-4o-mini", ordinal=2)]
    verdict = same_model_endpoint(evidence(ledger, [fault(3, "faulted", "http_error")]))
    assert verdict.held is True and "fallback" in verdict.detail
    # a kill is not a failure a fallback model answers: the resume's new endpoint is still a violation
    assert same_model_endpoint(evidence(ledger, [fault(3, "faulted", "kill")])).held is False


def test_not_applicable_without_recorded_endpoints() -> None:
    assert same_model_endpoint(evidence([send(1, "golden", None), send(2, "faulted", PUBLIC)])).held is None
    assert same_model_endpoint(evidence([])).held is None


def test_the_recorded_endpoint_has_no_userinfo_or_query() -> None:
    request = httpx.Request("POST", "https://user:pw@gw.example.com:8443/v1/chat/completions?api-key=x")
    assert endpoint_of(request) == "https://gw.example.com:8443/v1/chat/completions"  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------- end to end (Prefect)

EXAMPLES = Path(__file__).resolve().parent.parent / "scenarios" / "data_analyst"


def _trial(runner: TrialRunner, file: str) -> TrialResult:
    scenario = load_scenario(EXAMPLES / file)
    return runner.run(TrialSpec(scenario, "prefect", scenario.plans[0]))


def test_a_model_rebuilt_from_defaults_after_a_resume_is_caught_with_exactly_same_model_endpoint(
    runner: TrialRunner,
) -> None:
    result = _trial(runner, "model_gateway_lost.yaml")
    violated = {name for name, verdict in result.verdicts.items() if verdict.held is False}
    assert violated == {"same_model_endpoint"}, result.reason
    assert result.verdict == "pass", result.reason
    detail = result.verdicts["same_model_endpoint"].detail
    assert "https://api.openai.com/v1/chat/completions" in detail and "resume-1" in detail, detail


def test_the_gateway_carried_on_deps_keeps_the_endpoint_across_the_resume(runner: TrialRunner) -> None:
    result = _trial(runner, "model_gateway.yaml")
    assert result.verdict == "pass", result.reason
    assert result.verdicts["same_model_endpoint"].held is True
    assert "llm-gateway.example.com" in result.verdicts["same_model_endpoint"].detail


# ------------------------------------------------------------ end to end (DBOS, Temporal, Restate: one each)

SCENARIOS = EXAMPLES.parent


@pytest.mark.parametrize(
    ("engine", "folder", "prefix"),
    [("dbos", "data_analyst", "dbos_"), ("temporal", "temporal", ""), ("restate", "restate", "")],
)
def test_a_gateway_left_in_process_state_by_a_replayed_unit_is_caught_on_every_engine(
    runner: TrialRunner, engine: str, folder: str, prefix: str
) -> None:
    # known-bad: the lookup unit (DBOS step, Temporal activity, Restate ctx.run) set the gateway as a side
    # effect; twin: the unit's result configures the model. A kill before the first model request each.
    for file, bad in ((f"{prefix}model_gateway_lost.yaml", True), (f"{prefix}model_gateway.yaml", False)):
        scenario = load_scenario(SCENARIOS / folder / file)
        result = runner.run(TrialSpec(scenario, engine, scenario.plans[0]))
        assert result.verdict == "pass", result.reason
        detail = result.verdicts["same_model_endpoint"].detail
        if bad:
            violated = {name for name, v in result.verdicts.items() if v.held is False}
            assert violated == {"same_model_endpoint"}, result.reason
            assert "https://api.openai.com/v1/chat/completions" in detail and "resume-1" in detail, detail
        else:
            assert result.verdicts["same_model_endpoint"].held is True, detail
            assert "llm-gateway.example.com" in detail, detail
