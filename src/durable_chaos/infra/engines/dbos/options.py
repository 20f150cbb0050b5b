"""The scenario's ``dbos:`` table."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from durable_chaos.infra.engines.base import EngineOptions


class DBOSOptions(EngineOptions):
    """How the harness drives DBOS.

    ``recovery_timeout``: seconds a resumed worker waits for DBOS to recover and finish the interrupted
    workflow before the run counts as stranded.
    ``launch_timeout``: seconds a worker keeps launching DBOS again (every second) while its system
    database is unreachable, as a supervisor restarting the application would; 0 launches once (an
    application that exits when its database is down at start, with nothing to restart it).
    ``application_version``: your pinned application version, in upgrade trials.
    """

    recovery_timeout: Annotated[float, Field(gt=0, le=3600)] = 120.0
    launch_timeout: Annotated[float, Field(ge=0, le=3600)] = 120.0
    application_version: Annotated[str, Field(min_length=1)] | None = None
    """Your ``DBOSConfig(application_version=...)``, used in upgrade trials (docs/upgrades.md): there the
    harness does not pin the version, so without this DBOS's default applies (a hash of the workflows'
    source, which an edit changes). Outside upgrade trials the harness pins its own."""
