"""The data-analysis agent under DBOS (the ``DBOSDurability`` capability): model requests are DBOS
steps, replayed from the system database after a crash. Its requests are identical to the Prefect
version's, so it replays the same cassette.

Under DBOS, plain function tools are NOT steps: they run in the workflow and run again on every
recovery. ``analyst`` journals its side-effecting tool in a ``@DBOS.step``; ``analyst_retried_tool`` in a
step that DBOS retries (``retries_allowed=True``); ``analyst_plain_tools`` does not (known-bad when
``load_dataset`` has a side effect or can fail: no step retry sees its failure).

The at-least-once twins bill a warehouse query (``data_analyst_core.bill_query``) inside a
``@DBOS.step``. A step is journaled only after its body returns: a crash in between runs the body
again on recovery. ``analyst_billed_step`` (KNOWN-BAD) bills every run of the body, so the query is
billed twice; ``analyst_billed_once_step`` bills once per (workflow id, dataset), a key that recovery
keeps, so the repeat is deduplicated. ``analyst_billed_per_process`` (KNOWN-BAD, caught only by a
warm resume, ``resume_worker: warm``) numbers its bills per process in the key: a new worker deduplicates
the repeat, a worker that already served another run bills it again.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import data_analyst_core as core
from data_analyst_core import INSTRUCTIONS, DataAnalysis, compute_statistics, load_dataset
from dbos import DBOS
from pydantic_ai import Agent, FunctionToolset
from pydantic_ai.durable_exec.dbos import DBOSDurability, StepConfig

MODEL_STEPS = StepConfig(retries_allowed=True, max_attempts=4, interval_seconds=0.05, backoff_rate=1.0)


@DBOS.step(name="data_analyst.load_dataset")
def load_dataset_step(name: str) -> dict[str, list[float] | list[str]]:
    return load_dataset(name)


def load_dataset_journaled(name: str) -> dict[str, list[float] | list[str]]:
    """Load a dataset by name."""
    return load_dataset_step(name)


@DBOS.step(
    name="data_analyst.load_dataset_retried", retries_allowed=True, max_attempts=3, interval_seconds=0.05
)
def load_dataset_retried_step(name: str) -> dict[str, list[float] | list[str]]:
    return load_dataset(name)


def load_dataset_retried(name: str) -> dict[str, list[float] | list[str]]:
    """Load a dataset by name."""
    return load_dataset_retried_step(name)


@DBOS.step(name="data_analyst.load_dataset_billed")
def load_dataset_billed_step(name: str) -> dict[str, list[float] | list[str]]:
    core.bill_query(name)  # KNOWN-BAD: billed again when the step's body runs again
    return load_dataset(name)


def load_dataset_billed(name: str) -> dict[str, list[float] | list[str]]:
    """Load a dataset by name."""
    return load_dataset_billed_step(name)


@DBOS.step(name="data_analyst.load_dataset_billed_once")
def load_dataset_billed_once_step(name: str) -> dict[str, list[float] | list[str]]:
    core.bill_query(name, key=f"{DBOS.workflow_id}:{name}")  # the workflow id survives recovery
    return load_dataset(name)


def load_dataset_billed_once(name: str) -> dict[str, list[float] | list[str]]:
    """Load a dataset by name."""
    return load_dataset_billed_once_step(name)


@DBOS.step(name="data_analyst.load_dataset_billed_per_process")
def load_dataset_billed_per_process_step(name: str) -> dict[str, list[float] | list[str]]:
    core.bill_query_numbered_per_process(name, str(DBOS.workflow_id))  # KNOWN-BAD: see there
    return load_dataset(name)


def load_dataset_billed_per_process(name: str) -> dict[str, list[float] | list[str]]:
    """Load a dataset by name."""
    return load_dataset_billed_per_process_step(name)


def toolset(journaled: bool, retried: bool = False, body: Any = None) -> FunctionToolset:
    tools = FunctionToolset(id="analyst_tools")
    if body is None:
        body = load_dataset_retried if retried else load_dataset_journaled if journaled else load_dataset
    tools.tool_plain(body, name="load_dataset")
    tools.tool_plain(compute_statistics)
    return tools


analyst = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst_dbos",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[toolset(journaled=True)],
    capabilities=[DBOSDurability(model_step_config=MODEL_STEPS)],
)

# `load_dataset`'s body is a step DBOS retries (3 attempts): a failure inside it is retried by DBOS.
analyst_retried_tool = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst_dbos_retried",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[toolset(journaled=True, retried=True)],
    capabilities=[DBOSDurability(model_step_config=MODEL_STEPS)],
)

# KNOWN-BAD: `load_dataset` is a plain function tool, so it runs again when DBOS recovers the workflow.
analyst_plain_tools = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst_dbos_plain",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[toolset(journaled=False)],
    capabilities=[DBOSDurability(model_step_config=MODEL_STEPS)],
)


# The at-least-once twins (see the module docstring).
analyst_billed_step = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst_dbos_billed",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[toolset(journaled=True, body=load_dataset_billed)],
    capabilities=[DBOSDurability(model_step_config=MODEL_STEPS)],
)
analyst_billed_once_step = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst_dbos_billed_once",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[toolset(journaled=True, body=load_dataset_billed_once)],
    capabilities=[DBOSDurability(model_step_config=MODEL_STEPS)],
)
analyst_billed_per_process = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst_dbos_billed_per_process",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[toolset(journaled=True, body=load_dataset_billed_per_process)],
    capabilities=[DBOSDurability(model_step_config=MODEL_STEPS)],
)


# Workflows that keep a local copy of the dataset in a scratch file, for the tools to read. Deciding in
# WORKFLOW code whether to download it (a step) depends on a file, which is not in DBOS's journal: the
# step sequence then depends on the machine's state, not on the workflow's inputs and journal.
#
# * KNOWN-BAD `analyze_with_local_copy`: one copy per workflow. A recovery after a crash finds the copy
#   the interrupted execution left, skips the download, and calls the first model request at the step
#   id the journal recorded for the download: DBOS refuses the recovery (DBOSUnexpectedStepError).
# * KNOWN-BAD `analyze_with_shared_copy`: one copy per machine, shared by every run. The first run
#   downloads; the next one skips the download, so its steps differ from the first run's with the same
#   inputs. DBOS never notices (no recovery), but a crash between the copy's appearance and a recovery
#   would make the recovery take another path.
# * correct `analyze_with_journaled_copy`: the decision is made inside the download step, so the journal
#   replays it and every execution calls the same steps.


def scratch(name: str) -> Path:
    folder = Path(tempfile.gettempdir()) / "data-analyst-scratch"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.json"


@DBOS.step(name="data_analyst.download_dataset")
def download_dataset(name: str, copy: str) -> int:
    """Fetch the dataset from the warehouse into a local copy; returns its size."""
    text = json.dumps(load_dataset(name))
    Path(copy).write_text(text)
    return len(text)


@DBOS.step(name="data_analyst.ensure_local_copy")
def ensure_local_copy(name: str, copy: str) -> int:
    """The same download, skipped inside the step when the copy exists: journaled either way."""
    path = Path(copy)
    if not path.exists():
        path.write_text(json.dumps(load_dataset(name)))
    return path.stat().st_size


@DBOS.workflow(name="data_analyst.analyze_with_local_copy")
async def analyze_with_local_copy(prompt: str) -> DataAnalysis:
    copy = scratch(f"sales_q4-{DBOS.workflow_id}")
    try:
        if not copy.exists():  # BUG: a decision on state outside the journal
            download_dataset("sales_q4", str(copy))
        result = await analyst.run(prompt)
        return result.output
    finally:
        copy.unlink(missing_ok=True)


@DBOS.workflow(name="data_analyst.analyze_with_shared_copy")
async def analyze_with_shared_copy(prompt: str) -> DataAnalysis:
    copy = scratch("sales_q4")
    if not copy.exists():  # BUG: a decision on state outside the journal
        download_dataset("sales_q4", str(copy))
    result = await analyst.run(prompt)
    return result.output


@DBOS.workflow(name="data_analyst.analyze_with_journaled_copy")
async def analyze_with_journaled_copy(prompt: str) -> DataAnalysis:
    ensure_local_copy("sales_q4", str(scratch("sales_q4")))
    result = await analyst.run(prompt)
    return result.output
