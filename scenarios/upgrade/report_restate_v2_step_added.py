"""Version N+1 of the data analyst's Restate service (``data_analyst_restate:analyze``, version N) that
records an audit entry, a journaled step (``ctx.run``), before the agent runs. KNOWN-BAD when served at
the same address: Restate retries the invocation N started on this code, whose first journaled step is
not the one N's journal holds there: ``Journal mismatch`` (RT0016), retried until the policy gives up."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import restate
from data_analyst_restate import analyst

analyst_service = restate.Service(
    "DataAnalyst",
    invocation_retry_policy=restate.InvocationRetryPolicy(
        initial_interval=timedelta(milliseconds=50),
        max_interval=timedelta(milliseconds=500),
        max_attempts=60,
        on_max_attempts="kill",
    ),
)


def record_request(prompt: str) -> str:
    """An audit entry for the request (new in N+1)."""
    return f"requested: {prompt}"


@analyst_service.handler()
async def analyze(ctx: restate.Context, prompt: str) -> dict[str, Any]:
    """The user's handler: record the request (new in N+1), run the agent, return its report."""
    await ctx.run_typed("record_request", record_request, prompt=prompt)  # BUG: before what N journaled
    result = await analyst.run(prompt)
    return result.output.model_dump(mode="json")
