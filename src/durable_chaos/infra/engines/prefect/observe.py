"""What Prefect did: every cache key it computes, as the ``identity`` of its task's logical position
(``<task name>#<n>`` within one attempt, or *epoch*, of the trial flow), and every task attempt that
completed (``checkpoint``)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from durable_chaos import events
from durable_chaos.faults.context import active
from durable_chaos.infra.engines.adapter_base import emit
from durable_chaos.infra.engines.prefect import private_apis
from durable_chaos.infra.engines.prefect.fingerprints import fingerprint, key_components

_epoch = 0


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
    from prefect.context import FlowRunContext, TaskRunContext

    def make(original: Any) -> Any:
        def compute_transaction_key(self: Any) -> str | None:
            key = original(self)
            injection = active()
            if injection is not None and self.task_run is not None:
                flow_ctx = FlowRunContext.get()
                task_ctx = TaskRunContext.get()
                task_run_id = str(self.task_run.id)
                inputs = self.parameters or {}
                flow_parameters = (flow_ctx.parameters if flow_ctx else None) or {}
                emit(
                    events.IDENTITY,
                    with_pid=False,
                    scope="",
                    position=logical_position(self.task.name, task_run_id, injection.role),
                    identity=key,
                    task_name=self.task.name,
                    task_run_id=task_run_id,
                    task_run_count=self.task_run.run_count,
                    flow_run_id=str(flow_ctx.flow_run.id) if flow_ctx and flow_ctx.flow_run else None,
                    epoch=current_epoch(),
                    inputs=fingerprint(task_ctx, inputs),
                    components=key_components(self.task, task_ctx, inputs, flow_parameters, key),
                )
            return key

        return compute_transaction_key

    _positions.clear()  # positions are counted per run
    _position_counters.clear()
    with private_apis.TRANSACTION_KEY.patch(make):
        yield


@contextmanager
def observe_checkpoints() -> Iterator[None]:
    """Record each task attempt that completed (its result persisted) as a checkpoint."""

    from prefect.context import TaskRunContext

    def restored(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """The attempt's result came from the cache (its transaction was committed before it ran)."""
        transaction = kwargs.get("transaction", args[1] if len(args) > 1 else None)  # (result, transaction)
        try:
            return bool(transaction is not None and transaction.is_committed())
        except Exception:  # noqa: BLE001 - unknown, counted as run
            return False

    def record(engine: Any, value: Any, from_cache: bool) -> None:
        if active() is not None and engine.task_run is not None:
            emit(
                events.CHECKPOINT,
                with_pid=False,
                task_name=engine.task.name,
                task_run_id=str(engine.task_run.id),
                task_run_count=engine.task_run.run_count,
                epoch=current_epoch(),
                restored=from_cache,
                output=fingerprint(TaskRunContext.get(), {"result": value}),
            )

    def make(original: Any) -> Any:
        if inspect.iscoroutinefunction(original):

            async def handle_success_async(self: Any, *args: Any, **kwargs: Any) -> Any:
                from_cache = restored(args, kwargs)
                result = await original(self, *args, **kwargs)
                record(self, args[0] if args else kwargs.get("result"), from_cache)
                return result

            return handle_success_async

        def handle_success(self: Any, *args: Any, **kwargs: Any) -> Any:
            from_cache = restored(args, kwargs)
            result = original(self, *args, **kwargs)
            record(self, args[0] if args else kwargs.get("result"), from_cache)
            return result

        return handle_success

    with private_apis.ASYNC_SUCCESS.patch(make), private_apis.SYNC_SUCCESS.patch(make):
        yield
