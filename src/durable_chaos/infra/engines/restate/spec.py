"""The Restate engine as the registry sees it (light: imports no restate-sdk, no pydantic-ai)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from durable_chaos.infra.engines.restate.options import RestateOptions
from durable_chaos.infra.engines.restate.rules import RestateRules

if TYPE_CHECKING:
    from durable_chaos.infra.engines.restate.adapter import RestateAdapter


class RestateSpec:
    name = "restate"
    extra = "restate"
    modules = ("restate", "hypercorn")
    durability_modules = ("restate.ext.pydantic",)
    options = RestateOptions
    rules = RestateRules()
    restart_targets: tuple[str, ...] = ("engine_api",)

    def adapter(self) -> RestateAdapter:
        from durable_chaos.infra.engines.restate.adapter import RestateAdapter

        return RestateAdapter()


SPEC = RestateSpec()
