"""The engine registry: engines behind one protocol (see :mod:`.base`), found through entry points.

Each engine is one package under ``durable_chaos.infra.engines`` (or a third-party package),
registered in the ``durable_chaos.engines`` entry-point group as ``<name> = "<module>:<spec object>"``.
Loading a spec imports only its light ``spec`` module; the engine library is imported when the
harness asks for an adapter.
"""

from __future__ import annotations

from functools import cache
from importlib import metadata

from durable_chaos import extras
from durable_chaos.infra.engines.base import (
    EngineAdapter,
    EngineOptions,
    EngineRules,
    EngineSpec,
    EngineUnavailable,
    RunOutcome,
    RunRequest,
    Target,
    TargetMismatch,
)

ENTRY_POINT_GROUP = "durable_chaos.engines"


_load_errors: dict[str, str] = {}


@cache
def engine_specs() -> dict[str, EngineSpec]:
    """Every registered engine whose spec loads, by name, in registration order of the entry points.
    A spec that fails to load is left out; :func:`engine_spec` then says why."""
    specs: dict[str, EngineSpec] = {}
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            spec = entry.load()
        except Exception as exc:  # noqa: BLE001 - one broken third-party engine must not break the rest
            _load_errors[entry.name] = f"{entry.value}: {type(exc).__name__}: {exc}"
            continue
        specs[spec.name] = spec
    return specs


def engine_names() -> tuple[str, ...]:
    return tuple(engine_specs())


def engine_spec(name: str) -> EngineSpec:
    specs = engine_specs()
    if name in _load_errors:
        raise EngineUnavailable(
            f"engine {name!r} is registered but its spec cannot load ({_load_errors[name]})"
        )
    if name not in specs:
        known = ", ".join(specs) or "none"
        raise EngineUnavailable(f"engine {name!r} is not registered (registered engines: {known})")
    return specs[name]


def missing_modules(spec: EngineSpec) -> list[str]:
    """The engine's top-level modules that are not installed."""
    return [m for m in spec.modules if not extras.installed(m)]


def install_hint(spec: EngineSpec) -> str:
    return extras.install_hint(spec.extra)


def adapter_for(name: str) -> EngineAdapter:
    """A fresh adapter for an engine name; :class:`EngineUnavailable` with an install hint when the
    engine's extra is not installed."""
    spec = engine_spec(name)
    missing = missing_modules(spec)
    if missing:
        raise EngineUnavailable(
            f"engine {name!r} needs {', '.join(missing)}, which is not installed: {install_hint(spec)}"
        )
    return spec.adapter()


__all__ = [
    "ENTRY_POINT_GROUP",
    "EngineAdapter",
    "EngineOptions",
    "EngineRules",
    "EngineSpec",
    "EngineUnavailable",
    "RunOutcome",
    "RunRequest",
    "Target",
    "TargetMismatch",
    "adapter_for",
    "engine_names",
    "engine_spec",
    "engine_specs",
]
