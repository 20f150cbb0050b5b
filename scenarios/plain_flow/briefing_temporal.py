"""The briefing example as a plain Temporal workflow: the same three model calls (``briefing_calls.py``),
no agent framework. Model calls cannot run in workflow code (the sandbox forbids network I/O there), so
each runs in an activity, with a ``RetryPolicy`` as Temporal's docs advise.

* ``Briefing`` (correct): one activity per model call. A worker killed before the review request: the
  new worker answers the completed outline and draft activities from the workflow's history and only
  the review is sent; a 429 fails the activity's attempt and its retry policy re-sends that request
  alone;
* ``BriefingRestartOnFailure`` (KNOWN-BAD): the retry written in workflow code around the whole
  pipeline, with activities that are not retried (``maximum_attempts=1``). A 429 on the review (or a
  worker killed while it ran) fails the review activity, and the workflow starts the pipeline over:
  new outline and draft activities, whose model calls were already paid for, are paid again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    import briefing_calls

RETRY = RetryPolicy(initial_interval=timedelta(seconds=0.05), maximum_attempts=5)
ONCE = RetryPolicy(maximum_attempts=1)
PIPELINE_ATTEMPTS = 3


@activity.defn(name="outline")
async def outline(topic: str) -> str:
    return await briefing_calls.outline(topic)


@activity.defn(name="draft")
async def draft(plan: str) -> str:
    return await briefing_calls.draft(plan)


@activity.defn(name="review")
async def review(text: str) -> str:
    return await briefing_calls.review(text)


async def call(unit: Any, arg: str, retry: RetryPolicy = RETRY) -> str:
    """Schedule one model-calling activity (workflow code): a start-to-close timeout and a retry policy."""
    return str(
        await workflow.execute_activity(
            unit, arg, start_to_close_timeout=timedelta(seconds=60), retry_policy=retry
        )
    )


@workflow.defn(name="briefing")
class Briefing:
    """Correct: one activity per model call."""

    @workflow.run
    async def run(self, topic: str) -> str:
        return await call(review, await call(draft, await call(outline, topic)))


@workflow.defn(name="briefing-restart-on-failure")
class BriefingRestartOnFailure:
    """KNOWN-BAD: the retry lives in workflow code, around the whole pipeline."""

    @workflow.run
    async def run(self, topic: str) -> str:
        for _ in range(PIPELINE_ATTEMPTS - 1):
            try:
                return await self.pipeline(topic)
            except ActivityError:
                continue  # BUG: starts over, scheduling the completed outline and draft again
        return await self.pipeline(topic)

    async def pipeline(self, topic: str) -> str:
        return await call(review, await call(draft, await call(outline, topic, ONCE), ONCE), ONCE)
