"""Restate's share of judgement: pure functions of the ``engine`` dicts the adapter records.

A durable unit is one ``ctx.run`` journal entry of an invocation. The adapter reports, inside it and
with every ``checkpoint``/``replay``/``identity`` event: ``invocation_id``, ``position`` (the entry's
ordinal among the invocation's ``ctx.run`` entries, from 1), ``entry_name`` ("Model call",
"Calling <tool>"), ``run_attempt`` (executions of that entry in this process) and ``pid``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from durable_chaos.infra.engines.base import EngineRules


class RestateRules(EngineRules):
    unit_noun: ClassVar[str] = "journal entry"
    identity_noun: ClassVar[str] = "journal entry name"
    identity_comparable_with_golden: ClassVar[bool] = True
    journal_refusal: ClassVar[str] = (
        "Restate refused to replay it (journal mismatch) and retried the invocation until its retry "
        "policy gave up"
    )

    def unit_attempt_key(self, engine: dict[str, Any]) -> tuple[Any, ...] | None:
        if engine.get("invocation_id") is None or engine.get("position") is None:
            return None
        return ("entry", engine["invocation_id"], engine["position"])

    def engine_attempt(self, engine: dict[str, Any]) -> tuple[Any, ...] | None:
        if engine.get("invocation_id") is None or engine.get("position") is None:
            return None
        return (
            "entry",
            engine["invocation_id"],
            engine["position"],
            engine.get("pid"),
            engine.get("run_attempt"),
        )

    def tool_repeat_hint(self, kind: str = "tool_call") -> str:
        if kind == "mcp":
            return (
                "Restate journals each MCP call of a RestateMCPToolset in ctx.run: it ran again because its "
                "entry had not been journaled when the invocation was retried. Make the MCP server's tool "
                "deduplicate the effect (keyed by an argument the model chose)."
            )
        return (
            "Restate re-ran the handler from the top and replayed its journal; the tool is not a journal "
            "entry (RestateAgent(agent) leaves function tools outside ctx.run unless auto_wrap_tools=True) "
            "and its body opens no ctx.run of its own, so its body ran again. Fix: RestateAgent(agent, "
            "auto_wrap_tools=True), or put the side effect in restate_context().run_typed(...) inside the "
            "tool."
        )

    def not_a_unit_hint(self, tool: str) -> str:
        return (
            f"tool `{tool}` is not a durable unit under Restate: RestateAgent(agent) runs function tools in "
            "handler code unless auto_wrap_tools=True, and its body opens no ctx.run of its own, so its "
            "failure fails the handler and no ctx.run retry sees it (Restate retries the whole invocation, "
            "running the body again, until the invocation's retry policy gives up). Fix: run its body in "
            "restate_context().run_typed(..., RunOptions(max_attempts=...)), or RestateAgent(agent, "
            "auto_wrap_tools=True, run_options=RunOptions(max_attempts=...))."
        )

    def identity_change_hint(self, observations: list[dict[str, Any]]) -> str:
        return (
            "Restate matches journal entries by position: the handler reached this position with another "
            "entry than the one journaled (a different tool, or a ctx.run added or skipped), so it cannot "
            "replay the journal. Make the handler's path depend only on its input and journaled results."
        )

    def divergence_hint(self) -> str:
        return (
            "The handler's path depends on something outside its input and its journal (a file, the clock, "
            "a random draw, process state): a replay after a crash may take another path than the "
            "interrupted attempt. Read such values inside ctx.run (or use ctx.time(), ctx.random())."
        )
