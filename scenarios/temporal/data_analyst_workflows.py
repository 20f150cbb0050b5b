"""User workflows around the Temporal data analyst (``entry:`` targets).

* ``AnalyzeQuarter`` (correct): an activity of its own, then the agent.
* ``AnalyzeWithClockBranch`` (KNOWN-BAD): the workflow's path depends on the wall clock.
* ``AnalyzeWithSilentArchive`` (KNOWN-BAD): an activity with a heartbeat timeout that never heartbeats.
* ``AnalyzeOnStarvedReplayer`` (correct): ``AnalyzeQuarter`` whose replays stall as on a CPU-starved
  machine, so temporalio's deadlock detector fires in the replay check: infrastructure, not a verdict.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    import clock  # a helper module of the user's, passed through the sandbox
    from data_analyst_temporal import analyst
    from pydantic_ai.durable_exec.temporal import PydanticAIWorkflow

AUDIT_TIMEOUT = timedelta(seconds=30)


@activity.defn(name="data_analyst.record_request")
async def record_request(quarter: str) -> str:
    """An audit entry for the analysis request (an activity of the user's own)."""
    return f"analysis of {quarter} requested"


@workflow.defn(name="data_analyst.analyze_quarter")
class AnalyzeQuarter(PydanticAIWorkflow):
    """Correct: an activity of its own, then the agent; every decision comes from inputs and history."""

    __pydantic_ai_agents__ = [analyst]

    @workflow.run
    async def run(self, prompt: str) -> dict[str, object]:
        await workflow.execute_activity(record_request, "Q4", start_to_close_timeout=AUDIT_TIMEOUT)
        result = await analyst.run(prompt)
        return result.output.model_dump(mode="json")


@workflow.defn(name="data_analyst.analyze_with_clock_branch")
class AnalyzeWithClockBranch(PydanticAIWorkflow):
    """KNOWN-BAD: the audit entry is skipped when the request is "late" by the wall clock.

    ``clock.seconds_behind()`` reads ``time.time()`` in a module passed through the sandbox, so the
    sandbox does not stop it. Live, the workflow task runs within milliseconds of the task's start time
    and the audit activity is scheduled; any later replay of the history (a new worker after a crash, a
    cache eviction, the Replayer) sees the clock far ahead of the recorded time, skips the activity and
    schedules the model request where the history recorded the audit: a nondeterminism error.
    """

    __pydantic_ai_agents__ = [analyst]

    @workflow.run
    async def run(self, prompt: str) -> dict[str, object]:
        if clock.seconds_behind(workflow.now()) < 0.5:  # BUG: wall clock in workflow code
            await workflow.execute_activity(record_request, "Q4", start_to_close_timeout=AUDIT_TIMEOUT)
        result = await analyst.run(prompt)
        return result.output.model_dump(mode="json")


SILENT_WORK_SECONDS = 4.0
"""Eight times the heartbeat timeout: a loaded dev server that fires the timeout late still fires it."""


@activity.defn(name="data_analyst.archive_request")
async def archive_request(quarter: str) -> str:
    """Archive the request: slow work that never calls activity.heartbeat()."""
    await asyncio.sleep(SILENT_WORK_SECONDS)
    return f"analysis of {quarter} archived"


@workflow.defn(name="data_analyst.analyze_with_silent_archive")
class AnalyzeWithSilentArchive(PydanticAIWorkflow):
    """KNOWN-BAD: the archive activity declares a heartbeat timeout shorter than its work and never
    heartbeats, so Temporal times out every attempt: the workflow fails even without a fault. A harness
    that heartbeated activities on the user's behalf would hide this (it does so only when the scenario
    opts in with ``temporal: {harness_heartbeats: true}``)."""

    __pydantic_ai_agents__ = [analyst]

    @workflow.run
    async def run(self, prompt: str) -> dict[str, object]:
        await workflow.execute_activity(
            archive_request,
            "Q4",
            start_to_close_timeout=AUDIT_TIMEOUT,
            heartbeat_timeout=timedelta(seconds=0.5),
            retry_policy=RetryPolicy(maximum_attempts=2, initial_interval=timedelta(seconds=0.05)),
        )
        result = await analyst.run(prompt)
        return result.output.model_dump(mode="json")


@workflow.defn(name="data_analyst.analyze_on_starved_replayer")
class AnalyzeOnStarvedReplayer(PydanticAIWorkflow):
    """Correct, as ``AnalyzeQuarter``; when replaying (the replay check), its thread stalls 2.5 s before
    the first command, as under CPU starvation: temporalio's deadlock detector (2 s) fires, although
    every decision still comes from inputs and history."""

    __pydantic_ai_agents__ = [analyst]

    @workflow.run
    async def run(self, prompt: str) -> dict[str, object]:
        if workflow.unsafe.is_replaying():
            clock.starve(2.5)  # no decision depends on it: the same commands follow
        await workflow.execute_activity(record_request, "Q4", start_to_close_timeout=AUDIT_TIMEOUT)
        result = await analyst.run(prompt)
        return result.output.model_dump(mode="json")
