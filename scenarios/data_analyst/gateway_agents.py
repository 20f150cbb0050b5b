"""The data-analysis agent behind a per-tenant model gateway: where its model requests go is decided
at run time, by a Prefect task that looks the tenant's gateway up.

The model is a model-name string that the agent's ``ResolveModelId`` capability turns into an OpenAI
model on the tenant's gateway, inside each model-request task (the way pydantic-ai's Prefect docs advise
building a specific model instance at run time).

KNOWN-BAD ``analyze_via_gateway_global``: the lookup task stores the gateway in a process-wide setting as
a side effect, and the resolver reads that setting, falling back to the provider's default base URL.
When a new worker resumes the flow run after a crash, the lookup task is replayed from its cached
result, so its side effect never happens in that process: the resumed run's model is rebuilt from
defaults and sends the conversation to the public endpoint with the ambient key. The harness must
report exactly ``same_model_endpoint``.

Correct twin ``analyze_via_gateway``: the flow passes the task's *result* on the run's deps, and the
resolver reads it from there: the replayed result configures the resumed run exactly like the first.
"""

from __future__ import annotations

from dataclasses import dataclass

from data_analyst_core import INSTRUCTIONS, DataAnalysis, compute_statistics, load_dataset
from prefect import flow, task
from pydantic_ai import Agent, FunctionToolset
from pydantic_ai.capabilities import ResolveModelId
from pydantic_ai.durable_exec.prefect import PrefectDurability, TaskConfig
from pydantic_ai.models import Model, ModelResolutionContext
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

MODEL_TASKS = TaskConfig(retries=3, retry_delay_seconds=[0.05, 0.1, 0.2], timeout_seconds=60.0)
TOOL_TASKS = TaskConfig(retries=2, retry_delay_seconds=[0.05, 0.1])

GATEWAYS = {"acme": "https://llm-gateway.example.com/v1"}
"""The tenants' model gateways (a config service in production)."""

CURRENT_GATEWAY: dict[str, str] = {}
"""KNOWN-BAD: process-wide state, filled as a side effect of the lookup task."""


@dataclass
class Tenant:
    name: str
    gateway: str | None = None


@task(name="look-up-gateway", persist_result=True)
def look_up_gateway(tenant: str) -> str:
    """The tenant's model gateway (a call to a config service: a durable unit, replayed on resume)."""
    gateway = GATEWAYS[tenant]
    CURRENT_GATEWAY["base_url"] = gateway  # the side effect that a replay does not repeat
    return gateway


def gateway_model(model_id: str, base_url: str | None) -> Model | None:
    """``gateway:<model>`` as an OpenAI chat model on ``base_url`` (the provider's default when None)."""
    prefix, _, name = model_id.partition(":")
    if prefix != "gateway":
        return None
    return OpenAIChatModel(name, provider=OpenAIProvider(base_url=base_url))


def from_process_setting(ctx: ModelResolutionContext[Tenant], model_id: str) -> Model | None:
    return gateway_model(model_id, CURRENT_GATEWAY.get("base_url"))


def from_deps(ctx: ModelResolutionContext[Tenant], model_id: str) -> Model | None:
    return gateway_model(model_id, ctx.deps.gateway)


def gateway_analyst(resolver: object) -> Agent[Tenant, DataAnalysis]:
    return Agent(
        "gateway:gpt-4o",
        name="data_analyst",
        instructions=INSTRUCTIONS,
        output_type=DataAnalysis,
        deps_type=Tenant,
        toolsets=[FunctionToolset([load_dataset, compute_statistics], id="analyst_tools")],
        capabilities=[
            ResolveModelId(resolver),  # type: ignore[arg-type]
            PrefectDurability(model_task_config=MODEL_TASKS, tool_task_config=TOOL_TASKS),
        ],
    )


analyst_on_process_setting = gateway_analyst(from_process_setting)
analyst_on_deps = gateway_analyst(from_deps)


@flow(name="analyze-via-gateway-global")
async def analyze_via_gateway_global(prompt: str, tenant: str = "acme") -> DataAnalysis:
    look_up_gateway(tenant)
    result = await analyst_on_process_setting.run(prompt, deps=Tenant(tenant))
    return result.output


@flow(name="analyze-via-gateway")
async def analyze_via_gateway(prompt: str, tenant: str = "acme") -> DataAnalysis:
    gateway = look_up_gateway(tenant)
    result = await analyst_on_deps.run(prompt, deps=Tenant(tenant, gateway))
    return result.output
