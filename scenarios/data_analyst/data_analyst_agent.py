"""The data-analysis agent of the Prefect article (three model requests, two tools, structured
output), made durable with Prefect in the two ways users have in production, plus known-bad
variants the harness must catch.

Model traffic comes from ``cassettes/data_analyst.yaml``, recorded from
``../_shared/scripts/data_analyst.yaml`` with
``pytest --chaos --chaos-record`` (no provider needed). Retry delays are short so trials are fast;
the article uses 1, 2, 4 seconds.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass
from typing import Any

from data_analyst_core import (  # noqa: F401
    INSTRUCTIONS,
    SALES_Q4,
    DataAnalysis,
    bill_query,
    compute_statistics,
    load_dataset,
)
from prefect import flow, task
from prefect.cache_policies import TASK_SOURCE, CachePolicy
from pydantic_ai import Agent, FunctionToolset, RunContext
from pydantic_ai.durable_exec.prefect import PrefectAgent, PrefectDurability, TaskConfig
from pydantic_ai.exceptions import ModelHTTPError

MODEL_TASKS = TaskConfig(retries=3, retry_delay_seconds=[0.05, 0.1, 0.2], timeout_seconds=60.0)
TOOL_TASKS = TaskConfig(retries=2, retry_delay_seconds=[0.05, 0.1])


def analyst_tools(toolset_id: str) -> FunctionToolset:
    toolset = FunctionToolset(id=toolset_id)
    toolset.tool_plain(load_dataset)
    toolset.tool_plain(compute_statistics)
    return toolset


# The capability form (pydantic-ai 2.x): the agent runs inside a flow and its model requests and
# tool calls become Prefect tasks of that flow.
analyst = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[analyst_tools("analyst_tools")],
    capabilities=[PrefectDurability(model_task_config=MODEL_TASKS, tool_task_config=TOOL_TASKS)],
)

# The deprecated wrapper form, as in the article: `.run()` is a flow of its own.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # the wrapper is deprecated in 2.x
    analyst_wrapper = PrefectAgent(
        Agent(
            "openai-chat:gpt-4o",
            name="data_analyst",
            instructions=INSTRUCTIONS,
            output_type=DataAnalysis,
            toolsets=[analyst_tools("analyst_tools")],
        ),
        model_task_config=MODEL_TASKS,
        tool_task_config=TOOL_TASKS,
    )


# KNOWN-BAD: `compute_statistics` opts out of its Prefect task (metadata {'prefect': False}), so it runs
# in the flow: when it fails, no task retry sees the failure and the flow run fails. The harness must
# report `completes`, naming the tool as not a durable unit.
untasked_tools = FunctionToolset(id="analyst_tools")
untasked_tools.tool_plain(load_dataset)
untasked_tools.tool_plain(compute_statistics, metadata={"prefect": False})
analyst_untasked_tool = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[untasked_tools],
    capabilities=[PrefectDurability(model_task_config=MODEL_TASKS, tool_task_config=TOOL_TASKS)],
)


# KNOWN-BAD: the request time travels in the run's deps, and the flow builds the deps afresh on
# every attempt. pydantic-ai's cache policy hashes deps into each tool task's key (a tool may read
# them), so after a flow retry every tool task has a new key and runs again, although nothing it
# depends on changed. The harness must report exactly `stable_cache_keys`.
@dataclass
class AnalysisRequest:
    dataset: str
    requested_at: dt.datetime


def load_requested_dataset(ctx: RunContext[AnalysisRequest], name: str) -> dict[str, list[float] | list[str]]:
    """Load a dataset by name."""
    return load_dataset(name)


def compute_requested_statistics(ctx: RunContext[AnalysisRequest], column: str) -> dict[str, float]:
    """Mean, max and min of a numeric column of the loaded dataset."""
    return compute_statistics(column)


def requested_tools() -> FunctionToolset[AnalysisRequest]:
    toolset: FunctionToolset[AnalysisRequest] = FunctionToolset(id="analyst_tools")
    toolset.tool(load_requested_dataset, name="load_dataset")
    toolset.tool(compute_requested_statistics, name="compute_statistics")
    return toolset


analyst_with_request = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    deps_type=AnalysisRequest,
    toolsets=[requested_tools()],
    capabilities=[PrefectDurability(model_task_config=MODEL_TASKS, tool_task_config=TOOL_TASKS)],
)


@flow(name="analyze-sales-report")
async def analyze_sales_report(prompt: str) -> DataAnalysis:
    """A user's flow around the agent. The bug: `requested_at` is taken anew on every attempt."""
    request = AnalysisRequest(dataset="sales_q4", requested_at=dt.datetime.now(dt.UTC))
    result = await analyst_with_request.run(prompt, deps=request)
    return result.output


# KNOWN-BAD: a task argument carries the current time. The audit task's cache key (Prefect's
# default policy: inputs, task source, flow run id) changes on every attempt of the flow, so after a
# flow retry the audit runs again instead of replaying. The agent itself is fine. The harness must
# report exactly `stable_cache_keys`.
@task(name="record-analysis-request")
def record_analysis_request(dataset: str, requested_at: dt.datetime) -> str:
    """Write an audit entry for the analysis request."""
    return f"{dataset} requested at {requested_at.isoformat()}"


@flow(name="analyze-sales-audited")
async def analyze_sales_audited(prompt: str) -> DataAnalysis:
    record_analysis_request("sales_q4", dt.datetime.now(dt.UTC))
    result = await analyst.run(prompt)
    return result.output


# KNOWN-BAD: no retries anywhere. A tool error that a single retry would absorb fails the run.
# The harness must report exactly `completes`.
analyst_without_retries = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[analyst_tools("analyst_tools")],
    capabilities=[
        PrefectDurability(model_task_config=TaskConfig(retries=0), tool_task_config=TaskConfig(retries=0))
    ],
)


# KNOWN-BAD: the report embeds state that is not part of the durable record (which attempt of the
# flow produced it), so a run that needed a retry returns a different result from a clean run.
# The harness must report exactly `output_matches_golden`.
@flow(name="analyze-sales-stamped")
async def analyze_sales_stamped(prompt: str) -> dict[str, object]:
    from prefect.runtime import flow_run

    result = await analyst.run(prompt)
    return {"analysis": result.output.model_dump(), "produced_by_attempt": flow_run.run_count}


# KNOWN-BAD (no_false_cache_sharing): to let a *new* flow run started after a crash replay the model
# requests already paid for, the team keys each model request by where the conversation has got (the
# number of messages) instead of pydantic-ai's default policy (inputs + task source + flow run id).
# Within one conversation the keys are distinct and stable, so every chaos trial of a single prompt
# passes; but any other run that reaches the same position, whatever its prompt, receives this run's
# cached responses. The harness must report exactly `no_false_cache_sharing`.
@dataclass
class ConversationPosition(CachePolicy):
    """Cache key: how many messages the model request carries (its step in the conversation)."""

    def compute_key(
        self, task_ctx: Any, inputs: dict[str, Any], flow_parameters: dict[str, Any], **kwargs: Any
    ) -> str | None:
        # pydantic-ai's durable operations take (operation name, *logical inputs); the messages are the
        # one list among the logical inputs.
        messages = next((v for v in inputs.get("logical_inputs", ()) if isinstance(v, list)), [])
        return f"{inputs.get('operation_name')} at message {len(messages)}"


analyst_cached_by_position = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[analyst_tools("analyst_tools")],
    capabilities=[
        PrefectDurability(
            model_task_config=TaskConfig(**MODEL_TASKS, cache_policy=TASK_SOURCE + ConversationPosition()),
            tool_task_config=TOOL_TASKS,
        )
    ],
)


# KNOWN-BAD (bounded_retries): the flow retries the whole agent run on a provider error, on top of the
# model tasks' own retries (3) and the OpenAI SDK's (2). A 429 storm that outlasts the task's 4 attempts
# starts the same model request again as a new task run: 5 and more engine-level attempts where the
# policy allows 4, and up to 5 x 4 x 3 = 60 HTTP sends per request. The harness must report exactly
# `bounded_retries`.
@flow(name="analyze-sales-retrying")
async def analyze_sales_retrying(prompt: str) -> DataAnalysis:
    for attempt in range(1, 6):
        try:
            result = await analyst.run(prompt)
        except ModelHTTPError:
            if attempt == 5:
                raise
            continue
        return result.output
    raise AssertionError("unreachable")


# output_matches_golden with a comparator: the report says when it was generated, which differs on
# every run, so structural equality with the golden run can never hold. `comparators:same_report`
# compares everything else. `analyze_sales_dated_attempt` is KNOWN-BAD as `analyze_sales_stamped`:
# the comparator must still catch the attempt number.
@flow(name="analyze-sales-dated")
async def analyze_sales_dated(prompt: str) -> dict[str, object]:
    result = await analyst.run(prompt)
    return {"analysis": result.output.model_dump(), "generated_at": dt.datetime.now(dt.UTC).isoformat()}


@flow(name="analyze-sales-dated-attempt")
async def analyze_sales_dated_attempt(prompt: str) -> dict[str, object]:
    from prefect.runtime import flow_run

    result = await analyst.run(prompt)
    return {
        "analysis": result.output.model_dump(),
        "generated_at": dt.datetime.now(dt.UTC).isoformat(),
        "produced_by_attempt": flow_run.run_count,
    }


# The at-least-once twins: `load_dataset` bills a warehouse query in its Prefect task. A task's result
# is stored only after its body returns: a crash in between runs the task again when the flow run is
# resumed. KNOWN-BAD `analyst_billed` bills every run of the task; `analyst_billed_once` bills once per
# (flow run, dataset), a key the resumed flow run keeps, so the repeat is deduplicated.
def load_dataset_billed(name: str) -> dict[str, list[float] | list[str]]:
    """Load a dataset by name."""
    bill_query(name)
    return load_dataset(name)


def load_dataset_billed_once(name: str) -> dict[str, list[float] | list[str]]:
    """Load a dataset by name."""
    from prefect.runtime import flow_run

    bill_query(name, key=f"{flow_run.id}:{name}")
    return load_dataset(name)


def load_dataset_billed_per_process(name: str) -> dict[str, list[float] | list[str]]:
    """Load a dataset by name."""
    import data_analyst_core as core
    from prefect.runtime import flow_run

    # KNOWN-BAD, only a warm worker shows it: the key numbers this process's bills (see there).
    core.bill_query_numbered_per_process(name, str(flow_run.id))
    return load_dataset(name)


def billed_tools(body: Any) -> FunctionToolset:
    toolset = FunctionToolset(id="analyst_tools")
    toolset.tool_plain(body, name="load_dataset")
    toolset.tool_plain(compute_statistics)
    return toolset


analyst_billed = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[billed_tools(load_dataset_billed)],
    capabilities=[PrefectDurability(model_task_config=MODEL_TASKS, tool_task_config=TOOL_TASKS)],
)
analyst_billed_once = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[billed_tools(load_dataset_billed_once)],
    capabilities=[PrefectDurability(model_task_config=MODEL_TASKS, tool_task_config=TOOL_TASKS)],
)
analyst_billed_per_process = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[billed_tools(load_dataset_billed_per_process)],
    capabilities=[PrefectDurability(model_task_config=MODEL_TASKS, tool_task_config=TOOL_TASKS)],
)
