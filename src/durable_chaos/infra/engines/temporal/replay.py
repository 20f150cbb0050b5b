"""The replay check's machinery: replaying a finished history with temporalio's ``Replayer`` (its
deadlock detector retried, which CPU starvation fires), and a divergence's message naming the history
event where replay diverged and the workflow code responsible."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.worker import Replayer

from durable_chaos.infra.engines.temporal.observe import WorkflowNode, commands
from durable_chaos.infra.engines.temporal.targets import Registrations, workflow_name
from durable_chaos.infra.engines.temporal.workflow import DurableChaosTrial

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
        f"workflow {node.workflow_type} {node.workflow_id}{scope}: replaying its history with the workflow "
        f"code {code} diverged at {divergence_event(node, reason)}: {reason}"
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
    patch = re.search(r"patch marker encountered for change ([^,\s]+)", reason)
    if patch:
        for event in events:
            if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
                what = f"{event_name(event)}, the patch marker of {patch.group(1)}"
                return f"history event {event.event_id} ({what}), where the new code gave another command"
    return "an event the message does not name"


def event_name(event: Any) -> str:
    name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
    return "".join(part.capitalize() for part in name.split("_"))
