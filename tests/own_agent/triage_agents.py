"""A support-triage agent in the shapes users write it: Prefect-durable, DBOS-free, and plain."""

from __future__ import annotations

from pydantic_ai import Agent, FunctionToolset
from pydantic_ai.durable_exec.prefect import PrefectDurability, TaskConfig

RETRIES = TaskConfig(retries=2, retry_delay_seconds=0.05)


def lookup_customer(email: str) -> dict[str, str]:
    """Read-only: the customer's plan."""
    return {"email": email, "plan": "pro"}


def send_refund(refund_id: str, email: str, amount: float) -> str:
    """Side-effecting: a refund (to a sandbox here)."""
    return f"refund {refund_id} of {amount} sent to {email}"


def tools() -> FunctionToolset:
    toolset = FunctionToolset(id="support_tools")
    toolset.tool_plain(lookup_customer)
    toolset.tool_plain(send_refund)
    return toolset


triage = Agent(
    "openai-chat:gpt-4o",
    name="triage",
    toolsets=[tools()],
    capabilities=[PrefectDurability(model_task_config=RETRIES, tool_task_config=RETRIES)],
)
plain = Agent("openai-chat:gpt-4o", name="plain_triage", toolsets=[tools()])
