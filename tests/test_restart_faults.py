"""The ``restart`` fault kind: the model and its checks, ``during: recovery``, the worker-to-session
handshake, the verdict's words, preflight, network faults in the naive-restart accounting, and
end-to-end trials that restart real servers: Postgres under DBOS, the Prefect API server, the Temporal
dev server and the Restate server (a correct run recovers; a run whose recovery is given up before the
server is back is caught, stranded; a server the harness did not start is not restarted)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from event_recorder import EventRecorder
from pydantic import TypeAdapter, ValidationError

from durable_chaos.faults.context import Injection
from durable_chaos.faults.model import Fault, RestartFault
from durable_chaos.faults.plan import ArmedPlan
from durable_chaos.faults.units import UnitTracker
from durable_chaos.infra.engines.base import RunOutcome
from durable_chaos.infra.engines.dbos.server import PostgresServer, find_bin_dir
from durable_chaos.judge.accounting import restart_losses
from durable_chaos.judge.checkers import completes
from durable_chaos.judge.evidence import Evidence
from durable_chaos.judge.restart_effects import restart_effects
from durable_chaos.run.fault_services.restarts import RestartClient, TrialRestarts, restart_errors
from durable_chaos.run.preflight import problems
from durable_chaos.run.records.history import History
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.errors import ScenarioError
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

NETWORK = Path(__file__).resolve().parent.parent / "scenarios" / "network"
FAULT = TypeAdapter(Fault)
needs_postgres = pytest.mark.skipif(find_bin_dir() is None, reason="no PostgreSQL server binaries")


def restart(**fields: Any) -> RestartFault:
    fault = FAULT.validate_python({"kind": "restart", "target": "database", **fields})
    assert isinstance(fault, RestartFault)
    return fault


# -- the model -------------------------------------------------------------------------------------------


def test_restart_fault_model() -> None:
    fault = restart(downtime=2, during="recovery")
    assert fault.describe() == "database down 2.0 s, during recovery"
    assert restart().downtime == 1.0 and restart().during == "any"
    with pytest.raises(ValidationError):
        restart(target="the_internet")
    with pytest.raises(ValidationError):
        restart(downtime=-1)
    with pytest.raises(ValidationError):
        restart(during="later")


def test_bad_restart_fault_is_one_line_per_field_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "schema_version: 1\nname: bad\nagent: x:y\nprompt: p\nengines: [dbos]\ncassette: c.yaml\n"
        "plans:\n  - name: p\n    faults:\n      - kind: restart\n        target: the_internet\n"
        "        during: later\n"
    )
    with pytest.raises(ScenarioError) as error:
        load_scenario(path)
    lines = str(error.value).splitlines()
    assert lines == [
        f"{path}:11: plans[0].faults[0].target: "
        "Input should be 'database' or 'engine_api' (got 'the_internet')",
        f"{path}:12: plans[0].faults[0].during: Input should be 'any', 'recovery' or 'launch' (got 'later')",
    ]


def test_during_recovery_fires_only_in_a_resumed_process() -> None:
    tracker = UnitTracker()
    unit, attempt = tracker.observe("model_request", "gpt-4o", "fp")
    at = {"kind": "model_request"}
    first = ArmedPlan([restart(during="recovery", at=at)])
    assert first.select(tracker, unit, attempt, "before") is None
    assert first.select(tracker, unit, attempt, "before", resumed=True) is not None
    anywhere = ArmedPlan([restart(at=at)])
    assert anywhere.select(tracker, unit, attempt, "before") is not None


def test_preflight_refuses_a_target_the_engine_cannot_restart() -> None:
    scenario = load_scenario(NETWORK / "dbos_postgres_restart.yaml")
    assert problems(scenario, ["dbos"], None) == []
    found = problems(scenario, ["temporal"], None)
    assert found and all(
        "which engine 'temporal' cannot restart (it can restart: engine_api)" in p for p in found
    )
    assert "plan 'postgres-restarted-during-recovery' fault #2 restarts the database" in found[0]
    (prefect,) = set(problems(scenario, ["prefect"], None)[:1])
    assert "which engine 'prefect' cannot restart (it can restart: engine_api)" in prefect


# -- the handshake: a worker asks, the session stops and starts ------------------------------------------


class RecordingService:
    """A stand-in server: records when it was stopped and started (the real one is Postgres, below)."""

    name = "test server"

    def __init__(self, fail_start: bool = False) -> None:
        self.calls: list[tuple[str, float]] = []
        self.fail_start = fail_start

    def stop(self) -> None:
        self.calls.append(("stop", time.monotonic()))

    def start(self) -> None:
        self.calls.append(("start", time.monotonic()))
        if self.fail_start:
            raise OSError("port in use")


def test_worker_asks_session_stops_then_starts_after_the_downtime(tmp_path: Path) -> None:
    history = History(tmp_path / "history.jsonl")
    service = RecordingService()
    restarts = TrialRestarts({"database": service}, history)
    try:
        client = RestartClient.from_env(restarts.environment())
        assert client is not None
        observer = EventRecorder()
        fault = restart(downtime=0.3, at={"kind": "tool_call"})
        injection = Injection(ArmedPlan([fault]), UnitTracker(), observer, restarts=client)
        attempt = injection.begin("tool_call", "load", "fp")
        assert attempt.strike("before") is None  # the unit goes ahead and meets the outage
        assert [c[0] for c in service.calls] == ["stop"]
        stopped = [e for e in observer.events if e["event"] == "restart"]
        assert stopped[0]["action"] == "stopped" and stopped[0]["service"] == "test server"
        time.sleep(0.8)
        assert [c[0] for c in service.calls] == ["stop", "start"]
        assert service.calls[1][1] - service.calls[0][1] >= 0.3
    finally:
        restarts.close()
    started = [e for e in history.events() if e["event"] == "restart"]
    assert started[0]["action"] == "started" and started[0]["why"] == "downtime"
    assert started[0]["down_for"] >= 0.3


_INTRUDER = """
import json, socket, sys
host, port = sys.argv[1].rsplit(":", 1)
for secret in sys.argv[2:]:
    request = {"index": 0, "target": "database", "downtime": 0.1, "role": "intruder"}
    if secret != "-":
        request["secret"] = secret
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(json.dumps(request).encode() + b"\\n")
        print(sock.makefile("rb").readline().decode().strip())
"""


def test_another_process_without_the_secret_cannot_stop_a_server(tmp_path: Path) -> None:
    history = History(tmp_path / "history.jsonl")
    service = RecordingService()
    restarts = TrialRestarts({"database": service}, history)
    try:
        env = restarts.environment()
        assert len(env["DURABLE_CHAOS_RESTART_SECRET"]) == 32
        other = TrialRestarts({}, history)
        other.close()
        assert other.secret != restarts.secret  # one secret per service
        # Another process on the machine: no secret, a wrong one, a guess of the right length.
        attempt = subprocess.run(
            [sys.executable, "-c", _INTRUDER, env["DURABLE_CHAOS_RESTART"], "-", "", "0" * 32],
            capture_output=True,
            text=True,
            timeout=30,
        )
        answers = [json.loads(line) for line in attempt.stdout.splitlines()]
        assert len(answers) == 3, attempt.stderr
        for answer in answers:
            assert answer == {
                "error": "PermissionError: refused: the request does not carry this session's restart secret"
            }
        assert service.calls == [] and history.events() == []
        # The worker, with the secret from its environment, is obeyed.
        client = RestartClient.from_env(env)
        assert client is not None
        client.restart(0, restart(downtime=0.05), "faulted")
        assert [c[0] for c in service.calls] == ["stop"]
    finally:
        restarts.close()


def test_a_silent_connection_is_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("durable_chaos.run.fault_services.restarts.READ_TIMEOUT_SECONDS", 0.2)
    restarts = TrialRestarts({"database": RecordingService()}, History(tmp_path / "history.jsonl"))
    try:
        host, port = restarts.environment()["DURABLE_CHAOS_RESTART"].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            started = time.monotonic()
            answer = sock.makefile("rb").readline()  # we send nothing
        assert time.monotonic() - started < 3
        assert b"TimeoutError" in answer or b"timeout" in answer
    finally:
        restarts.close()


def test_a_server_still_down_when_the_trial_ends_is_started_then(tmp_path: Path) -> None:
    history = History(tmp_path / "history.jsonl")
    service = RecordingService()
    restarts = TrialRestarts({"database": service}, history)
    restarts.stop(1, "database", 60.0, "faulted")
    restarts.close()
    assert [c[0] for c in service.calls] == ["stop", "start"]
    (event,) = history.events()
    assert event["why"] == "trial_end"
    sentence = restart_effects([_stopped(), {**event, "t": 2.0}], completed=True)[0]
    assert "started again only when the trial ended" in sentence


def test_a_server_that_does_not_come_back_is_a_trial_error(tmp_path: Path) -> None:
    history = History(tmp_path / "history.jsonl")
    restarts = TrialRestarts({"database": RecordingService(fail_start=True)}, history)
    restarts.stop(0, "database", 0.0, "faulted")
    restarts.close()
    errors = restart_errors(history.events())
    assert errors == ["restart fault #1 could not start again the database: OSError: port in use"]


def test_a_stop_that_fails_is_recorded_and_a_trial_error() -> None:
    class Refusing:
        def restart(self, index: int, fault: RestartFault, role: str) -> dict[str, Any]:
            raise RuntimeError("no restartable database in this trial")

    observer = EventRecorder()
    injection = Injection(
        ArmedPlan([restart(at={"kind": "tool_call"})]), UnitTracker(), observer, restarts=Refusing()
    )
    injection.begin("tool_call", "load", "fp").strike("before")
    (event,) = [e for e in observer.events if e["event"] == "restart"]
    assert event["action"] == "failed"
    assert restart_errors([event]) == [
        "restart fault #1 could not stop the database: RuntimeError: no restartable database in this trial"
    ]


# -- the verdict's words -----------------------------------------------------------------------------------

UNIT = {"kind": "model_request", "name": "gpt-4o", "ordinal": 2, "fingerprint": "f2"}


def _stopped(role: str = "resume-1", during: str = "recovery") -> dict[str, Any]:
    return {
        "t": 1.0,
        "pid": 2,
        "role": role,
        "event": "restart",
        "action": "stopped",
        "index": 1,
        "target": "database",
        "downtime": 2.0,
        "during": during,
        "service": "Postgres on 127.0.0.1:5433",
        "unit": UNIT,
        "attempt": 2,
    }


def _restart_events() -> list[dict[str, Any]]:
    fault = {"t": 1.0, "pid": 2, "role": "resume-1", "event": "fault", "unit": UNIT, "attempt": 2}
    fault["fault"] = {"index": 1, "kind": "restart", "phase": "after"}
    started = {"t": 3.3, "pid": 1, "role": "resume-1", "event": "restart", "action": "started", "index": 1}
    started.update(target="database", why="downtime", down_for=2.3)
    return [fault, _stopped(), started]


def test_completes_says_what_the_restart_did() -> None:
    events = _restart_events()
    recovered = completes(Evidence(RunOutcome("golden", True), RunOutcome("resume-1", True), events, [], ()))
    assert recovered.held is True
    assert (
        "restart fault #2: Postgres on 127.0.0.1:5433 (the engine's database) stopped at model_request #2 "
        "(gpt-4o) attempt 2 after, during recovery (resume-1) for 2.0 s, started again 2.3 s later; "
        "the run recovered" in recovered.detail
    )
    error = "RecoveryTimeout: workflow w did not finish within 4s of recovery (status PENDING)"
    stranded = completes(
        Evidence(RunOutcome("golden", True), RunOutcome("resume-1", False, error=error), events, [], ())
    )
    assert stranded.held is False
    assert error in stranded.detail
    assert stranded.detail.endswith("the run did not recover")


# -- network faults in what a naive restart would lose ---------------------------------------------------


def _accounting_evidence(*, failed: bool, target: str = "model_endpoint") -> Evidence:
    def send(t: float, fp: str) -> dict[str, Any]:
        return {
            "t": t,
            "role": "golden",
            "fingerprint": fp,
            "usage": {"input_tokens": 100, "output_tokens": 10},
        }

    def event(t: float, role: str, name: str, fp: str, **fields: Any) -> dict[str, Any]:
        unit = {
            "kind": "model_request",
            "name": "gpt-4o",
            "ordinal": 1 if fp == "f1" else 2,
            "fingerprint": fp,
        }
        return {"t": t, "pid": 1, "role": role, "event": name, "unit": unit, "attempt": 1, **fields}

    events = [
        event(0.0, "golden", "invoke", "f1"),
        event(1.0, "golden", "invoke", "f2"),
        event(10.0, "faulted", "fault", "f2", fault={"index": 0, "kind": "network", "phase": "before"}),
        event(10.0, "faulted", "network", "f2", action="applied", index=0, target=target, toxic="down"),
    ]
    if failed:
        events.append(event(10.5, "faulted", "fail", "f2", error="ConnectError"))
    events.append(
        event(11.0, "faulted", "network", "f2", action="removed", index=0, target=target, why="until")
    )
    ledger = [send(0.5, "f1"), send(1.5, "f2")]
    return Evidence(RunOutcome("golden", True), RunOutcome("faulted", True), events, ledger, ())


def test_a_network_fault_that_failed_a_unit_forces_a_naive_restart() -> None:
    per_call = restart_losses(_accounting_evidence(failed=False, target="database"))
    assert per_call == 0  # the toxic failed nothing: a naive system loses nothing either
    lost = restart_losses(_accounting_evidence(failed=True))
    # Model request 2 failed on the model endpoint: a naive restart loses request 1, and request 2 itself
    # (it was sent; its response was lost on the way).
    one = restart_losses(_accounting_evidence(failed=True, target="database"))
    assert lost == 2 * one > 0


# -- end to end: a real Postgres restarted under DBOS -----------------------------------------------------


def run(runner: TrialRunner, file: str, plan: str) -> Any:
    scenario = load_scenario(NETWORK / file)
    chosen = next(p for p in scenario.plans if p.name == plan)
    return runner.run(TrialSpec(scenario, scenario.engines[0], chosen))


@pytest.fixture(scope="module")
def dbos_runner() -> Any:
    runner = TrialRunner()
    try:
        yield runner
    finally:
        runner.close()


@needs_postgres
def test_postgres_restarted_during_dbos_recovery_recovers(dbos_runner: TrialRunner) -> None:
    result = run(dbos_runner, "dbos_postgres_restart.yaml", "postgres-restarted-during-recovery")
    assert result.verdict == "pass", result.reason
    detail = result.verdicts["completes"].detail
    assert (
        "(the engine's database) stopped at model_request #2 (gpt-4o) attempt 2 after, during recovery"
        in detail
    )
    assert detail.endswith("the run recovered")
    assert result.resumes == 1


@needs_postgres
def test_postgres_down_past_the_recovery_deadline_strands_the_workflow(dbos_runner: TrialRunner) -> None:
    result = run(
        dbos_runner, "dbos_postgres_restart_stranded.yaml", "postgres-down-longer-than-the-recovery-deadline"
    )
    assert result.verdict == "pass", result.reason  # the known-bad setup was caught
    verdict = result.verdicts["completes"]
    assert verdict.held is False
    assert "status unreadable, the system database is unreachable" in verdict.detail, verdict.detail
    # PENDING, or ENQUEUED when recovery had re-queued it but no worker could dequeue it yet
    assert re.search(r"-faulted is still (PENDING|ENQUEUED) after the run ended: stranded", verdict.detail), (
        verdict.detail
    )
    assert "for 8.0 s" in verdict.detail and verdict.detail.endswith("the run did not recover")


def test_prefect_api_restarted_mid_run_recovers(runner: TrialRunner) -> None:
    result = run(runner, "prefect_api_restart.yaml", "prefect-api-restarted-mid-run")
    assert result.verdict == "pass", result.reason
    detail = result.verdicts["completes"].detail
    assert (
        "(the engine's API server) stopped at model_request #2 (gpt-4o) attempt 1 before for 2.0 s" in detail
    )
    assert detail.endswith("the run recovered")
    restarts = [e for e in result.events if e["event"] == "restart"]
    assert [e["action"] for e in restarts] == ["stopped", "started"]


def test_restart_trials_are_skipped_without_postgres_binaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DURABLE_CHAOS_PG_BIN", str(tmp_path))
    runner = TrialRunner(warm_workers=False)
    try:
        result = run(runner, "dbos_postgres_restart.yaml", "postgres-restarted-mid-run")
    finally:
        runner.close()
    assert result.verdict == "skipped"
    assert "needs a PostgreSQL server the harness owns" in result.reason
    assert "DURABLE_CHAOS_PG_BIN" in result.reason


@needs_postgres
def test_owned_postgres_stops_and_starts_on_the_same_port() -> None:
    import sqlalchemy as sa

    with PostgresServer() as server:
        engine = sa.create_engine(server.url)
        port = server.port
        server.stop_server()
        with pytest.raises(sa.exc.OperationalError), engine.connect():
            pass
        starter = threading.Thread(target=server.start_server)  # as a restart timer does
        starter.start()
        starter.join()
        time.sleep(0.3)  # the starting thread is gone: the server must not have died with it
        assert server.port == port and server.running
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT 1")).scalar() == 1
        engine.dispose()


def test_owned_postgres_keeps_every_acknowledged_commit_across_its_immediate_shutdown() -> None:
    """A restart must look like a production server's crash: what it acknowledged stays committed.

    (With ``synchronous_commit=off`` the last ~0.6 s of acknowledged commits vanished on SIGQUIT; DBOS
    then found its own dequeue undone, took the workflow for another execution's and parked it.)"""
    import sqlalchemy as sa

    with PostgresServer() as server:
        engine = sa.create_engine(server.url)
        with engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE acked (n integer)"))
        with engine.connect() as connection:
            for n in range(200):
                with connection.begin():
                    connection.execute(sa.text("INSERT INTO acked VALUES (:n)"), {"n": n})
            server.stop_server()  # at once, as a restart fault does after the unit it fires at
        engine.dispose()
        server.start_server()
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT count(*) FROM acked")).scalar() == 200
        engine.dispose()


# -- end to end: the Temporal dev server and the Restate server restarted -----------------------------------


def assert_recovered(result: Any, restarts: int = 1) -> str:
    assert result.verdict == "pass", result.reason
    for name in ("completes", "no_duplicate_model_calls"):
        assert result.verdicts[name].held is True, result.verdicts[name].detail
    events = [e for e in result.events if e["event"] == "restart"]
    assert [e["action"] for e in events] == ["stopped", "started"] * restarts
    assert all(e["why"] == "downtime" for e in events if e["action"] == "started")
    detail: str = result.verdicts["completes"].detail
    assert detail.endswith("the run recovered"), detail
    return detail


@pytest.mark.parametrize(
    ("file", "server"),
    [
        ("temporal_server_restart.yaml", "Temporal dev server on 127.0.0.1:"),
        ("restate_server_restart.yaml", "Restate server with ingress 127.0.0.1:"),
    ],
)
def test_engine_server_restarted_mid_run_recovers(runner: TrialRunner, file: str, server: str) -> None:
    plan = file.removesuffix("_restart.yaml").replace("_", "-") + "-restarted-mid-run"
    detail = assert_recovered(run(runner, file, plan))
    assert f"restart fault #1: {server}" in detail
    assert (
        "(the engine's API server) stopped at model_request #2 (gpt-4o) attempt 1 before for 2.0 s" in detail
    )
    assert re.search(r"started again \d+\.\d s later", detail)


@pytest.mark.parametrize("file", ["temporal_server_restart.yaml", "restate_server_restart.yaml"])
def test_engine_server_restarted_during_recovery_recovers(runner: TrialRunner, file: str) -> None:
    plan = file.removesuffix("_restart.yaml").replace("_", "-") + "-restarted-during-recovery"
    result = run(runner, file, plan)
    detail = assert_recovered(result)
    assert result.resumes == 1
    assert (
        "(the engine's API server) stopped at model_request #2 (gpt-4o) attempt 2 after, during recovery "
        "(resume-1) for 2.0 s" in detail
    )
    (stopped,) = [e for e in result.events if e["event"] == "restart" and e["action"] == "stopped"]
    assert stopped["role"] == "resume-1"


def test_temporal_server_down_past_the_run_timeout_strands_the_workflow(runner: TrialRunner) -> None:
    result = run(
        runner,
        "temporal_server_restart_stranded.yaml",
        "temporal-server-down-longer-than-the-recovery-deadline",
    )
    assert result.verdict == "pass", result.reason  # the known-bad setup was caught
    verdict = result.verdicts["completes"]
    assert verdict.held is False
    assert "RunTimeout: workflow " in verdict.detail and "did not finish within 4s" in verdict.detail
    assert re.search(
        r"workflow \S+-faulted is still RUNNING after the run ended: stranded until a worker polls task "
        r"queue \S+ again",
        verdict.detail,
    ), verdict.detail
    assert "for 8.0 s" in verdict.detail and verdict.detail.endswith("the run did not recover")


def test_restate_server_down_past_the_recovery_timeout_strands_the_invocation(runner: TrialRunner) -> None:
    result = run(
        runner,
        "restate_server_restart_stranded.yaml",
        "restate-server-down-longer-than-the-recovery-deadline",
    )
    assert result.verdict == "pass", result.reason  # the known-bad setup was caught
    verdict = result.verdicts["completes"]
    assert verdict.held is False
    assert "RecoveryTimeout: invocation of DataAnalyst/analyze did not finish within 4s" in verdict.detail
    assert "status: unreadable, the server is unreachable" in verdict.detail, verdict.detail
    assert re.search(
        r"invocation inv_\w+ of DataAnalyst/analyze is still [a-z-]+ after the run ended: stranded until a "
        r"service endpoint serves http://127\.0\.0\.1:\d+ again",
        verdict.detail,
    ), verdict.detail
    assert "for 8.0 s" in verdict.detail and verdict.detail.endswith("the run did not recover")


def test_a_users_temporal_server_is_not_restarted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from durable_chaos.infra.engines.temporal.server import DevServer

    with DevServer(tmp_path / "theirs") as theirs:
        monkeypatch.setenv("TEMPORAL_ADDRESS", theirs.address)
        monkeypatch.setenv("DURABLE_CHAOS_TEMPORAL_NAMESPACE", theirs.namespace)
        user_runner = TrialRunner(warm_workers=False)
        try:
            result = run(user_runner, "temporal_server_restart.yaml", "temporal-server-restarted-mid-run")
        finally:
            user_runner.close()
        assert theirs.process is not None and theirs.process.poll() is None  # left alone
    assert result.verdict == "skipped", result.reason
    assert result.reason == (
        f"TEMPORAL_ADDRESS={theirs.address} points at a Temporal server the harness did not start, which is "
        "not its to restart; unset TEMPORAL_ADDRESS to let the harness start (and restart) its own dev server"
    )


def test_a_users_restate_server_is_not_restarted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from durable_chaos.infra.engines.restate.server import EmbeddedServer

    theirs = EmbeddedServer(tmp_path / "theirs")
    endpoints = theirs.start()
    try:
        monkeypatch.setenv("RESTATE_ADMIN_URL", endpoints.admin_url)
        monkeypatch.setenv("RESTATE_INGRESS_URL", endpoints.ingress_url)
        user_runner = TrialRunner(warm_workers=False)
        try:
            result = run(user_runner, "restate_server_restart.yaml", "restate-server-restarted-mid-run")
        finally:
            user_runner.close()
        assert theirs.process is not None and theirs.process.poll() is None  # left alone
    finally:
        theirs.stop()
    assert result.verdict == "skipped", result.reason
    assert "point at a Restate server the harness did not start, which is not its to restart" in result.reason
    assert "unset both" in result.reason


def test_engine_servers_restart_in_place_keeping_their_state(tmp_path: Path) -> None:
    """Crash and launch again from a thread that ends at once (as a restart timer does): same address,
    same data, and the server outlives that thread."""
    from durable_chaos.infra.engines.restate.server import EmbeddedServer
    from durable_chaos.infra.engines.restate.server import engine_api_service as restate_api
    from durable_chaos.infra.engines.temporal.server import DevServer, port_open
    from durable_chaos.infra.engines.temporal.server import engine_api_service as temporal_api

    temporal = DevServer(tmp_path / "temporal")
    restate = EmbeddedServer(tmp_path / "restate")
    try:
        temporal.start()
        endpoints = restate.start()
        restate_service, temporal_service = restate_api(restate), temporal_api(temporal)
        deployments = endpoints.query("SELECT id FROM sys_deployment")
        for service in (temporal_service, restate_service):
            service.stop()
        assert not port_open("127.0.0.1", temporal.port) and not endpoints.healthy()
        for service in (temporal_service, restate_service):
            starter = threading.Thread(target=service.start)
            starter.start()
            starter.join()
        time.sleep(0.3)  # the starting thread is gone: the servers must not have died with it
        assert temporal.database.exists() and port_open("127.0.0.1", temporal.port)
        assert endpoints.healthy() and endpoints.query("SELECT id FROM sys_deployment") == deployments
        assert temporal_service.name == f"Temporal dev server on {temporal.address}"
        assert restate_service.name == f"Restate server with {restate.address}"
    finally:
        temporal.stop()
        restate.stop()


def test_the_temporal_result_wait_rides_out_a_server_outage(tmp_path: Path) -> None:
    """The client's own retries of the result's long poll give up (here after 0.3 s, by default after
    about 10 s); ``result_across_outages`` keeps asking until the server is back."""
    import asyncio

    from temporalio.client import Client, WorkflowFailureError
    from temporalio.service import RetryConfig, RPCError

    from durable_chaos.infra.engines.temporal.client import result_across_outages
    from durable_chaos.infra.engines.temporal.server import DevServer

    async def scenario(server: DevServer) -> tuple[str, str]:
        impatient = RetryConfig(max_elapsed_time_millis=300, max_interval_millis=100)
        client = await Client.connect(server.address, namespace=server.namespace, retry_config=impatient)
        # No worker polls this task queue: the workflow stays running until terminated.
        handle = await client.start_workflow("NoWorkerHere", id="w", task_queue="nobody-polls")
        plain = asyncio.ensure_future(handle.result())
        riding = asyncio.ensure_future(result_across_outages(handle))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(server.crash)
        with pytest.raises(RPCError) as plain_error:
            await asyncio.wait_for(plain, 10)
        await asyncio.sleep(1.0)
        assert not riding.done()
        await asyncio.to_thread(server.launch)
        await handle.terminate("the test is done")
        with pytest.raises(WorkflowFailureError) as ended:
            await asyncio.wait_for(riding, 10)
        return plain_error.value.status.name, str(ended.value.cause)

    with DevServer(tmp_path / "server") as server:
        status, cause = asyncio.run(scenario(server))
    assert status in ("UNAVAILABLE", "UNKNOWN")  # the plain wait failed with the outage ...
    assert "terminated" in cause  # ... the riding one got the workflow's end once the server was back
