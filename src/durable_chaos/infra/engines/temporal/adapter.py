"""Temporal adapter.

Infrastructure: the session starts the ``temporal`` CLI's dev server (:mod:`.server`) or connects to
``TEMPORAL_ADDRESS``; ``worker_environment`` hands the address and namespace to worker processes.

Every run happens in a worker process (``runs_in_process = False``), which is both the Temporal worker
and the client: ``run`` starts a Temporal ``Worker`` on the trial's task queue, starts the workflow
(or, on ``resume``, finds the interrupted one by its id) and awaits its result. A kill fault SIGKILLs
the process inside an activity; the resume worker starts a new Temporal worker on the same task queue,
resets the workflow's sticky queue so its next workflow task is not held for the dead worker, and waits
for the same workflow id. Temporal itself retries the killed activity once its heartbeat timeout
passes; completed activities replay from the history.

Targets:

* agents with the ``TemporalDurability`` capability or the deprecated ``TemporalAgent`` wrapper run in
  the harness workflow ``durable_chaos_trial`` (:mod:`.workflow`); their activities are registered
  with pydantic-ai's ``AgentPlugin``, the client uses ``PydanticAIPlugin`` (payload converter, sandbox
  pass-through), as users configure them;
* ``entry:`` targets are ``@workflow.defn`` classes: the worker registers every workflow class and
  ``@activity.defn`` function of their module (plus ``TemporalOptions.activities``), and pydantic-ai's
  plugin registers the agents listed in ``__pydantic_ai_agents__``.

Workflows run in Temporal's sandbox, with ``durable_chaos`` (and an agent target's module) passed
through. The harness changes only what :mod:`.interceptors` and the worker settings below say.

Observation: after the workflow finished, ``run`` fetches its history (and its children's) and records
what the engine did from it (:mod:`.observe`). ``replay_check`` replays finished histories with
temporalio's ``Replayer`` on a cold replayer in the session's process (:mod:`.replay`).

The package, by concern: :mod:`.spec`, :mod:`.options`, :mod:`.rules`, :mod:`.private_apis` (every private
API of temporalio used, checked at start), :mod:`.server` (the dev server), :mod:`.adapter` (this module:
running and resuming), :mod:`.targets` (what a worker registers for a target), :mod:`.workflow` (the
harness workflow around an agent), :mod:`.interceptors` (what the harness changes), :mod:`.client`
(client calls: outages, stickiness, orphaned activities), :mod:`.observe` (histories into events),
:mod:`.replay` (the replay check's diagnosis), :mod:`.warm` (what a warm worker prepares).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import importlib
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError
from temporalio.worker import Replayer, Worker

from durable_chaos import events
from durable_chaos.infra.engines.adapter_base import BaseAdapter, chosen_options, describe, emit
from durable_chaos.infra.engines.base import (
    EngineOptions,
    EngineUnavailable,
    ReplayUndecided,
    RestartableService,
    RestartUnavailable,
    RunOutcome,
    RunRequest,
    Target,
    refuse_other_targets,
)
from durable_chaos.infra.engines.temporal import private_apis
from durable_chaos.infra.engines.temporal.client import (
    connect_retrying,
    ensure_namespace,
    exists,
    fail_orphaned_activities,
    reset_stickiness,
    result_across_outages,
    run_id_of,
    running_workflows,
)
from durable_chaos.infra.engines.temporal.interceptors import RecoveryTuning, recovery_changes, trace
from durable_chaos.infra.engines.temporal.observe import (
    record_history,
    record_refusal,
    watch_nondeterminism,
    workflow_task_failure,
    workflow_tree,
)
from durable_chaos.infra.engines.temporal.options import TemporalOptions
from durable_chaos.infra.engines.temporal.replay import (
    REPLAY_ATTEMPTS,
    is_deadlock,
    quiet_runtime,
    replay_deciding,
    replay_message,
)
from durable_chaos.infra.engines.temporal.server import (
    ENV_ADDRESS,
    DevServer,
    creates_namespace,
    engine_api_service,
    external_namespace,
)
from durable_chaos.infra.engines.temporal.targets import is_workflow_class, registrations, sandbox
from durable_chaos.infra.engines.temporal.workflow import set_agent
from durable_chaos.patching import Hook

ENV_WORKER_ADDRESS = "DURABLE_CHAOS_TEMPORAL_WORKER_ADDRESS"
ENV_WORKER_NAMESPACE = "DURABLE_CHAOS_TEMPORAL_WORKER_NAMESPACE"
CONNECT_TIMEOUT_SECONDS = 30.0
BUILD_ID = "durable-chaos"


# -------------------------------------------------------------------------------------------- ids


def trial_key(workdir: Path) -> str:
    """Unique per trial directory (so per trial and per session): keeps trials apart on a shared server."""
    return hashlib.sha1(str(workdir.resolve()).encode()).hexdigest()[:10]


def tuning(options: TemporalOptions) -> RecoveryTuning:
    """The trial worker's interceptor: only what :func:`recovery_changes` lists for these options."""
    return RecoveryTuning(
        options.activity_heartbeat_timeout, options.workflow_task_timeout, options.harness_heartbeats
    )


def task_queue(options: TemporalOptions, request: RunRequest) -> str:
    """The trial's task queue; a warm resume's warm-up polls one of its own, so its worker cannot pick up
    the faulted workflow's pending tasks before the warm-up completed (the resume's worker does)."""
    queue = f"{options.task_queue_prefix}-{trial_key(request.workdir)}"
    return f"{queue}-warm-up" if request.warm_up else queue


def workflow_id(options: TemporalOptions, request: RunRequest) -> str:
    return f"{options.task_queue_prefix}-{trial_key(request.workdir)}-{request.run_id}"


def seconds(value: float | None) -> timedelta | None:
    return timedelta(seconds=value) if value else None


def failure_text(exc: BaseException) -> str:
    """A workflow failure with its causes (Temporal wraps the activity's error twice)."""
    parts = [describe(exc)]
    cause = exc.__cause__
    while cause is not None and len(parts) < 5:
        parts.append(describe(cause))
        cause = cause.__cause__
    return " <- ".join(parts)


# ---------------------------------------------------------------------------------------- adapter


class TemporalAdapter(BaseAdapter):
    """Runs targets as Temporal workflows whose model requests and tool calls are activities."""

    name = "temporal"
    runs_in_process = False
    replays_histories = True
    preload_modules: tuple[str, ...] = (
        "durable_chaos.infra.engines.temporal.adapter",
        "temporalio.client",
        "temporalio.worker",
        "pydantic_ai.durable_exec.temporal",
        "pydantic_ai.models.openai",  # the examples' provider: building the agent in a worker is then cheap
        "durable_chaos.infra.engines.temporal.warm",
        "durable_chaos.infra.engines.warmup",  # process caches (platform, usage serializers)
    )

    def __init__(self) -> None:
        self.server: DevServer | None = None
        self.address: str | None = None
        self.namespace: str = "default"

    # session (harness process)

    def hooks(self) -> list[Hook]:
        return private_apis.HOOKS

    def harness_changes(self, options: EngineOptions) -> list[str]:
        chosen = chosen_options(options, TemporalOptions)
        relaunch = (
            [
                "a worker whose Client.connect is refused connects again every second for "
                f"temporal.connect_timeout ({chosen.connect_timeout:g} s; a supervisor restarting the worker)"
            ]
            if chosen.connect_timeout > 0
            else []
        )
        return [*recovery_changes(chosen), *relaunch]

    def start(self, workdir: Path) -> None:
        external = os.environ.get(ENV_ADDRESS)
        if external:
            self.address, self.namespace = external, external_namespace()
        else:
            self.server = DevServer(workdir)
            self.address = self.server.start()
            self.namespace = self.server.namespace
        try:
            # start() may be called from a running event loop (the runner's): check on a thread of its own.
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                pool.submit(asyncio.run, self._check_connection()).result()
        except EngineUnavailable:
            self.stop()
            raise

    async def _check_connection(self) -> None:
        try:
            client = await asyncio.wait_for(self.connect(), CONNECT_TIMEOUT_SECONDS)
            if self.server is None and creates_namespace():
                await ensure_namespace(client, self.namespace)
            from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=self.namespace)
            )
        except Exception as exc:  # noqa: BLE001 - any failure is the same to the user
            where = (
                f"{ENV_ADDRESS}={self.address}"
                if self.server is None
                else f"the dev server at {self.address}"
            )
            raise EngineUnavailable(
                f"cannot use Temporal namespace {self.namespace!r} on {where}: {describe(exc)}"
            ) from exc

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def worker_environment(self, trial_dir: Path) -> dict[str, str]:
        assert self.address is not None, "TemporalAdapter.start() was not called"
        return {ENV_WORKER_ADDRESS: self.address, ENV_WORKER_NAMESPACE: self.namespace}

    def restart_service(self, target: str, trial_dir: Path) -> RestartableService:
        """``engine_api``: the dev server the harness started for the session (not a server given with
        ``TEMPORAL_ADDRESS``, which is not the harness's to restart)."""
        refuse_other_targets("temporal", target, "engine_api")
        if self.server is None:
            raise RestartUnavailable(
                f"{ENV_ADDRESS}={self.address} points at a Temporal server the harness did not start, which "
                f"is not its to restart; unset {ENV_ADDRESS} to let the harness start (and restart) its own "
                "dev server"
            )
        return engine_api_service(self.server)

    def stranded(self, trial_dir: Path, outcome: RunOutcome) -> str | None:
        """The workflow of a run that did not complete, if the server still holds it running (nothing
        polls its task queue any more), or how it ended after the run gave up on it."""
        root_id = outcome.engine_ids.get("workflow_id")
        if not root_id or self.address is None:
            return None
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            status = pool.submit(asyncio.run, self._status(str(root_id))).result()
        queue = outcome.engine_ids.get("task_queue") or "its task queue"
        if status == "RUNNING":
            return (
                f"workflow {root_id} is still RUNNING after the run ended: stranded until a worker polls "
                f"task queue {queue} again"
            )
        if status == "COMPLETED":
            return f"workflow {root_id} finished after the run gave up on it (status COMPLETED)"
        if status.startswith("unreadable"):
            return f"workflow {root_id}: after the run, its status is {status}"
        return None

    async def _status(self, root_id: str) -> str:
        """The workflow's status name (``RUNNING``, ``COMPLETED``, ...), or ``unreadable (<why>)``."""
        try:
            client = await asyncio.wait_for(
                Client.connect(str(self.address), namespace=self.namespace), CONNECT_TIMEOUT_SECONDS
            )
            description = await client.get_workflow_handle(root_id).describe()
        except Exception as exc:  # noqa: BLE001 - any failure is the same to the verdict
            return f"unreadable ({describe(exc)})"
        return description.status.name if description.status is not None else "unreadable (no status)"

    def network_targets(self, trial_dir: Path) -> dict[str, tuple[str, int]]:
        """``engine_api``: the frontend the workers talk gRPC to (plain TCP to a proxy)."""
        assert self.address is not None, "TemporalAdapter.start() was not called"
        host, _, port = self.address.rpartition(":")
        return {"engine_api": (host or "127.0.0.1", int(port))}

    def proxied_environment(self, env: dict[str, str], routes: dict[str, tuple[str, int]]) -> dict[str, str]:
        if "engine_api" not in routes:
            return dict(env)
        host, port = routes["engine_api"]
        return {**env, ENV_WORKER_ADDRESS: f"{host}:{port}"}

    # worker process

    def attach(self) -> None:
        address = os.environ.get(ENV_WORKER_ADDRESS)
        if not address:
            raise EngineUnavailable(
                f"{ENV_WORKER_ADDRESS} is not set in this worker; the harness exports it from "
                "TemporalAdapter.worker_environment(trial_dir)."
            )
        self.address = address
        self.namespace = os.environ.get(ENV_WORKER_NAMESPACE, "default")

    async def connect(self) -> Client:
        from pydantic_ai.durable_exec.temporal import PydanticAIPlugin

        assert self.address is not None
        return await Client.connect(self.address, namespace=self.namespace, plugins=[PydanticAIPlugin()])

    def entry_mismatch(self, target: Target) -> str | None:
        if is_workflow_class(target.obj):
            return None
        return (
            f"{target.import_path} is not a Temporal workflow: an entry target on Temporal is a "
            "@workflow.defn class"
        )

    async def run(self, target: Target, request: RunRequest) -> RunOutcome:
        self.check_target(target)
        options = chosen_options(request.options, TemporalOptions)
        trace("run begins")
        reg = registrations(target, options)
        if reg.agent is not None:
            set_agent(reg.agent)
        queue = task_queue(options, request)
        root_id = workflow_id(options, request)
        ids: dict[str, Any] = {"workflow_id": root_id, "task_queue": queue, "namespace": self.namespace}
        client, failed = await connect_retrying(self.connect, options.connect_timeout)
        if client is None:  # the workflow stays as the server holds it (``stranded`` says how)
            return RunOutcome(request.role, False, error=failed, engine_ids=ids)
        started_at = time.time()
        worker = Worker(
            client,
            task_queue=queue,
            workflows=reg.workflows,
            activities=reg.activities,
            plugins=reg.plugins,
            interceptors=[tuning(options)],
            workflow_runner=sandbox(reg.passthrough),
            sticky_queue_schedule_to_start_timeout=timedelta(seconds=options.sticky_queue_timeout),
            max_heartbeat_throttle_interval=timedelta(seconds=1),
            default_heartbeat_throttle_interval=timedelta(seconds=1),
            # Without a build id, temporalio hashes the code of every loaded module (0.8 s here).
            build_id=BUILD_ID,
        )
        trace("worker built")
        async with worker:
            handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(root_id)
            fresh = request.resume and request.resume_mode == "new_run"
            existing = request.resume and await exists(handle)
            if fresh and existing:
                await handle.terminate("durable-chaos: resume_mode new_run abandons the interrupted run")
                ids["abandoned_workflow_id"] = root_id
                root_id = f"{root_id}-fresh-{os.getpid()}"
                ids["workflow_id"] = root_id
                existing = False
            if existing:
                ids["recovered"] = True
                running = await running_workflows(client, root_id)
                if options.reset_sticky_on_resume:
                    await reset_stickiness(client, self.namespace, running)
                if options.fail_orphaned_activities:
                    ids["failed_orphaned_activities"] = await fail_orphaned_activities(client, running)
            else:
                emit(events.RUN_IDS, **ids)
                handle = await client.start_workflow(
                    reg.workflow,
                    args=reg.args,
                    id=root_id,
                    task_queue=queue,
                    task_timeout=seconds(options.workflow_task_timeout),
                )
            ids["run_id"] = handle.result_run_id or handle.first_execution_run_id or await run_id_of(handle)
            trace("workflow started or found")
            outcome = await self._await_result(client, handle, root_id, request, options)
        trace("workflow finished")
        if outcome.error is not None and outcome.error.startswith(RUN_TIMEOUT):
            with contextlib.suppress(TimeoutError):
                stuck = await asyncio.wait_for(
                    workflow_task_failure(client, root_id), DIAGNOSIS_TIMEOUT_SECONDS
                )
                if stuck:
                    outcome.error += f"; its workflow task keeps failing: {stuck}"
        try:
            tree = await asyncio.wait_for(
                workflow_tree(client, root_id), None if outcome.completed else DIAGNOSIS_TIMEOUT_SECONDS
            )
        except (RPCError, TimeoutError) as exc:
            outcome.engine_ids = {**ids, "history_error": describe(exc)}
            return outcome
        ids["child_workflow_ids"] = [w.workflow_id for w in tree[1:]]
        abandoned = ids.get("abandoned_workflow_id")
        if abandoned:
            # What the interrupted workflow had checkpointed before it was abandoned: a fresh run that
            # pays for it again is the point of resume_mode new_run.
            with contextlib.suppress(RPCError):
                record_history(await workflow_tree(client, abandoned), resumed_at=None, identities=False)
        record_history(tree, resumed_at=started_at if request.resume else None)
        outcome.engine_ids = ids
        return outcome

    async def _await_result(
        self,
        client: Client,
        handle: WorkflowHandle[Any, Any],
        root_id: str,
        request: RunRequest,
        options: TemporalOptions,
    ) -> RunOutcome:
        """The workflow's result; on a resume, stop early when replaying its history fails with a
        nondeterminism error (Temporal would retry that workflow task until the code changes)."""
        result = asyncio.ensure_future(result_across_outages(handle))
        watch = asyncio.ensure_future(watch_nondeterminism(client, root_id)) if request.resume else None
        waiting = {result} if watch is None else {result, watch}
        try:
            await asyncio.wait(waiting, timeout=options.run_timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waiting:
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
        if result.done() and not result.cancelled():
            try:
                return RunOutcome(request.role, True, output=result.result())
            except WorkflowFailureError as exc:
                return RunOutcome(request.role, False, error=failure_text(exc))
            except RPCError as exc:
                return RunOutcome(
                    request.role,
                    False,
                    error=f"the Temporal server failed the wait for the result: {describe(exc)}",
                )
        if watch is not None and watch.done() and not watch.cancelled():
            node, message = watch.result()
            record_refusal(node, message)
            if request.version == "N+1":
                return RunOutcome(request.role, False, error=upgrade_nondeterminism(node, message))
            return RunOutcome(
                request.role,
                False,
                error=(
                    f"Nondeterminism: a new worker could not replay workflow {node.workflow_type} "
                    f"{node.workflow_id} with the same code ({message}); Temporal retries its workflow "
                    "task until the code is fixed"
                ),
            )
        # Why it did not finish is asked once this worker has stopped (``run``): a worker that gave up on
        # the run must not go on running it while the question waits for a server that is down.
        return RunOutcome(
            request.role,
            False,
            error=f"{RUN_TIMEOUT}: workflow {root_id} did not finish within {options.run_timeout:.0f}s",
        )

    def unit_context(self) -> dict[str, Any]:
        try:
            if not activity.in_activity():
                return {}
            info = activity.info()
            policy = getattr(info, "retry_policy", None)
            maximum = policy.maximum_attempts if policy is not None else None
            return {
                "workflow_id": info.workflow_id,
                "run_id": info.workflow_run_id,
                "activity_id": info.activity_id,
                "activity_type": info.activity_type,
                "attempt": info.attempt,
                # 0 means unlimited in a RetryPolicy; no policy at all is Temporal's default (unlimited).
                "max_attempts": maximum or None,
                "pid": os.getpid(),
            }
        except Exception:  # noqa: BLE001 - observation must never break the run
            return {}

    # ``observing``: the default (nothing to install): observation comes from the workflow's history,
    # recorded at the end of ``run``.

    async def replay_check(
        self, target: Target, outcome: RunOutcome, request: RunRequest
    ) -> list[str] | None:
        root_id = outcome.engine_ids.get("workflow_id")
        if target is None or not root_id:
            return [f"cannot replay the {outcome.role} run: no target or workflow id was recorded"]
        options = chosen_options(request.options, TemporalOptions)
        reg = registrations(target, options)
        if reg.agent is not None:
            set_agent(reg.agent)
        client = await self.connect()
        tree = await workflow_tree(client, root_id)
        from pydantic_ai.durable_exec.temporal import PydanticAIPlugin

        # The modules a worker imports before its sandbox runs workflow code, imported here too: a model
        # a capability infers lazily ("openai-chat:...") is otherwise first imported inside the replay
        # sandbox, where the provider SDK's lazy modules fail to import, which is no divergence.
        for module in self.preload_modules:
            importlib.import_module(module)

        def replayer(debug_mode: bool = False) -> Replayer:
            return Replayer(
                runtime=quiet_runtime(),
                workflows=reg.workflows,
                plugins=[PydanticAIPlugin(), *reg.plugins],
                interceptors=[tuning(options)],
                workflow_runner=sandbox(reg.passthrough),
                namespace=self.namespace,
                debug_mode=debug_mode,
            )

        replayers = [replayer()]
        problems: list[str] = []
        undecided: list[str] = []
        for node in tree:
            if not node.closed:
                continue
            failure = await replay_deciding(node, replayers, replayer)
            if failure is None:
                continue
            if is_deadlock(failure):
                undecided.append(f"workflow {node.workflow_id}: {str(failure)[:300]}")
            else:
                problems.append(replay_message(node, failure, reg))
        if undecided and not problems:
            raise ReplayUndecided(
                f"temporalio's Replayer reported a potential deadlock (its detector: the workflow did not "
                f"yield within 2 s, which CPU starvation causes) {REPLAY_ATTEMPTS} times, also with the "
                f"detector off; {undecided[0]}"
            )
        return problems


def upgrade_nondeterminism(node: Any, message: str) -> str:
    """Why version N+1's worker cannot go on with a workflow version N started (docs/upgrades.md)."""
    return (
        f"Nondeterminism: version N+1's worker could not replay workflow {node.workflow_type} "
        f"{node.workflow_id}, which version N started ({message}); the workflow stays RUNNING and "
        "Temporal retries its workflow task forever. The upgrade changed the workflow's command sequence: "
        "guard the change with workflow.patched(), or keep runs N started on N's workers (Worker "
        "Versioning)"
    )


RUN_TIMEOUT = "RunTimeout"
DIAGNOSIS_TIMEOUT_SECONDS = 5.0
"""How long a run that did not complete waits for the server to say why (it may be down: restarted)."""
