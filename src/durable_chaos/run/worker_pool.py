"""The worker processes of one trial: its faulted run, resumed in a new worker after each kill.

A worker runs one role of the trial (:mod:`durable_chaos.run.worker`) and writes its outcome to a file;
the session starts it (forked from a warm worker when it can, see :mod:`durable_chaos.run.workers`).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from durable_chaos import events
from durable_chaos.infra.engines.base import EngineAdapter, RunOutcome
from durable_chaos.judge.evidence import FAULTED, GOLDEN
from durable_chaos.run.fault_services.network import TrialNetwork
from durable_chaos.run.fault_services.restarts import TrialRestarts
from durable_chaos.run.records.history import History
from durable_chaos.run.session import Session
from durable_chaos.run.workers import WorkerFailed, WorkerJob
from durable_chaos.scenario.model import Scenario
from durable_chaos.scenario.trial_specs import TrialSpec


@dataclass
class WorkerPool:
    """Starts the worker processes of one trial."""

    session: Session
    spec: TrialSpec
    adapter: EngineAdapter
    history: History
    workdir: Path
    network: TrialNetwork | None = None
    """The trial's proxies: routed in the worker's environment, healed after a kill."""
    restarts: TrialRestarts | None = None
    """The trial's restart service, named in the worker's environment."""
    started: int = 0
    warm_up_effects: dict[str, int] = field(default_factory=dict)
    """Tool -> real effects the warm resumes' warm-up runs made (not the faulted run's, see
    :func:`durable_chaos.run.worker.warm_up`)."""

    async def run(
        self, role: str, *, armed: bool, resume: bool = False, upgraded: bool | None = None
    ) -> tuple[RunOutcome, list[str]]:
        """Run one role in a worker; a killed worker gives ``(None-outcome, [])`` via :meth:`spawn`."""
        code, outcome, misses = await self.spawn(role, armed=armed, resume=resume, upgraded=upgraded)
        if outcome is None:
            raise WorkerFailed(f"the {role} worker was killed although no kill fault was armed (exit {code})")
        return outcome, misses

    async def run_until_done(self, max_resumes: int) -> tuple[RunOutcome, list[str]]:
        """The faulted run: start it, and after each kill resume it in a new worker."""
        role, resume, misses_all = FAULTED, False, []
        for resumes in range(max_resumes + 1):
            code, outcome, misses = await self.spawn(role, armed=True, resume=resume)
            misses_all += misses
            if outcome is not None:
                return outcome, misses_all
            self.history.mark(events.KILLED, role, exit_code=code)
            role, resume = f"resume-{resumes + 1}", True
        return (
            RunOutcome(
                role,
                False,
                error=f"the worker was killed {max_resumes + 1} time(s); max_resumes "
                f"({max_resumes}) spent before the run completed",
            ),
            misses_all,
        )

    def environment(self) -> dict[str, str]:
        env = self.adapter.worker_environment(self.workdir)
        if self.network is not None:
            env = self.network.worker_environment(self.adapter, env)
        if self.restarts is not None:
            env = {**env, **self.restarts.environment()}
        return env

    async def spawn(
        self, role: str, *, armed: bool, resume: bool, upgraded: bool | None = None
    ) -> tuple[int, RunOutcome | None, list[str]]:
        """Start one worker and wait for it. Returns its exit code and outcome (None when killed).
        ``upgraded``: it runs the upgrade's N+1 (default: when it resumes in an upgrade trial)."""
        self.started += 1
        scenario = self.spec.scenario
        assert scenario.path is not None, "worker trials need a scenario loaded from a file"
        outcome_path = self.workdir / f"outcome-{self.started}.json"
        if upgraded is None:
            upgraded = resume and scenario.upgrade is not None
        job = WorkerJob(
            scenario_path=str(scenario.path),
            engine=self.spec.engine,
            plan=self.spec.plan.name,
            plan_data=self.spec.plan.model_dump(mode="json", exclude_unset=True),
            resume_mode=scenario.resume,
            role=role,
            armed=armed,
            resume=resume,
            previous_ids=last_run_ids(self.history.events()) if resume else {},
            trial_dir=str(self.workdir),
            record=self.session.record,
            outcome_path=str(outcome_path),
            upgraded=upgraded,
            warm=resume and scenario.resume_worker == "warm",
            env=self.environment(),
        )
        job_path = self.workdir / f"job-{self.started}.json"
        job_path.write_text(job.model_dump_json())
        log_path = self.workdir / f"worker-{self.started}-{role}.log"
        # A warm worker has imported the version it runs (N+1's is another: its own warm worker).
        import_path = scenario.version_path(upgraded)
        python = upgrade_python(scenario) if upgraded else None
        if self.session.warm_workers and python is None:
            # Started here, in the session's main thread: a warm worker dies with the thread that
            # started it (its parent-death signal), and the executor threads below come and go.
            self.session.zygote(self.adapter, scenario, import_path)
        code = await asyncio.to_thread(
            self.session.launch_worker,
            self.adapter,
            job_path,
            job.env,
            log_path,
            scenario,
            import_path,
            python,
        )
        if code == -signal.SIGKILL:
            if self.network is not None:
                self.network.heal()  # a toxic the killed worker applied is not the resumed worker's
            return code, None, []
        if not outcome_path.exists():
            tail = log_path.read_text(errors="replace")[-1500:]
            raise WorkerFailed(
                f"the {role} worker exited with code {code} and no outcome; log {log_path}:\n{tail}"
            )
        data = json.loads(outcome_path.read_text())
        if data.get("setup_error"):
            raise WorkerFailed(data["setup_error"])
        warm = data.get("warm_up") or {}
        if warm and not warm["completed"]:
            raise WorkerFailed(
                f"the warm-up run before {role} did not complete ({warm['error']}); the golden run with "
                f"the same inputs did, so the warm worker could not be prepared; log {log_path}"
            )
        for tool, made in (warm.get("effects") or {}).items():
            self.warm_up_effects[tool] = self.warm_up_effects.get(tool, 0) + made
        outcome = RunOutcome(role, data["completed"], data["output"], data["error"], data["engine_ids"])
        return code, outcome, data["misses"]


def upgrade_python(scenario: Scenario) -> str | None:
    """The interpreter of the upgrade's N+1 environment (``upgrade.python``, beside the scenario file),
    or None for this one."""
    if scenario.upgrade is None or scenario.upgrade.python is None:
        return None
    path = scenario.resolve(scenario.upgrade.python)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise WorkerFailed(f"upgrade.python {scenario.upgrade.python!r} is not an executable file ({path})")
    return str(path)


def last_run_ids(history: list[dict[str, Any]]) -> dict[str, Any]:
    """The engine ids the most recent faulted run recorded (e.g. its flow run id)."""
    ids: dict[str, Any] = {}
    for event in history:
        if event["event"] == events.RUN_IDS and event["role"] != GOLDEN:
            ids = dict(event.get("engine") or {})
    return ids
