"""Version N of a Temporal application: a workflow that runs the data analyst (model requests and tool
calls are activities). ``report_temporal_v2_unpatched`` and ``report_temporal_v2_patched`` are two ways
to ship the next release, which records an audit entry (a new activity) before the agent."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from data_analyst_temporal import analyst
    from pydantic_ai.durable_exec.temporal import PydanticAIWorkflow


@workflow.defn(name="upgrade.report")
class Report(PydanticAIWorkflow):
    __pydantic_ai_agents__ = [analyst]

    @workflow.run
    async def run(self, prompt: str) -> dict[str, object]:
        result = await analyst.run(prompt)
        return result.output.model_dump(mode="json")
