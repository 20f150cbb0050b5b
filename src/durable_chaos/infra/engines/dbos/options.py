"""The scenario's ``dbos:`` table."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from durable_chaos.infra.engines.base import EngineOptions


class DBOSOptions(EngineOptions):
    """How the harness drives DBOS.

    ``recovery_timeout``: seconds a resumed worker waits for DBOS to recover and finish the interrupted
    workflow before the run counts as stranded.
    """

    recovery_timeout: Annotated[float, Field(gt=0, le=3600)] = 120.0
