"""The data-analysis agent on Temporal (``TemporalDurability``) for ``usage_consistent`` and
``same_model_endpoint``: the usage its runs report, and where its model requests go. The workflows
around the gateway agents are in ``scenarios/temporal/gateway_workflows.py``.

Usage (``usage_consistent``), both measured to hold (docs/properties.md, ``usage_consistent``):

* ``analyst_job_budget``: the job's (workflow's) running ``RunUsage`` kept in a module dict and carried
  into every ``agent.run(usage=...)``. A worker that takes over after a kill replays the history in a new
  process, where the dict is empty: every response is counted once.
* ``analyst_delegating``: a tool delegates to a summarizer sub-agent with ``usage=ctx.usage``. The tool
  is an activity, whose ``RunContext`` is a copy deserialized in the activity: the sub-agent's usage
  never reaches the workflow's run, in a clean run as after a replay (lost everywhere, consistently).

Endpoint (``same_model_endpoint``): the tenant's model gateway is looked up in an activity; the agent's
model is the string ``gateway:gpt-4o``, which ``TemporalDurability`` resolves on the worker, inside each
model-request activity, through the ``ResolveModelId`` capability (as pydantic-ai's docs advise).

* KNOWN-BAD ``analyst_on_process_setting``: the lookup activity stores the gateway in a process-wide dict
  as a side effect and the resolver reads it (the provider's default base URL when unset). A worker that
  takes over after a kill gets the lookup's result from the history, the activity does not run in its
  process, and the resumed run's requests go to the public endpoint.
* Correct twin ``analyst_on_deps``: the workflow carries the activity's *result* on the run's deps, which
  travel to every model-request activity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from data_analyst_core import INSTRUCTIONS, DataAnalysis, compute_statistics, load_dataset
from data_analyst_temporal import ACTIVITIES, MODEL_ACTIVITIES
from pydantic_ai import Agent, FunctionToolset, RunContext
from pydantic_ai.agent import WrapperAgent
from pydantic_ai.capabilities import ResolveModelId
from pydantic_ai.durable_exec.temporal import TemporalDurability
from pydantic_ai.models import Model, ModelResolutionContext
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.usage import RunUsage, UsageLimits
from temporalio import activity

BUDGET = UsageLimits(request_limit=20)


def durability() -> TemporalDurability:
    return TemporalDurability(activity_config=ACTIVITIES, model_activity_config=MODEL_ACTIVITIES)


# ------------------------------------------------------------------------------------ usage

analyst = Agent(
    "openai-chat:gpt-4o",
    name="temporal_analyst_budgeted",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[FunctionToolset([load_dataset, compute_statistics], id="analyst_tools")],
    capabilities=[durability()],
)

JOB_USAGE: dict[str, RunUsage] = {}
"""Each job's (workflow's) running usage, kept across the agent runs of the job."""


class JobBudget(WrapperAgent[None, DataAnalysis]):
    """Every run counts against its job's budget: the job's running usage is carried into the run."""

    async def run(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        from temporalio import workflow

        usage = JOB_USAGE.setdefault(workflow.info().workflow_id, RunUsage())
        return await super().run(*args, usage=usage, usage_limits=BUDGET, **kwargs)


analyst_job_budget = JobBudget(analyst)

summarizer = Agent("openai-chat:gpt-4o", instructions="You write one-line summaries of datasets.")


async def summarize_dataset(ctx: RunContext[None], name: str) -> str:
    """A one-line summary of a dataset."""
    result = await summarizer.run(f"Summarize {load_dataset(name)}", usage=ctx.usage)
    return result.output


analyst_delegating = Agent(
    "openai-chat:gpt-4o",
    name="temporal_analyst_delegating",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[FunctionToolset([summarize_dataset], id="analyst_tools")],
    capabilities=[durability()],
)

# ------------------------------------------------------------------------------------ model gateway

GATEWAYS = {"acme": "https://llm-gateway.example.com/v1"}
CURRENT_GATEWAY: dict[str, str] = {}
"""KNOWN-BAD: process-wide state, filled as a side effect of the lookup activity."""


@dataclass
class Tenant:
    name: str
    gateway: str | None = None


@activity.defn(name="data_analyst.look_up_gateway")
async def look_up_gateway(tenant: str) -> str:
    """The tenant's model gateway (a config service call: an activity, its result in the history)."""
    gateway = GATEWAYS[tenant]
    CURRENT_GATEWAY["base_url"] = gateway  # the side effect that a replay does not repeat
    return gateway


def gateway_model(model_id: str, base_url: str | None) -> Model | None:
    prefix, _, name = model_id.partition(":")
    if prefix != "gateway":
        return None
    return OpenAIChatModel(name, provider=OpenAIProvider(base_url=base_url))


def from_process_setting(ctx: ModelResolutionContext[Tenant], model_id: str) -> Model | None:
    return gateway_model(model_id, CURRENT_GATEWAY.get("base_url"))


def from_deps(ctx: ModelResolutionContext[Tenant], model_id: str) -> Model | None:
    return gateway_model(model_id, ctx.deps.gateway)


def gateway_analyst(name: str, resolver: object) -> Agent[Tenant, DataAnalysis]:
    return Agent(
        "gateway:gpt-4o",
        name=name,
        instructions=INSTRUCTIONS,
        output_type=DataAnalysis,
        deps_type=Tenant,
        toolsets=[FunctionToolset([load_dataset, compute_statistics], id="analyst_tools")],
        capabilities=[ResolveModelId(resolver), durability()],  # type: ignore[arg-type]
    )


analyst_on_process_setting = gateway_analyst("temporal_gateway_global", from_process_setting)
analyst_on_deps = gateway_analyst("temporal_gateway_deps", from_deps)
