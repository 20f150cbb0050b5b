"""Version N+1 of ``report_prefect_v1`` that changes only how model tasks are retried (an operational
change): every task's cache key (inputs, task source, flow run id) is the same, so the re-run flow run
restores every result N completed."""

from __future__ import annotations

from prefect_release import build
from pydantic_ai.durable_exec.prefect import TaskConfig

analyst = build(model_tasks=TaskConfig(retries=5, retry_delay_seconds=[0.05, 0.1, 0.2], timeout_seconds=90.0))
