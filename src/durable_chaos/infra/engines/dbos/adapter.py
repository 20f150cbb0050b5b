"""DBOS adapter.

DBOS is a library, not a server: a workflow's state lives in a *system database* that every process
of the application opens. The harness gives every trial its own system database, so trials are
independent and a recovered run sees only its own journal:

* embedded default: a SQLite file in the trial directory (nothing to start for the session);
* real infrastructure: ``DURABLE_CHAOS_DBOS_DATABASE_URL`` names a Postgres server
  (``postgresql+psycopg://user@127.0.0.1:PORT/postgres``); each trial gets a database of its own on
  it, named after the trial directory (DBOS creates it at launch);
* trials with a ``restart`` fault on ``database``: a Postgres the harness owns (:mod:`.server`),
  started by the first such trial of the session, since a user's server is not the harness's to
  restart; ``stranded`` then tells the session whether the workflow of a run that did not complete is
  still PENDING once the server is back.

Every run happens in a fresh worker process (``runs_in_process = False``): ``worker_environment``
exports the trial's system database URL, ``attach`` reads it back in the worker, and ``run``
launches DBOS, runs or recovers ONE workflow and shuts DBOS down.

Agent targets run inside one harness workflow, ``durable_chaos_trial``, registered under that stable
name before ``DBOS.launch()`` in every worker, so a worker started after a SIGKILL can recover it.
Both the ``DBOSDurability`` capability (model requests become steps of the harness workflow) and
the deprecated ``DBOSAgent`` wrapper (its ``run`` is a child workflow, id ``<run_id>-<step>``) work.
The application version and executor id are pinned: DBOS recovers only PENDING workflows of the
same executor and application version, and the default version is a hash of the registered code.

On ``resume`` the new worker's ``DBOS.launch()`` re-enqueues the pending workflow by itself; the
adapter only waits for its result. ``resume_mode="new_run"`` reproduces a known-bad pattern instead:
it starts a fresh workflow (``<run_id>-fresh-<n>``) under an executor id of its own, so the killed
workflow is left PENDING and everything it had journaled is recomputed.

Runs of one trial share its system database, except runs of another engine *context* (a variant's
reference run, ``RunRequest.context``), which get a database of their own. A warm resume's warm-up
(``RunRequest.warm_up``) is one: its ``DBOS.launch()`` finds no pending workflow to recover there, so
the faulted workflow waits for the resume's own launch (on the trial's database) after the warm-up
completed and DBOS was destroyed; the process keeps everything else the warm-up left. Every worker of a trial
gets the trial's own temporary directory (``TMPDIR``), so state an agent leaves in temp files is
visible to the trial's other runs (as it would be on one machine) and never to another trial's.

The package, by concern: :mod:`.spec`, :mod:`.options`, :mod:`.rules`, :mod:`.private_apis` (every private
API of dbos used, checked at start), :mod:`.server` (the system database and the Postgres server the
harness owns), :mod:`.targets` (the workflow a target runs as), :mod:`.adapter` (this module: running
and resuming), :mod:`.observe` (the journal: checkpoints, replays, identities, steps, statuses).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from durable_chaos.infra.engines.adapter_base import BaseAdapter, chosen_options, describe
from durable_chaos.infra.engines.base import (
    EngineOptions,
    EngineUnavailable,
    RestartableService,
    RestartUnavailable,
    RunOutcome,
    RunRequest,
    ServerRestarts,
    Target,
    refuse_other_targets,
)
from durable_chaos.infra.engines.dbos import private_apis
from durable_chaos.infra.engines.dbos.launching import launch_retrying
from durable_chaos.infra.engines.dbos.observe import (
    engine_ids,
    observe_journal,
    run_roots,
    status_now,
    still_enqueued,
)
from durable_chaos.infra.engines.dbos.options import DBOSOptions
from durable_chaos.infra.engines.dbos.server import (
    ENV_DATABASE_URL,
    ENV_SYSTEM_DATABASE_URL,
    SHARED_CONTEXTS,
    SQLITE_FILE,
    PostgresServer,
    check_postgres,
    context_database_url,
    find_bin_dir,
    missing_binaries_hint,
    sqlite_url,
    trial_database_name,
    with_database,
)
from durable_chaos.infra.engines.dbos.targets import entry_workflow, workflow_arguments
from durable_chaos.patching import Hook

APP_NAME = "durable-chaos"
APP_VERSION = "durable-chaos-1"
"""Pinned: recovery only picks up workflows of the same application version."""
EXECUTOR_ID = "durable-chaos"
"""Pinned too (DBOS defaults to ``local`` or ``$DBOS__VMID``): recovery is per executor id."""


ENV_RECOVERY_TIMEOUT = "DURABLE_CHAOS_DBOS_RECOVERY_TIMEOUT"


POLLING_INTERVAL_SECONDS = 0.05
QUEUE_POLLING_INTERVAL_SECONDS = 0.1
DEFAULT_RECOVERY_TIMEOUT_SECONDS = 120.0
STATUS_READ_ATTEMPTS = 10


# ---------------------------------------------------------------------------------------- adapter


class DBOSAdapter(BaseAdapter):
    """Runs targets as DBOS workflows whose model requests (and MCP calls) are DBOS steps."""

    name = "dbos"
    runs_in_process = False
    preload_modules = (
        "durable_chaos.infra.engines.dbos.adapter",
        "dbos",
        "pydantic_ai.durable_exec.dbos",
        "sqlite3",
        "sqlalchemy.dialects.sqlite",  # the trial's system database; DBOS imports it at launch
        "durable_chaos.infra.engines.warmup",  # process caches (platform, usage serializers)
    )

    def __init__(self) -> None:
        self.server_url: str | None = None
        self.owned: PostgresServer | None = None
        """The Postgres the harness owns, started by the first trial with a ``restart`` fault."""
        self.owned_trials: set[str] = set()
        """Trial directories whose system database is on :attr:`owned`."""
        self.system_database_url: str | None = None
        self.recovery_timeout = float(os.environ.get(ENV_RECOVERY_TIMEOUT, DEFAULT_RECOVERY_TIMEOUT_SECONDS))
        self.worker_process = False
        """Attached in a worker process, which runs one run and exits (see :meth:`run`)."""

    # session (harness process)

    def start(self, workdir: Path) -> None:
        external = os.environ.get(ENV_DATABASE_URL)
        if external:
            check_postgres(external)
            self.server_url = external

    def stop(self) -> None:
        self.server_url = None
        if self.owned is not None:
            self.owned.close()
            self.owned = None
        self.owned_trials.clear()

    def restart_service(self, target: str, trial_dir: Path) -> RestartableService:
        """``database``: the trial's system database goes on a Postgres server the harness owns (started
        once per session; a server given with ``--chaos-dbos-url`` is not the harness's to restart)."""
        refuse_other_targets("dbos", target, "database")
        if self.owned is None:
            if find_bin_dir() is None:
                raise RestartUnavailable(
                    "a restart of DBOS's database needs a PostgreSQL server the harness owns, and "
                    + missing_binaries_hint()
                )
            server = PostgresServer()
            try:
                server.start()
            except EngineUnavailable as exc:
                raise RestartUnavailable(f"cannot start a PostgreSQL server for DBOS: {exc}") from exc
            self.owned = server
        self.owned_trials.add(str(trial_dir.resolve()))
        # immediate shutdown, started again on the same port with the same data directory
        owned = self.owned
        return ServerRestarts(f"Postgres on 127.0.0.1:{owned.port}", owned.stop_server, owned.start_server)

    def stranded(self, trial_dir: Path, outcome: RunOutcome) -> str | None:
        """The workflow of a run that did not complete, if the system database still holds it PENDING."""
        workflow_id = outcome.engine_ids.get("workflow_id")
        if not workflow_id:
            return None
        url = self.worker_environment(trial_dir)[ENV_SYSTEM_DATABASE_URL]
        status = status_now(url, str(workflow_id))
        for _ in range(STATUS_READ_ATTEMPTS):  # the server is back, but may still be settling
            if not status.startswith("status unreadable"):
                break
            time.sleep(0.5)
            status = status_now(url, str(workflow_id))
        if status.startswith(("status PENDING", "status ENQUEUED")):  # ENQUEUED: re-queued by recovery
            state = status.split()[1].rstrip(",")
            queued = still_enqueued(url)
            waiting = "".join(f"; {n} workflow(s) still ENQUEUED on queue {q!r}" for q, n in queued.items())
            return (
                f"workflow {workflow_id} is still {state} after the run ended: stranded until a process of "
                f"executor {EXECUTOR_ID!r} launches DBOS again and recovers it{waiting}"
            )
        if status.startswith("status SUCCESS"):
            return f"workflow {workflow_id} finished after the run gave up on it ({status})"
        if status.startswith("status unreadable"):
            return f"workflow {workflow_id}: after the run, its {status}"
        return None

    def trial_server_url(self, trial_dir: Path) -> str | None:
        """The Postgres server of this trial's system database (None: SQLite)."""
        if self.owned is not None and str(trial_dir.resolve()) in self.owned_trials:
            return self.owned.url
        return self.server_url

    def hooks(self) -> list[Hook]:
        return list(private_apis.HOOKS)

    def harness_changes(self, options: EngineOptions) -> list[str]:
        launch_timeout = chosen_options(options, DBOSOptions).launch_timeout
        return [
            f"application version pinned to {APP_VERSION!r} and executor id to {EXECUTOR_ID!r}, so a new "
            "worker recovers the killed one's workflows (DBOS recovers only its executor's and version's); "
            "in upgrade trials the version is not the harness's: dbos.application_version, else DBOS's "
            "default",
            f"the recovery queue is polled every {QUEUE_POLLING_INTERVAL_SECONDS} s (DBOS: 1 s) and results "
            f"every {POLLING_INTERVAL_SECONDS} s",
            "agent targets run in the harness's workflow; a fresh system database per trial",
            *(
                [
                    "DBOS.launch() is tried again every second while the system database is unreachable, "
                    f"for dbos.launch_timeout ({launch_timeout:g} s; a supervisor restarting the application)"
                ]
                if launch_timeout > 0
                else []
            ),
        ]

    def entry_mismatch(self, target: Target) -> str | None:
        if not callable(target.obj) or not hasattr(target.obj, "__qualname__"):
            return f"entry {target.import_path} is not a DBOS workflow function"
        return None

    def worker_environment(self, trial_dir: Path) -> dict[str, str]:
        server_url = self.trial_server_url(trial_dir)
        if server_url:
            url = with_database(server_url, trial_database_name(trial_dir))
        else:
            url = sqlite_url(trial_dir / SQLITE_FILE)
        scratch = trial_dir / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        return {ENV_SYSTEM_DATABASE_URL: url, "TMPDIR": str(scratch)}

    def network_targets(self, trial_dir: Path) -> dict[str, tuple[str, int]]:
        """``database``: the Postgres server, when one is configured (SQLite has no connection)."""
        server_url = self.trial_server_url(trial_dir)
        if not server_url:
            return {}
        from sqlalchemy.engine import make_url

        parsed = make_url(server_url)
        return {"database": (parsed.host or "127.0.0.1", int(parsed.port or 5432))}

    def proxied_environment(self, env: dict[str, str], routes: dict[str, tuple[str, int]]) -> dict[str, str]:
        route = routes.get("database")
        url = env.get(ENV_SYSTEM_DATABASE_URL)
        if route is None or not url:
            return dict(env)
        from sqlalchemy.engine import make_url

        proxied = make_url(url).set(host=route[0], port=route[1]).render_as_string(hide_password=False)
        return {**env, ENV_SYSTEM_DATABASE_URL: proxied}

    # worker process

    def attach(self) -> None:
        url = os.environ.get(ENV_SYSTEM_DATABASE_URL)
        if not url:
            raise EngineUnavailable(
                f"{ENV_SYSTEM_DATABASE_URL} is not set in this worker; the harness exports it from "
                "DBOSAdapter.worker_environment(trial_dir)."
            )
        self.system_database_url = url
        self.worker_process = True
        tempfile.tempdir = None  # a forked worker inherits its parent's cached temp dir: re-read TMPDIR

    def database_url(self, request: RunRequest) -> str:
        url = (
            self.system_database_url
            or os.environ.get(ENV_SYSTEM_DATABASE_URL)
            or sqlite_url(request.workdir / SQLITE_FILE)
        )
        context = request.context
        return url if context in SHARED_CONTEXTS else context_database_url(url, context)

    async def run(self, target: Target, request: RunRequest) -> RunOutcome:
        from dbos import DBOS

        launch_timeout = DBOSOptions().launch_timeout
        if isinstance(request.options, DBOSOptions):
            self.recovery_timeout = float(
                os.environ.get(ENV_RECOVERY_TIMEOUT, request.options.recovery_timeout)
            )
            launch_timeout = request.options.launch_timeout
        if request.version == "N+1" and request.upgrade_wait is not None:
            self.recovery_timeout = request.upgrade_wait
        resume = request.resume
        fresh = resume and request.resume_mode == "new_run"
        workflow = entry_workflow(target)  # registered before launch, so recovery can find it
        url = self.database_url(request)
        executor_id = f"{EXECUTOR_ID}-fresh-{os.getpid()}" if fresh else EXECUTOR_ID
        version = application_version(request)
        failed = await launch_retrying(
            lambda: launch(url, executor_id=executor_id, application_version=version), launch_timeout
        )
        if failed is not None:  # the workflow stays as the database holds it (``stranded`` says how)
            return RunOutcome(request.role, False, error=failed, engine_ids={"workflow_id": request.run_id})
        run_roots[:] = [request.run_id]
        try:
            if resume and not fresh:
                return await self._recover(workflow, target, request)
            workflow_id = await fresh_workflow_id(request.run_id) if fresh else request.run_id
            run_roots.insert(0, workflow_id)
            ids: dict[str, Any] = {"workflow_id": workflow_id}
            if fresh:
                ids["abandoned_workflow_id"] = request.run_id
            return await self._start(workflow, target, request, workflow_id, ids)
        finally:
            # A worker process exits right after its one run, its workflow's outcome already in the system
            # database: DBOS.destroy() would only join DBOS's background threads (1.0 s measured, a
            # third of a sweep point's time), and the exit ends them as a crash would, which DBOS is
            # built for. Elsewhere (several runs in one process) DBOS is destroyed before the next launch.
            if not self.worker_process or request.warm_up:
                DBOS.destroy(workflow_completion_timeout_sec=0)

    async def _start(
        self, workflow: Any, target: Target, request: RunRequest, workflow_id: str, ids: dict[str, Any]
    ) -> RunOutcome:
        from dbos import DBOS, SetWorkflowID

        arguments = workflow_arguments(target)
        try:
            with SetWorkflowID(workflow_id):
                if inspect.iscoroutinefunction(workflow):
                    handle: Any = await DBOS.start_workflow_async(workflow, **arguments)
                else:
                    handle = DBOS.start_workflow(workflow, **arguments)
            output = await result_of(handle)
        except workflow_failures() as exc:  # the workflow's failure is data here
            return RunOutcome(request.role, False, error=describe(exc), engine_ids=await engine_ids(ids))
        return RunOutcome(request.role, True, output=output, engine_ids=await engine_ids(ids))

    async def _recover(self, workflow: Any, target: Target, request: RunRequest) -> RunOutcome:
        """Wait for the workflow ``DBOS.launch()`` is recovering (or its recorded result)."""
        from dbos import DBOS
        from dbos import error as dbos_errors

        ids: dict[str, Any] = {"workflow_id": request.run_id, "recovered": True}
        try:
            handle: Any = await DBOS.retrieve_workflow_async(request.run_id)
        except dbos_errors.DBOSNonExistentWorkflowError:
            # Killed before the workflow was recorded: nothing ran durably, start it under its id.
            ids["recovered"] = False
            ids["started_on_resume"] = True
            return await self._start(workflow, target, request, request.run_id, ids)
        try:
            output = await asyncio.wait_for(result_of(handle), timeout=self.recovery_timeout)
        except TimeoutError:
            # Read without waiting for the database: DBOS's own calls block until it is reachable, and the
            # workflow would go on meanwhile; a run that is given up on is given up on now.
            status = await asyncio.to_thread(status_now, self.database_url(request), request.run_id)
            if request.version:
                error = upgrade_stuck(request.run_id, self.recovery_timeout, status)
            else:
                error = (
                    f"RecoveryTimeout: workflow {request.run_id} did not finish within "
                    f"{self.recovery_timeout:g}s of recovery ({status}); DBOS recovers only workflows "
                    f"of executor {EXECUTOR_ID!r} and application version {APP_VERSION!r}"
                )
            return RunOutcome(
                request.role,
                False,
                error=error,
                # not engine_ids(): its DBOS read waits for the database, and the workflow goes on meanwhile
                engine_ids=ids,
            )
        except workflow_failures() as exc:
            return RunOutcome(request.role, False, error=describe(exc), engine_ids=await engine_ids(ids))
        return RunOutcome(request.role, True, output=output, engine_ids=await engine_ids(ids))

    def unit_context(self) -> dict[str, Any]:
        try:
            from dbos import DBOS

            step_id = DBOS.step_id
            if step_id is None:
                return {}
            status = DBOS.step_status
            return {
                "workflow_id": DBOS.workflow_id,
                "step_id": step_id,
                "step_attempt": None if status is None else status.current_attempt,
                # DBOS sets max_attempts only for steps with retries_allowed; otherwise one attempt.
                "max_attempts": (status.max_attempts if status is not None else None) or 1,
                "pid": os.getpid(),
            }
        except Exception:  # noqa: BLE001 - observation must never break the run
            return {}

    @contextmanager
    def observing(self) -> Iterator[None]:
        with observe_journal():
            yield


# ------------------------------------------------------------------------------------ DBOS plumbing


def application_version(request: RunRequest) -> str | None:
    """The application version a run launches DBOS with: the harness's pin, except in an upgrade trial,
    where it is the user's (``dbos.application_version``), else DBOS's default (None: a hash of the
    registered workflows' source)."""
    if not request.version:
        return APP_VERSION
    return request.options.application_version if isinstance(request.options, DBOSOptions) else None


def upgrade_stuck(workflow_id: str, waited: float, status: str) -> str:
    """Why a workflow N started was not recovered on N+1, from DBOS's own state."""
    from dbos._utils import GlobalParams

    return (
        f"UpgradeStuck: workflow {workflow_id} was not recovered within {waited:g}s of N+1 starting "
        f"({status}; N+1 runs application version {GlobalParams.app_version!r}). DBOS recovers only "
        "PENDING workflows of its own application version, and the default version is a hash of the "
        "workflows' source, which the upgrade changed: the run stays PENDING forever. Fix: pin "
        "application_version in DBOSConfig (dbos.application_version in the scenario) and guard changed "
        "steps with DBOS.patch(), or keep N's workers running until N's workflows finish"
    )


def launch(
    system_database_url: str, *, executor_id: str = EXECUTOR_ID, application_version: str | None = APP_VERSION
) -> None:
    """Configure and launch DBOS for this process (one run per worker process); ``application_version``
    None leaves DBOS's default (a hash of the registered workflows' source)."""
    from dbos import DBOS, DBOSConfig

    config: DBOSConfig = {
        "name": APP_NAME,
        "system_database_url": system_database_url,
        "application_version": application_version,
        "executor_id": executor_id,
        "log_level": os.environ.get("DURABLE_CHAOS_DBOS_LOG_LEVEL", "INFO"),
        "notification_listener_polling_interval_sec": POLLING_INTERVAL_SECONDS,
    }
    DBOS(config=config)
    fast_internal_queue()
    DBOS.launch()


def fast_internal_queue() -> None:
    """Poll DBOS's internal queue (where recovery re-enqueues a workflow) every 0.1 s, not every 1 s.

    Uses a private registry hook (:data:`.private_apis.INTERNAL_QUEUE`); when it is missing, recovery just
    starts up to a second later.
    """
    try:
        from dbos._utils import INTERNAL_QUEUE_NAME

        registry = private_apis.INTERNAL_QUEUE.resolve()()
        existing = registry.internal_queue_map.get(INTERNAL_QUEUE_NAME)
        if existing is None:
            registry._register_internal_queue(
                INTERNAL_QUEUE_NAME, polling_interval_sec=QUEUE_POLLING_INTERVAL_SECONDS
            )
    except Exception:  # noqa: BLE001 - an optimisation only
        pass


async def result_of(handle: Any) -> Any:
    """The workflow's result (or its exception), from an async or a sync workflow handle."""
    if inspect.iscoroutinefunction(handle.get_result):
        return await handle.get_result(polling_interval_sec=POLLING_INTERVAL_SECONDS)
    return await asyncio.to_thread(handle.get_result, polling_interval_sec=POLLING_INTERVAL_SECONDS)


async def fresh_workflow_id(run_id: str) -> str:
    from dbos import DBOS

    prefix = f"{run_id}-fresh-"
    existing = await DBOS.list_workflows_async(workflow_id_prefix=prefix, load_input=False, load_output=False)
    return f"{prefix}{len(existing) + 1}"


def workflow_failures() -> tuple[type[BaseException], ...]:
    """What a failed workflow raises: any Exception, and DBOS's BaseException errors (cancellation)."""
    from dbos import error as dbos_errors

    return (Exception, dbos_errors.DBOSBaseException)
