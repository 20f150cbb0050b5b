"""DBOS's share of judgement: step identity, and the hints in messages.

The ``engine`` dicts come from :meth:`DBOSAdapter.unit_context` (workflow id, step id, step attempt,
max attempts) and the adapter's journal events (workflow id, function id, function name).
"""

from __future__ import annotations

from typing import Any

from durable_chaos.infra.engines.base import EngineRules


class DBOSRules(EngineRules):
    unit_noun = "step"
    identity_noun = "step function"
    identity_comparable_with_golden = True
    journal_refusal = "DBOS refused to recover it (DBOSUnexpectedStepError)"
    engine_reactions = frozenset({"DBOS.sleep"})
    # A model step that fails with a Retry-After returns the wait; pydantic-ai then sleeps with
    # DBOS.sleep_async (a journaled step, recorded as "DBOS.sleep") and sends the request again as a
    # new step, so every later step id shifts.

    def unit_attempt_key(self, engine: dict[str, Any]) -> tuple[Any, ...] | None:
        step = engine.get("step_id", engine.get("function_id"))
        if engine.get("workflow_id") is None or step is None:
            return None
        return ("step", engine["workflow_id"], step)

    def engine_attempt(self, engine: dict[str, Any]) -> tuple[Any, ...] | None:
        if engine.get("workflow_id") is None or engine.get("step_id") is None:
            return None
        return ("step", engine["workflow_id"], engine["step_id"], engine.get("step_attempt"))

    def tool_repeat_hint(self, kind: str = "tool_call") -> str:
        if kind == "mcp":
            return (
                "Under DBOS each MCP tool call is a DBOS step: it ran again because its step had not been "
                "journaled when the workflow recovered. Make the MCP server's tool deduplicate the effect "
                "(keyed by an argument the model chose)."
            )
        return (
            "Under DBOS, plain function tools are not durable steps: they run in the workflow itself and "
            "run again on every recovery. Put the side effect in a @DBOS.step (or a DBOS step-wrapped "
            "toolset)."
        )

    def not_a_unit_hint(self, tool: str) -> str:
        return (
            f"tool `{tool}` is not a durable unit under DBOS: function tools run in the workflow itself, "
            "not in a step, so its failure fails the workflow and no step retry sees it. Fix: wrap its "
            "body in a @DBOS.step(retries_allowed=True, max_attempts=..., interval_seconds=...) that the "
            "tool calls (or run it through a step-wrapped toolset)."
        )

    def identity_change_hint(self, observations: list[dict[str, Any]]) -> str:
        return (
            "The workflow is not deterministic: its code took another path when re-executed, because it "
            "decides on something outside its inputs and its journal (a file, the clock, a random draw, "
            "process state). Read such values inside a step, so the journal replays them."
        )

    def divergence_hint(self) -> str:
        return (
            "The workflow's path depends on something outside its inputs and its journal (a file, the "
            "clock, a random draw, process state): a recovery may take another path than the interrupted "
            "execution (DBOS then refuses it with DBOSUnexpectedStepError). Read such values inside a step."
        )
