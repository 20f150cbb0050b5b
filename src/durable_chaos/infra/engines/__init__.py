"""Engines behind one protocol (:mod:`.base`), found through a registry (:mod:`.registry`).

One package per engine (``prefect``, ``dbos``, ``temporal``, ``restate``), each holding all of its
engine's knowledge. This package's names are resolved lazily, so that importing an engine's light
``command_line`` module (which the pytest plugin does in every session) imports neither pydantic nor
any engine library.
"""

from __future__ import annotations

from typing import Any

_FROM_BASE = {
    "EngineAdapter",
    "EngineOptions",
    "EngineRules",
    "EngineSpec",
    "EngineUnavailable",
    "RunOutcome",
    "RunRequest",
    "Target",
    "TargetMismatch",
}
_FROM_REGISTRY = {
    "ENTRY_POINT_GROUP",
    "adapter_for",
    "engine_names",
    "engine_spec",
    "engine_specs",
    "install_hint",
    "missing_modules",
}

__all__ = sorted(_FROM_BASE | _FROM_REGISTRY)


def __getattr__(name: str) -> Any:
    if name in _FROM_BASE:
        from durable_chaos.infra.engines import base

        return getattr(base, name)
    if name in _FROM_REGISTRY:
        from durable_chaos.infra.engines import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
