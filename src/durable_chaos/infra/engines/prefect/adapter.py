"""Prefect adapter.

Embedded default: the harness owns ONE Prefect API server per session (a uvicorn subprocess on a
loopback port with its own PREFECT_HOME and SQLite database in a temp dir) and points every run at
it; result storage (the task cache) gets a fresh directory per trial. Real infrastructure: when
``PREFECT_API_URL`` is set, that server is used instead and nothing is started.

Agent targets run inside a harness-owned flow with ``retries=flow_retries``, so a retry re-runs the
*same* flow run and pydantic-ai's cache policy (inputs + task source + flow run id) reuses the
results of completed tasks. Both the ``PrefectDurability`` capability and the deprecated
``PrefectAgent`` wrapper work; with the wrapper, each retry of the outer flow creates a fresh
subflow whose tasks re-execute, and the harness reports what that costs.

Cache keys are observed where Prefect computes them (``compute_transaction_key``, once per task
attempt), since ``TaskRun.cache_key`` is ``None`` in Prefect 3.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

from durable_chaos.faults.context import active
from durable_chaos.infra.engines.base import (
    EngineOptions,
    EngineUnavailable,
    RestartableService,
    RestartUnavailable,
    RunOutcome,
    RunRequest,
    ServerRestarts,
    Target,
    TargetMismatch,
    free_port,
    refuse_other_targets,
)
from durable_chaos.infra.engines.durability import agent_mismatch
from durable_chaos.infra.engines.prefect import database
from durable_chaos.infra.engines.prefect import private_apis as hooks
from durable_chaos.infra.engines.prefect.options import PrefectOptions
from durable_chaos.patching import Hook
from durable_chaos.processes import LongLivedSpawner, own_session_dying_with_parent
from durable_chaos.scrub import scrub_url

STARTUP_TIMEOUT_SECONDS = 90.0
_epoch = 0


def base_environment(home: Path) -> dict[str, str]:
    """Settings every Prefect process of a session shares."""
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        "PREFECT_LOGGING_TO_API_ENABLED": "false",
        # The session checked its server's version once, at start: no /admin/version per client.
        "PREFECT_CLIENT_SERVER_VERSION_CHECK_ENABLED": "false",
    }


class PrefectServer:
    """A Prefect API server in a subprocess of its own session (so it and its children die together)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.port = 0
        self.spawner: LongLivedSpawner | None = None
        """Starts the server from a thread that lives as long as this object: a restart fault's timer
        thread ends at once, and the server must not die with it (``PR_SET_PDEATHSIG``)."""

    @property
    def database(self) -> Path:
        return self.home / "prefect.db"

    def start(self) -> str:
        """Start the server on a new database: a copy of the migrated template when the cache has one
        for this Prefect version (see :mod:`.database`), else one the server migrates, which then
        becomes the template."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        seeded = database.seed(self.database)
        try:
            self.launch()
        except EngineUnavailable:
            if not seeded:
                raise
            database.forget()  # a template this server cannot start from: start from nothing once
            self.database.unlink(missing_ok=True)
            seeded = False
            self.launch()
        if not seeded:
            database.save(self.database)
        return self.url

    def launch(self) -> None:
        """Start the server process on :attr:`port` (again, after :meth:`stop`: same database, same URL)
        and wait until it answers."""
        port = self.port
        env = {
            **os.environ,
            **base_environment(self.home),
            "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{self.database}",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
        }
        env.pop("PREFECT_API_URL", None)
        env.pop("COVERAGE_PROCESS_CONFIG", None)  # the engine's own server is not ours to measure
        log = (self.home / "server.log").open("ab")
        if self.spawner is None:
            self.spawner = LongLivedSpawner("durable-chaos-prefect-server")
        self.process = self.spawner.popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "prefect.server.api.server:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "error",
                "--lifespan",
                "on",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=own_session_dying_with_parent,
        )
        log.close()
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                code = self.process.returncode
                tail = (self.home / "server.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise EngineUnavailable(
                    f"the Prefect API server exited with code {code} while starting.\n{tail}\n"
                    "Fix: install durable-chaos[prefect] (it pins fastapi<0.155 for prefect<3.9), "
                    "or point PREFECT_API_URL at a running Prefect server."
                )
            if healthy(self.url):
                return
            time.sleep(0.2)
        self.stop()
        raise EngineUnavailable(
            f"the Prefect API server did not answer {self.url}/health within "
            f"{STARTUP_TIMEOUT_SECONDS:.0f}s; see {self.home / 'server.log'}. "
            "Fix: check that nothing blocks loopback ports, or set PREFECT_API_URL."
        )

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, 15)
            process.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 9)
            process.wait(timeout=10)

    def close(self) -> None:
        self.stop()
        if self.spawner is not None:
            self.spawner.close()
            self.spawner = None


def engine_api_service(server: PrefectServer) -> ServerRestarts:
    """The session's Prefect API server as a restartable service (SIGTERM to its process group; started
    again on the same port with the same SQLite database)."""
    return ServerRestarts(f"Prefect API server on 127.0.0.1:{server.port}", server.stop, server.launch)


DRAIN_TIMEOUT_SECONDS = 10.0


def drain_client_services(timeout: float = DRAIN_TIMEOUT_SECONDS) -> None:
    """Flush this process's Prefect client services (events, API logs) while the session's server is
    still up, and stop them; a later run starts fresh ones. Without this they retry, at interpreter
    exit, against a server that is gone: a session that never ends."""
    for hook in (hooks.DRAIN_EVENTS, hooks.DRAIN_LOGS):
        try:
            hook.resolve()(timeout=timeout, at_exit=False)
        except Exception:  # noqa: BLE001 - a broken hook only costs the flush
            continue


def server_version(api_url: str) -> str | None:
    """The Prefect version a server reports at ``/admin/version``, or None when it reports none."""
    import json

    try:
        with urllib.request.urlopen(f"{api_url}/admin/version", timeout=5) as response:
            version = json.loads(response.read())
    except (OSError, ValueError):
        return None
    if not isinstance(version, str) or not version[:1].isdigit():
        return None
    return version


def healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class PrefectAdapter:
    """Runs targets as Prefect flows whose model requests and tool calls are Prefect tasks."""

    name = "prefect"
    runs_in_process = True
    preload_modules = (
        "durable_chaos.infra.engines.prefect.adapter",
        "prefect.flow_engine",
        "prefect.task_engine",
        "prefect.utilities.visualization",  # imported by a task's first call: graphviz, 33 modules
        "prefect.concurrency.services",
        "pydantic_ai.durable_exec.prefect",
    )

    def __init__(self) -> None:
        self.server: PrefectServer | None = None
        self.api_url = ""
        self.home = Path()

    def start(self, workdir: Path) -> None:
        self.home = workdir / "prefect-home"
        self.home.mkdir(parents=True, exist_ok=True)
        external = os.environ.get("PREFECT_API_URL")
        if external:
            if not healthy(external):
                raise EngineUnavailable(
                    f"PREFECT_API_URL={scrub_url(external)} does not answer /health. Fix: start that server, "
                    "or unset PREFECT_API_URL to let durable-chaos start an embedded one."
                )
            version = server_version(external)
            if version is None:
                raise EngineUnavailable(
                    f"PREFECT_API_URL={scrub_url(external)} answers /health but is not a Prefect API server "
                    "(GET /admin/version gave no Prefect version). Fix: point PREFECT_API_URL at a Prefect "
                    "server's API (it ends in /api), or unset it to let durable-chaos start an embedded one."
                )
            self.api_url = external
            return
        self.server = PrefectServer(workdir / "prefect-server")
        self.api_url = self.server.start()

    def stop(self) -> None:
        drain_client_services()
        if self.server is not None:
            self.server.close()
            self.server = None

    def hooks(self) -> list[Hook]:
        return list(hooks.HOOKS)

    def harness_changes(self, options: EngineOptions) -> list[str]:
        retries = (
            options.flow_retries if isinstance(options, PrefectOptions) else PrefectOptions().flow_retries
        )
        return [
            f"the flow (the harness's flow around an agent target, or the entry flow, whose own retries are "
            f"replaced) runs with retries={retries} and no retry delay (prefect.flow_retries)",
            "a fresh result storage directory per trial",
        ]

    def check_target(self, target: Target) -> None:
        from prefect import Flow

        if target.kind == "entry":
            if not isinstance(target.obj, Flow):
                raise TargetMismatch(f"entry {target.import_path} is not a Prefect @flow")
            return
        problem = agent_mismatch(self.name, target.import_path, target.obj)
        if problem:
            raise TargetMismatch(problem)

    async def replay_check(
        self, target: Target, outcome: RunOutcome, request: RunRequest
    ) -> list[str] | None:
        return None

    def worker_environment(self, trial_dir: Path) -> dict[str, str]:
        return {**self.environment(trial_dir), "DURABLE_CHAOS_PREFECT_HOME": str(self.home)}

    def stranded(self, trial_dir: Path, outcome: RunOutcome) -> str | None:
        return None  # not asked yet: only trials with restart faults ask, and this engine has none

    def restart_service(self, target: str, trial_dir: Path) -> RestartableService:
        """``engine_api``: the API server the harness started for the session (not one given with
        ``PREFECT_API_URL``, which is not the harness's to restart)."""
        refuse_other_targets("prefect", target, "engine_api")
        if self.server is None:
            raise RestartUnavailable(
                "PREFECT_API_URL points at a Prefect server the harness did not start, which is not its to "
                "restart; unset it to let the harness start (and restart) its own"
            )
        return engine_api_service(self.server)

    def network_targets(self, trial_dir: Path) -> dict[str, tuple[str, int]]:
        """``engine_api``: the Prefect API server (its database is the server's own business)."""
        if not self.api_url:
            return {}
        parsed = urllib.parse.urlsplit(self.api_url)
        return {"engine_api": (parsed.hostname or "127.0.0.1", parsed.port or 4200)}

    def proxied_environment(self, env: dict[str, str], routes: dict[str, tuple[str, int]]) -> dict[str, str]:
        route = routes.get("engine_api")
        url = env.get("PREFECT_API_URL")
        if route is None or not url:
            return dict(env)
        parsed = urllib.parse.urlsplit(url)
        return {**env, "PREFECT_API_URL": parsed._replace(netloc=f"{route[0]}:{route[1]}").geturl()}

    def attach(self) -> None:
        self.api_url = os.environ["PREFECT_API_URL"]
        self.home = Path(os.environ["DURABLE_CHAOS_PREFECT_HOME"])

    def environment(self, storage: Path) -> dict[str, str]:
        """Environment for a process that runs flows against this session's server."""
        return {
            **base_environment(self.home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_LOCAL_STORAGE_PATH": str(storage),
        }

    @contextmanager
    def settings(self, storage: Path) -> Iterator[None]:
        import prefect.settings

        updates = {
            getattr(prefect.settings, name): value
            for name, value in self.environment(storage).items()
            if hasattr(prefect.settings, name)
        }
        with prefect.settings.temporary_settings(updates=updates):
            yield

    async def run(self, target: Target, request: RunRequest) -> RunOutcome:
        """Run the trial flow: a new flow run, or (``resume``) the interrupted one again, so that
        pydantic-ai's cache policy (keyed by the flow run id) replays its completed tasks."""
        # Runs of one context share one result storage: it holds the task cache. The faulted run and
        # its resumes share theirs; variant runs share the golden run's, where a cache policy that is
        # too coarse would hand them its results.
        context = request.context or ("golden" if request.role == "golden" else "faulted")
        storage = request.workdir / f"results-{context}"
        storage.mkdir(parents=True, exist_ok=True)
        with self.settings(storage):
            from prefect.client.orchestration import get_client
            from prefect.flow_engine import run_flow_async

            options = request.options
            retries = options.flow_retries if isinstance(options, PrefectOptions) else 1
            flow = trial_flow(target, retries)
            parameters = flow_parameters(target)
            if not (request.resumable or request.resume):
                # Nothing can interrupt this run: let the flow engine create its flow run itself.
                state = await flow(**parameters, return_state=True)
                return await outcome_of(state, request.role)
            # A kill may interrupt it: create the flow run first and record its id for the resume.
            async with get_client() as client:
                previous = request.previous_ids.get("flow_run_id")
                if request.resume and request.resume_mode == "same_run" and previous:
                    flow_run = await client.read_flow_run(UUID(previous))
                else:
                    flow_run = await client.create_flow_run(flow, parameters=parameters)
            injection = active()
            if injection is not None:
                injection.emit_engine_event("run_ids", engine={"flow_run_id": str(flow_run.id)})
            state = await run_flow_async(flow, flow_run=flow_run, parameters=parameters, return_type="state")
            return await outcome_of(state, request.role)

    def unit_context(self) -> dict[str, Any]:
        from prefect.context import TaskRunContext

        ctx = TaskRunContext.get()
        if ctx is None:
            return {}
        return {
            "task_name": ctx.task.name,
            "task_run_id": str(ctx.task_run.id),
            "task_run_count": ctx.task_run.run_count,
            "max_attempts": (ctx.task.retries or 0) + 1,
            "epoch": current_epoch(),
        }

    @contextmanager
    def observing(self) -> Iterator[None]:
        with observe_cache_keys(), observe_checkpoints():
            yield


def flow_parameters(target: Target) -> dict[str, Any]:
    return {"prompt": target.prompt} if target.kind == "agent" else dict(target.args)


def trial_flow(target: Target, retries: int) -> Any:
    """The flow a trial runs: a harness flow around an agent, or the user's own entry flow."""
    from prefect import Flow, flow

    if target.kind == "entry":
        entry = target.obj
        if not isinstance(entry, Flow):
            raise TargetMismatch(f"entry {target.import_path} is not a Prefect @flow")
        return entry.with_options(retries=retries, retry_delay_seconds=0)

    agent = target.obj

    @flow(
        name=f"durable-chaos {getattr(agent, 'name', None) or 'agent'}",
        retries=retries,
        retry_delay_seconds=0,
        validate_parameters=False,
        persist_result=False,
    )
    async def durable_chaos_trial(prompt: str) -> Any:
        next_epoch()
        result = await agent.run(prompt)
        return result.output

    return durable_chaos_trial


def current_epoch() -> str:
    """Which attempt of the logical run is under way: the harness flow's attempt counter (its
    wrapped subflows are new runs on every attempt) and the current flow run's own run count
    (a user's entry flow is retried in place)."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    run_count = ctx.flow_run.run_count if ctx is not None and ctx.flow_run is not None else 0
    return f"{_epoch}.{run_count}"


def next_epoch() -> None:
    """Count attempts of the trial flow: units of one logical run are compared across epochs."""
    global _epoch
    _epoch += 1


async def outcome_of(state: Any, role: str) -> RunOutcome:
    ids = {"flow_run_id": str(state.state_details.flow_run_id)}
    if state.is_completed():
        return RunOutcome(role, True, output=await state.result(), engine_ids=ids)
    try:
        await state.result()
    except BaseException as exc:  # noqa: BLE001 - the flow's failure is data here
        return RunOutcome(role, False, error=f"{type(exc).__name__}: {exc}", engine_ids=ids)
    return RunOutcome(role, False, error=f"flow ended in state {state.type}", engine_ids=ids)


_positions: dict[str, str] = {}
_position_counters: dict[tuple[str, str, str], int] = {}


def logical_position(task_name: str, task_run_id: str, role: str) -> str:
    """A task run's place in the logical run: ``<task name>#<n>``, the n-th task of that name within
    one attempt (epoch) of the trial flow in this process. Retries of a task run keep its place."""
    if task_run_id not in _positions:
        scope = (role, current_epoch(), task_name)
        _position_counters[scope] = _position_counters.get(scope, 0) + 1
        _positions[task_run_id] = f"{task_name}#{_position_counters[scope]}"
    return _positions[task_run_id]


@contextmanager
def observe_cache_keys() -> Iterator[None]:
    """Record every cache key Prefect computes as the ``identity`` of its task's logical position."""
    from prefect.context import FlowRunContext

    def make(original: Any) -> Any:
        def compute_transaction_key(self: Any) -> str | None:
            key = original(self)
            injection = active()
            if injection is not None and self.task_run is not None:
                flow_ctx = FlowRunContext.get()
                task_run_id = str(self.task_run.id)
                injection.emit_engine_event(
                    "identity",
                    engine={
                        "scope": "",
                        "position": logical_position(self.task.name, task_run_id, injection.role),
                        "identity": key,
                        "task_name": self.task.name,
                        "task_run_id": task_run_id,
                        "task_run_count": self.task_run.run_count,
                        "flow_run_id": str(flow_ctx.flow_run.id) if flow_ctx and flow_ctx.flow_run else None,
                        "epoch": current_epoch(),
                    },
                )
            return key

        return compute_transaction_key

    _positions.clear()  # positions are counted per run
    _position_counters.clear()
    with hooks.TRANSACTION_KEY.patch(make):
        yield


@contextmanager
def observe_checkpoints() -> Iterator[None]:
    """Record each task attempt that completed (its result persisted) as a checkpoint."""

    def record(engine: Any) -> None:
        injection = active()
        if injection is not None and engine.task_run is not None:
            injection.emit_engine_event(
                "checkpoint",
                engine={
                    "task_name": engine.task.name,
                    "task_run_id": str(engine.task_run.id),
                    "task_run_count": engine.task_run.run_count,
                    "epoch": current_epoch(),
                },
            )

    def make(original: Any) -> Any:
        if inspect.iscoroutinefunction(original):

            async def handle_success_async(self: Any, *args: Any, **kwargs: Any) -> Any:
                result = await original(self, *args, **kwargs)
                record(self)
                return result

            return handle_success_async

        def handle_success(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(self, *args, **kwargs)
            record(self)
            return result

        return handle_success

    with hooks.ASYNC_SUCCESS.patch(make), hooks.SYNC_SUCCESS.patch(make):
        yield
