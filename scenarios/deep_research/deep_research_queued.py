"""The deep-research workflow with its searches on a DBOS queue (``launch_queued.yaml``): queued work that
a worker's launch must pick up again.

``deep_research_queued`` enqueues one ``search_workflow`` per plan step on :data:`SEARCHES`, a queue that
runs one search at a time on a worker, and fans in their results. A worker killed during the first
search leaves the others ``ENQUEUED`` in the system database: only a DBOS launched again dequeues them
(and recovers the entry workflow and the interrupted search). Workflows are defined at import, as DBOS
needs before ``DBOS.launch()``; the queue itself lives in the system database.
"""

from __future__ import annotations

from dbos import DBOS, WorkflowHandleAsync
from deep_research_agents import dbos_analysis_agent, dbos_plan_agent, search_workflow
from pydantic_ai import format_as_xml

SEARCHES = "deep_research_searches"
"""The queue of the searches. dbos 3.4 keeps queues in the system database: registered (an idempotent
upsert) by the workflow once DBOS is launched, and listened to by every launched DBOS of the application."""


@DBOS.step()
async def register_searches_queue() -> None:
    await DBOS.register_queue_async(SEARCHES, worker_concurrency=1)


@DBOS.workflow()
async def deep_research_queued(query: str) -> str:
    """Plan, enqueue the searches (one runs at a time), fan in, analyse."""
    plan = (await dbos_plan_agent.run(query)).output
    await register_searches_queue()
    handles: list[WorkflowHandleAsync[str]] = [
        await DBOS.enqueue_workflow_async(SEARCHES, search_workflow, step.search_terms)
        for step in plan.web_search_steps
    ]
    results = [await handle.get_result() for handle in handles]
    analysis = await dbos_analysis_agent.run(
        format_as_xml({"query": query, "search_results": results, "instructions": plan.analysis_instructions})
    )
    return analysis.output
