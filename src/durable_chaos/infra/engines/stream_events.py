"""What an agent's event stream handler receives: ``events_complete``'s evidence.

The harness's flow, workflow or handler calls :func:`observe_handlers` on the agent target before it
runs it. Every event stream handler the agent has (the ``event_stream_handler`` of a durability
capability or of the agent itself, the handler of a ``ProcessEventStream`` capability) is replaced by a
pass-through that records each event it hands on, unchanged, to the user's handler: the handler still
runs where it ran (inside the engine's unit or in workflow code), with the same arguments and the same
name. Each record carries the event's :func:`signature` and the engine's identifiers of the durable unit
it was delivered in (empty when delivered in workflow/flow code): what a retry or a resume makes the
handler receive again, or never, is judged from these records (:mod:`durable_chaos.judge.events`).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from durable_chaos import events
from durable_chaos.faults.context import active
from durable_chaos.infra.engines.durability import durability_objects
from durable_chaos.patching import Hook, HookBroken

_OBSERVED = "__durable_chaos_observed__"

HANDLER_ATTRIBUTES = ("self._event_stream_handler", "self._process_event_stream")


def _keeps_the_handler_where_it_is_observed(init: Any) -> None:
    source = inspect.getsource(init)
    missing = [name for name in HANDLER_ATTRIBUTES if name not in source]
    if missing:
        raise HookBroken(f"it no longer sets {', '.join(missing)}")


HOOKS = [
    Hook(
        library="pydantic-ai-slim",
        target="pydantic_ai.durable_exec:BaseDurabilityCapability.__init__",
        why="no public API hands out a durability capability's event stream handler to observe: it is "
        "kept in _event_stream_handler and in the ProcessEventStream (_process_event_stream) built from it",
        properties=("events_complete",),
        parameters=("event_stream_handler",),
        check=_keeps_the_handler_where_it_is_observed,
    ),
    Hook(
        library="pydantic-ai-slim",
        target="pydantic_ai.capabilities:ProcessEventStream",
        why="its handler field is what the pass-through replaces",
        properties=("events_complete",),
        parameters=("handler",),
    ),
]
"""The private shapes :func:`observe_handlers` relies on, checked when an engine starts: when one breaks,
``events_complete`` is not applicable, naming the hook, instead of a silent "no handler observed"."""

_scope: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext
"""Where a record may be written from: an engine whose workflow code runs in a sandbox (Temporal) sets a
scope that lifts the sandbox's restrictions for the write, so handlers in workflow code are observed too."""


def set_recording_scope(scope: Callable[[], AbstractContextManager[Any]]) -> None:
    """Write every record inside ``scope()`` (set once by the engine package whose workflows need it)."""
    global _scope
    _scope = scope


def signature(event: Any) -> str:
    """An event's identity across runs: its type, the part index, the part's kind and tool name, the
    delta's kind. Never the text or the arguments, which a replayed response may spell differently."""
    parts = [type(event).__name__]
    index = getattr(event, "index", None)
    if isinstance(index, int):
        parts.append(str(index))
    for field in ("part", "delta", "result"):
        value = getattr(event, field, None)
        if value is not None:
            parts.append(type(value).__name__)
            tool = getattr(value, "tool_name", None)
            if tool:
                parts.append(str(tool))
    tool = getattr(event, "tool_name", None)
    if isinstance(tool, str):
        parts.append(tool)
    return ":".join(parts)


def record(event: Any) -> None:
    """Write one ``handler_event`` record (nothing outside a trial; a failure never breaks the run)."""
    injection = active()
    if injection is None:
        return
    with contextlib.suppress(Exception), _scope():
        unit = injection.observer.unit_context()
        engine = {**unit, "pid": os.getpid()}
        injection.emit_engine_event(
            events.HANDLER_EVENT, signature=signature(event), engine=engine, in_unit=bool(unit)
        )


def observed(handler: Callable[..., Any]) -> Callable[..., Any]:
    """``handler`` behind a pass-through that records every event it receives. An event processor (an
    async generator, which replaces the stream rather than reading it) is left as it is."""
    if getattr(handler, _OBSERVED, False) or inspect.isasyncgenfunction(handler):
        return handler

    async def tee(stream: AsyncIterable[Any]) -> AsyncIterator[Any]:
        async for event in stream:
            record(event)
            yield event

    @functools.wraps(handler)
    async def observing(ctx: Any, stream: AsyncIterable[Any]) -> Any:
        return await handler(ctx, tee(stream))

    setattr(observing, _OBSERVED, True)
    return observing


def _owners(agent: Any) -> list[Any]:
    """The agent's wrappers and capabilities, and the model each holds (Restate's model wrapper keeps
    its own reference to the handler, which it calls inside the model's journaled action)."""
    try:
        owners = list(durability_objects(agent))
        models = [vars(owner).get("_model") for owner in owners if hasattr(owner, "__dict__")]
        return owners + [model for model in models if model is not None and hasattr(model, "__dict__")]
    except Exception:  # noqa: BLE001 - observation must never break the run
        return []


def observe_handlers(agent: Any) -> int:
    """Observe every event stream handler of ``agent`` (its wrappers, capabilities and their models);
    idempotent. Returns how many handlers are observed."""
    count = 0
    for owner in _owners(agent):
        with contextlib.suppress(Exception):
            if type(owner).__name__ == "ProcessEventStream" and callable(getattr(owner, "handler", None)):
                owner.handler = observed(owner.handler)
                count += 1
                continue
            handler = owner.__dict__.get("_event_stream_handler")
            if not callable(handler):
                continue
            owner._event_stream_handler = observed(handler)
            processor = owner.__dict__.get("_process_event_stream")
            if processor is not None and not getattr(processor.handler, _OBSERVED, False):
                owner._process_event_stream = type(processor)(owner._event_stream_handler)
            count += 1
    return count


HARNESS_CHANGE = (
    "the agent's event stream handler was wrapped in a pass-through that records each event (the "
    "evidence of events_complete) and hands it on unchanged: the handler runs where it ran, with the "
    "same arguments"
)


def harness_changes(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """The sentence for the trial's report when a handler of the agent was observed (some record says so)."""
    return [HARNESS_CHANGE] if any(r.get("event") == events.HANDLER_EVENT for r in records) else []
