"""The ``network`` fault kind: the model, the injection machinery (applied at a boundary, removed after
a duration, at an ``until`` boundary or at the run's end), the model-endpoint relay through a real
(embedded) Toxiproxy, verdict messages, and end-to-end trials on Prefect and DBOS."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from event_recorder import EventRecorder
from pydantic import TypeAdapter, ValidationError

from durable_chaos.faults.context import Injection
from durable_chaos.faults.model import Fault, NetworkFault
from durable_chaos.faults.plan import ArmedPlan
from durable_chaos.faults.units import UnitTracker
from durable_chaos.infra.engines.base import RunOutcome
from durable_chaos.judge.checkers import completes
from durable_chaos.judge.evidence import Evidence
from durable_chaos.judge.network_effects import network_effects
from durable_chaos.run.fault_services.network import EchoServer, NetworkSession, needs_worker, relay
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

NETWORK = Path(__file__).resolve().parent.parent / "scenarios" / "network"
FAULT = TypeAdapter(Fault)


def network(**fields: Any) -> NetworkFault:
    fault = FAULT.validate_python({"kind": "network", "target": "model_endpoint", "toxic": "down", **fields})
    assert isinstance(fault, NetworkFault)
    return fault


# -- the model -------------------------------------------------------------------------------------------


def test_network_fault_is_checked_when_loaded() -> None:
    fault = network(
        toxic="latency", attributes={"latency": 1500}, until={"kind": "model_request", "attempt": 2}
    )
    assert fault.toxic_spec(0).toxic_name == "chaos0_latency"
    assert fault.describe() == "latency (latency=1500) on model_endpoint"
    with pytest.raises(ValidationError, match="unknown toxic type 'latncy'"):
        network(toxic="latncy")
    with pytest.raises(ValidationError, match="has no attribute 'delay'"):
        network(toxic="latency", attributes={"delay": 1})
    with pytest.raises(ValidationError, match="not both"):
        network(duration=1, until={"kind": "model_request"})
    with pytest.raises(ValidationError):
        network(target="the_internet")
    assert needs_worker([network(target="database")]) and not needs_worker([network()])


# -- the injection machinery, with a recording control ---------------------------------------------------


class Control:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def apply(self, index: int, fault: NetworkFault) -> None:
        self.calls.append(("apply", index))

    def remove(self, index: int, fault: NetworkFault) -> None:
        self.calls.append(("remove", index))


def injection(*faults: NetworkFault) -> tuple[Injection, Control, EventRecorder]:
    control, observer = Control(), EventRecorder()
    return Injection(ArmedPlan(list(faults)), UnitTracker(), observer, network=control), control, observer


def test_applied_at_its_boundary_and_removed_at_until() -> None:
    inj, control, observer = injection(
        network(at={"kind": "model_request", "attempt": 1}, until={"kind": "model_request", "attempt": 3})
    )
    for expected in ([("apply", 0)], [("apply", 0)], [("apply", 0), ("remove", 0)]):
        attempt = inj.begin("model_request", "gpt", "fp1")
        assert attempt.strike("before") is None  # the network acts; the unit goes ahead
        assert control.calls == expected
    assert [e.get("action") for e in observer.events if e["event"] == "network"] == ["applied", "removed"]
    removed = [e for e in observer.events if e.get("action") == "removed"][0]
    assert removed["why"] == "until" and removed["attempt"] == 3


def test_removed_after_its_duration_or_at_the_run_end() -> None:
    inj, control, _ = injection(network(duration=0.05), network(at={"kind": "tool_call"}))
    inj.begin("model_request", "gpt", "fp1").strike("before")
    inj.begin("tool_call", "t", "fp2").strike("before")
    deadline = time.monotonic() + 5
    while ("remove", 0) not in control.calls and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ("remove", 0) in control.calls and ("remove", 1) not in control.calls
    inj.close_network()
    assert control.calls[-1] == ("remove", 1)


def test_a_network_fault_without_proxies_is_a_harness_error() -> None:
    inj = Injection(ArmedPlan([network()]), UnitTracker(), EventRecorder())
    with pytest.raises(RuntimeError, match="set up no proxies"):
        inj.begin("model_request", "gpt", "fp").strike("before")


# -- the relay through a real (embedded) Toxiproxy --------------------------------------------------------


@pytest.fixture(scope="module")
def session() -> Any:
    network_session = NetworkSession()
    yield network_session
    network_session.close()


def test_model_responses_relayed_through_the_proxy(session: NetworkSession, tmp_path: Path) -> None:
    trial = session.trial([network()], adapter=None, trial_dir=tmp_path / "t1")  # type: ignore[arg-type]
    assert trial is not None
    handle, address = trial.handle, trial.handle.address("model_endpoint")
    try:
        payload = b"x" * 300_000
        assert asyncio.run(relay(address, payload, 2, 2)) == payload
        handle.apply(0, network(toxic="latency", attributes={"latency": 800}))
        with pytest.raises(TimeoutError):
            asyncio.run(relay(address, b"late", 2, 0.3))
        handle.remove(0, network(toxic="latency", attributes={"latency": 800}))
        handle.apply(1, network())  # down
        with pytest.raises(ConnectionRefusedError):
            asyncio.run(relay(address, b"refused", 2, 2))
        handle.heal()
        assert asyncio.run(relay(address, b"back", 2, 2)) == b"back"
        handle.apply(2, network(toxic="limit_data", attributes={"bytes": 100}))
        with pytest.raises(ConnectionError):
            asyncio.run(relay(address, payload, 2, 2))
        env = trial.handle.to_env()
        assert "model_endpoint" in env["DURABLE_CHAOS_NETWORK"]
    finally:
        trial.close()


def test_echo_server_answers_frames() -> None:
    echo = EchoServer()
    try:
        host, port = echo.address.split(":")
        assert asyncio.run(relay((host, int(port)), b"hello", 2, 2)) == b"hello"
    finally:
        echo.close()


# -- verdict messages -----------------------------------------------------------------------------------


def _events(*, completed: bool) -> list[dict[str, Any]]:
    unit = {"kind": "model_request", "name": "gpt-4o", "ordinal": 1, "fingerprint": "f"}

    def ev(event: str, attempt: int | None = None, **fields: Any) -> dict[str, Any]:
        record = {"t": 0.0, "pid": 1, "role": "faulted", "event": event, **fields}
        if attempt is not None:
            record.update(unit=unit, attempt=attempt)
        return record

    events = [
        ev("fault", 1, fault={"index": 0, "kind": "network", "phase": "before"}),
        ev("network", 1, action="applied", index=0, target="model_endpoint", toxic="down"),
        ev("fail", 1, error="ConnectError"),
    ]
    if completed:
        events += [
            ev("fail", 2, error="ConnectError"),
            {**ev("network", 3, action="removed", index=0, target="model_endpoint", why="until"), "t": 1.25},
            ev("ok", 3),
        ]
    else:
        events.append(ev("network", action="removed", index=0, target="model_endpoint", why="run_end"))
    return events


def _evidence(completed: bool) -> Evidence:
    faulted = RunOutcome(
        "faulted", completed, error=None if completed else "ModelConnectionError: Connection error."
    )
    return Evidence(RunOutcome("golden", True), faulted, _events(completed=completed), [], ())


def test_completes_says_what_the_network_fault_did() -> None:
    held = completes(_evidence(True))
    assert held.held is True
    assert (
        "network fault #1 (down on model_endpoint) applied at model_request #1 (gpt-4o) attempt 1"
        in held.detail
    )
    assert (
        "removed at its 'until' boundary at model_request #1 (gpt-4o) attempt 3 (1.2 s later)" in held.detail
    )
    assert "2 unit attempt(s) failed" in held.detail
    broken = completes(_evidence(False))
    assert broken.held is False
    assert "ModelConnectionError" in broken.detail
    assert (
        "removed when the run ended (0.0 s later): 1 unit attempt(s) failed while it was applied "
        "(ConnectError x1)" in broken.detail
    )
    assert network_effects([]) == []


# -- end to end -----------------------------------------------------------------------------------------


def run(runner: TrialRunner, file: str, plan: str) -> Any:
    scenario = load_scenario(NETWORK / file)
    chosen = next(p for p in scenario.plans if p.name == plan)
    return runner.run(TrialSpec(scenario, scenario.engines[0], chosen))


def test_model_endpoint_down_for_two_attempts_recovers(runner: TrialRunner) -> None:
    result = run(runner, "model_endpoint.yaml", "model-endpoint-down-for-two-attempts")
    assert result.verdict == "pass", result.reason
    assert (
        "2 unit attempt(s) failed while it was applied (ConnectError x2)"
        in result.verdicts["completes"].detail
    )


def test_model_endpoint_down_without_retries_is_caught(runner: TrialRunner) -> None:
    result = run(runner, "model_endpoint_no_retries.yaml", "model-endpoint-down-without-retries")
    assert result.verdict == "pass", result.reason  # the known-bad agent was caught
    assert result.verdicts["completes"].held is False
    assert "down on model_endpoint" in result.verdicts["completes"].detail


def test_database_fault_skipped_without_postgres(
    runner: TrialRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DURABLE_CHAOS_DBOS_DATABASE_URL", raising=False)
    fresh = TrialRunner(warm_workers=False)
    try:
        result = run(fresh, "dbos_postgres.yaml", "connection-reset-while-checkpointing-a-step")
    finally:
        fresh.close()
    assert result.verdict == "skipped"
    assert "does not offer" in result.reason and "database" in result.reason


def test_prefect_api_down_mid_run(runner: TrialRunner) -> None:
    result = run(runner, "prefect_api.yaml", "prefect-api-down-for-two-seconds")
    assert result.verdict == "pass", result.reason
    assert "down on engine_api" in result.verdicts["completes"].detail
    assert "removed after its duration" in result.verdicts["completes"].detail


def test_postgres_connection_reset_while_dbos_checkpoints(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DURABLE_CHAOS_DBOS_DATABASE_URL", postgres_url)
    runner = TrialRunner()
    try:
        result = run(runner, "dbos_postgres.yaml", "connection-reset-while-checkpointing-a-step")
    finally:
        runner.close()
    assert result.verdict == "pass", result.reason
    assert "reset_peer on database" in result.verdicts["completes"].detail


def test_a_skipped_trial_is_a_note_not_a_failure() -> None:
    from durable_chaos.report.gate import GateConfig, evaluate
    from durable_chaos.run.results import TrialResult

    scenario = load_scenario(NETWORK / "dbos_postgres.yaml")
    spec = TrialSpec(scenario, "dbos", scenario.plans[0])
    skipped = evaluate([TrialResult(spec, "skipped", "no database target")], GateConfig())
    assert skipped.exit_code == 0 and any("SKIPPED" in note for note in skipped.notes)
    errored = evaluate([TrialResult(spec, "error", "no Toxiproxy")], GateConfig())
    assert errored.exit_code != 0
