"""What DBOS did: each step result it journals (``checkpoint``), each one it replays (``replay``), each
step's identity at its position (``identity``, with ``recorded`` when DBOS refuses a step because the
journal holds another function there), recorded by hooks while a run goes on; and, read from the system
database afterwards, a workflow's journal, its status and its child workflows."""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from durable_chaos import events
from durable_chaos.faults.context import note_replay, unit_body
from durable_chaos.infra.engines.adapter_base import describe, emit
from durable_chaos.infra.engines.dbos import private_apis

run_roots: list[str] = []
"""Root workflow ids of the run in progress in this process (identity scopes are relative to them)."""


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


def still_enqueued(system_database_url: str) -> dict[str, int]:
    """How many workflows wait ``ENQUEUED`` on each queue of the system database (a trial's own), read
    from outside the app; empty when none do or it is unreadable. DBOS's internal queue (where its
    recovery re-enqueues a workflow) counts too."""
    from dbos import DBOSClient

    client = None
    try:
        client = DBOSClient(system_database_url=system_database_url, retry_connection_errors=False)
        queued = client.list_queued_workflows(status="ENQUEUED", load_input=False)
    except Exception:  # noqa: BLE001 - best effort, for the stranded message
        return {}
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.destroy()
    counts: dict[str, int] = {}
    for workflow in queued:
        counts[str(workflow.queue_name)] = counts.get(str(workflow.queue_name), 0) + 1
    return counts


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
    ``DBOSUnexpectedStepError`` and the workflow fails). Broken hooks observe nothing (see
    :mod:`.private_apis`)."""
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
                events.CHECKPOINT,
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
                    events.REPLAY,
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
        private_apis.RECORD_RESULT.patch(make_record),
        private_apis.CHECK_EXECUTION.patch(make_check),
        private_apis.CHECK_EXECUTION_TXN.patch(make_check_txn),
        private_apis.INVOKE_STEP.patch(wrap_invoke_step),
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
        events.IDENTITY,
        scope=relative_workflow(str(workflow_id), run_roots),
        position=int(function_id),
        identity=str(function_name),
        workflow_id=str(workflow_id),
        function_id=int(function_id),
        **extra,
    )
