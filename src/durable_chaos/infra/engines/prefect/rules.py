"""Prefect's share of judgement: task-run identity, cache-key identity, and the hints in messages.

The ``engine`` dicts come from :meth:`PrefectAdapter.unit_context` and the adapter's ``checkpoint``
and ``identity`` events (task name, task run id, run count, flow run id, epoch).
"""

from __future__ import annotations

from typing import Any

from durable_chaos.infra.engines.base import EngineRules


class PrefectRules(EngineRules):
    unit_noun = "task run"
    identity_noun = "cache key"
    identity_comparable_with_golden = False  # keys include the flow run id
    journal_refusal = "Prefect computed another cache key, so the cached result was not reused"

    def unit_attempt_key(self, engine: dict[str, Any]) -> tuple[Any, ...] | None:
        if engine.get("task_run_id") is None:
            return None
        return ("task", engine["task_run_id"], engine.get("task_run_count"))

    def engine_attempt(self, engine: dict[str, Any]) -> tuple[Any, ...] | None:
        return self.unit_attempt_key(engine)

    def tool_repeat_hint(self, kind: str = "tool_call") -> str:
        return (
            "The tool's Prefect task ran again: it had not completed (or its cached result could not be "
            "reused) when the run was retried or resumed. Make the side effect idempotent (an idempotency "
            "key) and check that the task's cache key is stable."
        )

    def not_a_unit_hint(self, tool: str) -> str:
        return (
            f"tool `{tool}` is not a durable unit under Prefect: it runs in the flow, not in a task, so "
            "its failure fails the flow run and no task retry sees it. Fix: let PrefectAgent / "
            "PrefectDurability run it as a task: drop the None that disables its task "
            "(metadata={'prefect': False}, or None in PrefectAgent's tool_task_config_by_name) and give it "
            "a TaskConfig with retries."
        )

    def identity_change_hint(self, observations: list[dict[str, Any]]) -> str:
        runs = {o["engine"].get("flow_run_id") for o in observations} - {None}
        if len(runs) > 1:
            return (
                f"It ran in {len(runs)} different flow runs, and the cache key includes the flow run id. The "
                "interrupted run was not resumed: a new run (a fresh flow run, or a wrapper's fresh subflow) "
                "started instead, so no completed unit could be reused. Re-run the same flow run after a "
                "failure (flow retries, or re-executing that flow run id)."
            )
        return (
            "Something in the unit's inputs changes on every attempt (a timestamp, a random id, the current "
            "time in an argument or in deps), so completed work can never be reused: make the inputs "
            "deterministic or exclude that field from the cache policy."
        )
