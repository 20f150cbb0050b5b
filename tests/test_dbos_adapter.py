"""DBOSAdapter against real DBOS and pydantic-ai, each run in a worker subprocess (tests/dbos_driver.py).

The agents (tests/dbos_agents.py) talk to the project's scripted OpenAI-compatible server, which runs
in this process and so counts model requests across all worker processes of a test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from durable_chaos.infra.engines.base import EngineUnavailable
from durable_chaos.infra.engines.dbos.adapter import DBOSAdapter
from durable_chaos.infra.engines.dbos.observe import journal
from durable_chaos.infra.engines.dbos.server import (
    ENV_DATABASE_URL,
    ENV_SYSTEM_DATABASE_URL,
    trial_database_name,
)
from durable_chaos.infra.model_server import ScriptedServer

pytest.importorskip("dbos")
pytest.importorskip("pydantic_ai.durable_exec.dbos")

TESTS = Path(__file__).resolve().parent
DRIVER = TESTS / "dbos_driver.py"
ANSWER = "It is sunny in Paris."
SCRIPT = {
    "conversations": [
        {
            "match": "You are a weather bot",
            "turns": [
                {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
                {"text": ANSWER},
            ],
        }
    ]
}
WORKER_TIMEOUT = 60


@dataclass
class Worker:
    returncode: int
    outcome: dict[str, Any] | None
    wall: float
    log: str


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer(SCRIPT) as scripted:
        yield scripted


def first_requests(server: ScriptedServer) -> int:
    """Model requests with no assistant turn yet: the run's FIRST model request."""
    return sum(
        1 for body in server.requests if not any(m.get("role") == "assistant" for m in body["messages"])
    )


class Trial:
    """One trial directory, its worker environment, and its worker processes."""

    def __init__(self, adapter: DBOSAdapter, trial_dir: Path, server: ScriptedServer) -> None:
        self.dir = trial_dir
        self.env = {
            **os.environ,
            **adapter.worker_environment(trial_dir),
            "DC_TEST_BASE_URL": server.base_url,
            "DC_TEST_TOOL_LOG": str(trial_dir / "tool.log"),
            "PYTHONWARNINGS": "ignore",
        }

    def kill_first_tool_run(self) -> None:
        self.env["DC_TEST_KILL_MARKER"] = str(self.dir / "killed")

    def tool_runs(self) -> list[int]:
        path = self.dir / "tool.log"
        return [int(line) for line in path.read_text().split()] if path.exists() else []

    def worker(self, import_path: str, run_id: str, **spec: Any) -> Worker:
        spec = {
            "import_path": import_path,
            "prompt": "What is the weather in Paris?",
            "run_id": run_id,
            "workdir": str(self.dir),
            **spec,
        }
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, str(DRIVER), json.dumps(spec)],
            env=self.env,
            cwd=TESTS.parent,
            capture_output=True,
            text=True,
            timeout=WORKER_TIMEOUT,
        )
        wall = time.monotonic() - started
        log = done.stdout + done.stderr
        (self.dir / f"worker-{run_id}-{len(list(self.dir.glob('worker-*.log')))}.log").write_text(log)
        lines = [line for line in done.stdout.splitlines() if line.startswith("OUTCOME ")]
        outcome = json.loads(lines[-1].removeprefix("OUTCOME ")) if lines else None
        return Worker(done.returncode, outcome, wall, log)


def sqlite_trial(tmp_path: Path, server: ScriptedServer) -> Trial:
    adapter = DBOSAdapter()
    adapter.start(tmp_path)
    return Trial(adapter, tmp_path / "trial", server)


@pytest.fixture
def trial(tmp_path: Path, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> Trial:
    monkeypatch.delenv(ENV_DATABASE_URL, raising=False)
    (tmp_path / "trial").mkdir()
    return sqlite_trial(tmp_path, server)


def kill_and_recover(trial: Trial, server: ScriptedServer, import_path: str) -> Worker:
    """First worker dies by SIGKILL inside the tool; a second one resumes the same workflow."""
    trial.kill_first_tool_run()
    killed = trial.worker(import_path, "run-1")
    assert killed.returncode == -9, killed.log[-3000:]
    assert killed.outcome is None
    assert first_requests(server) == 1

    resumed = trial.worker(import_path, "run-1", resume=True, observe=True)
    assert resumed.returncode == 0, resumed.log[-3000:]
    assert resumed.outcome is not None, resumed.log[-3000:]
    assert resumed.outcome["completed"], resumed.outcome
    assert resumed.outcome["output"] == ANSWER
    assert resumed.outcome["engine_ids"]["workflow_id"] == "run-1"
    assert "Recovering" in resumed.log
    # The first model request was journaled as a step: the resumed worker replayed it from the
    # system database, so across both processes the server saw it exactly once.
    assert first_requests(server) == 1
    assert len(server.requests) == 2
    # The function tool is NOT a step: it runs again in the resumed worker (ENGINE-NOTES).
    tools = trial.tool_runs()
    assert len(tools) == 2 and tools[0] != tools[1]
    # observing(): the journaled first model step was replayed, the second one checkpointed.
    events = [
        (e["event"], e["engine"]["function_name"])
        for e in resumed.outcome["engine_events"]
        if e["event"] in {"replay", "checkpoint"}
    ]
    replayed = [name for event, name in events if event == "replay" and name.endswith("model.request")]
    checkpointed = [
        name for event, name in events if event == "checkpoint" and name.endswith("model.request")
    ]
    assert len(replayed) == 1 and len(checkpointed) == 1, events
    timings = resumed.outcome["timings"]
    print(
        f"\n{import_path}: kill->recover: resume worker wall {resumed.wall:.2f}s "
        f"(import {timings['import']:.2f}s, run {timings['run']:.2f}s), killed worker wall {killed.wall:.2f}s"
    )
    return resumed


def test_clean_run_sqlite(trial: Trial, server: ScriptedServer) -> None:
    worker = trial.worker("dbos_agents:capability_agent", "run-clean")
    assert worker.returncode == 0, worker.log[-3000:]
    assert worker.outcome is not None
    assert worker.outcome["completed"], worker.outcome
    assert worker.outcome["output"] == ANSWER
    assert worker.outcome["engine_ids"] == {"workflow_id": "run-clean"}
    assert len(server.requests) == 2
    assert len(trial.tool_runs()) == 1
    assert (trial.dir / "dbos-system.sqlite").exists()

    steps = journal(trial.env[ENV_SYSTEM_DATABASE_URL], "run-clean")
    names = [step["function_name"] for step in steps]
    assert sum("request" in name for name in names) == 2, names
    assert all(step["error"] is None for step in steps)

    # Re-running a finished workflow id returns its journaled result without calling anything.
    again = trial.worker("dbos_agents:capability_agent", "run-clean")
    assert again.outcome is not None and again.outcome["output"] == ANSWER
    assert len(server.requests) == 2 and len(trial.tool_runs()) == 1


def test_kill_and_recover_sqlite(trial: Trial, server: ScriptedServer) -> None:
    kill_and_recover(trial, server, "dbos_agents:capability_agent")
    steps = journal(trial.env[ENV_SYSTEM_DATABASE_URL], "run-1")
    assert sum("request" in step["function_name"] for step in steps) == 2, steps


def test_kill_and_recover_wrapper_agent(trial: Trial, server: ScriptedServer) -> None:
    resumed = kill_and_recover(trial, server, "dbos_agents:wrapper_agent")
    # DBOSAgent.run is a child workflow of the harness workflow: "<run_id>-<function id>".
    assert resumed.outcome is not None
    assert resumed.outcome["engine_ids"]["child_workflow_ids"] == ["run-1-1"]
    steps = journal(trial.env[ENV_SYSTEM_DATABASE_URL], "run-1")
    assert {step["workflow_id"] for step in steps} == {"run-1", "run-1-1"}


def test_new_run_after_kill_recomputes(trial: Trial, server: ScriptedServer) -> None:
    """resume_mode="new_run": a fresh workflow instead of recovery; journaled steps run again."""
    trial.kill_first_tool_run()
    killed = trial.worker("dbos_agents:capability_agent", "run-1")
    assert killed.returncode == -9, killed.log[-3000:]
    fresh = trial.worker("dbos_agents:capability_agent", "run-1", resume=True, resume_mode="new_run")
    assert fresh.outcome is not None, fresh.log[-3000:]
    assert fresh.outcome["completed"] and fresh.outcome["output"] == ANSWER
    assert fresh.outcome["engine_ids"]["workflow_id"] == "run-1-fresh-1"
    assert fresh.outcome["engine_ids"]["abandoned_workflow_id"] == "run-1"
    assert "Recovering" not in fresh.log
    assert first_requests(server) == 2  # the first model request was paid for twice


def test_entry_workflow_and_unit_context(trial: Trial, server: ScriptedServer) -> None:
    worker = trial.worker("dbos_agents:weather_entry", "entry-1", kind="entry", args={"city": "Oslo"})
    assert worker.outcome is not None, worker.log[-3000:]
    assert worker.outcome["completed"], worker.outcome
    output = worker.outcome["output"]
    assert output["weather"] == "sunny in Oslo"
    context = output["unit_context"]
    assert context["workflow_id"] == "entry-1"
    assert context["step_id"] == 1
    assert "step_attempt" in context  # None unless the step has retries configured
    assert output["outside_step"] == {}
    assert DBOSAdapter().unit_context() == {}


def test_kill_and_recover_postgres(
    postgres_url: str, tmp_path: Path, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_DATABASE_URL, postgres_url)
    adapter = DBOSAdapter()
    adapter.start(tmp_path)
    trial_dir = tmp_path / "trial-pg"
    trial_dir.mkdir()
    trial = Trial(adapter, trial_dir, server)
    url = trial.env[ENV_SYSTEM_DATABASE_URL]
    assert url.startswith("postgresql+psycopg://") and url.endswith("/" + trial_database_name(trial_dir))
    kill_and_recover(trial, server, "dbos_agents:capability_agent")
    steps = journal(url, "run-1")
    assert sum("request" in step["function_name"] for step in steps) == 2, steps
    adapter.stop()


def test_start_rejects_unreachable_postgres(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_DATABASE_URL, "postgresql+psycopg://postgres@127.0.0.1:9/postgres")
    with pytest.raises(EngineUnavailable, match="Fix"):
        DBOSAdapter().start(tmp_path)


def test_trial_database_names_are_distinct_and_valid(tmp_path: Path) -> None:
    a = trial_database_name(tmp_path / "trial-0001 (faulted)")
    b = trial_database_name(tmp_path / "other" / "trial-0001 (faulted)")
    assert a != b
    for name in (a, b, trial_database_name(tmp_path / ("x" * 200))):
        assert len(name) <= 63 and name.replace("_", "").isalnum() and name.islower()
