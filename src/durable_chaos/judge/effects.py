"""Real effects of side-effecting tools, observed through the scenario's ``effects`` functions.

A tool's ``effects: module:function`` returns the effects the tool made so far (a count, or a
collection of them: rows written, refunds issued). The harness calls each function in its own
process before the golden run, after it, and after the faulted run (with its resumes), so the effects
of each run are the differences: what the tool really did, whatever it declared about idempotency.
"""

from __future__ import annotations

from collections.abc import Callable, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from durable_chaos.infra.engines.base import import_object


class EffectsError(Exception):
    """An ``effects`` function failed or returned something that is not a count."""


@dataclass
class EffectsProbe:
    """The scenario's effects functions, by tool name, and the readings taken so far."""

    functions: dict[str, Callable[[], Any]] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    readings: dict[str, dict[str, int]] = field(default_factory=dict)
    """Label -> tool -> effects so far: ``before`` the golden run, after ``golden``, ``before_faulted``
    (after the variants' runs, if any), after ``faulted``."""
    not_faulted: dict[str, int] = field(default_factory=dict)
    """Tool -> effects made between ``before_faulted`` and ``faulted`` by runs that are not the faulted
    run's (a warm resume's warm-up runs, measured in their worker): taken off the faulted run's."""

    @classmethod
    def load(cls, functions: dict[str, str], base_dir: Path) -> EffectsProbe:
        """Import each ``module:function`` (next to the scenario file); raises EffectsError."""
        probe = cls(paths=dict(functions))
        for tool, path in functions.items():
            try:
                probe.functions[tool] = import_object(path, base_dir)
            except Exception as exc:  # noqa: BLE001 - the user's module: say what failed
                raise EffectsError(
                    f"cannot import effects function {path!r} of tool {tool!r}: {type(exc).__name__}: {exc}"
                ) from exc
        return probe

    def read(self, label: str) -> None:
        """Take one reading of every tool's effects so far."""
        if self.functions:
            self.readings[label] = {tool: self._count(tool) for tool in self.functions}

    def _count(self, tool: str) -> int:
        try:
            made = self.functions[tool]()
        except Exception as exc:  # noqa: BLE001 - the user's function: say what failed
            raise EffectsError(
                f"effects function {self.paths[tool]!r} of tool {tool!r} raised {type(exc).__name__}: {exc}"
            ) from exc
        if isinstance(made, bool) or not isinstance(made, (int, Sized)):
            raise EffectsError(
                f"effects function {self.paths[tool]!r} of tool {tool!r} returned {type(made).__name__}; "
                "it must return the effects made so far, as an int or a collection"
            )
        return made if isinstance(made, int) else len(made)

    def per_run(self) -> dict[str, tuple[int, int]]:
        """Tool -> (effects of the golden run, effects of the faulted run and its resumes), from the
        readings before the golden run, after it, before and after the faulted run."""
        labels = ("before", "golden", "before_faulted", "faulted")
        if not all(label in self.readings for label in labels):
            return {}
        before, golden, start, end = (self.readings[label] for label in labels)
        return {
            tool: (golden[tool] - before[tool], end[tool] - start[tool] - self.not_faulted.get(tool, 0))
            for tool in self.functions
        }
