"""The scenario's ``prefect:`` table."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from durable_chaos.infra.engines.base import EngineOptions


class PrefectOptions(EngineOptions):
    """How the harness drives Prefect.

    ``flow_retries``: retries of the harness's trial flow, which re-run the same flow run so cached
    task results are reused (what users configure with ``@flow(retries=...)``).
    ``connect_timeout``: seconds a worker keeps making its first API call again (every second) while the
    API server refuses, as a supervisor restarting the process would; 0 gives up on the first.
    """

    flow_retries: Annotated[int, Field(ge=0, le=20)] = 1
    connect_timeout: Annotated[float, Field(ge=0, le=3600)] = 120.0
