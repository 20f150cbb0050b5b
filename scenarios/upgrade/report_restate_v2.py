"""Version N+1 of the data analyst's Restate service (``data_analyst_restate:analyze``, version N): the
same service and handler, the same journaled steps in the same order, edited to drop repeated
recommendations (outside any journaled step). Whether a run N started reaches it depends on how it is
deployed (``restate.upgrade_endpoint`` in the scenarios)."""

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


@analyst_service.handler()
async def analyze(ctx: restate.Context, prompt: str) -> dict[str, Any]:
    """The user's handler: run the agent, return its report (new in N+1: without repeated
    recommendations)."""
    result = await analyst.run(prompt)
    output = result.output.model_dump(mode="json")
    output["recommendations"] = list(dict.fromkeys(output["recommendations"]))
    return output
