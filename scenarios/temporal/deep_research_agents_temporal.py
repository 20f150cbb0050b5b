"""The deep-research system of the DBOS + Pydantic AI article, on Temporal: the agents (built once,
outside any workflow; the workflows are in ``deep_research_temporal``).

Every agent has the ``TemporalDurability`` capability: its model requests and tool calls are Temporal
activities. The analysis agent's ``extra_search`` tool runs the search agent inside its tool activity
(outside a workflow the capability is transparent, so the sub-agent's request is part of that activity);
``save_report`` publishes the report, a side effect, from its tool activity. Activities run at least
once: a kill after the report was published and before the activity's result reached the server
publishes it again (``deep_research_unsafe_publish.yaml``).

The prompts, tools and output types are the DBOS version's, so the requests are identical and replay
the same cassette.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta

from pydantic import BaseModel, Field
from pydantic_ai import Agent
from pydantic_ai.durable_exec.temporal import TemporalDurability
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityConfig

REPORTS_ENV = "DEEP_RESEARCH_REPORTS"
RETRIES = RetryPolicy(initial_interval=timedelta(seconds=0.05), backoff_coefficient=1.0, maximum_attempts=3)
ACTIVITIES = ActivityConfig(start_to_close_timeout=timedelta(seconds=60), retry_policy=RETRIES)


class WebSearchStep(BaseModel):
    """One web search of the plan."""

    search_terms: str = Field(description="The terms to search the web for")
    purpose: str = Field(description="What this search should find out")


class ResearchPlan(BaseModel):
    """The planning agent's output."""

    executive_summary: str = Field(description="A one-paragraph summary of the research approach")
    web_search_steps: list[WebSearchStep] = Field(
        description="Two or three distinct web searches", min_length=1, max_length=3
    )
    analysis_instructions: str = Field(description="How the analysis agent should synthesize the results")


PLAN_INSTRUCTIONS = (
    "You are a research planning agent. Break the user's question into two or three distinct web "
    "searches and write instructions for the analyst who will synthesize their results."
)
SEARCH_INSTRUCTIONS = (
    "You are a web search agent. Search the web for the given terms and return a concise summary "
    "of the most relevant findings, with sources."
)
ANALYSIS_INSTRUCTIONS = (
    "You are a senior research analyst. Synthesize the search results into a well-structured report. "
    "Use extra_search if you need more information, publish the report with save_report, then "
    "return the report."
)


def durability() -> TemporalDurability:
    return TemporalDurability(activity_config=ACTIVITIES)


plan_agent = Agent(
    "openai-chat:gpt-4o",
    name="deep_research_planner",
    instructions=PLAN_INSTRUCTIONS,
    output_type=ResearchPlan,
    capabilities=[durability()],
)

search_agent = Agent(
    "openai-chat:gpt-4o-mini",
    name="deep_research_search",
    instructions=SEARCH_INSTRUCTIONS,
    capabilities=[durability()],
)


async def extra_search(query: str) -> str:
    """Perform an extra search for the given query."""
    result = await search_agent.run(query)  # inside the tool's activity: one more model request there
    return result.output


async def save_report(title: str, body: str) -> str:
    """Publish the final report under a title."""
    entry = {"title": title, "body": body, "pid": str(os.getpid())}
    path = os.environ.get(REPORTS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
    return f"published {title!r} ({len(body)} characters)"


analysis_agent = Agent(
    "openai-chat:gpt-4o",
    name="deep_research_analyst",
    instructions=ANALYSIS_INSTRUCTIONS,
    tools=[extra_search, save_report],
    capabilities=[durability()],
)
