"""Worker processes: where runs that may be killed happen.

The pytest process owns the infrastructure, the history and the ledgers; a worker runs one role of
one trial (``python -m durable_chaos.run.worker JOB``) and writes its outcome to a file. A kill
fault SIGKILLs the worker from inside at the exact boundary; the pool
(:mod:`durable_chaos.run.worker_pool`) then starts a new worker that resumes the interrupted run,
until it completes or ``max_resumes`` is spent. Every worker runs in a session of its own, and its
whole process group is killed when it ends, so nothing outlives it.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from durable_chaos.processes import own_session_dying_with_parent

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
    upgraded: bool = False
    """Run the upgrade's N+1 target (a resume in an upgrade trial), not the scenario's own."""
    warm: bool = False
    """A warm resume (``resume_worker: warm``): first a complete warm-up run of its own in this process,
    then the resume (see :func:`durable_chaos.run.worker.warm_up`)."""
    env: dict[str, str] = {}
    """Environment of this trial's worker (engine infrastructure), applied before anything runs."""


class WorkerFailed(Exception):
    """A worker ended without an outcome and was not killed by a fault."""


class WarmWorkerGone(WorkerFailed):
    """The warm worker died before it started the job: the job never ran, so a plain process may run it."""


def past_deadline(timeout: float | None, log_path: Path) -> WorkerFailed:
    return WorkerFailed(
        f"the worker was still running {timeout:.0f}s later, past the trial's deadline; log {log_path}"
    )


def run_process(
    job_path: Path, log_path: Path, timeout: float | None, live: set[int], python: str | None = None
) -> int:
    """Run a worker in its own session, waiting at most ``timeout`` seconds (None: until it ends);
    kill its whole group afterwards so nothing is left behind. ``live`` holds its pid while it runs.
    ``python``: another interpreter to run it with (an upgrade's N+1 environment), else this one."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [python or sys.executable, "-m", "durable_chaos.run.worker", str(job_path)],
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
    """A warm, pre-imported worker process that forks one child per job (see
    :mod:`durable_chaos.run.zygote`)."""

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
