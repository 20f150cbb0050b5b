"""Version N+1 of ``report_dbos_v1``: the same workflow (same name, same steps in the same order), edited
to drop repeated recommendations. The edit changes the workflow's source, so DBOS's default application
version (a hash of that source) changes too: a workflow N started is not recovered by N+1 unless the
application version is pinned (``dbos.application_version`` in the scenario, ``DBOSConfig`` in an app)."""

from __future__ import annotations

from data_analyst_core import DataAnalysis
from data_analyst_dbos import analyst
from dbos import DBOS


@DBOS.workflow(name="upgrade.report")
async def report(prompt: str) -> DataAnalysis:
    result = await analyst.run(prompt)
    output = result.output
    # New in N+1: repeated recommendations are dropped (no new step, none moved).
    return output.model_copy(update={"recommendations": list(dict.fromkeys(output.recommendations))})
