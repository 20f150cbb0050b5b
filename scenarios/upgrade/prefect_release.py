"""The data analyst on Prefect, built per release (``report_prefect_v1`` and its next releases): the
``PrefectDurability`` capability, so model requests and tool calls are Prefect tasks cached by
pydantic-ai's policy (inputs, task source, flow run id), or by a policy of the application's own
(``BY_POSITION``)."""

from __future__ import annotations

from collections.abc import Callable

from data_analyst_core import INSTRUCTIONS, DataAnalysis, compute_statistics, load_dataset
from prefect.cache_policies import CachePolicy
from prefect.context import FlowRunContext, TaskRunContext
from pydantic_ai import Agent, FunctionToolset
from pydantic_ai.durable_exec.prefect import PrefectDurability, TaskConfig

MODEL_TASKS = TaskConfig(retries=3, retry_delay_seconds=[0.05, 0.1, 0.2], timeout_seconds=60.0)
TOOL_TASKS = TaskConfig(retries=2, retry_delay_seconds=[0.05, 0.1])


_places: dict[tuple[str, int], dict[str, int]] = {}
"""Per attempt of a flow run (its id and run count), the place of each of its task runs."""


def by_position(context: TaskRunContext, parameters: dict[str, object]) -> str:
    """One result per place in the flow run: the n-th task run of an attempt of the flow run. Written to
    make a retried flow run reuse every result it completed whatever its inputs hold; it ignores the
    inputs, so a release that changes them restores N's results for N+1's inputs."""
    flow_context = FlowRunContext.get()
    assert flow_context is not None and flow_context.flow_run is not None
    flow_run = flow_context.flow_run
    places = _places.setdefault((str(flow_run.id), flow_run.run_count), {})
    place = places.setdefault(str(context.task_run.id), len(places))
    return f"{flow_run.id}:{context.task.name}:{place}"


BY_POSITION = CachePolicy.from_cache_key_fn(by_position)


def analyst_tools(load: Callable[[str], object] = load_dataset) -> FunctionToolset:
    toolset = FunctionToolset(id="analyst_tools")
    toolset.tool_plain(load, name="load_dataset")
    toolset.tool_plain(compute_statistics)
    return toolset


def build(
    instructions: str = INSTRUCTIONS,
    model_tasks: TaskConfig = MODEL_TASKS,
    cache_policy: CachePolicy | None = None,
    load: Callable[[str], object] = load_dataset,
) -> Agent[None, DataAnalysis]:
    tool_tasks = TOOL_TASKS
    if cache_policy is not None:
        model_tasks = TaskConfig(**model_tasks, cache_policy=cache_policy)
        tool_tasks = TaskConfig(**tool_tasks, cache_policy=cache_policy)
    return Agent(
        "openai-chat:gpt-4o",
        name="data_analyst",
        instructions=instructions,
        output_type=DataAnalysis,
        toolsets=[analyst_tools(load)],
        capabilities=[PrefectDurability(model_task_config=model_tasks, tool_task_config=tool_tasks)],
    )
