"""The briefing example as a plain DBOS workflow: the same three model calls (``briefing_calls.py``),
no agent framework.

* ``briefing`` (correct): each model call runs in a ``@DBOS.step`` (retried on failure), so a
  recovered workflow replays completed steps from its journal instead of calling the model again;
* ``briefing_unjournaled`` (KNOWN-BAD): the same calls made in workflow code, outside any step. DBOS
  journals nothing for them: a recovered workflow re-runs its code and pays every completed call again.

Workflows and steps are defined at import: DBOS registers them before ``DBOS.launch()``.
"""

from __future__ import annotations

from briefing_calls import draft, outline, review
from dbos import DBOS

STEP = {"retries_allowed": True, "max_attempts": 3, "interval_seconds": 0.05}


@DBOS.step(name="outline", **STEP)  # type: ignore[arg-type]
async def outline_step(topic: str) -> str:
    return await outline(topic)


@DBOS.step(name="draft", **STEP)  # type: ignore[arg-type]
async def draft_step(plan: str) -> str:
    return await draft(plan)


@DBOS.step(name="review", **STEP)  # type: ignore[arg-type]
async def review_step(text: str) -> str:
    return await review(text)


@DBOS.workflow()
async def briefing(topic: str) -> str:
    return await review_step(await draft_step(await outline_step(topic)))


@DBOS.workflow()
async def briefing_unjournaled(topic: str) -> str:
    return await review(await draft(await outline(topic)))
