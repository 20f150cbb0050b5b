"""Identity of durable units as the injectors see them.

A unit is identified by (kind, name, ordinal): the ordinal counts units of the same kind in order
of first appearance within one logical run. Injectors see a unit each time it is *attempted*; two
attempts belong to the same unit when their request fingerprints are equal (a retried model
request sends the same body; a retried tool call has the same name, arguments and call id).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from durable_chaos.faults.model import Selector


def fingerprint(*parts: Any) -> str:
    """A short stable digest of JSON-serialisable parts (dict keys sorted)."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class UnitRef:
    """One logical durable unit of a run."""

    kind: str
    name: str
    ordinal: int
    fingerprint: str

    @property
    def label(self) -> str:
        return f"{self.kind} #{self.ordinal} ({self.name})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "ordinal": self.ordinal,
            "fingerprint": self.fingerprint,
        }


@dataclass
class UnitTracker:
    """Assigns unit identities and attempt numbers from fingerprints, in order of first sight."""

    units: list[UnitRef] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)

    def observe(self, kind: str, name: str, fp: str) -> tuple[UnitRef, int]:
        """Record one attempt of a unit and return the unit and its attempt number (1-based)."""
        unit = next((u for u in self.units if u.fingerprint == fp and u.kind == kind), None)
        if unit is None:
            ordinal = 1 + sum(1 for u in self.units if u.kind == kind)
            unit = UnitRef(kind=kind, name=name, ordinal=ordinal, fingerprint=fp)
            self.units.append(unit)
        self.attempts[fp] = self.attempts.get(fp, 0) + 1
        return unit, self.attempts[fp]

    def occurrence(self, unit: UnitRef, selector: Selector) -> int:
        """1-based position of ``unit`` among the units that ``selector`` could strike."""
        matching = [u for u in self.units if selector.matches_unit(u.kind, u.name)]
        return 1 + matching.index(unit) if unit in matching else 0

    @classmethod
    def from_invocations(cls, invocations: list[dict[str, Any]]) -> UnitTracker:
        """Rebuild a tracker from recorded ``invoke`` events (used by a resumed worker)."""
        tracker = cls()
        for event in invocations:
            unit = event["unit"]
            tracker.observe(unit["kind"], unit["name"], unit["fingerprint"])
        return tracker
