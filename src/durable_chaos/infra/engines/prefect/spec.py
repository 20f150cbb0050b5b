"""The Prefect engine as the registry sees it (light: imports no Prefect)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from durable_chaos.infra.engines.prefect.options import PrefectOptions
from durable_chaos.infra.engines.prefect.rules import PrefectRules

if TYPE_CHECKING:
    from durable_chaos.infra.engines.prefect.adapter import PrefectAdapter


class PrefectSpec:
    name = "prefect"
    extra = "prefect"
    modules = ("prefect",)
    durability_modules = ("pydantic_ai.durable_exec.prefect",)
    options = PrefectOptions
    rules = PrefectRules()
    restart_targets: tuple[str, ...] = ("engine_api",)

    def adapter(self) -> PrefectAdapter:
        from durable_chaos.infra.engines.prefect.adapter import PrefectAdapter

        return PrefectAdapter()


SPEC = PrefectSpec()
