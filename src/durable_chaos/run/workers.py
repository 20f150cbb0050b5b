"""Worker processes: where runs that may be killed happen.

The pytest process owns the infrastructure, the history and the ledgers; a worker runs one role of
one trial (``python -m durable_chaos.run.worker JOB``) and writes its outcome to a file. A kill
fault SIGKILLs the worker from inside at the exact boundary; the pool then starts a new worker that
resumes the interrupted run, until it completes or ``max_resumes`` is spent. Every worker runs in a
session of its own, and its whole process group is killed when it ends, so nothing outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from durable_chaos.infra.engines.base import EngineAdapter, RunOutcome
from durable_chaos.processes import own_session_dying_with_parent
from durable_chaos.run.history import History

if TYPE_CHECKING:
    from durable_chaos.run.network import TrialNetwork
    from durable_chaos.run.restarts import TrialRestarts
    from durable_chaos.run.runner import TrialRunner, TrialSpec

DEADLINE_GRACE_SECONDS = 5.0
"""How long a wait for a worker outlasts the trial's deadline. At the deadline the runner kills the
trial's workers (see ``TrialRunner.stop_workers``), which ends the wait; the grace only bounds a wait
whose worker survived that. There is no other cap: a trial whose deadline is long may run that long."""
ABORTED_EXIT_CODE = 3
"""A worker that a harness error aborted (``faults.abort``) wrote its outcome and ended with this code."""


class WorkerJob(BaseModel):
    """What a worker process is asked to do."""

    scenario_path: str
    engine: str
    plan: str
    plan_data: dict[str, Any] | None = None
    """The plan itself, for plans made by the harness (a sweep's) that the scenario file does not hold."""
    resume_mode: str | None = None
    """The trial's resume mode when it differs from the file's (a sweep's ``fresh`` and ``kill`` points)."""
    role: str
    armed: bool
    resume: bool = False
    previous_ids: dict[str, Any] = {}
    trial_dir: str
    record: bool = False
    outcome_path: str
    env: dict[str, str] = {}
    """Environment of this trial's worker (engine infrastructure), applied before anything runs."""


class WorkerFailed(Exception):
    """A worker ended without an outcome and was not killed by a fault."""


class WarmWorkerGone(WorkerFailed):
    """The warm worker died before it started the job: the job never ran, so a plain process may run it."""


@dataclass
class WorkerPool:
    """Starts the worker processes of one trial."""

    runner: TrialRunner
    spec: TrialSpec
    adapter: EngineAdapter
    history: History
    workdir: Path
    network: TrialNetwork | None = None
    """The trial's proxies: routed in the worker's environment, healed after a kill."""
    restarts: TrialRestarts | None = None
    """The trial's restart service, named in the worker's environment."""
    started: int = 0

    async def run(self, role: str, *, armed: bool, resume: bool = False) -> tuple[RunOutcome, list[str]]:
        """Run one role in a worker; a killed worker gives ``(None-outcome, [])`` via :meth:`spawn`."""
        code, outcome, misses = await self.spawn(role, armed=armed, resume=resume)
        if outcome is None:
            raise WorkerFailed(f"the {role} worker was killed although no kill fault was armed (exit {code})")
        return outcome, misses

    async def run_until_done(self, max_resumes: int) -> tuple[RunOutcome, list[str]]:
        """The faulted run: start it, and after each kill resume it in a new worker."""
        role, resume, misses_all = "faulted", False, []
        for resumes in range(max_resumes + 1):
            code, outcome, misses = await self.spawn(role, armed=True, resume=resume)
            misses_all += misses
            if outcome is not None:
                return outcome, misses_all
            self.history.mark("killed", role, exit_code=code)
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
        self, role: str, *, armed: bool, resume: bool
    ) -> tuple[int, RunOutcome | None, list[str]]:
        """Start one worker and wait for it. Returns its exit code and outcome (None when killed)."""
        self.started += 1
        scenario = self.spec.scenario
        assert scenario.path is not None, "worker trials need a scenario loaded from a file"
        outcome_path = self.workdir / f"outcome-{self.started}.json"
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
            record=self.runner.record,
            outcome_path=str(outcome_path),
            env=self.environment(),
        )
        job_path = self.workdir / f"job-{self.started}.json"
        job_path.write_text(job.model_dump_json())
        log_path = self.workdir / f"worker-{self.started}-{role}.log"
        if self.runner.warm_workers:
            # Started here, in the session's main thread: a warm worker dies with the thread that
            # started it (its parent-death signal), and the executor threads below come and go.
            self.runner.zygote(self.adapter, scenario)
        code = await asyncio.to_thread(
            self.runner.launch_worker, self.adapter, job_path, job.env, log_path, scenario
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
        outcome = RunOutcome(role, data["completed"], data["output"], data["error"], data["engine_ids"])
        return code, outcome, data["misses"]


def past_deadline(timeout: float | None, log_path: Path) -> WorkerFailed:
    return WorkerFailed(
        f"the worker was still running {timeout:.0f}s later, past the trial's deadline; log {log_path}"
    )


def run_process(job_path: Path, log_path: Path, timeout: float | None, live: set[int]) -> int:
    """Run a worker in its own session, waiting at most ``timeout`` seconds (None: until it ends);
    kill its whole group afterwards so nothing is left behind. ``live`` holds its pid while it runs."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "durable_chaos.run.worker", str(job_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=own_session_dying_with_parent,
        )
        live.add(process.pid)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(process.pid)
            process.wait()
            raise past_deadline(timeout, log_path) from None
        finally:
            kill_group(process.pid)
            live.discard(process.pid)


class Zygote:
    """A warm, pre-imported worker process that forks one child per job (see :mod:`durable_chaos.run.zygote`)."""

    def __init__(self, modules: list[str], log_path: Path, target: tuple[str, str] | None = None) -> None:
        """``target``: (directory, module) of the scenario's target, imported too when it imports."""
        self.log = log_path.open("wb")
        extra = ["--target", *target] if target else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "durable_chaos.run.zygote", *extra, *modules],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            preexec_fn=own_session_dying_with_parent,
            bufsize=0,  # unbuffered: a read-ahead would hide a second line from select()
        )
        self.log_path = log_path
        self.busy = False
        """Whether a job is being started or run on it now (see ``TrialRunner.stop_workers``)."""
        self.ready = False
        """Whether it said ``ready``: awaited at its first job, so its imports overlap other work (the
        engine's infrastructure starting, the golden run)."""

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Wait until it has imported everything; :class:`WarmWorkerGone` when it never does (no job
        has started, so a plain process may run it)."""
        if self.ready:
            return
        try:
            line = self.read_line(timeout)
        except WorkerFailed as exc:
            self.close()
            raise WarmWorkerGone(f"the warm worker did not start: {exc}; see {self.log_path}") from None
        if line != "ready":
            self.close()
            raise WarmWorkerGone(f"the warm worker did not start; see {self.log_path}")
        self.ready = True

    def read_line(self, timeout: float | None) -> str:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            raise WorkerFailed(f"the warm worker did not answer within {timeout:.0f}s")
        return self.process.stdout.readline().decode().strip()

    def run(self, job_path: Path, log_path: Path, timeout: float | None, live: set[int]) -> int:
        """Fork a child for the job and wait at most ``timeout`` seconds (None: until it ends) for its
        exit; ``live`` holds the child's pid while it runs."""
        self.busy = True
        try:
            return self._run(job_path, log_path, timeout, live)
        finally:
            self.busy = False

    def _run(self, job_path: Path, log_path: Path, timeout: float | None, live: set[int]) -> int:
        assert self.process.stdin is not None
        self.wait_ready(120.0 if timeout is None else min(120.0, timeout))
        try:
            self.process.stdin.write(f"{job_path}\t{log_path}\n".encode())
            self.process.stdin.flush()
        except OSError:  # it was stopped (a deadline) or died before the job started
            raise WarmWorkerGone("the warm worker was gone before the job started") from None
        started = self.read_line(30.0 if timeout is None else min(30.0, timeout)).split()
        if not started:
            raise WarmWorkerGone("the warm worker closed its pipe before starting the job")
        if len(started) != 2 or started[0] != "started":
            raise WorkerFailed(f"the warm worker answered {started!r}")
        pid = int(started[1])
        live.add(pid)
        try:
            finished = self.read_line(timeout).split()
        except WorkerFailed:
            raise past_deadline(timeout, log_path) from None
        finally:
            kill_group(pid)
            live.discard(pid)
        if len(finished) != 3 or finished[0] != "exit":
            raise WorkerFailed(f"the warm worker answered {finished!r}")
        return int(finished[2])

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        kill_group(self.process.pid)
        with contextlib.suppress(Exception):
            self.process.wait(timeout=10)
        self.log.close()


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def last_run_ids(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The engine ids the most recent faulted run recorded (e.g. its flow run id)."""
    ids: dict[str, Any] = {}
    for event in events:
        if event["event"] == "run_ids" and event["role"] != "golden":
            ids = dict(event.get("engine") or {})
    return ids
