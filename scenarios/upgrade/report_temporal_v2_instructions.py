"""Version N+1 of ``report_temporal_v1`` that changes only the agent's instructions (no new command, so
N's histories replay). KNOWN-BAD for ``no_stale_replay``: the model request N had scheduled when it was
killed retries on N+1 with the input N recorded (N's instructions), while the requests N+1 schedules carry
N+1's: the answer silently mixes both versions."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from data_analyst_core import INSTRUCTIONS, DataAnalysis
    from data_analyst_temporal import ACTIVITIES, MODEL_ACTIVITIES, analyst_tools
    from pydantic_ai import Agent
    from pydantic_ai.durable_exec.temporal import PydanticAIWorkflow, TemporalDurability

NEW_INSTRUCTIONS = f"{INSTRUCTIONS} Round every figure to one decimal."

analyst = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst",  # the same agent: its activities keep their names
    instructions=NEW_INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[analyst_tools()],
    capabilities=[TemporalDurability(activity_config=ACTIVITIES, model_activity_config=MODEL_ACTIVITIES)],
)


@workflow.defn(name="upgrade.report")
class Report(PydanticAIWorkflow):
    __pydantic_ai_agents__ = [analyst]

    @workflow.run
    async def run(self, prompt: str) -> dict[str, object]:
        result = await analyst.run(prompt)
        return result.output.model_dump(mode="json")
