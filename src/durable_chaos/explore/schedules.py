"""Fault schedules as plans: the faults of one run, listed in the order the run meets them."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from durable_chaos.explore.sweep import PHASES, Unit
from durable_chaos.faults.model import EXPLORE_KINDS
from durable_chaos.scenario.model import Plan

KIND_ORDER: tuple[str, ...] = EXPLORE_KINDS
"""The generated fault kinds, simplest first (``Traits.explore``); faults at the same boundary are listed
in this order."""


def plan_of(fault_list: Sequence[Any], units: Sequence[Unit] | None = None) -> Plan:
    """The plan of these faults, named ``generated-<n>-<digest>``: with the golden run's ``units``, in
    the order the run meets them (unit order, then phase); without, in the order given."""
    order = {(u.kind, u.name, u.occurrence): i for i, u in enumerate(units or [])}

    def position(fault: Any) -> tuple[int, int, int]:
        at = fault.at
        unit = order.get((at.kind, at.name, at.occurrence), len(order) + (at.occurrence or 0))
        kind = KIND_ORDER.index(fault.kind) if fault.kind in KIND_ORDER else len(KIND_ORDER)
        return (unit, PHASES.index(at.phase), kind)

    ordered = sorted(fault_list, key=position) if units else list(fault_list)
    text = "|".join(f.model_dump_json() for f in ordered)
    digest = hashlib.sha1(text.encode()).hexdigest()[:8]
    return Plan(name=f"generated-{len(ordered)}-{digest}", faults=list(ordered))
