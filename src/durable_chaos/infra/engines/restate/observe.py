"""What Restate did, as the handler sees its journal: hooks in the SDK's VM wrapper record an
``identity`` event for every ``ctx.run`` entry the handler reaches (numbered by its position among the
invocation's ``ctx.run`` entries), a ``replay`` when Restate answers it from the journal, a
``checkpoint`` when the server acknowledged its result, and an ``identity`` with ``recorded`` when
Restate refuses the entry (a journal mismatch). Each attempt of an entry's action runs inside
:func:`~durable_chaos.faults.context.unit_body`, under the unit listener captured where ``ctx.run`` was
called."""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import re
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from durable_chaos import events
from durable_chaos.faults.context import (
    UnitListener,
    current_unit_listener,
    listening_for_units,
    note_replay,
    unit_body,
)
from durable_chaos.infra.engines.adapter_base import emit
from durable_chaos.infra.engines.restate import private_apis


@dataclass
class Entry:
    position: int
    name: str
    replayed: bool
    checkpointed: bool = False
    listener: UnitListener | None = None
    """Who hears of the entry's action (:func:`~durable_chaos.faults.context.unit_body`), captured
    where ``ctx.run`` was called: the SDK runs the action later, in another task or thread."""


@dataclass
class InvocationState:
    """What the adapter knows about one attempt of one invocation (one ``VMWrapper``)."""

    invocation_id: str | None
    scope: str
    count: int = 0
    runs: dict[int, Entry] = field(default_factory=dict)


_root_target: tuple[str, str] | None = None
"""The service and handler of the run's own invocation (scope ""); other invocations are scoped by name."""
_states: weakref.WeakKeyDictionary[Any, InvocationState] = weakref.WeakKeyDictionary()
_executions: dict[tuple[str | None, int], int] = {}
_unit: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "durable_chaos_restate_unit", default=None
)


def set_root_target(target: tuple[str, str]) -> None:
    """Name the service and handler of the run's own invocation (its entries have scope "")."""
    global _root_target
    _root_target = target


def current_unit() -> dict[str, Any] | None:
    """The ``ctx.run`` entry whose action runs now, if any."""
    return _unit.get()


def state_of(vm: Any) -> InvocationState:
    state = _states.get(vm)
    if state is None:
        invocation_id, scope = None, ""
        with contextlib.suppress(Exception):
            from restate.server_context import current_context

            ctx: Any = current_context()
            if ctx is not None:
                invocation_id = ctx.request().id
                target = (ctx.handler.service_tag.name, ctx.handler.name)
                if _root_target is not None and target != _root_target:
                    scope = "/".join(target)
        state = InvocationState(invocation_id, scope)
        _states[vm] = state
    return state


def engine_fields(state: InvocationState, entry: Entry) -> dict[str, Any]:
    return {
        "scope": state.scope,
        "invocation_id": state.invocation_id,
        "position": entry.position,
        "entry_name": entry.name,
    }


MISMATCH = re.compile(r"mismatch", re.IGNORECASE)


def recorded_name(message: str) -> str:
    """What the journal holds at a refused position, from the SDK's journal-mismatch message
    ("Difference: name: <recorded> != <now>"), else the message's first line."""
    match = re.search(r"name:\s*(?P<recorded>.+?)\s*!=\s*(?P<now>.+)", message)
    if match:
        return match.group("recorded").strip()
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[0][:200] if lines else "(another entry)"


@contextmanager
def observe_journal() -> Iterator[None]:
    """Install the journal observation hooks (each only when it checks out) for the block."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(private_apis.SYS_RUN.patch(wrap_sys_run))
        stack.enter_context(private_apis.TAKE_NOTIFICATION.patch(wrap_take_notification))
        stack.enter_context(private_apis.CREATE_RUN_COROUTINE.patch(wrap_create_run_coroutine))
        yield


def wrap_sys_run(original: Any) -> Any:
    def sys_run(self: Any, name: str) -> Any:
        state = state_of(self)
        position = state.count + 1
        state.count = position
        try:
            run = original(self, name)
        except Exception as exc:
            message = str(exc)
            if MISMATCH.search(message):
                entry = Entry(position, name, replayed=False)
                recorded = recorded_name(message)
                emit(
                    events.IDENTITY,
                    **engine_fields(state, entry),
                    identity=name,
                    recorded=recorded,
                    error=message[:1000],
                )
            raise
        entry = Entry(position, name, bool(run.replayed), listener=current_unit_listener())
        state.runs[run.handle] = entry
        emit(events.IDENTITY, **engine_fields(state, entry), identity=name)
        if entry.replayed:
            note_replay(name)
            emit(events.REPLAY, **engine_fields(state, entry))
        return run

    return sys_run


def wrap_take_notification(original: Any) -> Any:
    from restate.vm import Failure, NotReady, Suspended

    def take_notification(self: Any, handle: int) -> Any:
        result = original(self, handle)
        state = _states.get(self)
        entry = state.runs.get(handle) if state is not None else None
        if (
            entry is not None
            and not entry.replayed
            and not entry.checkpointed
            and not isinstance(result, (NotReady, Suspended, Exception))
        ):
            entry.checkpointed = True
            assert state is not None
            emit(events.CHECKPOINT, **engine_fields(state, entry), error=isinstance(result, Failure))
        return result

    return take_notification


def wrap_create_run_coroutine(original: Any) -> Any:
    async def create_run_coroutine(self: Any, handle: int, action: Any, serde: Any, max_attempts: Any = None,
                                   *args: Any, **kwargs: Any) -> Any:  # fmt: skip
        state = _states.get(self.vm)
        entry = state.runs.get(handle) if state is not None else None
        token = None
        if state is not None and entry is not None:
            counter = (state.invocation_id, entry.position)
            _executions[counter] = _executions.get(counter, 0) + 1
            unit: dict[str, Any] = {**engine_fields(state, entry), "run_attempt": _executions[counter]}
            if max_attempts is not None:
                unit["max_attempts"] = int(max_attempts)
            token = _unit.set(unit)
            action = unit_action(action, (state.invocation_id, entry.position), entry.listener)
        try:
            return await original(self, handle, action, serde, max_attempts, *args, **kwargs)
        finally:
            if token is not None:
                _unit.reset(token)

    return create_run_coroutine


def unit_action(action: Any, key: tuple[str | None, int], listener: UnitListener | None) -> Any:
    """``action`` (async, or sync for the SDK's executor) running each attempt inside
    :func:`~durable_chaos.faults.context.unit_body`, keyed by (invocation id, journal position), under
    the listener of the code that called ``ctx.run`` (not of whichever task happens to run it)."""
    if inspect.iscoroutinefunction(action):

        async def async_action() -> Any:
            with listening_for_units(listener), unit_body(key):
                return await action()

        return async_action

    def sync_action() -> Any:
        with listening_for_units(listener), unit_body(key):
            return action()

    return sync_action
