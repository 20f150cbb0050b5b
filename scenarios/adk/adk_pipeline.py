"""An ADK agent pipeline compiled to Prefect by adk-fluent, as durable-chaos targets.

The pipeline is the one of adk-fluent's Prefect backend guide: ``researcher >> analyst >> writer``,
three ADK agents on Gemini, built with adk-fluent's builders and compiled with ``PrefectBackend``.
adk-fluent says of this backend: "task results are cached by Prefect, so on retry, completed tasks
return their cached results instead of re-executing (reducing LLM costs)". The targets here measure it:

* ``generated_flow`` (KNOWN-BAD, as generated): the flow source ``generate_flow_code(...)`` emits with
  its default ``PrefectWorkerConfig`` (``result_persistence=True``: ``@task(retries=2,
  persist_result=True)``), executed as a module would import it. Each task takes the model provider as
  an input; once the provider has built its ``genai.Client`` (at the first LLM call) Prefect cannot
  hash it, so every later task gets no cache key and its result is stored under none: after a kill,
  the resumed flow run pays those tasks again;
* ``generated_flow_unpersisted`` (KNOWN-BAD): the same with ``result_persistence=False``, the options
  of adk-fluent's own run path (``PrefectBackend.run`` decorates every LLM call ``@task(retries=2)``);
* ``generated_flow_keyed`` (correct): the generated flow whose tasks leave the model provider out of
  their cache key (``cache_policy=DEFAULT - "model_provider"``, as Prefect advises for an input it
  cannot hash); with persisted results, completed tasks are replayed after a kill;
* ``run_path``: adk-fluent's in-process runnable, ``PrefectBackend.run(compiled, prompt)``, inside an
  entry flow. It runs only the plan's top-level task items, and this pipeline's root is a sequence
  (one flow item), so it sends no model request at all.

Every task calls Gemini through adk-fluent's ``GeminiProvider`` (``google-genai``, async, over
``httpx``), which the harness intercepts: the model traffic comes from ``cassettes/research.yaml``,
recorded offline from ``research.script.yaml``. The generated flow takes the model provider as a
keyword-only parameter (an object, so it cannot come from the scenario's ``args``): it is bound here
as the parameter's default. The agents' instructions reach the generated tasks only through the flow's
``initial_state`` (``_instruction_<agent>``), which the scenario passes.

Needs ``pip install 'durable-chaos[adk]'`` (adk-fluent and google-adk).
"""

from __future__ import annotations

from typing import Any

from adk_fluent import Agent
from adk_fluent.backends.prefect_backend import PrefectBackend
from adk_fluent.backends.prefect_worker import PrefectWorkerConfig, generate_flow_code
from adk_fluent.compute.providers import GeminiProvider
from prefect import Task, flow
from prefect.cache_policies import DEFAULT

MODEL = "gemini-2.5-flash"

pipeline = (
    Agent("researcher").model(MODEL).instruct("Research the topic.").writes("findings")
    >> Agent("analyst").model(MODEL).instruct("Analyze the findings: {findings}.").writes("analysis")
    >> Agent("writer").model(MODEL).instruct("Write report from {analysis}.")
)
backend = PrefectBackend(model_provider=GeminiProvider(MODEL))
compiled = backend.compile(pipeline.to_ir())


def generated(flow_name: str, config: PrefectWorkerConfig, cache_policy: Any = None) -> Any:
    """The flow ``generate_flow_code`` emits for the pipeline, executed as a module of its own, with
    the model provider bound as the default of its ``model_provider`` parameter; ``cache_policy``
    replaces its tasks' (Prefect's default: inputs, source, flow run id)."""
    source = generate_flow_code(compiled, config)
    namespace: dict[str, Any] = {"__name__": f"{__name__}_{flow_name}"}
    exec(compile(source, f"<adk-fluent generated flow {flow_name}>", "exec"), namespace)  # noqa: S102
    if cache_policy is not None:
        for name, value in list(namespace.items()):
            if isinstance(value, Task):
                namespace[name] = value.with_options(cache_policy=cache_policy)
    generated_flow = namespace["agent_pipeline_flow"]
    generated_flow.fn.__kwdefaults__ = {"model_provider": GeminiProvider(MODEL)}
    return generated_flow


generated_flow = generated("research", PrefectWorkerConfig(flow_name="research"))
generated_flow_unpersisted = generated(
    "research_unpersisted", PrefectWorkerConfig(flow_name="research_unpersisted", result_persistence=False)
)
generated_flow_keyed = generated(
    "research_keyed",
    PrefectWorkerConfig(flow_name="research_keyed"),
    # Prefect's advice for an input it cannot hash (here a client): leave it out of the cache key.
    cache_policy=DEFAULT - "model_provider",
)


@flow(name="adk-fluent-run-path")
async def run_path(prompt: str) -> list[str]:
    """adk-fluent's in-process runnable (``PrefectBackend.run``), as a user would call it."""
    events = await backend.run(compiled, prompt)
    return [str(event.content) for event in events]
