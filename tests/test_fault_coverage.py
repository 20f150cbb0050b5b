"""Fault coverage of plain scenario trials: which of the golden run's crash points their faults hit."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from durable_chaos.explore.coverage import (
    coverage_lines,
    coverage_rows,
    coverage_table,
    exercised,
    plan_coverage,
    universe,
)
from durable_chaos.explore.sweep import CrashPoint, Unit
from durable_chaos.scenario.model import Plan
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

EXAMPLES = Path(__file__).resolve().parent.parent / "scenarios" / "data_analyst"


def unit(kind: str, name: str, fp: str) -> dict[str, Any]:
    return {"kind": kind, "name": name, "ordinal": 0, "fingerprint": fp}


GOLDEN = [
    {"role": "golden", "event": "invoke", "unit": unit("model_request", "gpt-4o", "m1")},
    {"role": "golden", "event": "invoke", "unit": unit("tool_call", "load_dataset", "t1")},
    {"role": "golden", "event": "invoke", "unit": unit("model_request", "gpt-4o", "m2")},
]


def fault(kind: str, phase: str, fp: str, unit_kind: str, name: str, role: str = "faulted") -> dict[str, Any]:
    return {
        "role": role,
        "event": "fault",
        "unit": unit(unit_kind, name, fp),
        "fault": {"index": 0, "kind": kind, "phase": phase},
    }


@dataclass
class Result:
    spec: TrialSpec
    events: list[dict[str, Any]]
    verdict: str = "pass"
    fired: list[int] = field(default_factory=lambda: [1])


def result(scenario_file: str, plan: str, events: list[dict[str, Any]], resume: str | None = None) -> Result:
    scenario = load_scenario(EXAMPLES / scenario_file)
    if resume is not None:
        path = scenario.path
        scenario = scenario.model_copy(update={"resume": resume})
        scenario = scenario.located(path)
    return Result(TrialSpec(scenario, "prefect", Plan(name=plan)), GOLDEN + events)


def test_the_universe_is_a_default_sweep_of_the_golden_run() -> None:
    points = universe(GOLDEN)
    assert len(points) == 3 * 2 * 2  # units x phases x (retry, kill): fresh is opt-in
    assert len(universe(GOLDEN, fresh=True)) == 3 * 2 * 3
    assert {p.fault for p in points if p.recovery == "retry" and p.unit.kind == "tool_call"} == {"tool_error"}
    assert {p.fault for p in points if p.recovery == "retry" and p.unit.kind == "model_request"} == {
        "http_error"
    }


def test_fired_faults_map_to_crash_points_by_unit_phase_kind_and_resume_mode() -> None:
    model2 = Unit("model_request", "gpt-4o", 2)
    tool = Unit("tool_call", "load_dataset", 1)
    events = GOLDEN + [
        fault("timeout", "before", "m2", "model_request", "gpt-4o"),  # a retry point, named http_error
        fault("kill", "after", "t1", "tool_call", "load_dataset", role="resume-1"),
        fault("latency", "before", "m1", "model_request", "gpt-4o"),  # outside the universe
        fault("kill", "before", "zz", "model_request", "gpt-4o"),  # a unit the golden run never had
    ]
    assert exercised(events, "same_run") == [
        CrashPoint(model2, "before", "http_error", "retry"),
        CrashPoint(tool, "after", "kill", "kill"),
    ]
    assert exercised(events, "new_run")[1] == CrashPoint(tool, "after", "kill", "fresh")
    # only the faulted run's faults count: one in the golden run's role is not an exercised point
    golden_fault = fault("kill", "after", "t1", "tool_call", "load_dataset", "golden")
    assert exercised([*GOLDEN, golden_fault], "same_run") == []


def test_plan_coverage_is_the_union_over_a_scenarios_trials_with_the_missed_points_listed() -> None:
    kills = [
        result("kill.yaml", "kill-a", [fault("kill", "before", "m2", "model_request", "gpt-4o")]),
        result("kill.yaml", "kill-b", [fault("kill", "after", "t1", "tool_call", "load_dataset")]),
        result("kill.yaml", "kill-c", [fault("kill", "after", "t1", "tool_call", "load_dataset")]),
    ]
    errors = [result("tool_error.yaml", "tool-error", [fault("tool_error", "after", "t1", "tool_call", "x")])]
    fresh = [
        result("kill_fresh_run.yaml", "f", [fault("kill", "after", "t1", "tool_call", "x")], resume="new_run")
    ]
    rows = {r["scenario"]: r for r in plan_coverage(kills + errors + fresh)}
    kill = rows["data-analyst-kill"]
    assert (kill["points"], kill["exercised"], kill["trials"], kill["source"]) == (12, 2, 3, "plans")
    assert kill["percent"] == 16.7 and len(kill["missed"]) == 10
    assert not [m for m in kill["missed"] if m.endswith("fresh")]  # not opted in: not counted
    assert "tool_call:load_dataset#1 after kill kill" not in kill["missed"]
    assert "tool_call:load_dataset#1 after tool_error retry" in kill["missed"]
    assert rows["data-analyst-tool-error"]["exercised"] == 1
    opted_in = rows["data-analyst-kill-fresh-run"]  # resume: new_run opts in to the fresh points
    assert opted_in["points"] == 18 and "tool_call:load_dataset#1 after kill fresh" not in opted_in["missed"]
    # a pair whose trials never made a golden run (an error before it) has nothing to measure
    broken = Result(kills[0].spec, [], verdict="error")
    assert plan_coverage([broken]) == []
    # sweep trials are not plan trials: they are counted per sweep
    assert [r["source"] for r in coverage_rows(kills)] == ["plans"]


def test_the_terminal_table_lists_the_first_missed_points_and_a_total() -> None:
    kills = [result("kill.yaml", "kill-a", [fault("kill", "before", "m2", "model_request", "gpt-4o")])]
    lines = coverage_table(plan_coverage(kills), missed=3)
    assert lines[0].split() == ["Scenario", "Engine", "Points", "Miss", "Cover"]
    assert lines[2].split() == ["data-analyst-kill", "(plans)", "prefect", "12", "11", "8%"]
    assert [line.startswith("  missing: ") for line in lines[3:6]] == [True] * 3
    assert lines[6] == "  ... and 8 more (all in the JSON report)"
    assert lines[-1].split() == ["TOTAL", "12", "11", "8%"]


def test_without_verbose_plain_scenarios_missed_points_are_left_to_the_json_report() -> None:
    kills = [result("kill.yaml", "kill-a", [fault("kill", "before", "m2", "model_request", "gpt-4o")])]
    quiet = coverage_table(plan_coverage(kills), plans_missed=0)
    assert not [line for line in quiet if "missing:" in line or "more" in line]
    assert quiet[2].split() == ["data-analyst-kill", "(plans)", "prefect", "12", "11", "8%"]
    sweep_row = {"scenario": "s", "engine": "prefect", "source": "sweep", "points": 2, "exercised": 1}
    listed = coverage_table([sweep_row | {"missed": ["tool_call:t#1 before kill kill"]}], plans_missed=0)
    assert "  missing: tool_call:t#1 before kill kill" in listed  # a sweep's misses are always listed


def test_plain_plans_coverage_is_one_hint_line_by_default_and_a_table_with_v() -> None:
    kills = [result("kill.yaml", "kill-a", [fault("kill", "before", "m2", "model_request", "gpt-4o")])]
    quiet = coverage_lines(kills, verbose=False)
    assert "TOTAL" not in " ".join(quiet) and len(quiet) <= 3
    text = " ".join(quiet)
    assert "fault coverage of hand-written plans: 1 of 12 crash points (8%), a hint, not a gate" in text
    assert "-v lists them per scenario" in text
    assert all(len(line) <= 110 for line in quiet)
    verbose = coverage_lines(kills, verbose=True)
    assert any(line.startswith("TOTAL") for line in verbose) and any("missing:" in line for line in verbose)
