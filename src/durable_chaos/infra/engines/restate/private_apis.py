"""Every private API of restate-sdk the Restate adapter relies on, checked when the engine starts.

restate-sdk's public API says nothing about the journal while a handler runs: whether a ``ctx.run``
was replayed, which journal position it takes, or when its result was acknowledged. The adapter reads
those from the SDK's state-machine wrapper (``restate.vm.VMWrapper``) and the invocation context.
"""

from __future__ import annotations

from durable_chaos.patching import Hook

LIBRARY = "restate-sdk"

SYS_RUN = Hook(
    LIBRARY,
    "restate.vm:VMWrapper.sys_run",
    "it is where a ctx.run entry is matched against the journal (replayed or new, or refused as a "
    "journal mismatch); no public API tells a handler that",
    properties=("stable_cache_keys",),
    parameters=("name",),
)
TAKE_NOTIFICATION = Hook(
    LIBRARY,
    "restate.vm:VMWrapper.take_notification",
    "a ctx.run result is durable once the server acknowledged it, which the SDK learns here; no public "
    "API reports the acknowledgement",
    properties=("no_duplicate_model_calls",),
    parameters=("handle",),
)
CREATE_RUN_COROUTINE = Hook(
    LIBRARY,
    "restate.server_context:ServerInvocationContext.create_run_coroutine",
    "it runs the body of one ctx.run attempt (with its retry options), so faults and model calls inside "
    "can be attributed to that journal entry, and a tool whose body opened the entry gets its tool_error "
    "inside the action (wrapped in unit_body), and a kill after the tool strikes once the action returned, "
    "before the SDK journals its result (the at-least-once window)",
    properties=("no_duplicate_model_calls", "bounded_retries", "tools_exactly_once"),
    parameters=("handle", "action", "max_attempts"),
)
HANDLER_SYMBOL = Hook(
    LIBRARY,
    "restate.handler:RESTATE_UNIQUE_HANDLER_SYMBOL",
    "an entry target given as a handler function is mapped back to its service through it",
)

ALL = [SYS_RUN, TAKE_NOTIFICATION, CREATE_RUN_COROUTINE, HANDLER_SYMBOL]
