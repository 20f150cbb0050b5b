"""The Temporal engine's spec: cheap to import (no temporalio, no pydantic-ai)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from durable_chaos.infra.engines.base import EngineOptions, EngineRules
from durable_chaos.infra.engines.temporal.options import TemporalOptions
from durable_chaos.infra.engines.temporal.rules import TemporalRules

if TYPE_CHECKING:
    from durable_chaos.infra.engines.base import EngineAdapter


@dataclass(frozen=True)
class TemporalSpec:
    name: str = "temporal"
    extra: str = "temporal"
    modules: tuple[str, ...] = ("temporalio",)
    durability_modules: tuple[str, ...] = ("pydantic_ai.durable_exec.temporal",)
    options: type[EngineOptions] = TemporalOptions
    rules: EngineRules = field(default_factory=TemporalRules)
    restart_targets: tuple[str, ...] = ("engine_api",)

    def adapter(self) -> EngineAdapter:
        from durable_chaos.infra.engines.base import EngineUnavailable

        try:
            from durable_chaos.infra.engines.temporal.adapter import TemporalAdapter
        except ImportError as exc:
            raise EngineUnavailable(
                f"engine 'temporal' cannot load ({exc}): install it with: "
                "pip install 'durable-chaos[temporal]'"
            ) from exc
        return TemporalAdapter()


SPEC = TemporalSpec()
