"""DBOS adapter.

DBOS is a library, not a server: a workflow's state lives in a *system database* that every process
of the application opens. The harness gives every trial its own system database, so trials are
independent and a recovered run sees only its own journal:

* embedded default: a SQLite file in the trial directory (nothing to start for the session);
* real infrastructure: ``DURABLE_CHAOS_DBOS_DATABASE_URL`` names a Postgres server
  (``postgresql+psycopg://user@127.0.0.1:PORT/postgres``); each trial gets a database of its own on
  it, named after the trial directory (DBOS creates it at launch);
* trials with a ``restart`` fault on ``database``: a Postgres the harness owns (``postgres.py``),
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
reference run, ``RunRequest.context``), which get a database of their own. Every worker of a trial
gets the trial's own temporary directory (``TMPDIR``), so state an agent leaves in temp files is
visible to the trial's other runs (as it would be on one machine) and never to another trial's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import inspect
import os
import pickle
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from durable_chaos.faults.context import active, note_replay, unit_body
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
    refuse_other_targets,
)
from durable_chaos.infra.engines.dbos import private_apis as hooks
from durable_chaos.infra.engines.dbos.options import DBOSOptions
from durable_chaos.infra.engines.dbos.postgres import PostgresServer, find_bin_dir, missing_binaries_hint
from durable_chaos.infra.engines.durability import agent_mismatch
from durable_chaos.patching import Hook
from durable_chaos.scrub import scrub_text, scrub_url

APP_NAME = "durable-chaos"
APP_VERSION = "durable-chaos-1"
"""Pinned: recovery only picks up workflows of the same application version."""
EXECUTOR_ID = "durable-chaos"
"""Pinned too (DBOS defaults to ``local`` or ``$DBOS__VMID``): recovery is per executor id."""
TRIAL_WORKFLOW_NAME = "durable_chaos_trial"
ENV_DATABASE_URL = "DURABLE_CHAOS_DBOS_DATABASE_URL"
"""Session setting: a Postgres server to put trial databases on (unset: SQLite per trial)."""
ENV_SYSTEM_DATABASE_URL = "DURABLE_CHAOS_DBOS_SYSTEM_DATABASE_URL"
"""Exported to a worker: the system database of its trial."""
ENV_RECOVERY_TIMEOUT = "DURABLE_CHAOS_DBOS_RECOVERY_TIMEOUT"
SQLITE_FILE = "dbos-system.sqlite"
POLLING_INTERVAL_SECONDS = 0.05
QUEUE_POLLING_INTERVAL_SECONDS = 0.1
DEFAULT_RECOVERY_TIMEOUT_SECONDS = 120.0
STATUS_READ_ATTEMPTS = 10

_trial_target: Target | None = None
_trial_workflow: Any = None
_roots: list[str] = []
"""Root workflow ids of the run in progress in this process (identity scopes are relative to them)."""


# ------------------------------------------------------------------------------------------- URLs


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def trial_database_name(trial_dir: Path) -> str:
    """A Postgres database name for a trial: readable, unique per trial directory, at most 63 bytes."""
    resolved = str(trial_dir.resolve())
    digest = hashlib.sha1(resolved.encode()).hexdigest()[:10]
    stem = re.sub(r"[^a-z0-9]+", "_", trial_dir.name.lower()).strip("_")[:40]
    return f"dc_{stem}_{digest}" if stem else f"dc_{digest}"


def with_database(url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=database).render_as_string(hide_password=False)


def context_database_url(url: str, context: str) -> str:
    """The system database of another engine context of the same trial: a sibling SQLite file, or a
    sibling database on the same Postgres server."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    suffix = re.sub(r"[^a-z0-9]+", "_", context.lower()).strip("_") or "context"
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        path = Path(parsed.database)
        return sqlite_url(path.with_name(f"{path.stem}-{suffix}{path.suffix}"))
    database = parsed.database or "postgres"
    digest = hashlib.sha1(f"{database}/{context}".encode()).hexdigest()[:8]
    return with_database(url, f"{database[:50]}_{digest}")


SHARED_CONTEXTS = frozenset({"", "golden", "faulted"})
"""Contexts that use the trial's own system database (workflow ids keep their runs apart)."""


def check_postgres(url: str, timeout: float = 5.0) -> None:
    """Connect once to ``url``; raise :class:`EngineUnavailable` with a fix hint if that fails."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": int(max(1, timeout))})
    except Exception as exc:  # noqa: BLE001 - a bad URL or a missing driver
        raise EngineUnavailable(
            f"{ENV_DATABASE_URL}={scrub_url(url)!r} is not a usable database URL "
            f"({type(exc).__name__}: {scrub_text(str(exc))}). "
            "Fix: use the form postgresql+psycopg://USER@HOST:PORT/postgres and install "
            "durable-chaos[dbos] (psycopg), or unset it to use SQLite per trial."
        ) from exc
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any connection failure is the same to the user
        raise EngineUnavailable(
            f"cannot connect to the DBOS Postgres server {ENV_DATABASE_URL}={scrub_url(url)!r}: "
            f"{type(exc).__name__}: {scrub_text(str(exc))}. Fix: start that server (and let the user "
            "create databases), "
            f"or unset {ENV_DATABASE_URL} to use an embedded SQLite system database per trial."
        ) from exc
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------------- adapter


class DBOSAdapter:
    """Runs targets as DBOS workflows whose model requests (and MCP calls) are DBOS steps."""

    name = "dbos"
    runs_in_process = False
    preload_modules = (
        "durable_chaos.infra.engines.dbos.adapter",
        "dbos",
        "pydantic_ai.durable_exec.dbos",
        "sqlite3",
        "sqlalchemy.dialects.sqlite",  # the trial's system database; DBOS imports it at launch
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
            return (
                f"workflow {workflow_id} is still {state} after the run ended: stranded until a process of "
                f"executor {EXECUTOR_ID!r} launches DBOS again and recovers it"
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
        return list(hooks.HOOKS)

    def harness_changes(self, options: EngineOptions) -> list[str]:
        return [
            f"application version pinned to {APP_VERSION!r} and executor id to {EXECUTOR_ID!r}, so a new "
            "worker recovers the killed one's workflows (DBOS recovers only its executor's and version's)",
            f"the recovery queue is polled every {QUEUE_POLLING_INTERVAL_SECONDS} s (DBOS: 1 s) and results "
            f"every {POLLING_INTERVAL_SECONDS} s",
            "agent targets run in the harness's workflow; a fresh system database per trial",
        ]

    def check_target(self, target: Target) -> None:
        if target.kind == "entry":
            if not callable(target.obj) or not hasattr(target.obj, "__qualname__"):
                raise TargetMismatch(f"entry {target.import_path} is not a DBOS workflow function")
            return
        problem = agent_mismatch(self.name, target.import_path, target.obj)
        if problem:
            raise TargetMismatch(problem)

    async def replay_check(
        self, target: Target, outcome: RunOutcome, request: RunRequest
    ) -> list[str] | None:
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

        if isinstance(request.options, DBOSOptions):
            self.recovery_timeout = float(
                os.environ.get(ENV_RECOVERY_TIMEOUT, request.options.recovery_timeout)
            )
        resume = request.resume
        fresh = resume and request.resume_mode == "new_run"
        workflow = entry_workflow(target)  # registered before launch, so recovery can find it
        url = self.database_url(request)
        launch(url, executor_id=f"{EXECUTOR_ID}-fresh-{os.getpid()}" if fresh else EXECUTOR_ID)
        _roots[:] = [request.run_id]
        try:
            if resume and not fresh:
                return await self._recover(workflow, target, request)
            workflow_id = await fresh_workflow_id(request.run_id) if fresh else request.run_id
            _roots.insert(0, workflow_id)
            ids: dict[str, Any] = {"workflow_id": workflow_id}
            if fresh:
                ids["abandoned_workflow_id"] = request.run_id
            return await self._start(workflow, target, request, workflow_id, ids)
        finally:
            # A worker process exits right after its one run, its workflow's outcome already in the system
            # database: DBOS.destroy() would only join DBOS's background threads (1.0 s measured, a
            # third of a sweep point's time), and the exit ends them as a crash would, which DBOS is
            # built for. Elsewhere (several runs in one process) DBOS is destroyed before the next launch.
            if not self.worker_process:
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
            return RunOutcome(
                request.role,
                False,
                error=(
                    f"RecoveryTimeout: workflow {request.run_id} did not finish within "
                    f"{self.recovery_timeout:g}s of recovery ({status}); DBOS recovers only workflows "
                    f"of executor {EXECUTOR_ID!r} and application version {APP_VERSION!r}"
                ),
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


def launch(system_database_url: str, *, executor_id: str = EXECUTOR_ID) -> None:
    """Configure and launch DBOS for this process (one run per worker process)."""
    from dbos import DBOS, DBOSConfig

    config: DBOSConfig = {
        "name": APP_NAME,
        "system_database_url": system_database_url,
        "application_version": APP_VERSION,
        "executor_id": executor_id,
        "log_level": os.environ.get("DURABLE_CHAOS_DBOS_LOG_LEVEL", "INFO"),
        "notification_listener_polling_interval_sec": POLLING_INTERVAL_SECONDS,
    }
    DBOS(config=config)
    fast_internal_queue()
    DBOS.launch()


def fast_internal_queue() -> None:
    """Poll DBOS's internal queue (where recovery re-enqueues a workflow) every 0.1 s, not every 1 s.

    Uses a private registry hook (:data:`hooks.INTERNAL_QUEUE`); when it is missing, recovery just
    starts up to a second later.
    """
    try:
        from dbos._utils import INTERNAL_QUEUE_NAME

        registry = hooks.INTERNAL_QUEUE.resolve()()
        existing = registry.internal_queue_map.get(INTERNAL_QUEUE_NAME)
        if existing is None:
            registry._register_internal_queue(
                INTERNAL_QUEUE_NAME, polling_interval_sec=QUEUE_POLLING_INTERVAL_SECONDS
            )
    except Exception:  # noqa: BLE001 - an optimisation only
        pass


def entry_workflow(target: Target) -> Any:
    """The workflow a trial runs: the harness workflow around an agent, or the user's own workflow."""
    global _trial_target
    if target.kind == "entry":
        return target.obj
    if target.kind != "agent":
        raise EngineUnavailable(f"unknown target kind {target.kind!r}")
    _trial_target = target
    return trial_workflow()


def trial_workflow() -> Any:
    """Register ``durable_chaos_trial`` once per process, under a stable name."""
    global _trial_workflow
    if _trial_workflow is None:
        from dbos import DBOS

        @DBOS.workflow(name=TRIAL_WORKFLOW_NAME)
        async def durable_chaos_trial(prompt: str | None) -> Any:
            if _trial_target is None:
                raise RuntimeError("durable_chaos_trial ran with no agent target registered in this process")
            result = await _trial_target.obj.run(prompt)
            return storable(result.output)

        _trial_workflow = durable_chaos_trial
    return _trial_workflow


def workflow_arguments(target: Target) -> dict[str, Any]:
    return {"prompt": target.prompt} if target.kind == "agent" else dict(target.args)


def storable(output: Any) -> Any:
    """The output as DBOS will journal it (pickle): as is if it pickles, else its JSON form."""
    try:
        pickle.dumps(output)
        return output
    except Exception:  # noqa: BLE001 - e.g. a pydantic model class defined inside a function
        dump = getattr(output, "model_dump", None)
        if callable(dump):
            return dump(mode="json")
        raise


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


def status_now(system_database_url: str, workflow_id: str) -> str:
    """A workflow's status read from outside the app, failing at once (not waiting) when the database is
    unreachable: ``status PENDING, executor ..., application version ...`` or why it is unreadable."""
    from dbos import DBOSClient

    client = None
    try:
        client = DBOSClient(system_database_url=system_database_url, retry_connection_errors=False)
        found = client.list_workflows(workflow_ids=[workflow_id], load_input=False, load_output=False)
    except Exception as exc:  # noqa: BLE001 - the database is down: say so, do not wait
        return f"status unreadable, the system database is unreachable: {type(exc).__name__}"
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.destroy()
    if not found:
        return "no such workflow"
    status = found[0]
    return (
        f"status {status.status}, executor {status.executor_id!r}, application version {status.app_version!r}"
    )


async def engine_ids(ids: dict[str, Any]) -> dict[str, Any]:
    """Add the child workflows the run started (a ``DBOSAgent`` runs as one)."""
    from dbos import DBOS

    try:
        steps = await DBOS.list_workflow_steps_async(ids["workflow_id"], load_output=False)
    except Exception:  # noqa: BLE001 - ids are best effort
        return ids
    # A child workflow appears twice: the step that started it and the one that awaited its result.
    children = list(
        dict.fromkeys(step["child_workflow_id"] for step in steps if step.get("child_workflow_id"))
    )
    if children:
        ids["child_workflow_ids"] = children
    return ids


def workflow_failures() -> tuple[type[BaseException], ...]:
    """What a failed workflow raises: any Exception, and DBOS's BaseException errors (cancellation)."""
    from dbos import error as dbos_errors

    return (Exception, dbos_errors.DBOSBaseException)


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def error_text(error: Any) -> str | None:
    if error is None:
        return None
    return describe(error) if isinstance(error, BaseException) else str(error)


# ------------------------------------------------------------------------------------------ journal


def journal(
    system_database_url: str, workflow_id: str, *, follow_children: bool = True
) -> list[dict[str, Any]]:
    """The steps DBOS journaled for a workflow (and, depth first, its child workflows).

    Each entry: ``workflow_id``, ``function_id``, ``function_name``, ``error`` (``"Type: message"``
    or ``None``), ``child_workflow_id``, ``started_at_epoch_ms``, ``completed_at_epoch_ms``. Only a
    step's final outcome is journaled, never its attempts. Usable from any process (``DBOSClient``).
    """
    from dbos import DBOSClient

    client = DBOSClient(system_database_url=system_database_url)
    try:
        return _journal(client, workflow_id, follow_children, set())
    finally:
        client.destroy()


def _journal(client: Any, workflow_id: str, follow_children: bool, seen: set[str]) -> list[dict[str, Any]]:
    seen.add(workflow_id)
    try:
        steps = client.list_workflow_steps(workflow_id, load_output=True)
    except Exception:  # noqa: BLE001 - an error this process cannot unpickle
        steps = client.list_workflow_steps(workflow_id, load_output=False)
    entries: list[dict[str, Any]] = []
    for step in steps:
        error = step.get("error")
        child = step.get("child_workflow_id")
        entries.append(
            {
                "workflow_id": workflow_id,
                "function_id": step["function_id"],
                "function_name": step["function_name"],
                "error": error_text(error),
                "child_workflow_id": child,
                "started_at_epoch_ms": step.get("started_at_epoch_ms"),
                "completed_at_epoch_ms": step.get("completed_at_epoch_ms"),
            }
        )
        if follow_children and child and child not in seen:
            entries.extend(_journal(client, child, follow_children, seen))
    return entries


# -------------------------------------------------------------------------------------- observation


@contextmanager
def observe_journal() -> Iterator[None]:
    """Record each step result DBOS journals (``checkpoint``), each one it replays (``replay``), each
    step's identity at its position (``identity``), and each step DBOS refuses because the journal
    recorded another function at its step id (``identity`` with ``recorded``: DBOS raises
    ``DBOSUnexpectedStepError`` and the workflow fails). Broken hooks observe nothing (see hooks)."""
    from dbos import error as dbos_errors

    def make_check_txn(original: Any) -> Any:
        def check_operation_execution_txn(
            self: Any, workflow_id: str, function_id: int, function_name: str, *args: Any, **kwargs: Any
        ) -> Any:
            try:
                return original(self, workflow_id, function_id, function_name, *args, **kwargs)
            except dbos_errors.DBOSUnexpectedStepError as exc:
                identity(
                    workflow_id, function_id, function_name, recorded=str(exc.inputs[3]), error=describe(exc)
                )
                raise

        return check_operation_execution_txn

    def make_record(original: Any) -> Any:
        def record_operation_result(self: Any, result: Any, *args: Any, **kwargs: Any) -> Any:
            outcome = original(self, result, *args, **kwargs)
            step = {
                "workflow_id": result.get("workflow_uuid"),
                "function_id": result.get("function_id"),
                "function_name": result.get("function_name"),
            }
            emit(
                "checkpoint",
                **step,
                error=result.get("error") is not None,
                child_workflow_id=result.get("child_workflow_id"),
            )
            identity(step["workflow_id"], step["function_id"], step["function_name"])
            return outcome

        return record_operation_result

    def make_check(original: Any) -> Any:
        def check_operation_execution(
            self: Any, workflow_id: str, function_id: int, function_name: str, *args: Any, **kwargs: Any
        ) -> Any:
            recorded = original(self, workflow_id, function_id, function_name, *args, **kwargs)
            if recorded is not None:
                note_replay(function_name)
                emit(
                    "replay",
                    workflow_id=workflow_id,
                    function_id=function_id,
                    function_name=function_name,
                    error=recorded.get("error") is not None,
                    child_workflow_id=recorded.get("child_workflow_id"),
                )
                identity(workflow_id, function_id, function_name)
            return recorded

        return check_operation_execution

    with (
        hooks.RECORD_RESULT.patch(make_record),
        hooks.CHECK_EXECUTION.patch(make_check),
        hooks.CHECK_EXECUTION_TXN.patch(make_check_txn),
        hooks.INVOKE_STEP.patch(wrap_invoke_step),
    ):
        yield


def wrap_invoke_step(original: Any) -> Any:
    """Run each attempt of a step's function inside :func:`unit_body`, keyed by the step's position."""

    def invoke_step(dbos: Any, step_ctx: Any, func: Any, args: Any, kwargs: Any, **options: Any) -> Any:
        return original(dbos, step_ctx, step_body(func), args, kwargs, **options)

    return invoke_step


def step_body(func: Any) -> Any:
    """``func`` (sync or async, as DBOS checks) announcing each call as an attempt of its step."""

    def key() -> tuple[Any, Any]:
        from dbos import DBOS

        return (DBOS.workflow_id, DBOS.step_id)

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_body(*args: Any, **kwargs: Any) -> Any:
            with unit_body(key()):
                return await func(*args, **kwargs)

        return async_body

    @functools.wraps(func)
    def body(*args: Any, **kwargs: Any) -> Any:
        with unit_body(key()):
            return func(*args, **kwargs)

    return body


def relative_workflow(workflow: str, roots: list[str]) -> str:
    """A workflow's id relative to the run's root workflow (``""`` for the root, ``"-5"`` for the child
    it started at step 5, ...), so the golden run's and the faulted run's workflows can be paired."""
    root = max((r for r in roots if workflow.startswith(r)), key=len, default=None)
    return workflow if root is None else workflow[len(root) :]


def identity(workflow_id: Any, function_id: Any, function_name: Any, **extra: Any) -> None:
    """The identity of one journal position: the function DBOS ran (or replayed) at that step id."""
    if workflow_id is None or function_id is None:
        return
    emit(
        "identity",
        scope=relative_workflow(str(workflow_id), _roots),
        position=int(function_id),
        identity=str(function_name),
        workflow_id=str(workflow_id),
        function_id=int(function_id),
        **extra,
    )


def emit(event: str, **engine: Any) -> None:
    injection = active()
    if injection is None:
        return
    with contextlib.suppress(Exception):
        injection.emit_engine_event(event, engine={**engine, "pid": os.getpid()})
