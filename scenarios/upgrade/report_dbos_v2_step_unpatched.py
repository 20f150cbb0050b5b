"""Version N+1 of ``report_dbos_v1`` that records an audit entry (a new step) before the agent, unguarded.
KNOWN-BAD even with a pinned application version: recovering a workflow N started, N+1 calls the new step
where N's journal holds the first model request, and DBOS refuses the recovery (DBOSUnexpectedStepError):
the run fails for good."""

from __future__ import annotations

from data_analyst_core import DataAnalysis
from data_analyst_dbos import analyst
from dbos import DBOS


@DBOS.step(name="upgrade.record_request")
def record_request(prompt: str) -> str:
    """An audit entry for the request (new in N+1)."""
    return f"requested: {prompt}"


@DBOS.workflow(name="upgrade.report")
async def report(prompt: str) -> DataAnalysis:
    record_request(prompt)  # BUG: a new step where N's journal holds another one
    result = await analyst.run(prompt)
    return result.output
