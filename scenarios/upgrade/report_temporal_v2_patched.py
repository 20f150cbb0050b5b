"""Version N+1 of ``report_temporal_v1``, correct: the same audit activity, guarded by
``workflow.patched()``. Replaying a history N recorded (no patch marker), ``patched()`` is false and the
run keeps N's command sequence; new runs record the marker and take the new path."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from data_analyst_temporal import analyst
    from pydantic_ai.durable_exec.temporal import PydanticAIWorkflow


@activity.defn(name="upgrade.record_request")
async def record_request(prompt: str) -> str:
    """An audit entry for the request (new in N+1)."""
    return f"requested: {prompt}"


@workflow.defn(name="upgrade.report")
class Report(PydanticAIWorkflow):
    __pydantic_ai_agents__ = [analyst]

    @workflow.run
    async def run(self, prompt: str) -> dict[str, object]:
        if workflow.patched("record-request"):  # runs N started keep N's commands
            await workflow.execute_activity(
                record_request, prompt, start_to_close_timeout=timedelta(seconds=30)
            )
        result = await analyst.run(prompt)
        return result.output.model_dump(mode="json")
