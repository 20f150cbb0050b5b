"""The deep-research workflows on Temporal (``entry:`` targets): plan, fan out one child workflow per
search (started concurrently, as the article's DBOS version starts its search workflows), fan in,
analyse. The agents are in ``deep_research_agents_temporal``, imported through the sandbox."""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from deep_research_agents_temporal import analysis_agent, plan_agent, search_agent
    from pydantic_ai import format_as_xml
    from pydantic_ai.durable_exec.temporal import PydanticAIWorkflow


@workflow.defn(name="deep_research.search")
class SearchWorkflow(PydanticAIWorkflow):
    __pydantic_ai_agents__ = [search_agent]

    @workflow.run
    async def run(self, search_terms: str) -> str:
        result = await search_agent.run(search_terms)
        return result.output


@workflow.defn(name="deep_research.research")
class DeepResearch(PydanticAIWorkflow):
    __pydantic_ai_agents__ = [plan_agent, analysis_agent]

    @workflow.run
    async def run(self, query: str) -> str:
        plan = (await plan_agent.run(query)).output
        parent = workflow.info().workflow_id
        handles = [
            await workflow.start_child_workflow(
                SearchWorkflow.run, step.search_terms, id=f"{parent}-search-{n}"
            )
            for n, step in enumerate(plan.web_search_steps, start=1)
        ]
        search_results = list(await asyncio.gather(*handles))
        analysis = await analysis_agent.run(
            format_as_xml(
                {"query": query, "search_results": search_results, "instructions": plan.analysis_instructions}
            )
        )
        return analysis.output
