"""The data-analysis agent on Restate (``restate.ext.pydantic``) for ``usage_consistent`` and
``same_model_endpoint``: the usage its runs report, and where its model requests go.

Usage (``usage_consistent``): a tool that fails inside its ``ctx.run`` entry makes Restate retry the
whole invocation, in the same endpoint process: the journal replays the completed model calls.

* KNOWN-BAD ``analyst_job_budget``: the job's (invocation's) running ``RunUsage`` is kept in a module
  dict and carried into every ``agent.run(usage=...)``. The retried invocation counts the replayed
  responses again on top of the failed attempt's.
* Correct twin ``analyst_run_budget``: ``usage_limits`` alone; each run counts its own usage, and a
  replayed entry's response is counted once.

Sub-agent usage (``usage_consistent``): a tool delegates to a summarizer sub-agent with
``usage=ctx.usage`` (pydantic-ai's agent delegation).

* KNOWN-BAD ``analyst_summarizing_in_run``: ``auto_wrap_tools=True`` journals the whole tool as one
  ``ctx.run`` entry, sub-agent included. A clean run counts the sub-agent's request; after a kill the
  retried invocation replays the entry from the journal, the sub-agent does not run, and its usage is
  lost from the result.
* Correct twin ``analyst_durable_summarizer``: the tool is handler code (no ``auto_wrap_tools``) and the
  summarizer a ``RestateAgent`` itself, its model call an entry whose replayed response is counted.

Endpoint (``same_model_endpoint``): ``RestateAgent`` fixes its model when it is built (a model given to
``run`` is refused), so a handler that serves per-tenant gateways builds the agent per invocation after
looking the gateway up in a ``ctx.run`` entry.

* KNOWN-BAD ``analyze_via_gateway_global``: the entry stores the gateway in a process-wide dict as a side
  effect and the model is built from it (the provider's default base URL when unset). After a kill the
  retried invocation replays the entry from the journal in the restarted endpoint: the side effect does
  not happen there and the resumed run's requests go to the public endpoint.
* Correct twin ``analyze_via_gateway``: the model is built from the entry's journaled *result*.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import restate
from data_analyst_core import INSTRUCTIONS, DataAnalysis, compute_statistics, load_dataset
from data_analyst_restate import MODEL, RUN_OPTIONS
from pydantic_ai import Agent, FunctionToolset, RunContext
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.usage import RunUsage, UsageLimits
from restate.ext.pydantic import RestateAgent, restate_context

BUDGET = UsageLimits(request_limit=20)


def analyst_agent(name: str, model: Any = MODEL) -> Agent[None, DataAnalysis]:
    tools = FunctionToolset([load_dataset, compute_statistics], id="analyst_tools")
    return Agent(model, name=name, instructions=INSTRUCTIONS, output_type=DataAnalysis, toolsets=[tools])


# ------------------------------------------------------------------------------------ job budget

JOB_USAGE: dict[str, RunUsage] = {}
"""KNOWN-BAD: each job's (invocation's) running usage, kept across the agent runs of the job."""


class JobBudget(RestateAgent[None, DataAnalysis]):
    """Every run counts against its job's budget: the job's running usage is carried into the run."""

    async def run(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        usage = JOB_USAGE.setdefault(str(restate_context().request().id), RunUsage())
        return await super().run(*args, usage=usage, usage_limits=BUDGET, **kwargs)


class RunBudget(RestateAgent[None, DataAnalysis]):
    """Every run is limited on its own usage."""

    async def run(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return await super().run(*args, usage_limits=BUDGET, **kwargs)


analyst_job_budget = JobBudget(
    analyst_agent("restate_analyst_job_budget"), auto_wrap_tools=True, run_options=RUN_OPTIONS
)
analyst_run_budget = RunBudget(
    analyst_agent("restate_analyst_run_budget"), auto_wrap_tools=True, run_options=RUN_OPTIONS
)

# ------------------------------------------------------------------------------------ sub-agent usage

SUMMARIES = "You write one-line summaries of datasets."
plain_summarizer = Agent(MODEL, instructions=SUMMARIES)
durable_summarizer = RestateAgent(Agent(MODEL, name="restate_summarizer", instructions=SUMMARIES))


async def summarize_dataset(ctx: RunContext[None], name: str) -> str:
    """A one-line summary of a dataset."""
    result = await plain_summarizer.run(f"Summarize {load_dataset(name)}", usage=ctx.usage)
    return result.output


async def summarize_durably(ctx: RunContext[None], name: str) -> str:
    """A one-line summary of a dataset."""
    result = await durable_summarizer.run(f"Summarize {load_dataset(name)}", usage=ctx.usage)
    return result.output


def delegating(name: str, tool: Any) -> Agent[None, DataAnalysis]:
    tools = FunctionToolset(id="analyst_tools")
    tools.tool(tool, name="summarize_dataset")
    return Agent(MODEL, name=name, instructions=INSTRUCTIONS, output_type=DataAnalysis, toolsets=[tools])


# KNOWN-BAD: auto_wrap_tools puts the whole tool, sub-agent included, in one ctx.run entry.
analyst_summarizing_in_run = RestateAgent(
    delegating("restate_analyst_summarizing_in_run", summarize_dataset),
    auto_wrap_tools=True,
    run_options=RUN_OPTIONS,
)
# Correct: the tool is handler code and the summarizer a RestateAgent, its model call an entry of its own.
analyst_durable_summarizer = RestateAgent(
    delegating("restate_analyst_durable_summarizer", summarize_durably), run_options=RUN_OPTIONS
)

# ------------------------------------------------------------------------------------ model gateway

GATEWAYS = {"acme": "https://llm-gateway.example.com/v1"}
CURRENT_GATEWAY: dict[str, str] = {}
"""KNOWN-BAD: process-wide state, filled as a side effect of the lookup entry."""


def look_up_gateway(tenant: str) -> str:
    """The tenant's model gateway (a config service call: a ctx.run entry, replayed on retry)."""
    gateway = GATEWAYS[tenant]
    CURRENT_GATEWAY["base_url"] = gateway  # the side effect that a replay does not repeat
    return gateway


def gateway_analyst(base_url: str | None) -> RestateAgent[None, DataAnalysis]:
    model = OpenAIChatModel("gpt-4o", provider=OpenAIProvider(base_url=base_url))
    return RestateAgent(
        analyst_agent("restate_gateway_analyst", model), auto_wrap_tools=True, run_options=RUN_OPTIONS
    )


gateway_service = restate.Service(
    "GatewayAnalyst",
    invocation_retry_policy=restate.InvocationRetryPolicy(
        initial_interval=timedelta(milliseconds=50),
        max_interval=timedelta(milliseconds=500),
        max_attempts=60,
        on_max_attempts="kill",
    ),
)


@gateway_service.handler()
async def analyze_via_gateway_global(ctx: restate.Context, prompt: str) -> dict[str, Any]:
    await ctx.run_typed("look_up_gateway", look_up_gateway, RUN_OPTIONS, tenant="acme")
    result = await gateway_analyst(CURRENT_GATEWAY.get("base_url")).run(prompt)  # KNOWN-BAD
    return result.output.model_dump(mode="json")


@gateway_service.handler()
async def analyze_via_gateway(ctx: restate.Context, prompt: str) -> dict[str, Any]:
    gateway = await ctx.run_typed("look_up_gateway", look_up_gateway, RUN_OPTIONS, tenant="acme")
    result = await gateway_analyst(gateway).run(prompt)
    return result.output.model_dump(mode="json")
