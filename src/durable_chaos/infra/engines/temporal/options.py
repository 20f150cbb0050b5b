"""The scenario's ``temporal:`` table: what the harness changes on the worker and on the activities it
schedules so that a killed worker's work moves on within about a second (see docs/engines.md)."""

from __future__ import annotations

from pydantic import Field

from durable_chaos.infra.engines.base import EngineOptions


class TemporalOptions(EngineOptions):
    """Settings the harness applies to Temporal trials. The user's retry policies are never changed."""

    task_queue_prefix: str = Field(
        default="durable-chaos",
        description="Prefix of each trial's task queue and workflow ids (one task queue per trial).",
    )
    activity_heartbeat_timeout: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Seconds: heartbeat timeout set on every activity a trial's workflows schedule (lowered to this "
            "when longer or unset; activities must heartbeat themselves, as in production, unless "
            "harness_heartbeats is on). After a SIGKILL, Temporal "
            "retries the killed worker's activity once this timeout passes. Default null: the activities "
            "keep their own timeouts (fail_orphaned_activities makes recovery independent of them); set "
            "it to try your production heartbeat timeout, or when fail_orphaned_activities is off."
        ),
    )
    harness_heartbeats: bool = Field(
        default=False,
        description=(
            "Heartbeat every activity that has a heartbeat timeout in the background. Off by default: an "
            "activity that forgets to heartbeat must fail here as it would in production."
        ),
    )
    sticky_queue_timeout: float = Field(
        default=1.0,
        gt=0,
        description=(
            "Seconds: the worker's sticky_queue_schedule_to_start_timeout (temporalio default 10). A resumed "
            "worker also resets the workflow's stickiness at once, so this only bounds other cases."
        ),
    )
    workflow_task_timeout: float | None = Field(
        default=2.0,
        gt=0,
        description=(
            "Seconds: task timeout of the workflow the harness starts and of the child workflows it starts "
            "(lowered to this when longer or unset; Temporal's default is 10). A workflow task the killed "
            "worker had started (concurrent child workflows of a fan-out) is retried after it. Null keeps "
            "the workflows' own."
        ),
    )
    fail_orphaned_activities: bool = Field(
        default=True,
        description=(
            "A resumed worker fails the attempt of every activity the killed worker had started (as the "
            "activity's heartbeat or start-to-close timeout would, later), so its retry policy acts at once."
        ),
    )
    reset_sticky_on_resume: bool = Field(
        default=True,
        description=(
            "A resumed worker calls ResetStickyTaskQueue for the interrupted workflow, so its next workflow "
            "task goes to the shared task queue instead of the dead worker's sticky queue."
        ),
    )
    connect_timeout: float = Field(
        default=120.0,
        ge=0,
        description=(
            "Seconds a worker keeps connecting to the server again (every second) while it refuses "
            "(temporalio's Client.connect does not retry), as a supervisor restarting the worker would; 0 "
            "connects once and gives up (a worker that exits when the server is down at its start)."
        ),
    )
    run_timeout: float = Field(
        default=120.0, gt=0, description="Seconds a worker waits for the workflow's result before giving up."
    )
    activities: list[str] = Field(
        default_factory=list,
        description=(
            "For entry targets: extra activities (module:function) the worker registers, besides the "
            "@activity.defn functions found in the workflow's module."
        ),
    )
