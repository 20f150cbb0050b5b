"""User workflows that run the data analyst on a per-tenant model gateway (``entry:`` targets for
``same_model_endpoint``; the agents and the lookup activity are in ``temporal_usage_gateway``).

* ``AnalyzeViaGatewayGlobal`` (KNOWN-BAD): the model is built from what the lookup activity left in
  process state.
* ``AnalyzeViaGateway`` (correct): the model is built from the activity's result, carried on deps.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic_ai.durable_exec.temporal import PydanticAIWorkflow
    from temporal_usage_gateway import Tenant, analyst_on_deps, analyst_on_process_setting, look_up_gateway

LOOKUP_TIMEOUT = timedelta(seconds=30)


@workflow.defn(name="data_analyst.analyze_via_gateway_global")
class AnalyzeViaGatewayGlobal(PydanticAIWorkflow):
    """KNOWN-BAD: the lookup's side effect configures the model, not its result."""

    __pydantic_ai_agents__ = [analyst_on_process_setting]

    @workflow.run
    async def run(self, prompt: str) -> dict[str, object]:
        await workflow.execute_activity(look_up_gateway, "acme", start_to_close_timeout=LOOKUP_TIMEOUT)
        result = await analyst_on_process_setting.run(prompt, deps=Tenant("acme"))
        return result.output.model_dump(mode="json")


@workflow.defn(name="data_analyst.analyze_via_gateway")
class AnalyzeViaGateway(PydanticAIWorkflow):
    """Correct: the lookup's result, from the history on a replay, travels on the run's deps."""

    __pydantic_ai_agents__ = [analyst_on_deps]

    @workflow.run
    async def run(self, prompt: str) -> dict[str, object]:
        gateway = await workflow.execute_activity(
            look_up_gateway, "acme", start_to_close_timeout=LOOKUP_TIMEOUT
        )
        result = await analyst_on_deps.run(prompt, deps=Tenant("acme", gateway))
        return result.output.model_dump(mode="json")
