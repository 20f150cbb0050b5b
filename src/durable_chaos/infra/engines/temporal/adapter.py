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
``checkpoint`` (ActivityTaskCompleted/Failed/TimedOut, at the event's time), ``identity`` (the activity
type at each command position) and, on a resume, ``replay`` for the activities that had completed
before this worker started (it answered them from the history). ``replay_check`` replays finished
histories with temporalio's ``Replayer`` on a cold replayer in the session's process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import importlib
import inspect
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import ResetStickyTaskQueueRequest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from durable_chaos.faults.context import active
from durable_chaos.infra.engines.base import (
    EngineOptions,
    EngineUnavailable,
    ReplayUndecided,
    RestartableService,
    RestartUnavailable,
    RunOutcome,
    RunRequest,
    Target,
    TargetMismatch,
    import_object,
    refuse_other_targets,
)
from durable_chaos.infra.engines.temporal import private_apis as temporal_hooks
from durable_chaos.infra.engines.temporal.interceptors import RecoveryTuning, recovery_changes, trace
from durable_chaos.infra.engines.temporal.options import TemporalOptions
from durable_chaos.infra.engines.temporal.server import (
    ENV_ADDRESS,
    DevServer,
    engine_api_service,
    external_namespace,
)
from durable_chaos.infra.engines.temporal.workflow import TRIAL_WORKFLOW_NAME, DurableChaosTrial, set_agent
from durable_chaos.patching import Hook

ENV_WORKER_ADDRESS = "DURABLE_CHAOS_TEMPORAL_WORKER_ADDRESS"
ENV_WORKER_NAMESPACE = "DURABLE_CHAOS_TEMPORAL_WORKER_NAMESPACE"
CONNECT_TIMEOUT_SECONDS = 30.0
BUILD_ID = "durable-chaos"


# ------------------------------------------------------------------------------------------ targets


def is_workflow_class(obj: Any) -> bool:
    return inspect.isclass(obj) and hasattr(obj, "__temporal_workflow_definition")


def is_activity(obj: Any) -> bool:
    return callable(obj) and hasattr(obj, "__temporal_activity_definition")


def workflow_name(cls: type) -> str:
    return str(cls.__temporal_workflow_definition.name)  # type: ignore[attr-defined]


@dataclass
class Registrations:
    """What a trial's worker (and replayer) registers, and how the workflow is started."""

    workflows: list[type]
    activities: list[Any]
    plugins: list[Any]
    passthrough: tuple[str, ...]
    workflow: Any  # the workflow's run method (entry) or its name (agent)
    args: list[Any] = field(default_factory=list)
    agent: Any = None


def registrations(target: Target, options: TemporalOptions) -> Registrations:
    from pydantic_ai.durable_exec.temporal import AgentPlugin

    if target.kind == "agent":
        agent_module = target.import_path.partition(":")[0].split(".")[0]
        return Registrations(
            workflows=[DurableChaosTrial],
            activities=[],
            plugins=[AgentPlugin(target.obj)],
            passthrough=("durable_chaos", agent_module),
            workflow=TRIAL_WORKFLOW_NAME,
            args=[target.prompt],
            agent=target.obj,
        )
    cls = target.obj
    module = sys.modules[cls.__module__]
    workflows = [cls]
    agents = {id(agent) for agent in getattr(cls, "__pydantic_ai_agents__", None) or ()}
    for obj in vars(module).values():
        if not is_workflow_class(obj) or obj is cls or obj.__module__ != module.__name__:
            continue
        # pydantic-ai before 2.6x registers a shared agent's activities once per workflow class that
        # lists it (``__pydantic_ai_agents__``): a second class with the same agent would register them
        # twice ("More than one activity named ..."). Its child workflows are other classes.
        theirs = {id(agent) for agent in getattr(obj, "__pydantic_ai_agents__", None) or ()}
        if theirs & agents:
            continue
        agents |= theirs
        workflows.append(obj)
    activities = [obj for obj in vars(module).values() if is_activity(obj)]

    for path in options.activities:
        activities.append(import_object(path))
    run_fn = cls.__temporal_workflow_definition.run_fn
    parameters = [p for p in inspect.signature(run_fn).parameters.values()][1:]
    unknown = set(target.args) - {p.name for p in parameters}
    if unknown:
        raise TargetMismatch(
            f"{target.import_path}.run takes {', '.join(p.name for p in parameters) or 'no arguments'}; "
            f"the scenario's args name {', '.join(sorted(unknown))}"
        )
    args = [target.args[p.name] for p in parameters if p.name in target.args]
    return Registrations(
        workflows=workflows,
        activities=list(dict.fromkeys(activities)),
        plugins=[],
        passthrough=("durable_chaos",),
        workflow=run_fn,
        args=args,
    )


def sandbox(passthrough: tuple[str, ...]) -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*passthrough)
    )


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
    return f"{options.task_queue_prefix}-{trial_key(request.workdir)}"


def workflow_id(options: TemporalOptions, request: RunRequest) -> str:
    return f"{options.task_queue_prefix}-{trial_key(request.workdir)}-{request.run_id}"


def seconds(value: float | None) -> timedelta | None:
    return timedelta(seconds=value) if value else None


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def failure_text(exc: BaseException) -> str:
    """A workflow failure with its causes (Temporal wraps the activity's error twice)."""
    parts = [describe(exc)]
    cause = exc.__cause__
    while cause is not None and len(parts) < 5:
        parts.append(describe(cause))
        cause = cause.__cause__
    return " <- ".join(parts)


# ---------------------------------------------------------------------------------------- adapter


class TemporalAdapter:
    """Runs targets as Temporal workflows whose model requests and tool calls are activities."""

    name = "temporal"
    runs_in_process = False
    preload_modules: tuple[str, ...] = (
        "durable_chaos.infra.engines.temporal.adapter",
        "temporalio.client",
        "temporalio.worker",
        "pydantic_ai.durable_exec.temporal",
        "pydantic_ai.models.openai",  # the examples' provider: building the agent in a worker is then cheap
        "durable_chaos.infra.engines.temporal.warm",
    )

    def __init__(self) -> None:
        self.server: DevServer | None = None
        self.address: str | None = None
        self.namespace: str = "default"

    # session (harness process)

    def hooks(self) -> list[Hook]:
        return temporal_hooks.HOOKS

    def harness_changes(self, options: EngineOptions) -> list[str]:
        chosen = options if isinstance(options, TemporalOptions) else TemporalOptions()
        return recovery_changes(chosen)

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

    def check_target(self, target: Target) -> None:
        if target.kind == "agent":
            from durable_chaos.infra.engines.durability import agent_mismatch

            problem = agent_mismatch(self.name, target.import_path, target.obj)
            if problem:
                raise TargetMismatch(problem)
        elif not is_workflow_class(target.obj):
            raise TargetMismatch(
                f"{target.import_path} is not a Temporal workflow: an entry target on Temporal is a "
                "@workflow.defn class"
            )

    async def run(self, target: Target, request: RunRequest) -> RunOutcome:
        self.check_target(target)
        options = request.options if isinstance(request.options, TemporalOptions) else TemporalOptions()
        trace("run begins")
        reg = registrations(target, options)
        if reg.agent is not None:
            set_agent(reg.agent)
        client = await self.connect()
        queue = task_queue(options, request)
        root_id = workflow_id(options, request)
        ids: dict[str, Any] = {"workflow_id": root_id, "task_queue": queue, "namespace": self.namespace}
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
                emit("run_ids", **ids)
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

    @contextmanager
    def observing(self) -> Iterator[None]:
        # Observation comes from the workflow's history, recorded at the end of ``run``.
        yield

    async def replay_check(
        self, target: Target, outcome: RunOutcome, request: RunRequest
    ) -> list[str] | None:
        root_id = outcome.engine_ids.get("workflow_id")
        if target is None or not root_id:
            return [f"cannot replay the {outcome.role} run: no target or workflow id was recorded"]
        options = request.options if isinstance(request.options, TemporalOptions) else TemporalOptions()
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


# -------------------------------------------------------------------------------------- helpers


DEADLOCK_CODE = "TMPRL1101"
"""temporalio's deadlock detector ("Potential deadlock detected: workflow didn't yield within 2
second(s)"): it fires when the replaying thread is starved of CPU, and says nothing about determinism."""
REPLAY_ATTEMPTS = 3


def is_deadlock(failure: BaseException) -> bool:
    text = str(failure)
    return DEADLOCK_CODE in text or "Potential deadlock detected" in text


async def replay_deciding(
    node: WorkflowNode, replayers: list[Replayer], make: Callable[[bool], Replayer]
) -> BaseException | None:
    """Replay one finished workflow; a deadlock-detector failure is retried, from the second attempt on
    with the detector off (``debug_mode``; a nondeterminism error is still raised). The failure of the
    last attempt, or ``None``."""
    failure: BaseException | None = None
    for attempt in range(REPLAY_ATTEMPTS):
        if attempt == 1 and len(replayers) == 1:
            replayers.append(make(True))
        result = await replayers[min(attempt, 1)].replay_workflow(node.history, raise_on_replay_failure=False)
        failure = result.replay_failure
        if failure is None or not is_deadlock(failure):
            return failure
    return failure


_quiet_runtime: Any = None


def quiet_runtime() -> Any:
    """A temporalio runtime for the session's replayer that logs errors only: a divergence is the
    verdict's business, not a WARN line on the pytest process's stderr."""
    global _quiet_runtime
    if _quiet_runtime is None:
        from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

        level = TelemetryFilter(core_level="ERROR", other_level="ERROR")
        _quiet_runtime = Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=level)))
    return _quiet_runtime


RUN_TIMEOUT = "RunTimeout"
DIAGNOSIS_TIMEOUT_SECONDS = 5.0
"""How long a run that did not complete waits for the server to say why (it may be down: restarted)."""
OUTAGE_STATUSES = frozenset(
    {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNKNOWN}
)
OUTAGE_POLL_SECONDS = 0.2


async def result_across_outages(handle: WorkflowHandle[Any, Any]) -> Any:
    """The workflow's result, waiting out a server that is unreachable for a while (restarted): the
    client's own retries of the long poll give up after about 10 s, the workflow does not. The caller
    bounds the wait (``run_timeout``)."""
    while True:
        try:
            return await handle.result()
        except RPCError as exc:
            if exc.status not in OUTAGE_STATUSES:
                raise
            trace(f"waiting out an unreachable server: {describe(exc)}")
            await asyncio.sleep(OUTAGE_POLL_SECONDS)


async def run_id_of(handle: WorkflowHandle[Any, Any]) -> str | None:
    with contextlib.suppress(RPCError):
        return (await handle.describe()).run_id
    return None


async def exists(handle: WorkflowHandle[Any, Any]) -> bool:
    try:
        await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def running_workflows(client: Client, root_id: str) -> list[str]:
    """The interrupted workflow and its children that are still running."""
    try:
        return [w.workflow_id for w in await workflow_tree(client, root_id) if not w.closed]
    except RPCError:
        return [root_id]


async def reset_stickiness(client: Client, namespace: str, workflow_ids: list[str]) -> None:
    """Send the interrupted workflows' next workflow task to the shared task queue now, instead of after
    the dead worker's sticky queue times out."""
    for wid in workflow_ids:
        with contextlib.suppress(RPCError):
            await client.workflow_service.reset_sticky_task_queue(
                ResetStickyTaskQueueRequest(namespace=namespace, execution=WorkflowExecution(workflow_id=wid))
            )


WORKER_KILLED = "DurableChaosWorkerKilled"


async def fail_orphaned_activities(client: Client, workflow_ids: list[str]) -> list[dict[str, Any]]:
    """Fail the attempt of every activity the killed worker was running, as Temporal would once the
    activity's heartbeat or start-to-close timeout passed (one worker runs a trial at a time, so every
    started activity of the trial's workflows belongs to the dead one). The activity's retry policy then
    decides, as after a timeout: the next attempt starts after its backoff, on the new worker."""
    from temporalio.api.enums.v1 import PendingActivityState
    from temporalio.exceptions import ApplicationError

    failed: list[dict[str, Any]] = []
    for wid in workflow_ids:
        try:
            description = await client.get_workflow_handle(wid).describe()
        except RPCError:
            continue
        for pending in description.raw_description.pending_activities:
            if pending.state != PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
                continue
            handle = client.get_async_activity_handle(
                workflow_id=wid, run_id=description.run_id, activity_id=pending.activity_id
            )
            error = ApplicationError(
                f"durable-chaos: worker {pending.last_worker_identity or '?'} was SIGKILLed during this "
                "attempt",
                type=WORKER_KILLED,
            )
            with contextlib.suppress(RPCError):
                await handle.fail(error)
                failed.append(
                    {"workflow_id": wid, "activity_id": pending.activity_id, "attempt": pending.attempt}
                )
    trace(f"failed orphaned activities {failed}")
    return failed


@dataclass
class WorkflowNode:
    """One workflow of a run (the root or a child) with its history."""

    workflow_id: str
    workflow_type: str
    scope: str
    history: Any  # temporalio.client.WorkflowHistory
    closed: bool


CLOSE_EVENTS = frozenset(
    {
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    }
)


async def workflow_tree(client: Client, root_id: str) -> list[WorkflowNode]:
    """The root workflow's history and, depth first, its children's. A child's scope is the command
    position that started it in its parent (``3:child-type``), so scopes compare across runs."""
    nodes: list[WorkflowNode] = []

    async def visit(wid: str, scope: str) -> None:
        history = await client.get_workflow_handle(wid).fetch_history()
        events = list(history.events)
        wtype = events[0].workflow_execution_started_event_attributes.workflow_type.name if events else "?"
        closed = bool(events) and events[-1].event_type in CLOSE_EVENTS
        nodes.append(WorkflowNode(wid, wtype, scope, history, closed))
        for position, event in commands(events):
            if event.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
                attrs = event.start_child_workflow_execution_initiated_event_attributes
                child_scope = f"{scope}/{position}:{attrs.workflow_type.name}".lstrip("/")
                with contextlib.suppress(RPCError):
                    await visit(attrs.workflow_id, child_scope)

    await visit(root_id, "")
    return nodes


COMMAND_EVENTS = frozenset(
    {
        EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
        EventType.EVENT_TYPE_TIMER_STARTED,
    }
)


def commands(events: list[Any]) -> Iterator[tuple[int, Any]]:
    """The history events that record a command of the workflow (activity, child workflow, timer), with
    their 1-based position in the workflow's command sequence."""
    position = 0
    for event in events:
        if event.event_type in COMMAND_EVENTS:
            position += 1
            yield position, event


def event_time(event: Any) -> float:
    return float(event.event_time.ToMicroseconds()) / 1e6


def record_history(tree: list[WorkflowNode], resumed_at: float | None, identities: bool = True) -> None:
    """Record ``identity``, ``checkpoint``, (on a resume) ``replay``, and ``workflow_task`` events (for the
    timeline: when workflow code ran, ``engine.ended`` and ``engine.outcome``) from the histories. Every
    event's ``engine.label`` says what it is in a line."""
    for node in tree:
        events = list(node.history.events)
        run_id = (
            events[0].workflow_execution_started_event_attributes.original_execution_run_id if events else ""
        )
        scheduled: dict[int, dict[str, Any]] = {}
        attempts: dict[int, int] = {}
        task_started: dict[int, float] = {}
        for position, event in commands(events):
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attrs = event.activity_task_scheduled_event_attributes
                unit = {
                    "workflow_id": node.workflow_id,
                    "run_id": run_id,
                    "workflow_type": node.workflow_type,
                    "activity_id": attrs.activity_id,
                    "activity_type": attrs.activity_type.name,
                }
                scheduled[event.event_id] = unit
                identity = attrs.activity_type.name
            elif event.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
                child = event.start_child_workflow_execution_initiated_event_attributes
                identity = f"child workflow {child.workflow_type.name}"
            else:
                identity = "timer"
            if identities:
                emit("identity", t=event_time(event), scope=node.scope, position=position, identity=identity)
        for event in events:
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                attrs = event.activity_task_started_event_attributes
                attempts[attrs.scheduled_event_id] = attrs.attempt
                continue
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                task_started[event.event_id] = event_time(event)
                continue
            ended = WORKFLOW_TASK_ENDS.get(event.event_type)
            if ended is not None:
                # For the timeline: when a worker ran the workflow's code (and how that ended).
                started = task_started.get(getattr(event, ended[0]).started_event_id)
                if started is not None:
                    emit(
                        "workflow_task",
                        t=started,
                        workflow_id=node.workflow_id,
                        scope=node.scope,
                        ended=event_time(event),
                        outcome=ended[1],
                        label=f"workflow task of {node.workflow_type} ({ended[1]})",
                    )
                continue
            outcome = ACTIVITY_OUTCOMES.get(event.event_type)
            if outcome is None:
                continue
            attrs = getattr(event, outcome)
            found = scheduled.get(attrs.scheduled_event_id)
            if found is None:
                continue
            unit = found
            attempt = attempts.get(attrs.scheduled_event_id)
            error = event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
            label = f"{unit['activity_type']} #{unit['activity_id']} attempt {attempt}"
            emit("checkpoint", t=event_time(event), attempt=attempt, error=error, label=label, **unit)
            if resumed_at is not None and event_time(event) < resumed_at:
                emit("replay", t=resumed_at, attempt=attempt, error=error, label=label, **unit)


WORKFLOW_TASK_ENDS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: ("workflow_task_completed_event_attributes", "completed"),
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED: ("workflow_task_failed_event_attributes", "failed"),
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT: ("workflow_task_timed_out_event_attributes", "timed out"),
}

ACTIVITY_OUTCOMES = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity_task_completed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity_task_failed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity_task_timed_out_event_attributes",
}


NONDETERMINISM_POLL_SECONDS = 0.5


async def watch_nondeterminism(client: Client, root_id: str) -> tuple[WorkflowNode, str]:
    """Wait until a workflow of the run records a workflow task failed for nondeterminism."""
    from temporalio.api.enums.v1 import WorkflowTaskFailedCause

    cause = WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR
    while True:
        await asyncio.sleep(NONDETERMINISM_POLL_SECONDS)
        try:
            tree = await workflow_tree(client, root_id)
        except RPCError:
            continue
        for node in tree:
            for event in node.history.events:
                if event.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    continue
                attrs = event.workflow_task_failed_event_attributes
                if attrs.cause == cause:
                    return node, attrs.failure.message


def record_refusal(node: WorkflowNode, message: str) -> None:
    """An ``identity`` event with ``recorded`` for the command Temporal refused to replay: the code's
    activity type at that position, and the one the history recorded there."""
    mismatch = re.search(
        r"scheduled event '([^']+)' does not match activity type of activity command '([^']+)'", message
    )
    if mismatch is None:
        return
    recorded, identity = mismatch.groups()
    for position, event in commands(list(node.history.events)):
        if (
            event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and event.activity_task_scheduled_event_attributes.activity_type.name == recorded
        ):
            emit("identity", scope=node.scope, position=position, identity=identity, recorded=recorded)
            return


async def workflow_task_failure(client: Client, root_id: str) -> str | None:
    """The last workflow-task failure of a workflow that does not finish (e.g. a nondeterminism error)."""
    with contextlib.suppress(RPCError):
        for node in await workflow_tree(client, root_id):
            for event in reversed(list(node.history.events)):
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    failure = event.workflow_task_failed_event_attributes.failure
                    return f"{node.workflow_type} ({node.workflow_id}): {failure.message}"
    return None


def replay_message(node: WorkflowNode, failure: BaseException, reg: Registrations) -> str:
    """Name the event where replay diverged and the workflow code responsible."""
    text = str(failure)
    core = re.search(r'message: "(.*?)", source', text)
    reason = core.group(1) if core else text
    code = next(
        (
            f"{cls.__module__}.{cls.__qualname__}"
            for cls in reg.workflows
            if workflow_name(cls) == node.workflow_type
        ),
        node.workflow_type,
    )
    if reg.agent is not None and code.endswith(f".{DurableChaosTrial.__qualname__}"):
        code = f"the agent's run ({code})"
    scope = f" (child {node.scope})" if node.scope else ""
    return (
        f"workflow {node.workflow_type} {node.workflow_id}{scope}: replaying its history with the same code "
        f"diverged at {divergence_event(node, reason)}: {reason}. Responsible code: {code}"
    )


def divergence_event(node: WorkflowNode, reason: str) -> str:
    """The history event a nondeterminism message points at: by id when it names one, else the first
    scheduled activity of the type it names."""
    events = list(node.history.events)
    by_id = re.search(r"HistoryEvent\(id: (\d+)", reason) or re.search(r"event[ _]id:? (\d+)", reason)
    if by_id:
        wanted = int(by_id.group(1))
        event = next((e for e in events if e.event_id == wanted), None)
        if event is not None:
            return f"history event {wanted} ({event_name(event)})"
        return f"history event {wanted}"
    named = re.search(r"scheduled event '([^']+)'", reason)
    if named:
        for position, event in commands(events):
            if (
                event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                and event.activity_task_scheduled_event_attributes.activity_type.name == named.group(1)
            ):
                what = f"{event_name(event)} {named.group(1)}, command #{position}"
                return f"history event {event.event_id} ({what})"
    return "an event the message does not name"


def event_name(event: Any) -> str:
    name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
    return "".join(part.capitalize() for part in name.split("_"))


def emit(event: str, *, t: float | None = None, **engine: Any) -> None:
    injection = active()
    if injection is None:
        return
    fields: dict[str, Any] = {"engine": {**engine, "pid": os.getpid()}}
    if t is not None:
        fields["t"] = t
    with contextlib.suppress(Exception):
        injection.emit_engine_event(event, **fields)
