"""Version N+1 of ``report_dbos_v1`` with the same audit step, guarded by ``DBOS.patch_async()``: a workflow
N started has no patch marker at that position, so ``patch`` is false and it keeps N's steps; new
workflows record the marker and take the new path."""

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
    if await DBOS.patch_async("record-request"):  # workflows N started keep N's steps
        record_request(prompt)
    result = await analyst.run(prompt)
    return result.output
