"""Which engine an agent is made durable for, asked of the registered engines.

An agent is durable for an engine when its wrapper class (``PrefectAgent``, ``DBOSAgent``,
``TemporalAgent``, ``RestateAgent``, ...) or one of its capabilities (``PrefectDurability``, ...) is
defined in one of the modules that engine's spec lists in ``durability_modules`` (or derives from a
class defined there: a user's subclass that overrides ``run``). The walk uses
pydantic-ai's public API: ``WrapperAgent.wrapped``, ``AbstractAgent.root_capability`` and
``AbstractCapability.apply`` (older releases without capabilities are walked through wrappers only).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from durable_chaos.infra.engines.registry import engine_specs


def durability_objects(agent: Any) -> Iterator[Any]:
    seen: set[int] = set()
    current: Any = agent
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        root = getattr(type(current), "root_capability", None)
        if root is not None:
            leaves: list[Any] = []
            try:
                current.root_capability.apply(leaves.append)
            except Exception:  # noqa: BLE001 - an agent whose capabilities cannot be listed
                leaves = []
            yield from leaves
        current = getattr(current, "wrapped", None)


def durability_of(agent: Any) -> str | None:
    """The name of the engine the agent is made durable for, or None when it has no durability."""
    specs = engine_specs()
    for obj in durability_objects(agent):
        # the class or one it derives from: a user's subclass of RestateAgent (overriding run) is durable too
        for module in dict.fromkeys(cls.__module__ for cls in type(obj).__mro__):
            for name, spec in specs.items():
                if any(module == m or module.startswith(m + ".") for m in spec.durability_modules):
                    return name
    return None


def is_agent(obj: Any) -> bool:
    """Whether ``obj`` is a pydantic-ai agent (anything with an async ``run``, as pydantic-ai's are)."""
    from pydantic_ai.agent import AbstractAgent

    return isinstance(obj, AbstractAgent)


def agent_mismatch(engine: str, import_path: str, agent: Any) -> str | None:
    """Why an agent target cannot run on ``engine`` (one line), or None when it can."""
    if not is_agent(agent):
        return f"agent {import_path} is a {type(agent).__name__}, not a pydantic-ai agent"
    durability = durability_of(agent)
    if durability == engine:
        return None
    if durability is None:
        return (
            f"agent {import_path} has no durable execution: give it the {engine} durability capability "
            f"(or its wrapper) so its model requests and tool calls become durable units"
        )
    return (
        f"agent {import_path} is made durable for {durability}, not {engine}: list engines: [{durability}] "
        f"in the scenario, or give the agent {engine} durability"
    )
