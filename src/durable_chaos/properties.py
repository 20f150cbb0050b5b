"""The properties a trial can check: one table, and everything derived from it.

Each :class:`Property` says whether a scenario checks it by default or only when it configures it,
its mark in the terminal table, and the run a trial makes only for it. Its checker is the function of
the same name in :mod:`durable_chaos.judge.checkers` (``CHECKERS`` there is derived from this table).
The scenario schema (``PropertyName``, the defaults), the runner and the reports read this table; none
lists properties of its own. Exact definitions are in docs/properties.md.

Like :mod:`durable_chaos.events`, the module sits on the lowest floor (standard library only): the
scenario schema, the judge, the runner and the reports all use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

ExtraRun = Literal["variants", "replay_check", "upgrade_reference"]
"""A run a trial makes only when a property it checks needs it: each variant's runs (in a fresh and in
the golden run's engine context), the engine's replay of the finished faulted run, or an upgrade's N+1
run from scratch in an engine context of its own (what N+1 sends)."""


@dataclass(frozen=True)
class Property:
    name: str
    """Its name in scenario files and reports; also the name of its checker in ``judge.checkers``."""
    default: bool = False
    """Checked when a scenario does not list ``expect.properties`` (cheap, meaningful for every trial)."""
    configured_by: str | None = None
    """The scenario field it judges: without an explicit ``expect.properties`` it is checked exactly
    when that field is set."""
    mark: str | None = None
    """Its column's mark in the terminal table (a property without one gets the initials of its words)."""
    needs: ExtraRun | None = None
    """The run the trial makes only for it (when the run it builds on, golden or faulted, completed)."""
    said_when_golden_fails: bool = False
    """Judged even when not asked for, when the golden run failed: the agent's own failure is always said."""


PROPERTIES: tuple[Property, ...] = (
    Property("completes", default=True, mark="C", said_when_golden_fails=True),
    Property("completes_within", configured_by="expect.max_resumes_to_complete", mark="W"),
    Property("no_duplicate_model_calls", default=True, mark="D"),
    Property("stable_cache_keys", default=True, mark="K"),
    Property("output_matches_golden", default=True, mark="O"),
    Property("tools_exactly_once", default=True, mark="T"),
    Property("bounded_retries", default=True, mark="R"),
    Property("same_model_endpoint", default=True, mark="E"),
    Property("usage_consistent", default=True, mark="U"),
    Property("events_complete", mark="V"),
    Property("no_false_cache_sharing", configured_by="variants", mark="S", needs="variants"),
    Property("deterministic_replay", default=True, needs="replay_check"),
    Property("no_stale_replay", configured_by="upgrade", mark="N", needs="upgrade_reference"),
)
"""Every property, in the order the schema lists them and the terminal table shows them."""

BY_NAME: dict[str, Property] = {p.name: p for p in PROPERTIES}

if TYPE_CHECKING:
    PropertyName = str
else:
    PropertyName = Literal[tuple(p.name for p in PROPERTIES)]
"""A property's name, as scenario files and ``[tool.durable-chaos]`` write it (pydantic validates it
as the ``Literal`` of every name)."""

DEFAULT_PROPERTIES: tuple[PropertyName, ...] = tuple(p.name for p in PROPERTIES if p.default)
"""Checked when a scenario does not list ``expect.properties``: cheap, and meaningful for every trial."""
CONFIGURED_PROPERTIES: dict[PropertyName, str] = {
    p.name: p.configured_by for p in PROPERTIES if p.configured_by is not None
}
"""Properties that judge something the scenario must configure (the field named). Without an explicit
``expect.properties`` they are checked exactly when that field is set."""
PROPERTY_MARKS: dict[str, str] = {p.name: p.mark for p in PROPERTIES if p.mark is not None}
"""Short marks of the known properties in the terminal table; others get the initials of their words."""


def needs(properties: Iterable[str], run: ExtraRun) -> bool:
    """Whether a property among ``properties`` needs the trial to make ``run``."""
    return any(BY_NAME[name].needs == run for name in properties)


def judged(properties: list[str], golden_completed: bool) -> list[str]:
    """The properties a trial judges: those it checks, and when its golden run failed, those that say
    so (first) even when not asked for."""
    if golden_completed:
        return list(properties)
    said = [p.name for p in PROPERTIES if p.said_when_golden_fails and p.name not in properties]
    return [*said, *properties]
