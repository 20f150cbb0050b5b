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

import os
from typing import Any

import httpx
from prefect import flow, task

MODEL = "gpt-4o-mini"


async def chat(system: str, user: str) -> str:
    """One chat completion; an HTTP error (a 429, a 500) raises, and the task around it retries."""
    base_url = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1")
    headers = {"Authorization": f"Bearer {os.environ.get('OPENAI_API_KEY', '')}"}
    body = {"model": MODEL, "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        response = await client.post("/chat/completions", json=body)
        response.raise_for_status()
    return str(response.json()["choices"][0]["message"]["content"])


async def outline(topic: str) -> str:
    return await chat("You outline briefings.", f"Outline a one-page briefing on: {topic}")


async def draft(plan: str) -> str:
    return await chat("You draft briefings from an outline.", f"Draft the briefing from this outline:\n{plan}")


async def review(text: str) -> str:
    return await chat("You review and tighten briefings.", f"Review and tighten this briefing:\n{text}")


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
