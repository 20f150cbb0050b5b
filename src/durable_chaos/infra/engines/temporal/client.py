"""Temporal client calls the adapter makes around a run: waiting out a server outage, finding the
interrupted workflow, resetting its stickiness and failing the activities a killed worker held; and,
at the session's start, registering a per-shard namespace."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import ResetStickyTaskQueueRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from durable_chaos.infra.engines.adapter_base import Refused, describe, retry_while_refused
from durable_chaos.infra.engines.temporal.interceptors import trace
from durable_chaos.infra.engines.temporal.observe import workflow_tree

OUTAGE_STATUSES = frozenset(
    {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNKNOWN}
)
OUTAGE_POLL_SECONDS = 0.2
NAMESPACE_READY_SECONDS = 30.0
"""How long a namespace just registered may take to serve (a cluster's namespace cache refreshes every
10 s by default)."""


async def ensure_namespace(client: Client, namespace: str, retention_days: int = 1) -> bool:
    """Register ``namespace`` on the client's server unless it exists, then wait until it serves; whether
    it was registered now."""
    from google.protobuf.duration_pb2 import Duration
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, RegisterNamespaceRequest

    try:
        await client.workflow_service.register_namespace(
            RegisterNamespaceRequest(
                namespace=namespace,
                description="durable-chaos: one namespace per --chaos-shard",
                workflow_execution_retention_period=Duration(seconds=retention_days * 86400),
            )
        )
    except RPCError as exc:
        if exc.status != RPCStatusCode.ALREADY_EXISTS:
            raise
        return False
    probe = DescribeTaskQueueRequest(namespace=namespace, task_queue=TaskQueue(name="durable-chaos-probe"))
    deadline = asyncio.get_running_loop().time() + NAMESPACE_READY_SECONDS
    while True:
        try:
            await client.workflow_service.describe_task_queue(probe)
            return True
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND or asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(OUTAGE_POLL_SECONDS)


async def connect_retrying(
    connect: Callable[[], Awaitable[Client]], timeout: float
) -> tuple[Client | None, str | None]:
    """The client, connecting again every second for ``timeout`` seconds while the server refuses.
    Measured on temporalio 1.35: ``Client.connect`` to a server that is down raises ``RuntimeError:
    Failed client connect: ...`` at once, with no retry of its own. ``(None, why)`` when it gave up."""
    result = await retry_while_refused(
        connect,
        lambda exc: isinstance(exc, RuntimeError) and str(exc).startswith("Failed client connect"),
        timeout,
        on_retry=lambda: trace("the server refused the connection; connecting again"),
    )
    if not isinstance(result, Refused):
        return result, None
    return None, (
        f"ConnectFailed: the worker's Client.connect failed {result.attempts} time(s) in "
        f"{result.waited:.1f} s ({describe(result.error)[:300]}); temporal.connect_timeout is {timeout:g} s, "
        "and temporalio does not retry a failed connect: no worker of this process polls the task queue"
    )


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
