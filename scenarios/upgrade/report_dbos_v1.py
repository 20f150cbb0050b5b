"""Version N of a DBOS application: a workflow that runs the data analyst (its model requests are DBOS
steps, its ``load_dataset`` tool a journaled step). ``report_dbos_v2`` is the next release of it."""

from __future__ import annotations

from data_analyst_core import DataAnalysis
from data_analyst_dbos import analyst
from dbos import DBOS


@DBOS.workflow(name="upgrade.report")
async def report(prompt: str) -> DataAnalysis:
    result = await analyst.run(prompt)
    return result.output
