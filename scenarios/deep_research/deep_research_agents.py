"""The multi-agent deep-research system of the DBOS + Pydantic AI article, durable with DBOS.

Three agents, each wrapped in ``DBOSAgent`` as in the article (the deprecated wrapper form: its
``run()`` is a DBOS workflow of its own, model requests are DBOS steps):

* a planning agent (``gpt-4o``) turns the query into a :class:`ResearchPlan` (structured output);
* a search agent (``gpt-4o-mini``, plain text) answers one search; the entry workflow fans out one
  ``search_workflow`` per plan step with ``DBOS.start_workflow_async`` and fans in their results;
* an analysis agent (``gpt-4o``) writes the report. Its ``extra_search`` tool runs the search agent
  as a sub-agent (a child workflow of the analysis agent's workflow); its ``save_report`` tool
  publishes the report: a side effect.

Two entry workflows differ only in ``save_report``:

* ``deep_research`` (correct): the publishing happens in a ``@DBOS.step``, which is journaled, so a
  recovered workflow replays its result instead of publishing again;
* ``deep_research_unsafe_publish`` (KNOWN-BAD): ``save_report`` is a plain function tool. Under
  DBOS, function tools are not steps: they run in workflow code and run again on every recovery,
  so a crash after the report was published publishes it twice.

Model traffic comes from ``../_shared/cassettes/deep_research.yaml``, recorded from
``../_shared/scripts/deep_research.yaml`` with
``pytest --chaos --chaos-record`` (no provider needed). Models are ``openai-chat:`` (the scripted
server speaks chat completions only). Published reports are appended, one JSON line each, to the
file named by ``$DEEP_RESEARCH_REPORTS`` when it is set, and always to :data:`PUBLISHED`.

Every workflow and ``DBOSAgent`` is defined at import: DBOS registers them before ``DBOS.launch()``,
and a process that recovers a workflow must have registered it under the same name.
"""

from __future__ import annotations

import json
import os
import warnings
from datetime import datetime
from typing import TypeVar

from dbos import DBOS, WorkflowHandleAsync
from pydantic import BaseModel, Field
from pydantic_ai import Agent, format_as_xml
from pydantic_ai.durable_exec.dbos import DBOSAgent, StepConfig

OutputT = TypeVar("OutputT")

REPORTS_ENV = "DEEP_RESEARCH_REPORTS"
AGENT_STATUS = "agent_status"
PUBLISHED: list[dict[str, str]] = []
"""Reports published by this process (``save_report``)."""

# Model requests are steps; let DBOS retry a failed one (the OpenAI SDK has already retried it
# twice by then). Short intervals keep trials fast.
MODEL_STEPS: StepConfig = {"retries_allowed": True, "max_attempts": 3, "interval_seconds": 0.05}


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


class AgentStatus(BaseModel):
    """Progress the frontend displays (``DBOS.get_event``)."""

    created_at: str
    query: str
    report: str | None
    status: str


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


def durable(agent: Agent[None, OutputT]) -> DBOSAgent[None, OutputT]:
    """``DBOSAgent(agent)`` as in the article (deprecated in pydantic-ai 2.x, still in production)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the wrapper is deprecated in 2.x
        return DBOSAgent(agent, model_step_config=MODEL_STEPS)


plan_agent = Agent(
    "openai-chat:gpt-4o",
    name="deep_research_planner",
    instructions=PLAN_INSTRUCTIONS,
    output_type=ResearchPlan,
)
dbos_plan_agent = durable(plan_agent)

search_agent = Agent(
    "openai-chat:gpt-4o-mini",
    name="deep_research_search",
    instructions=SEARCH_INSTRUCTIONS,
)
dbos_search_agent = durable(search_agent)


# ------------------------------------------------------------------------------------------- tools


async def extra_search(query: str) -> str:
    """Perform an extra search for the given query."""
    result = await dbos_search_agent.run(query)  # a child workflow of the analysis agent's run
    return result.output


def publish(title: str, body: str) -> str:
    """The side effect: publish the report (append it to the reports file)."""
    entry = {"title": title, "body": body, "pid": str(os.getpid())}
    PUBLISHED.append(entry)
    path = os.environ.get(REPORTS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
    return f"published {title!r} ({len(body)} characters)"


@DBOS.step()
async def publish_step(title: str, body: str) -> str:
    """Publishing as a DBOS step: journaled, so recovery replays its result instead of re-running it."""
    return publish(title, body)


async def save_report(title: str, body: str) -> str:
    """Publish the final report under a title."""
    return await publish_step(title, body)


async def save_report_unsafe(title: str, body: str) -> str:
    """Publish the final report under a title."""
    return publish(title, body)  # KNOWN-BAD: workflow code, re-runs on every recovery


analysis_agent = Agent(
    "openai-chat:gpt-4o",
    name="deep_research_analyst",
    instructions=ANALYSIS_INSTRUCTIONS,
    tools=[extra_search, save_report],
)
dbos_analysis_agent = durable(analysis_agent)

# KNOWN-BAD variant: the same agent (same prompt, same tool names and schemas, so the same model
# traffic) whose save_report is a plain function tool.
analysis_agent_unsafe = Agent(
    "openai-chat:gpt-4o",
    name="deep_research_analyst_unsafe",
    instructions=ANALYSIS_INSTRUCTIONS,
)
analysis_agent_unsafe.tool_plain(extra_search)
analysis_agent_unsafe.tool_plain(name="save_report")(save_report_unsafe)
dbos_analysis_agent_unsafe = durable(analysis_agent_unsafe)


# --------------------------------------------------------------------------------------- workflows


@DBOS.workflow()
async def search_workflow(search_terms: str) -> str:
    result = await dbos_search_agent.run(search_terms)
    return result.output


async def research(query: str, analyst: DBOSAgent[None, str]) -> str:
    """Plan, fan out the searches, fan in, analyse: the body of both entry workflows."""
    agent_status = AgentStatus(
        created_at=datetime.now().isoformat(), query=query, report=None, status="PLANNING"
    )
    await DBOS.set_event_async(AGENT_STATUS, agent_status)
    result = await dbos_plan_agent.run(query)
    plan = result.output

    agent_status.status = "SEARCHING"
    await DBOS.set_event_async(AGENT_STATUS, agent_status)
    task_handles: list[WorkflowHandleAsync[str]] = []
    for step in plan.web_search_steps:
        # Start every search without waiting: they run concurrently.
        task_handles.append(await DBOS.start_workflow_async(search_workflow, step.search_terms))
    search_results = [await task.get_result() for task in task_handles]

    agent_status.status = "ANALYZING"
    await DBOS.set_event_async(AGENT_STATUS, agent_status)
    analysis_result = await analyst.run(
        format_as_xml(
            {"query": query, "search_results": search_results, "instructions": plan.analysis_instructions}
        )
    )
    agent_status.report = analysis_result.output
    agent_status.status = "COMPLETED"
    await DBOS.set_event_async(AGENT_STATUS, agent_status)
    return analysis_result.output


@DBOS.workflow()
async def deep_research(query: str) -> str:
    """Correct: the report is published inside a DBOS step."""
    return await research(query, dbos_analysis_agent)


@DBOS.workflow()
async def deep_research_unsafe_publish(query: str) -> str:
    """KNOWN-BAD: the report is published by a plain function tool, again on every recovery."""
    return await research(query, dbos_analysis_agent_unsafe)
