"""Scenario problems and how they print: ``path:line: field: message``, one line per problem.

Errors never surface as tracebacks: everything that can go wrong while reading, parsing or
validating a scenario file becomes a :class:`ScenarioError`, whose ``str()`` is one line per
problem, sorted by line, in the style of compiler diagnostics::

    scenarios/x.yaml:12: plans[0].faults[1].at.occurrence: Input should be greater than or equal to 1 (got 0)

Line numbers are 1-based (see :mod:`durable_chaos.scenario.files.lines` for how they are found).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ScenarioError", "ScenarioIssue"]

MAX_GOT_CHARS = 60


@dataclass(frozen=True)
class ScenarioIssue:
    """One problem in a scenario file."""

    line: int | None
    field: str | None
    message: str


class ScenarioError(Exception):
    """A scenario file that cannot be loaded; ``str()`` renders every problem, one per line.

    ``line``, ``field`` and ``message`` describe the first problem (by line); ``issues`` holds all.
    """

    def __init__(
        self,
        path: Path | str,
        message: str = "",
        *,
        line: int | None = None,
        field: str | None = None,
        issues: Iterable[ScenarioIssue] | None = None,
    ) -> None:
        self.path = Path(path)
        found = list(issues) if issues is not None else [ScenarioIssue(line, field, message)]
        if not found:
            found = [ScenarioIssue(line, field, message or "invalid scenario")]
        self.issues: tuple[ScenarioIssue, ...] = tuple(
            sorted(found, key=lambda i: (i.line is not None, i.line or 0))
        )
        first = self.issues[0]
        self.line: int | None = first.line
        self.field: str | None = first.field
        self.message: str = first.message
        super().__init__(str(self))

    def render(self, issue: ScenarioIssue) -> str:
        """One issue as ``path:line: field: message`` (parts that are unknown are left out)."""
        head = f"{self.path}:{issue.line}" if issue.line is not None else str(self.path)
        field = f" {issue.field}:" if issue.field else ""
        return f"{head}:{field} {' '.join(issue.message.split())}"

    def __str__(self) -> str:
        return "\n".join(self.render(issue) for issue in self.issues)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_error, (self.path, self.issues))


def _rebuild_error(path: Path, issues: tuple[ScenarioIssue, ...]) -> ScenarioError:
    return ScenarioError(path, issues=issues)


def safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - e.g. an int over Python's digit limit
        if isinstance(value, int):
            return f"<an integer of {value.bit_length()} bits>"
        return f"<{type(value).__name__}>"


def got(value: object) -> str:
    text = repr(value) if isinstance(value, str) else safe_str(value)
    return text if len(text) <= MAX_GOT_CHARS else text[: MAX_GOT_CHARS - 3] + "..."
