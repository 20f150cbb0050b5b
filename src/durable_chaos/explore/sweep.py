"""Sweeps: every boundary of the golden run x phase x fault kind x recovery mode, each its own trial.

A *crash point* is (unit, phase, fault kind, recovery mode), where a unit is one durable unit of the
golden run (kind, name, occurrence among the units of that kind and name) and the recovery modes are:

- ``retry``: the engine retries in the same process: the fault fails the unit (``tool_error`` for tool
  calls, ``http_error`` 500 or ``timeout`` for model requests);
- ``kill``: SIGKILL of the worker at the boundary, then the same run resumes in a new process
  (the scenario's ``resume: same_run``);
- ``fresh`` (opt-in, not in the default modes): SIGKILL, then the harness abandons the run and starts a
  fresh one (``resume: new_run``). What that costs (model calls and tools run again, new identities) is the
  forced recovery's, not the user's: its cells report it without judging it (see :mod:`checkers`);
- ``warm`` (opt-in, not in the default modes): SIGKILL, then the same run resumes in a worker that first
  ran the target to completion once, a run of its own (``resume_worker: warm``), as a long-lived
  production worker would: per-process state (caches, clients, module globals) that a new worker lacks.
  Opt-in because each point pays a whole extra run on top of a kill point's, and only agents that keep
  per-process state can fail it where ``kill`` holds.

Design (collection before the golden run exists): a sweep expands from the golden run's *recorded
units*. The units are pure data read from the golden run's history (:func:`golden_units`), so the
expansion (:func:`expand`) is a pure function of them and of the scenario; the plugin gets the units
from a golden run made at collection time under ``--chaos`` (the runner caches it per scenario and
engine, see :mod:`durable_chaos.run.records.golden_cache`, so the first trial reuses it). Each crash point
becomes an ordinary :class:`~durable_chaos.scenario.trial_specs.TrialSpec` (one fault, one plan), so
xdist, the reports and the gate treat sweep trials as any other trial.

:func:`coverage` says which crash points the trials exercised (a planned fault that fired) and lists
the missed ones, per scenario and engine; :func:`matrix` lays verdicts out as units x faults.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import TypeAdapter

from durable_chaos.events import INVOKE
from durable_chaos.faults.model import KILL_KINDS, SWEEP_DEFAULT_KINDS, SWEEP_KINDS, Fault, traits_of
from durable_chaos.scenario.model import SWEEP_UNIT_KINDS, Plan, Scenario
from durable_chaos.scenario.trial_specs import TrialSpec

Recovery = Literal["retry", "kill", "fresh", "warm"]
Version = Literal["", "N", "N+1"]
RECOVERY_MODES: tuple[Recovery, ...] = ("retry", "kill")
"""The default recovery modes (``fresh`` and ``warm`` are opt-in)."""
PHASES = ("before", "after")
RETRY_FAULTS: dict[str, tuple[str, ...]] = {
    unit_kind: tuple(
        kind
        for kind in SWEEP_KINDS
        if traits_of(kind).fails_unit
        and not traits_of(kind).kills_worker
        and unit_kind in traits_of(kind).unit_kinds
    )
    for unit_kind in SWEEP_UNIT_KINDS
}
"""The fault kinds that fail a unit of each kind in the same process (the ``retry`` mode): the sweepable
kinds that fail the unit without killing the worker."""
_FAULT = TypeAdapter(Fault)


@dataclass(frozen=True, order=True)
class Unit:
    """One durable unit of the golden run, as a selector addresses it."""

    kind: str
    name: str
    occurrence: int

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}#{self.occurrence}"


@dataclass(frozen=True)
class CrashPoint:
    unit: Unit
    phase: str
    fault: str
    recovery: Recovery
    version: Version = ""
    """In an upgrade sweep (docs/upgrades.md): ``"N"``, the resume runs the same version (the scenario
    without its ``upgrade``), or ``"N+1"``, it runs the upgrade's N+1; ``""`` outside upgrade sweeps."""

    @property
    def mode(self) -> str:
        """The recovery mode as the matrix's columns show it: ``kill-upgraded`` for a kill resumed on N+1."""
        return f"{self.recovery}-upgraded" if self.version == "N+1" else self.recovery

    @property
    def slug(self) -> str:
        kind = "model" if self.unit.kind == "model_request" else "tool"
        name = "".join(c if c.isalnum() or c in "_.-" else "-" for c in self.unit.name)[:30]
        return f"sweep-{kind}-{name}-{self.unit.occurrence}-{self.phase}-{self.fault}-{self.mode}"


def golden_units(events: Iterable[dict[str, Any]]) -> list[Unit]:
    """The golden run's units in order of first appearance, from its ``invoke`` events."""
    return list(units_by_fingerprint(events).values())


def units_by_fingerprint(events: Iterable[dict[str, Any]]) -> dict[str, Unit]:
    """The golden run's units by request fingerprint (a retry of a unit has its first attempt's)."""
    seen: dict[str, Unit] = {}
    counts: dict[tuple[str, str], int] = {}
    for event in events:
        if event.get("role") != "golden" or event.get("event") != INVOKE or "unit" not in event:
            continue
        unit = event["unit"]
        if unit["fingerprint"] in seen:
            continue
        key = (unit["kind"], unit["name"])
        counts[key] = counts.get(key, 0) + 1
        seen[unit["fingerprint"]] = Unit(unit["kind"], unit["name"], counts[key])
    return seen


def crash_points(
    units: Sequence[Unit],
    faults: Sequence[str] = SWEEP_DEFAULT_KINDS,
    recovery: Sequence[Recovery] = RECOVERY_MODES,
    upgrade: bool = False,
) -> list[CrashPoint]:
    """Every (unit x phase x fault kind x recovery mode) that makes sense: ``retry`` takes the listed
    fault kinds that fail the unit's kind; ``kill``, ``fresh`` and ``warm`` take a kill (when a kind that
    kills the worker is listed). ``upgrade`` (a scenario with an ``upgrade``): every ``kill`` point twice,
    its resume on the same version N and on the upgrade's N+1; the other modes' points once, on N."""
    points = []
    for unit in units:
        for phase in PHASES:
            for mode in recovery:
                kinds = (
                    [f for f in faults if f in RETRY_FAULTS[unit.kind]]
                    if mode == "retry"
                    else [f for f in faults if f in KILL_KINDS]
                )
                versions: tuple[Version, ...] = (
                    ("N", "N+1") if upgrade and mode == "kill" else ("N",) if upgrade else ("",)
                )
                points += [CrashPoint(unit, phase, kind, mode, v) for kind in kinds for v in versions]
    return points


def plan_for(point: CrashPoint) -> Plan:
    """The one-fault plan of a crash point."""
    fault: dict[str, Any] = {
        "kind": point.fault,
        "at": {
            "kind": point.unit.kind,
            "name": point.unit.name,
            "occurrence": point.unit.occurrence,
            "phase": point.phase,
            "attempt": 1,
        },
    }
    return Plan(name=point.slug, faults=[_FAULT.validate_python(fault)])


def expand(
    scenario: Scenario, engine: str, points: Sequence[CrashPoint]
) -> list[tuple[CrashPoint, TrialSpec]]:
    """One trial per crash point; a ``fresh`` point runs the scenario with ``resume: new_run``,
    ``kill`` with ``resume: same_run``, ``warm`` with ``resume: same_run`` and ``resume_worker: warm``
    (``kill`` and ``fresh`` in a new worker). In an upgrade sweep a point on the same version (``"N"``)
    runs the scenario without its ``upgrade`` (:func:`same_version`)."""
    trials = []
    for point in points:
        chosen = same_version(scenario) if point.version == "N" else scenario
        if point.recovery in ("kill", "fresh", "warm"):
            resume = "new_run" if point.recovery == "fresh" else "same_run"
            worker = "warm" if point.recovery == "warm" else "new"
            if (chosen.resume, chosen.resume_worker) != (resume, worker):
                chosen = chosen.model_copy(update={"resume": resume, "resume_worker": worker})
                chosen = chosen.located(scenario.path)
        trials.append((point, TrialSpec(chosen, engine, plan_for(point), point)))
    return trials


def same_version(scenario: Scenario) -> Scenario:
    """An upgrade sweep's control: the scenario without its ``upgrade`` (every resume runs N), expecting
    no violation (the scenario's ``expect.violations`` are the upgraded points'); its other
    expectations (the properties checked, a comparator) are kept."""
    if scenario.upgrade is None:
        return scenario
    expect = scenario.expect.model_copy(update={"violations": []})
    return scenario.model_copy(update={"upgrade": None, "expect": expect}).located(scenario.path)


def coverage(points: Sequence[CrashPoint], exercised: Iterable[CrashPoint]) -> dict[str, Any]:
    """The share of crash points exercised (a trial whose fault fired), with the missed ones."""
    done = set(exercised)
    missed = [p for p in points if p not in done]
    total = len(points)
    return {
        "points": total,
        "exercised": total - len(missed),
        "percent": round(100.0 * (total - len(missed)) / total, 1) if total else 100.0,
        "missed": [f"{p.unit.label} {p.phase} {p.fault} {p.mode}" for p in missed],
    }


def matrix_cells(verdicts: dict[CrashPoint, str]) -> tuple[list[str], list[tuple[str, list[str | None]]]]:
    """The matrix as data: column headings (``fault/phase/recovery``, the recovery ``kill-upgraded`` for
    an upgrade sweep's kill resumed on N+1) and per unit (rows, by kind, name, occurrence) its label and
    each column's verdict (``None``: not run)."""
    columns = sorted({(p.fault, p.phase, p.mode) for p in verdicts})
    units = sorted({p.unit for p in verdicts}, key=lambda u: (u.kind, u.name, u.occurrence))
    by_cell = {(p.unit, p.fault, p.phase, p.mode): verdict for p, verdict in verdicts.items()}
    rows = [(unit.label, [by_cell.get((unit, f, ph, m)) for f, ph, m in columns]) for unit in units]
    return [f"{f}/{ph}/{r}" for f, ph, r in columns], rows


MARKS = {"pass": "P", "caught": "C", "fail": "F", "error": "E", "invalid": "I", "skipped": "S"}


def matrix(verdicts: dict[CrashPoint, str]) -> list[str]:
    """Units (rows) x fault/phase/recovery (columns), each cell the trial's verdict (P, F, E, .)."""
    columns, rows = matrix_cells(verdicts)
    width = max([len(label) for label, _ in rows] + [4])
    lines = [" " * width + "  " + "  ".join(columns)]
    for label, cells in rows:
        marks = [
            (MARKS.get(v, "?") if v else ".").center(len(c)) for v, c in zip(cells, columns, strict=True)
        ]
        lines.append(f"{label:<{width}}  " + "  ".join(marks))
    return lines


def sweep_specs(scenario: Scenario, engine: str, runner: Any) -> list[TrialSpec]:
    """The sweep's trials on one engine: the golden run is made now (only it: the runner then reuses it
    for every point), with the warm worker of the kill points starting beside it; raises
    :class:`SweepUnavailable` when it fails."""
    assert scenario.sweep is not None
    runner.prewarm(scenario, engine, kills=any(mode != "retry" for mode in scenario.sweep.recovery))
    baseline = runner.run(TrialSpec(scenario, engine, Plan(name="sweep-baseline")), golden_only=True)
    units = [u for u in golden_units(baseline.events) if u.kind in scenario.sweep.unit_kinds]
    if baseline.golden is None or not baseline.golden.completed or not units:
        raise SweepUnavailable(
            f"cannot sweep {scenario.name!r} on {engine}: the golden run gave no units ({baseline.reason})"
        )
    sweep = scenario.sweep
    points = crash_points(units, sweep.faults, sweep.recovery, scenario.upgrade is not None)
    return [spec for _, spec in expand(scenario, engine, points)]


class SweepUnavailable(Exception):
    """The golden run a sweep expands from could not be made."""


def sweep_report(results: Sequence[Any]) -> list[dict[str, Any]]:
    """Per (scenario, engine) swept: coverage and the matrix's cells, for the JSON report."""
    groups: dict[tuple[str, str], list[Any]] = {}
    for result in results:
        if isinstance(result.spec.point, CrashPoint):
            groups.setdefault((result.spec.scenario.name, result.spec.engine), []).append(result)
    out = []
    for (name, engine), members in groups.items():
        scenario = members[0].spec.scenario
        units = sorted({r.spec.point.unit for r in members})
        upgrade = any(r.spec.point.version for r in members)
        sweep = scenario.sweep
        points = crash_points(units, sweep.faults, sweep.recovery, upgrade) if sweep else []
        fired = [r.spec.point for r in members if r.fired and r.fired[0] > 0]
        out.append(
            {
                "scenario": name,
                "engine": engine,
                "coverage": coverage(points, fired),
                "cells": [
                    {
                        "unit": r.spec.point.unit.label,
                        "phase": r.spec.point.phase,
                        "fault": r.spec.point.fault,
                        "recovery": r.spec.point.recovery,
                        "verdict": r.verdict,
                    }
                    | ({"version": r.spec.point.version} if r.spec.point.version else {})
                    for r in members
                ],
            }
        )
    return out


def sweep_lines(results: Sequence[Any]) -> list[str]:
    """The terminal's sweep section: per scenario and engine, the matrix (coverage is reported with
    every scenario's, see :mod:`durable_chaos.explore.coverage`)."""
    lines: list[str] = []
    for group in sweep_report(results):
        verdicts = sweep_verdicts(results, group["scenario"], group["engine"])
        legend = "P pass, C caught (the expected violations), F fail, E error, . not run"
        lines += [f"sweep {group['scenario']} on {group['engine']} ({legend}):"]
        lines += [*matrix(verdicts), ""]
    return lines


def sweep_verdicts(results: Sequence[Any], scenario: str, engine: str) -> dict[CrashPoint, str]:
    """The verdict of each crash point swept of one scenario on one engine; ``caught`` for a pass that
    found the violations the scenario expects (a known-bad release's upgraded points, docs/upgrades.md)."""
    return {
        r.spec.point: "caught" if r.verdict == "pass" and r.spec.scenario.expect.violations else r.verdict
        for r in results
        if isinstance(r.spec.point, CrashPoint)
        and (r.spec.scenario.name, r.spec.engine) == (scenario, engine)
    }
