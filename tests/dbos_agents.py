"""Tiny DBOS-durable agents for tests/test_dbos_adapter.py, imported by worker processes.

Configured by environment (set by the test for each worker process):
``DC_TEST_BASE_URL`` the scripted server's OpenAI base URL, ``DC_TEST_TOOL_LOG`` a file the tool
appends one line per execution to, ``DC_TEST_KILL_MARKER`` if set, the first tool execution creates
this file and SIGKILLs its own process (later executions see the file and run normally).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from dbos import DBOS
from pydantic_ai import Agent, FunctionToolset
from pydantic_ai.durable_exec.dbos import DBOSAgent, DBOSDurability
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from durable_chaos.infra.engines.dbos.adapter import DBOSAdapter

SYSTEM_PROMPT = "You are a weather bot"


def get_weather(city: str) -> str:
    """The weather in a city."""
    log = os.environ.get("DC_TEST_TOOL_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()}\n")
    marker = os.environ.get("DC_TEST_KILL_MARKER")
    if marker and not Path(marker).exists():
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return f"sunny in {city}"


def model() -> OpenAIChatModel:
    base_url = os.environ.get("DC_TEST_BASE_URL", "http://127.0.0.1:9/v1")
    return OpenAIChatModel("gpt-4o", provider=OpenAIProvider(base_url=base_url, api_key="x"))


# The DBOSDurability capability: call agent.run() inside a workflow (the adapter's harness workflow).
capability_agent = Agent(
    model(),
    name="weather",
    system_prompt=SYSTEM_PROMPT,
    toolsets=[FunctionToolset([get_weather], id="weather_tools")],
    capabilities=[DBOSDurability()],
)

# The deprecated wrapper: its run() is a DBOS workflow of its own (a child of the harness workflow).
wrapper_agent = DBOSAgent(
    Agent(model(), name="weather_wrapped", system_prompt=SYSTEM_PROMPT, tools=[get_weather]),
)


@DBOS.step()
def lookup(city: str) -> dict[str, Any]:
    return {"weather": f"sunny in {city}", "unit_context": DBOSAdapter().unit_context()}


@DBOS.workflow()
def weather_entry(city: str) -> dict[str, Any]:
    """A user's own workflow (an ``entry`` target): one step."""
    return {**lookup(city), "outside_step": DBOSAdapter().unit_context()}
