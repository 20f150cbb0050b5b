"""durable-chaos: chaos-test durable Pydantic AI agents (Prefect, DBOS, Temporal, Restate).

The public face is short: the names in ``__all__`` below, the ``chaos`` pytest fixture (whose object is
:class:`Chaos`), the ``durable-chaos`` command and the scenario file format. Everything else
(``durable_chaos.run``, ``.judge``, ``.infra``, ...) is internal and may change between releases.

Names load lazily, so ``import durable_chaos`` (which pytest does for the plugin) stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_PUBLIC: dict[str, str] = {
    # the chaos fixture's object and what it raises and returns
    "Chaos": "durable_chaos.python_api",
    "ChaosOutcome": "durable_chaos.python_api",
    "ChaosError": "durable_chaos.python_api",
    "ChaosViolation": "durable_chaos.python_api",
    "ChaosTrialError": "durable_chaos.python_api",
    # Hypothesis strategies over fault plans (a module)
    "strategies": "durable_chaos.strategies",
    # the scenario model and its reader
    "Scenario": "durable_chaos.scenario.model",
    "Plan": "durable_chaos.scenario.model",
    "Selector": "durable_chaos.faults.model",
    "load_scenario": "durable_chaos.scenario.read",
    # results
    "TrialResult": "durable_chaos.run.results",
    "Verdict": "durable_chaos.judge.checkers",
}

__all__ = [
    "Chaos",
    "ChaosError",
    "ChaosOutcome",
    "ChaosTrialError",
    "ChaosViolation",
    "Plan",
    "Scenario",
    "Selector",
    "TrialResult",
    "Verdict",
    "__version__",
    "load_scenario",
    "strategies",
]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'durable_chaos' has no attribute {name!r}")
    if name == "strategies":
        return importlib.import_module(module)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
