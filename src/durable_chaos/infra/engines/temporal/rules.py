"""Temporal's share of judgement: activity attempts, activity types at command positions, and the
hints in violation messages. Pure functions of the ``engine`` dicts the adapter records."""

from __future__ import annotations

from typing import Any, ClassVar

from durable_chaos.infra.engines.base import EngineRules


def activity_attempt(engine: dict[str, Any]) -> tuple[Any, ...] | None:
    if engine.get("workflow_id") is None or engine.get("activity_id") is None:
        return None
    return (
        "activity",
        engine["workflow_id"],
        engine.get("run_id"),
        engine["activity_id"],
        engine.get("attempt"),
    )


class TemporalRules(EngineRules):
    unit_noun: ClassVar[str] = "activity"
    identity_noun: ClassVar[str] = "activity type"
    identity_comparable_with_golden: ClassVar[bool] = True
    journal_refusal: ClassVar[str] = (
        "Temporal fails the workflow task with a nondeterminism error and retries it until the code is fixed"
    )
    engine_reactions: ClassVar[frozenset[str]] = frozenset({"timer"})
    # A durable wait before a retry (pydantic-ai's durable_sleep is workflow.sleep) is a timer command
    # between two commands of the same activity type.

    def unit_attempt_key(self, engine: dict[str, Any]) -> tuple[Any, ...] | None:
        # One attempt of one activity: what the history's ActivityTaskCompleted records, and what the
        # unit context names inside the activity (activity.info()).
        return activity_attempt(engine)

    def engine_attempt(self, engine: dict[str, Any]) -> tuple[Any, ...] | None:
        return activity_attempt(engine)

    def tool_repeat_hint(self, kind: str = "tool_call") -> str:
        return (
            "Temporal runs activities at least once: the worker died after the tool's side effect and before "
            "the activity's result reached the server, so after the heartbeat (or start-to-close) timeout "
            "Temporal ran the activity again. Make the tool idempotent, e.g. keyed by "
            "activity.info().workflow_id and activity_id, or split the effect into its own activity that "
            "checks whether it already happened."
        )

    def not_a_unit_hint(self, tool: str) -> str:
        return (
            f"tool `{tool}` is not a durable unit under Temporal: it runs in the workflow (its activity "
            "is disabled with tool_activity_config ... False), so its failure fails the workflow task and "
            "no activity retry policy sees it. Fix: let TemporalAgent run it as an activity (drop the "
            "False from tool_activity_config) with a retry policy."
        )

    def identity_change_hint(self, observations: list[dict[str, Any]]) -> str:
        return (
            "The workflow scheduled another activity at the same command position in another execution: "
            "its code path depends on something outside its inputs and its history. On replay Temporal "
            "raises a nondeterminism error and the workflow stalls. Read such values in an activity, or use "
            "workflow.now() / workflow.random() / workflow.uuid4()."
        )

    def divergence_hint(self) -> str:
        return (
            "The workflow's commands depend on something outside its inputs and its history (the wall "
            "clock, set iteration order under hash randomisation, a file, process state): a worker that "
            "replays the history after a crash may take another path and fail with a nondeterminism error. "
            "Read such values inside an activity, or use workflow.now(), workflow.random(), sorted()."
        )
