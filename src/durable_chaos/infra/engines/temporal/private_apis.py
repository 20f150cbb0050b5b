"""Every API of a library the Temporal adapter relies on beyond temporalio's and pydantic-ai's
documented surface, checked when the engine starts (see :mod:`durable_chaos.patching`).

The adapter patches nothing of Temporal's: it uses public interceptors, the client, the Replayer and
the history. What it relies on is where pydantic-ai puts the work, and two fields of temporalio's
activity info.
"""

from __future__ import annotations

from typing import Any

from durable_chaos.patching import Hook, HookBroken


def _has_fields(*names: str) -> Any:
    def check(cls: Any) -> None:
        fields = getattr(cls, "__dataclass_fields__", {})
        missing = [n for n in names if n not in fields]
        if missing:
            raise HookBroken(f"has no field {', '.join(missing)}")

    return check


TOOL_CALL_IN_ACTIVITY = Hook(
    library="pydantic-ai-slim",
    target="pydantic_ai.durable_exec.temporal._toolset:call_tool_in_activity",
    parameters=(),
    why=(
        "tool faults are injected in FunctionToolset.call_tool, and pydantic-ai's Temporal tool activity "
        "reaches it through this private function: if it moves, tool faults may fire outside the activity, "
        "where Temporal's retry policy never sees them"
    ),
    properties=("tools_exactly_once", "bounded_retries"),
)

ACTIVITY_RETRY_POLICY = Hook(
    library="temporalio",
    target="temporalio.activity:Info",
    why=(
        "bounded_retries reads the activity's maximum attempts from activity.info().retry_policy and its "
        "attempt from activity.info().attempt (fields added in temporalio 1.x; no other API gives them "
        "inside the activity)"
    ),
    properties=("bounded_retries",),
    check=_has_fields("attempt", "retry_policy", "activity_id", "workflow_run_id"),
)

AGENT_REGISTRATION = Hook(
    library="pydantic-ai-slim",
    target="pydantic_ai.durable_exec.temporal:AgentPlugin",
    why=(
        "the harness registers an agent target's activities on its worker with pydantic-ai's AgentPlugin, "
        "as users do; without it an agent target cannot run on Temporal"
    ),
    properties=("completes",),
)

PAYLOAD_ADAPTER_CACHE = Hook(
    library="pydantic-ai-slim",
    target="pydantic_ai.durable_exec.temporal._payload_converter:type_adapter",
    why=(
        "the warm worker builds pydantic-ai's memoized payload TypeAdapters before forking (module warm), "
        "which takes 0.3-0.5 s off every kill -> recover cycle; an optimisation only"
    ),
)

HOOKS: list[Hook] = [TOOL_CALL_IN_ACTIVITY, ACTIVITY_RETRY_POLICY, AGENT_REGISTRATION, PAYLOAD_ADAPTER_CACHE]
