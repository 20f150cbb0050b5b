"""The data-analysis agent under DBOS (``DBOSDurability``) for ``usage_consistent`` and
``same_model_endpoint``: the usage its runs report, and where its model requests go.

Usage (``usage_consistent``):

* KNOWN-BAD ``analyst_summarizing_in_step``: a tool delegates to a summarizer sub-agent with
  ``usage=ctx.usage`` (pydantic-ai's agent delegation) inside a ``@DBOS.step`` of its own, so that the
  summary is journaled. A clean run counts the sub-agent's request; a recovery after a kill replays the
  step from the system database, the sub-agent does not run, and its usage is lost from the result (the
  step's journaled output is the tool's return value, not the usage it added).
* Correct twin ``analyst_durable_summarizer``: the tool stays workflow code (DBOS's default for function
  tools) and the summarizer is a ``DBOSDurability`` agent itself: its model request is a DBOS step, and a
  replayed step's response is counted again by the recovering run like a live one.
* ``analyst_job_budget``: the job's (workflow's) running ``RunUsage`` kept in a module dict and carried
  into every ``agent.run(usage=...)``. Measured to hold on DBOS: a recovery after a kill runs in another
  process, where the dict is empty (docs/properties.md, ``usage_consistent``).

Endpoint (``same_model_endpoint``): the tenant's model gateway is looked up in a DBOS step.

* KNOWN-BAD ``analyze_via_gateway_global``: the step stores the gateway in a process-wide dict as a side
  effect and the resolver builds the model from it (the provider's default base URL when unset). The
  worker that recovers the workflow after a kill replays the step from its journaled output: the side
  effect does not happen there and the resumed run's requests go to the public endpoint.
* Correct twin ``analyze_via_gateway``: the workflow carries the step's *result* on the run's deps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from data_analyst_core import INSTRUCTIONS, DataAnalysis, compute_statistics, load_dataset
from dbos import DBOS
from pydantic_ai import Agent, FunctionToolset, RunContext
from pydantic_ai.agent import WrapperAgent
from pydantic_ai.capabilities import ResolveModelId
from pydantic_ai.durable_exec.dbos import DBOSDurability, StepConfig
from pydantic_ai.models import Model, ModelResolutionContext
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.usage import RunUsage, UsageLimits

MODEL_STEPS = StepConfig(retries_allowed=True, max_attempts=4, interval_seconds=0.05, backoff_rate=1.0)
BUDGET = UsageLimits(request_limit=20)

# ------------------------------------------------------------------------------------ sub-agent usage

plain_summarizer = Agent("openai-chat:gpt-4o", instructions="You write one-line summaries of datasets.")
durable_summarizer = Agent(
    "openai-chat:gpt-4o",
    name="dbos_summarizer",
    instructions="You write one-line summaries of datasets.",
    capabilities=[DBOSDurability(model_step_config=MODEL_STEPS)],
)


@DBOS.step(name="data_analyst.summarize_dataset")
async def summarize_step(name: str, usage: RunUsage) -> str:
    result = await plain_summarizer.run(f"Summarize {load_dataset(name)}", usage=usage)
    return result.output


async def summarize_in_step(ctx: RunContext[None], name: str) -> str:
    """A one-line summary of a dataset."""
    return await summarize_step(name, ctx.usage)  # KNOWN-BAD: the usage it adds is not journaled


async def summarize_durably(ctx: RunContext[None], name: str) -> str:
    """A one-line summary of a dataset."""
    result = await durable_summarizer.run(f"Summarize {load_dataset(name)}", usage=ctx.usage)
    return result.output


def delegating(name: str, tool: Any) -> Agent[None, DataAnalysis]:
    tools = FunctionToolset(id="analyst_tools")
    tools.tool(tool, name="summarize_dataset")
    return Agent(
        "openai-chat:gpt-4o",
        name=name,
        instructions=INSTRUCTIONS,
        output_type=DataAnalysis,
        toolsets=[tools],
        capabilities=[DBOSDurability(model_step_config=MODEL_STEPS)],
    )


analyst_summarizing_in_step = delegating("dbos_analyst_summarizing_in_step", summarize_in_step)
analyst_durable_summarizer = delegating("dbos_analyst_durable_summarizer", summarize_durably)

# ------------------------------------------------------------------------------------ job budget

analyst = Agent(
    "openai-chat:gpt-4o",
    name="dbos_analyst_budgeted",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[FunctionToolset([load_dataset, compute_statistics], id="analyst_tools")],
    capabilities=[DBOSDurability(model_step_config=MODEL_STEPS)],
)

JOB_USAGE: dict[str, RunUsage] = {}
"""Each job's (workflow's) running usage, kept across the agent runs of the job."""


class JobBudget(WrapperAgent[None, DataAnalysis]):
    """Every run counts against its job's budget: the job's running usage is carried into the run."""

    async def run(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        usage = JOB_USAGE.setdefault(str(DBOS.workflow_id), RunUsage())
        return await super().run(*args, usage=usage, usage_limits=BUDGET, **kwargs)


analyst_job_budget = JobBudget(analyst)

# ------------------------------------------------------------------------------------ model gateway

GATEWAYS = {"acme": "https://llm-gateway.example.com/v1"}
CURRENT_GATEWAY: dict[str, str] = {}
"""KNOWN-BAD: process-wide state, filled as a side effect of the lookup step."""


@dataclass
class Tenant:
    name: str
    gateway: str | None = None


@DBOS.step(name="data_analyst.look_up_gateway")
def look_up_gateway(tenant: str) -> str:
    """The tenant's model gateway (a config service call: a step, replayed on recovery)."""
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
        capabilities=[
            ResolveModelId(resolver),  # type: ignore[arg-type]
            DBOSDurability(model_step_config=MODEL_STEPS),
        ],
    )


analyst_on_process_setting = gateway_analyst("dbos_gateway_global", from_process_setting)
analyst_on_deps = gateway_analyst("dbos_gateway_deps", from_deps)


@DBOS.workflow(name="data_analyst.analyze_via_gateway_global")
async def analyze_via_gateway_global(prompt: str, tenant: str = "acme") -> DataAnalysis:
    look_up_gateway(tenant)
    result = await analyst_on_process_setting.run(prompt, deps=Tenant(tenant))
    return result.output


@DBOS.workflow(name="data_analyst.analyze_via_gateway")
async def analyze_via_gateway(prompt: str, tenant: str = "acme") -> DataAnalysis:
    gateway = look_up_gateway(tenant)
    result = await analyst_on_deps.run(prompt, deps=Tenant(tenant, gateway))
    return result.output
