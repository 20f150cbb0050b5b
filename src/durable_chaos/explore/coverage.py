"""Fault coverage: the share of a golden run's crash points that a session's trials exercised.

The *universe* of a (scenario x engine) is the crash points a default sweep of it would run
(:func:`durable_chaos.explore.sweep.crash_points` with the default fault kinds and recovery modes): every
model request and tool call of the golden run x phase (``before``, ``after``) x recovery mode
(``retry``: the fault kind that fails the unit in the same process, ``http_error`` for a model request and
``tool_error`` for a tool call; ``kill``: a SIGKILL, then the same run resumed). Four points per unit.
It is the same for every scenario of an agent, whatever its plans, so adding a plan never lowers the
figure (as adding a test never lowers coverage.py's). ``fresh`` points (a SIGKILL, then a fresh run) and
``warm`` points (a SIGKILL, then the same run resumed in a warm worker) are opt-in: they join the universe
only of a scenario that runs with ``resume: new_run``, respectively ``resume_worker: warm``.

A trial *exercises* a point when one of its faults fired there, read from its history: the ``fault``
event's unit (by fingerprint, the golden run's unit), its phase and kind, and the recovery the trial
ran: a kill is ``kill`` under ``resume: same_run``, ``fresh`` under ``resume: new_run`` and ``warm`` under
``resume_worker: warm``; a fault that
fails the unit in the same process (``http_error`` of any status or ``timeout`` on a model request,
``tool_error`` on a tool call) is ``retry``, named by the universe's fault kind. Faults of other kinds
(latency, malformed output, network, MCP) strike boundaries outside this universe and are not counted.

Sweep trials are counted per sweep (over the sweep's own crash points, see :func:`sweep_report`); plain
scenario trials per (scenario x engine), over the universe above.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

from durable_chaos.events import FAULT
from durable_chaos.explore.sweep import (
    RECOVERY_MODES,
    RETRY_FAULTS,
    CrashPoint,
    Recovery,
    coverage,
    crash_points,
    golden_units,
    sweep_report,
    units_by_fingerprint,
)
from durable_chaos.faults.model import KILL_KINDS, SWEEP_DEFAULT_KINDS
from durable_chaos.judge.evidence import is_faulted

UNIVERSE_KINDS = tuple(RETRY_FAULTS)
"""The unit kinds whose boundaries the universe holds (model requests and tool calls)."""
DEFAULT_FAULTS = SWEEP_DEFAULT_KINDS
WIDTH = 110
"""The terminal's line width (as the summary's)."""
TERMINAL_MISSED = 5
"""How many missed crash points the terminal lists per row (the JSON report lists all)."""


def exercised(events: Sequence[dict[str, Any]], resume: str, worker: str = "new") -> list[CrashPoint]:
    """The universe's crash points where a fault of this trial fired (see the module's docs)."""
    units = units_by_fingerprint(events)
    points = []
    for event in events:
        if event.get("event") != FAULT or not is_faulted(str(event.get("role"))) or "unit" not in event:
            continue
        unit = units.get(event["unit"].get("fingerprint", ""))
        if unit is None or unit.kind not in UNIVERSE_KINDS:
            continue  # a unit the golden run never had (a diverging run), or outside the universe
        kind, phase = event["fault"]["kind"], event["fault"]["phase"]
        if kind in KILL_KINDS:
            mode: Recovery = "fresh" if resume == "new_run" else "warm" if worker == "warm" else "kill"
            points.append(CrashPoint(unit, phase, kind, mode))
        elif kind in RETRY_FAULTS[unit.kind]:
            points.append(CrashPoint(unit, phase, _retry_fault(unit.kind), "retry"))
    return points


def _retry_fault(kind: str) -> str:
    """The universe's fault kind for the retry point of a unit kind."""
    return next(f for f in DEFAULT_FAULTS if f in RETRY_FAULTS[kind])


def universe(events: Iterable[dict[str, Any]], fresh: bool = False, warm: bool = False) -> list[CrashPoint]:
    """The crash points of a default sweep of the golden run these events hold (with the opt-in
    ``fresh`` points when ``fresh``, the ``warm`` points when ``warm``)."""
    units = [u for u in golden_units(events) if u.kind in UNIVERSE_KINDS]
    opted: tuple[Recovery, ...] = (*(("fresh",) if fresh else ()), *(("warm",) if warm else ()))
    modes = (*RECOVERY_MODES, *opted)
    return crash_points(units, DEFAULT_FAULTS, modes)


def plan_coverage(results: Sequence[Any]) -> list[dict[str, Any]]:
    """Per (scenario x engine) of the plain (non-sweep) trials: ``scenario``, ``engine``, ``source``
    (``"plans"``), ``trials`` and the coverage (``points``, ``exercised``, ``percent``, ``missed``). A
    pair none of whose trials has a golden run with units is left out (there is nothing to measure)."""
    groups: dict[tuple[str, str], list[Any]] = {}
    for result in results:
        if result.spec.point is None:
            groups.setdefault((result.spec.scenario.name, result.spec.engine), []).append(result)
    out = []
    for (name, engine), members in groups.items():
        fresh = any(r.spec.scenario.resume == "new_run" for r in members)
        warm = any(r.spec.scenario.resume_worker == "warm" for r in members)
        points = next((p for p in (universe(r.events, fresh, warm) for r in members) if p), [])
        if not points:
            continue
        hit = [
            p
            for r in members
            for p in exercised(r.events, r.spec.scenario.resume, r.spec.scenario.resume_worker)
        ]
        out.append(
            {"scenario": name, "engine": engine, "source": "plans", "trials": len(members)}
            | coverage(points, hit)
        )
    return out


def coverage_rows(results: Sequence[Any]) -> list[dict[str, Any]]:
    """Every sweep's coverage (``source`` ``"sweep"``), then the plain trials' (``"plans"``)."""
    sweeps = [
        {"scenario": s["scenario"], "engine": s["engine"], "source": "sweep", "trials": len(s["cells"])}
        | s["coverage"]
        for s in sweep_report(results)
    ]
    return sweeps + plan_coverage(results)


def coverage_table(
    rows: Sequence[dict[str, Any]], missed: int = TERMINAL_MISSED, plans_missed: int | None = None
) -> list[str]:
    """coverage.py's report: one row per (scenario x engine x source) with its points, misses and
    cover, the first ``missed`` missed points under it (``... and K more``; ``plans_missed`` for the
    rows of plain trials, when it differs), and a TOTAL row."""
    if not rows:
        return []
    width = max([len(r["scenario"]) + len(r["source"]) + 3 for r in rows] + [len("Scenario")])
    head = f"{'Scenario':<{width}} {'Engine':<10} {'Points':>6} {'Miss':>5} {'Cover':>6}"
    lines = [head, "-" * len(head)]
    for row in rows:
        label = f"{row['scenario']} ({row['source']})"
        lines.append(
            f"{label:<{width}} {row['engine']:<10} {row['points']:>6} "
            f"{row['points'] - row['exercised']:>5} {_percent(row['points'], row['exercised']):>6}"
        )
        shown = missed if plans_missed is None or row["source"] == "sweep" else plans_missed
        lines += [f"  missing: {m}" for m in row["missed"][:shown]]
        if shown and len(row["missed"]) > shown:
            lines.append(f"  ... and {len(row['missed']) - shown} more (all in the JSON report)")
    total = sum(r["points"] for r in rows)
    done = sum(r["exercised"] for r in rows)
    summary = f"{'TOTAL':<{width}} {'':<10} {total:>6} {total - done:>5} {_percent(total, done):>6}"
    lines += ["-" * len(head), summary]
    return lines


def coverage_lines(results: Sequence[Any], verbose: bool = True) -> list[str]:
    """The terminal's fault-coverage section (nothing when no trial has a golden run to measure).

    A sweep's table is always shown, its missed points listed (a sweep means to run every point). The
    coverage of hand-written plans is a hint, not an alarm: plans test the faults their author chose,
    so by default it is one line; ``verbose`` (``-v``) adds its table with the missed points, as
    coverage.py lists missing lines only when asked. The JSON report has every row and point."""
    rows = coverage_rows(results)
    if not rows:
        return []
    sweeps = [row for row in rows if row["source"] == "sweep"]
    plans = [row for row in rows if row["source"] != "sweep"]
    lines = []
    shown = rows if verbose else sweeps
    if shown:
        lines += [
            "fault coverage: crash points (golden-run unit x phase x fault x recovery) exercised; "
            "see docs/exploration.md",
            *coverage_table(shown),
        ]
    if plans:
        points = sum(row["points"] for row in plans)
        done = sum(row["exercised"] for row in plans)
        text = (
            f"fault coverage of hand-written plans: {done} of {points} crash points "
            f"({_percent(points, done)}), a hint, not a gate: plans test the faults you chose, a sweep runs "
            "every point ('sweep:' or --chaos-sweep)" + ("" if verbose else "; -v lists them per scenario")
        )
        lines += textwrap.wrap(text, WIDTH, subsequent_indent="  ")
    return [*lines, ""]


def _percent(points: int, done: int) -> str:
    """Rounded down, as coverage.py does, so 99.9% never shows as 100%."""
    return f"{int(100 * done / points) if points else 100}%"
