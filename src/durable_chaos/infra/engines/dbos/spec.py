"""The DBOS engine as the registry sees it (light: imports no DBOS)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from durable_chaos.infra.engines.dbos.options import DBOSOptions
from durable_chaos.infra.engines.dbos.rules import DBOSRules

if TYPE_CHECKING:
    from durable_chaos.infra.engines.dbos.adapter import DBOSAdapter


class DBOSSpec:
    name = "dbos"
    extra = "dbos"
    modules = ("dbos",)
    durability_modules = ("pydantic_ai.durable_exec.dbos",)
    options = DBOSOptions
    rules = DBOSRules()
    restart_targets: tuple[str, ...] = ("database",)

    def adapter(self) -> DBOSAdapter:
        from durable_chaos.infra.engines.dbos.adapter import DBOSAdapter

        return DBOSAdapter()


SPEC = DBOSSpec()
