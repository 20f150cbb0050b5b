"""Tool faults inside the tool call, beneath the durable unit that wraps it.

``FunctionToolset.call_tool`` runs inside the engine's task/step/activity, so an
exception raised here is seen by the engine's own retry machinery, unlike agent hooks or a
``WrapperToolset``, which run in the workflow outside the unit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic_ai.toolsets.function import FunctionToolset
from pydantic_core import to_jsonable_python

from durable_chaos.faults.context import Attempt, active, apply_common, replay_watch
from durable_chaos.faults.model import Fault, ToolErrorFault, exception_class
from durable_chaos.faults.units import fingerprint


def exception_for(fault: ToolErrorFault) -> BaseException:
    """Instantiate the exception a ``tool_error`` fault names (``module.Class`` or ``module:Class``).

    The class was checked when the scenario was loaded (:func:`exception_class`); if it no longer
    imports or builds, that raises ValueError here rather than substituting another exception.
    """
    return exception_class(fault.exception)(fault.message)


async def _apply(fault: Fault) -> None:
    if await apply_common(fault):
        return
    if isinstance(fault, ToolErrorFault):
        raise exception_for(fault)


def tool_fingerprint(name: str, args: dict[str, Any], call_id: str | None) -> str:
    return fingerprint("tool", name, args, call_id)


async def _call(original: Any, toolset: Any, name: str, args: dict[str, Any], ctx: Any, tool: Any) -> Any:
    injection = active()
    if injection is None:
        return await original(toolset, name, args, ctx, tool)
    call_id = getattr(ctx, "tool_call_id", None)
    attempt: Attempt = injection.begin(
        "tool_call", name, tool_fingerprint(name, args, call_id), call_id=call_id
    )
    try:
        fault = attempt.strike("before")
        if fault is not None:
            await _apply(fault)
        # The arguments go with the execution so that an idempotency key read from one of them can be
        # compared across re-executions (``tools_exactly_once``).
        attempt.finish("execute", call_id=call_id, args=to_jsonable_python(args, fallback=repr))
        with replay_watch() as replays:
            result = await original(toolset, name, args, ctx, tool)
        fault = attempt.strike("after")
        if fault is not None:
            await _apply(fault)
    except BaseException as exc:
        attempt.finish("fail", error=f"{type(exc).__name__}: {exc}")
        raise
    attempt.finish("ok", replayed=replays)
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
