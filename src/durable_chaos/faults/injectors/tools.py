"""Tool faults beneath the durable unit that runs the tool's body.

Where the engine wraps the tool call itself (a Prefect task, a Temporal activity, a Restate
``ctx.run`` with ``auto_wrap_tools``), ``FunctionToolset.call_tool`` runs inside the unit, so an
exception raised here is seen by the engine's own retry machinery (unlike agent hooks or a
``WrapperToolset``, which run in the workflow outside the unit).

Where the tool is called in workflow code (a function tool under DBOS, which its body may journal in a
``@DBOS.step``; a function tool of ``RestateAgent(agent)``, whose body may run its work in ``ctx.run``),
a fault that fails the tool waits for the durable unit the body opens (the adapter reports it through
:func:`~durable_chaos.faults.context.unit_body`) and fires inside it. Each time the engine retries that
unit is an attempt of the tool call, whether the engine retries it in place (a DBOS step's retries) or
by running the caller again up to it (Restate retries a failed ``ctx.run`` by retrying the invocation,
which replays its journal and calls the tool again: that call is the unit's next attempt, see
:attr:`~durable_chaos.faults.context.Injection.interrupted_tools`). A tool whose body opens no unit is
not a durable unit at all: the fault is raised where the tool is called, after its body ran, and is
noted ``outside_unit`` so that the verdict says so.

A ``kill`` with ``phase: after`` on such a tool fires inside the unit too, once the unit's body returned
and before the engine journals its result: the effect happened, the result is not yet saved (the
at-least-once window), as on engines whose unit is the tool call itself. Fired where the tool is called,
it would come after the journal write, and recovery would replay the unit instead of running it again.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic_ai.toolsets.function import FunctionToolset
from pydantic_core import to_jsonable_python

from durable_chaos import events
from durable_chaos.faults.context import (
    Attempt,
    Injection,
    active,
    apply_common,
    kill_worker,
    listening_for_units,
    replay_watch,
)
from durable_chaos.faults.model import FAULT_CLASSES, Fault, ToolErrorFault, exception_class
from durable_chaos.faults.units import fingerprint


def exception_for(fault: ToolErrorFault) -> BaseException:
    """Instantiate the exception a ``tool_error`` fault names (``module.Class`` or ``module:Class``).

    The class was checked when the scenario was loaded (:func:`exception_class`); if it no longer
    imports or builds, that raises ValueError here rather than substituting another exception.
    """
    return exception_class(fault.exception)(fault.message)


FAILS_THE_TOOL: dict[type[Fault], Callable[[Any], BaseException]] = {ToolErrorFault: exception_for}
"""Fault kinds that fail the tool, with the exception each raises out of the tool's body."""


async def _apply(fault: Fault) -> None:
    if await apply_common(fault):
        return
    fail = FAILS_THE_TOOL.get(type(fault))
    if fail is not None:
        raise fail(fault)


KILL_CLASSES = frozenset(cls for cls in FAULT_CLASSES if cls.traits.kills_worker)


def tool_fingerprint(name: str, args: dict[str, Any], call_id: str | None) -> str:
    return fingerprint("tool", name, args, call_id)


def fails_the_tool(fault: Fault) -> bool:
    """Faults that fail the tool (``tool_error``). When the tool is called outside any durable unit
    (in workflow code, e.g. a plain function tool under DBOS), they wait for the durable unit its body
    opens and fire inside it; a tool whose body opens none gets them where it is called, noted
    ``outside_unit`` (the ``completes`` verdict then says the tool is not a durable unit)."""
    return type(fault) in FAILS_THE_TOOL


def _other(fault: Fault) -> bool:
    return not fails_the_tool(fault)


def strikes_in_unit_after(fault: Fault) -> bool:
    """Faults that strike ``after`` a tool inside the durable unit its body opened, once the unit's
    body returned and before the engine journals its result (the at-least-once window): the tool's
    failing faults, and kills. Fired where the tool is called instead, a kill would come after the
    engine journaled the unit's result, and recovery would replay it."""
    return fails_the_tool(fault) or type(fault) in KILL_CLASSES


def _other_after(fault: Fault, scope: ToolScope | None) -> bool:
    """Faults that strike ``after`` a tool where it is called: those the unit its body opened did not
    take (a tool whose body opens no unit gets them all there)."""
    if scope is not None and scope.unit is not None:
        return not strikes_in_unit_after(fault)
    return _other(fault)


@dataclass
class ToolScope:
    """A tool call made outside any durable unit, waiting for the durable unit its body opens.

    The first unit opened (its key from :func:`unit_body`) is the tool's: each time the engine runs it
    (its retries) is an attempt of the tool call, recorded as such, and the tool's failing faults strike
    there. Other units the body opens are left alone.
    """

    injection: Injection
    attempt: Attempt
    name: str
    fingerprint: str
    call_id: str | None
    args: Any
    unit: Hashable | None = None
    ran: bool = False
    """The current attempt got past its ``before`` boundary (the unit's body ran). The first attempt's
    ``execute`` is recorded where the tool is called; a later attempt records one only when the attempt
    before it ran the body (else the earlier ``execute`` stands for this attempt's effect)."""
    failed: bool = False
    """The current attempt already recorded its failure."""
    closed: bool = False
    """The tool call returned or raised: a unit opened later (an action left running) is not its."""

    @contextmanager
    def body(self, key: Hashable) -> Iterator[None]:
        if self.closed or (self.unit is not None and key != self.unit):
            yield
            return
        if self.unit is None:
            self.unit = key
        else:
            self.attempt = self.injection.begin(
                "tool_call", self.name, self.fingerprint, call_id=self.call_id
            )
            self.failed = False
            if self.ran:  # the earlier attempt's body ran: this one runs it again
                self.attempt.finish(events.EXECUTE, call_id=self.call_id, args=self.args)
            self.ran = False
        self.raise_if(self.attempt.strike("before", where=fails_the_tool))
        self.ran = True
        try:
            yield
        except BaseException as exc:
            self.fail(exc, in_unit=True)
            raise
        self.raise_if(self.attempt.strike("after", where=strikes_in_unit_after))

    def raise_if(self, fault: Fault | None) -> None:
        if fault is None:
            return
        if type(fault) in KILL_CLASSES:  # the body's effect happened; its result is not journaled yet
            kill_worker()
        fail = FAILS_THE_TOOL.get(type(fault))
        if fail is not None:
            exc = fail(fault)
            self.fail(exc, in_unit=True)
            raise exc

    def fail(self, exc: BaseException, *, in_unit: bool = False) -> None:
        if not self.failed:
            self.failed = True
            self.attempt.finish(events.FAIL, error=f"{type(exc).__name__}: {exc}")
        if in_unit:  # an engine that retries the unit by calling the tool again continues from here
            self.injection.interrupted_tools[self.fingerprint] = self.ran


async def _call(original: Any, toolset: Any, name: str, args: dict[str, Any], ctx: Any, tool: Any) -> Any:
    injection = active()
    if injection is None:
        return await original(toolset, name, args, ctx, tool)
    call_id = getattr(ctx, "tool_call_id", None)
    fp = tool_fingerprint(name, args, call_id)
    inside = bool(injection.observer.unit_context())
    # This call retries a unit that failed in an earlier call of the same tool call (the engine ran the
    # caller again): True/False = that attempt's body ran or not, None = a first call.
    retried = None if inside else injection.interrupted_tools.pop(fp, None)
    attempt: Attempt = injection.begin("tool_call", name, fp, call_id=call_id)
    jsonable_args = to_jsonable_python(args, fallback=repr)
    scope = None if inside else ToolScope(injection, attempt, name, fp, call_id, jsonable_args)
    executed = False
    try:
        fault = attempt.strike("before", where=None if inside else _other)
        if fault is not None:
            await _apply(fault)
        # The arguments go with the execution so that an idempotency key read from one of them can be
        # compared across re-executions (``tools_exactly_once``). The retry of a unit whose earlier
        # attempt never ran its body has its effect counted by that attempt's ``execute``.
        if retried is not False:
            attempt.finish(events.EXECUTE, call_id=call_id, args=jsonable_args)
            executed = True
        try:
            with replay_watch() as replays, listening_for_units(scope.body if scope else None):
                result = await original(toolset, name, args, ctx, tool)
        finally:
            if scope is not None:
                scope.closed = True
        if scope is not None:
            attempt = scope.attempt
            if scope.unit is None and not replays:  # no durable unit beneath: the fault fires here
                if not executed:  # the retried call's body ran outside any unit after all
                    attempt.finish(events.EXECUTE, call_id=call_id, args=jsonable_args)
                for phase in ("before", "after"):
                    fault = attempt.strike(phase, where=fails_the_tool, outside_unit=True)
                    if fault is not None:
                        await _apply(fault)
        fault = attempt.strike("after", where=None if inside else lambda f: _other_after(f, scope))
        if fault is not None:
            await _apply(fault)
    except BaseException as exc:
        if scope is None:
            attempt.finish(events.FAIL, error=f"{type(exc).__name__}: {exc}")
        else:
            scope.fail(exc)  # once per attempt: a failure inside the unit is already recorded
        raise
    if scope is not None:
        injection.interrupted_tools.pop(fp, None)  # retried in place and done: nothing to continue
    attempt.finish(events.OK, replayed=replays)
    return result


@contextmanager
def tool_faults() -> Iterator[None]:
    """Install the fault layer on ``FunctionToolset.call_tool`` for the duration of the block."""
    original = FunctionToolset.call_tool

    async def call_tool(self: Any, name: str, tool_args: dict[str, Any], ctx: Any, tool: Any) -> Any:
        return await _call(original, self, name, tool_args, ctx, tool)

    FunctionToolset.call_tool = call_tool  # type: ignore[method-assign]
    try:
        yield
    finally:
        FunctionToolset.call_tool = original  # type: ignore[method-assign]
