"""Version N+1 of ``report_temporal_v1``, KNOWN-BAD: an audit activity is added before the agent, with no
``workflow.patched()`` guard. A run N started replays its history against this code: the first command
differs from the one the history recorded, a nondeterminism error, and Temporal retries the workflow task
forever (the workflow stays RUNNING)."""

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
        # BUG: a new command before the agent's, unguarded: N's histories no longer replay.
        await workflow.execute_activity(record_request, prompt, start_to_close_timeout=timedelta(seconds=30))
        result = await analyst.run(prompt)
        return result.output.model_dump(mode="json")
