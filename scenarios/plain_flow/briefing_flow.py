"""A plain Prefect flow whose tasks call a model over HTTP: no pydantic-ai, no agent framework.

Three ``@task`` units each send one OpenAI-compatible chat completion with ``httpx`` (outline, draft,
review); the ``@flow`` chains them. Any flow like this is a durable-chaos target (``entry:``): the
harness sees each model request in the HTTP transport beneath the client, whatever sends it, and
the Prefect task around it is the unit.

Two flows differ only in their tasks' result persistence:

* ``briefing`` (correct): ``persist_result=True``. Prefect's default cache policy (the task's
  inputs, its source and the flow run id) then stores each completed task's result, so a resumed
  flow run (after a kill) or a retried one gets completed tasks' results back instead of calling
  the model again;
* ``briefing_unpersisted`` (KNOWN-BAD): the same tasks with ``persist_result=False``, as a task
  decorated with only ``@task(retries=2)`` is by default. Nothing is stored, so a resumed flow run
  pays every completed model call again.

Model traffic comes from ``cassettes/briefing.yaml``, recorded offline from
``briefing.script.yaml`` with ``pytest --chaos --chaos-record``. The base URL is the OpenAI one
(``OPENAI_BASE_URL`` to change it): the cassette answers in place of the provider. The client must be
async (``httpx.AsyncClient``, ``openai.AsyncOpenAI``): the harness intercepts async transports.
"""

from __future__ import annotations

from typing import Any

from briefing_calls import draft, outline, review
from prefect import flow, task


def tasks(persist: bool) -> tuple[Any, Any, Any]:
    """The three model-calling tasks, with or without persisted results."""
    options: dict[str, Any] = {"retries": 2, "retry_delay_seconds": 0.05, "persist_result": persist}
    return tuple(task(fn, name=fn.__name__, **options) for fn in (outline, draft, review))  # type: ignore[return-value]


persisted = tasks(persist=True)
unpersisted = tasks(persist=False)


@flow(name="briefing")
async def briefing(topic: str) -> str:
    outline_task, draft_task, review_task = persisted
    return str(await review_task(await draft_task(await outline_task(topic))))


@flow(name="briefing-unpersisted")
async def briefing_unpersisted(topic: str) -> str:
    outline_task, draft_task, review_task = unpersisted
    return str(await review_task(await draft_task(await outline_task(topic))))
