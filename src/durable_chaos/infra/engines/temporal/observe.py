"""What Temporal did, read from workflow histories: the workflow tree of a run, and from it the
``identity`` (the command at each position), ``checkpoint`` (an activity's completion, failure or
timeout, at the event's time), ``replay`` (on a resume, what completed before this worker started) and
``workflow_task`` events; and the workflow-task failures that say a run cannot finish (nondeterminism)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError

from durable_chaos.events import CHECKPOINT, IDENTITY, REPLAY, WORKFLOW_TASK
from durable_chaos.infra.engines.adapter_base import emit


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
                emit(
                    IDENTITY,
                    t=event_time(event),
                    scope=node.scope,
                    position=position,
                    identity=identity,
                )
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
                        WORKFLOW_TASK,
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
            emit(CHECKPOINT, t=event_time(event), attempt=attempt, error=error, label=label, **unit)
            if resumed_at is not None and event_time(event) < resumed_at:
                emit(REPLAY, t=resumed_at, attempt=attempt, error=error, label=label, **unit)


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
            emit(IDENTITY, scope=node.scope, position=position, identity=identity, recorded=recorded)
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
