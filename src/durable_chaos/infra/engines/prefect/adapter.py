"""Prefect adapter.

Embedded default: the harness owns ONE Prefect API server per session (a uvicorn subprocess on a
loopback port with its own PREFECT_HOME and SQLite database in a temp dir) and points every run at
it; result storage (the task cache) gets a fresh directory per trial. Under pytest-xdist the sessions of
one test session share one server (:mod:`durable_chaos.infra.shared_servers`), and a session starts a
private one for its trials that restart it. Real infrastructure: when ``PREFECT_API_URL`` is set, that
server is used instead and nothing is started.

Agent targets run inside a harness-owned flow with ``retries=flow_retries``, so a retry re-runs the
*same* flow run and pydantic-ai's cache policy (inputs + task source + flow run id) reuses the
results of completed tasks. Both the ``PrefectDurability`` capability and the deprecated
``PrefectAgent`` wrapper work; with the wrapper, each retry of the outer flow creates a fresh
subflow whose tasks re-execute, and the harness reports what that costs.

Cache keys are observed where Prefect computes them (``compute_transaction_key``, once per task
attempt), since ``TaskRun.cache_key`` is ``None`` in Prefect 3.

The package, by concern: :mod:`.spec`, :mod:`.options`, :mod:`.rules`, :mod:`.private_apis` (every private
API of prefect used, checked at start), :mod:`.server` (the embedded API server), :mod:`.database` (its
migrated database template), :mod:`.targets` (the flow a target runs as), :mod:`.adapter` (this module:
running and resuming), :mod:`.observe` (cache keys, checkpoints, attempt epochs), :mod:`.fingerprints`
(what a key is made of: input and result fingerprints, the policy's parts).
"""

from __future__ import annotations

import os
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

from durable_chaos import events
from durable_chaos.infra import shared_servers
from durable_chaos.infra.engines.adapter_base import BaseAdapter, chosen_options, emit
from durable_chaos.infra.engines.base import (
    EngineOptions,
    EngineUnavailable,
    RestartableService,
    RestartUnavailable,
    RunOutcome,
    RunRequest,
    Target,
    refuse_other_targets,
)
from durable_chaos.infra.engines.prefect import private_apis
from durable_chaos.infra.engines.prefect.launching import first_contact
from durable_chaos.infra.engines.prefect.observe import current_epoch, observe_cache_keys, observe_checkpoints
from durable_chaos.infra.engines.prefect.options import PrefectOptions
from durable_chaos.infra.engines.prefect.server import (
    PrefectServer,
    base_environment,
    drain_client_services,
    engine_api_service,
    healthy,
    server_version,
)
from durable_chaos.infra.engines.prefect.targets import flow_parameters, trial_flow
from durable_chaos.infra.shared_servers import SharedServer
from durable_chaos.patching import Hook
from durable_chaos.scrub import scrub_url


class PrefectAdapter(BaseAdapter):
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
        """The server this session started for itself (None when it uses a shared or a user's one)."""
        self.shared: SharedServer | None = None
        """The server the processes of a test session share (:mod:`durable_chaos.infra.shared_servers`)."""
        self.private: PrefectServer | None = None
        """With a shared server: the session's own, for the trials that restart it (started by the first)."""
        self.private_trials: set[str] = set()
        self.api_url = ""
        self.home = Path()
        self.workdir = Path()

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
        self.workdir = workdir
        self.shared = shared_servers.attach_or_start(shared_key(), start_shared, healthy)
        if self.shared is not None:
            self.api_url = self.shared.address
            return
        self.server = PrefectServer(workdir / "prefect-server")
        self.api_url = self.server.start()

    def stop(self) -> None:
        drain_client_services()
        for server in (self.server, self.private):
            if server is not None:
                server.close()
        self.server = self.private = None
        self.shared = None  # its owner stops it at the test session's end

    def hooks(self) -> list[Hook]:
        return list(private_apis.HOOKS)

    def harness_changes(self, options: EngineOptions) -> list[str]:
        chosen = chosen_options(options, PrefectOptions)
        retries = chosen.flow_retries
        return [
            f"the flow (the harness's flow around an agent target, or the entry flow, whose own retries are "
            f"replaced) runs with retries={retries} and no retry delay (prefect.flow_retries)",
            "a fresh result storage directory per trial",
            *(
                [
                    "a worker whose first API call is refused makes it again every second for "
                    f"prefect.connect_timeout ({chosen.connect_timeout:g} s; a supervisor restarting it)"
                ]
                if chosen.connect_timeout > 0
                else []
            ),
        ]

    def entry_mismatch(self, target: Target) -> str | None:
        from prefect import Flow

        if not isinstance(target.obj, Flow):
            return f"entry {target.import_path} is not a Prefect @flow"
        return None

    def worker_environment(self, trial_dir: Path) -> dict[str, str]:
        return {
            **self.environment(trial_dir, self.api_url_for(trial_dir)),
            "DURABLE_CHAOS_PREFECT_HOME": str(self.home),
        }

    def api_url_for(self, trial_dir: Path) -> str:
        """The API a trial's runs use: the session's (or the shared) server, or, for a trial that restarts
        it while the server is shared, the session's private one."""
        if self.private is not None and str(trial_dir.resolve()) in self.private_trials:
            return self.private.url
        return self.api_url

    # ``stranded``: the default (nothing to say): not asked yet, only trials with restart faults ask.

    def restart_service(self, target: str, trial_dir: Path) -> RestartableService:
        """``engine_api``: the API server the harness started for the session (not one given with
        ``PREFECT_API_URL``, which is not the harness's to restart)."""
        refuse_other_targets("prefect", target, "engine_api")
        if self.shared is not None:
            # Other sessions' runs are on the shared server: this trial restarts a server of its session.
            if self.private is None:
                private = PrefectServer(self.workdir / "prefect-private-server")
                private.start()
                self.private = private
            self.private_trials.add(str(trial_dir.resolve()))
            return engine_api_service(self.private)
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
        parsed = urllib.parse.urlsplit(self.api_url_for(trial_dir))
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

    def environment(self, storage: Path, api_url: str | None = None) -> dict[str, str]:
        """Environment for a process that runs flows against this session's server (or ``api_url``)."""
        return {
            **base_environment(self.home),
            "PREFECT_API_URL": api_url or self.api_url,
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

            options = chosen_options(request.options, PrefectOptions)
            retries = options.flow_retries
            flow = trial_flow(target, retries)
            parameters = flow_parameters(target)
            if not (request.resumable or request.resume):
                # Nothing can interrupt this run: let the flow engine create its flow run itself.
                state = await flow(**parameters, return_state=True)
                return await outcome_of(state, request.role)
            # A kill may interrupt it: create the flow run first and record its id for the resume.
            previous = request.previous_ids.get("flow_run_id")

            async def flow_run_to_run() -> Any:
                async with get_client() as client:
                    if request.resume and request.resume_mode == "same_run" and previous:
                        return await client.read_flow_run(UUID(previous))
                    return await client.create_flow_run(flow, parameters=parameters)

            flow_run, failed = await first_contact(flow_run_to_run, options.connect_timeout)
            if flow_run is None:
                ids = {"flow_run_id": previous} if previous else {}
                return RunOutcome(request.role, False, error=failed, engine_ids=ids)
            emit(events.RUN_IDS, with_pid=False, flow_run_id=str(flow_run.id))
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


def shared_key() -> str:
    """Servers of one Prefect version are shared (a session on another version starts its own)."""
    from importlib.metadata import version

    return f"prefect-{version('prefect')}"


def start_shared(home: Path, owner: int) -> tuple[str, int]:
    """Start the test session's shared Prefect server (it dies with ``owner``): its URL and process group."""
    server = PrefectServer(home, owner=owner)
    url = server.start()
    assert server.process is not None
    return url, server.process.pid


async def outcome_of(state: Any, role: str) -> RunOutcome:
    ids = {"flow_run_id": str(state.state_details.flow_run_id)}
    if state.is_completed():
        return RunOutcome(role, True, output=await state.result(), engine_ids=ids)
    try:
        await state.result()
    except BaseException as exc:  # noqa: BLE001 - the flow's failure is data here
        return RunOutcome(role, False, error=f"{type(exc).__name__}: {exc}", engine_ids=ids)
    return RunOutcome(role, False, error=f"flow ended in state {state.type}", engine_ids=ids)
