"""The history's vocabulary: every event name a trial's processes write, in one place.

A trial's history (:mod:`durable_chaos.run.records.history`) is one JSONL file; each record has an ``event``
field holding one of the names below. Writers (injectors, engine adapters, the runner, the worker
supervisor) and readers (checkers, reports) name events through these constants, never as string
literals, so a new event is added here first and a reader can find every writer of it.

The module sits on the lowest floor (standard library only): faults, infra and the harness all use it.
"""

from __future__ import annotations

from typing import Final

# A unit attempt, written by the injectors (faults/injectors/*).
INVOKE: Final = "invoke"
"""A unit attempt starts (model request, tool call or MCP call)."""
FAULT: Final = "fault"
"""A planned fault fires at this attempt."""
EXECUTE: Final = "execute"
"""A tool's (or MCP call's) body is about to run: its side effect happens now."""
OK: Final = "ok"
"""The attempt ended with a result."""
FAIL: Final = "fail"
"""The attempt ended with an error."""

# What the engine did, written by the engine adapters (infra/engines/<engine>/).
CHECKPOINT: Final = "checkpoint"
"""The engine saved a unit's result (task result, DBOS step output, activity completion, journal entry)."""
IDENTITY: Final = "identity"
"""The engine's identity of a unit (cache key, step id, activity id, journal entry name)."""
REPLAY: Final = "replay"
"""The engine returned a saved result instead of running the unit again."""
WORKFLOW_TASK: Final = "workflow_task"
"""A workflow task of the engine (replays of the workflow code, not unit attempts)."""
RUN_IDS: Final = "run_ids"
"""The engine's own ids of the run (workflow id, run id, invocation id)."""
ABORTED: Final = "aborted"
"""The engine gave up on the run outside any unit (an engine-level abort)."""

# Faults that are not one unit attempt, written where they act (faults/context.py).
RESTART: Final = "restart"
"""A ``restart`` fault stopped or started a service."""
NETWORK: Final = "network"
"""A network fault (Toxiproxy toxic) was applied or removed."""

# The trial's course, written by the runner and the worker supervisor (run/).
RUN_START: Final = "run_start"
"""A run of a role (golden, faulted, resume N) began."""
RUN_END: Final = "run_end"
"""A run of a role ended."""
KILLED: Final = "killed"
"""The supervisor saw a role's worker die by SIGKILL (written by the parent, about the child)."""
REPLAY_CHECK: Final = "replay_check"
"""The deterministic-replay check of the faulted run, with its problems or why it was undecided."""
RUN_USAGE: Final = "run_usage"
"""An agent target's run returned: the usage its result reports (``RunUsage``), written by the harness's
own flow, workflow or handler around the agent, once per execution of it that completes."""
HANDLER_EVENT: Final = "handler_event"
"""An agent's event stream handler (``event_stream_handler`` of a durability capability or of the agent,
a ``ProcessEventStream`` capability) received one event: its signature, and the durable unit it was
delivered in (empty when delivered in workflow/flow code). Written by the harness's pass-through
observation of the user's handler, in every process that runs it."""

ALL: Final = frozenset(
    {
        INVOKE,
        FAULT,
        EXECUTE,
        OK,
        FAIL,
        CHECKPOINT,
        IDENTITY,
        REPLAY,
        WORKFLOW_TASK,
        RUN_IDS,
        ABORTED,
        RESTART,
        NETWORK,
        RUN_START,
        RUN_END,
        KILLED,
        REPLAY_CHECK,
        RUN_USAGE,
        HANDLER_EVENT,
    }
)
"""Every event name; a test checks that no module writes a name outside this set."""
