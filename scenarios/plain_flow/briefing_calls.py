"""The model calls of the briefing example, with no engine: three chat completions sent with httpx
(an async client: the harness intercepts async transports). ``briefing_flow.py`` (Prefect) and
``briefing_dbos.py`` (DBOS) make them durable units."""

from __future__ import annotations

import os

import httpx

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
