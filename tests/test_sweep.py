"""Sweeps: crash points from the golden run's units, one trial each, coverage and the matrix."""

from __future__ import annotations

from pathlib import Path

from example_files import copy_shared

from durable_chaos.explore.coverage import coverage_table
from durable_chaos.explore.sweep import (
    CrashPoint,
    Unit,
    coverage,
    crash_points,
    expand,
    golden_units,
    matrix,
)
from durable_chaos.scenario.read import load_scenario

EXAMPLES = Path(__file__).resolve().parent.parent / "scenarios" / "data_analyst"


def invoke(kind: str, name: str, fp: str, role: str = "golden") -> dict[str, object]:
    return {
        "role": role,
        "event": "invoke",
        "unit": {"kind": kind, "name": name, "ordinal": 0, "fingerprint": fp},
    }


EVENTS = [
    invoke("model_request", "gpt-4o", "a"),
    invoke("tool_call", "load_dataset", "b"),
    invoke("model_request", "gpt-4o", "a"),  # a retry of the same unit
    invoke("model_request", "gpt-4o", "c"),
    invoke("tool_call", "load_dataset", "z", role="faulted"),
]


def test_units_come_from_the_golden_runs_first_attempts_in_order() -> None:
    assert golden_units(EVENTS) == [
        Unit("model_request", "gpt-4o", 1),
        Unit("tool_call", "load_dataset", 1),
        Unit("model_request", "gpt-4o", 2),
    ]


def test_every_unit_phase_fault_and_recovery_mode_is_one_trial() -> None:
    units = golden_units(EVENTS)
    assert {p.recovery for p in crash_points(units)} == {"retry", "kill"}  # fresh is opt-in
    points = crash_points(
        units, faults=("tool_error", "http_error", "kill"), recovery=("retry", "kill", "fresh")
    )
    # per unit and phase: retry (1 fault kind that fails it) + kill + fresh
    assert len(points) == 3 * 2 * 3
    scenario = load_scenario(EXAMPLES / "kill.yaml")
    trials = expand(scenario, "prefect", points)
    assert len({spec.plan.name for _, spec in trials}) == len(points)
    by_mode = {
        point.recovery: spec for point, spec in trials if point.unit == units[1] and point.phase == "after"
    }
    assert by_mode["retry"].plan.faults[0].kind == "tool_error"
    assert by_mode["kill"].scenario.resume == "same_run" and by_mode["fresh"].scenario.resume == "new_run"
    at = by_mode["kill"].plan.faults[0].at
    assert (at.kind, at.name, at.occurrence, at.phase) == ("tool_call", "load_dataset", 1, "after")
    assert by_mode["fresh"].scenario.path == scenario.path


def test_coverage_lists_the_missed_points_and_the_matrix_shows_verdicts() -> None:
    points = crash_points(golden_units(EVENTS)[:1], ("http_error", "kill"), ("retry", "kill", "fresh"))
    cov = coverage(points, points[:4])
    assert cov["points"] == 6 and cov["exercised"] == 4 and cov["percent"] == 66.7
    assert cov["missed"] == [
        "model_request:gpt-4o#1 after kill kill",
        "model_request:gpt-4o#1 after kill fresh",
    ]
    row = {"scenario": "analyst", "engine": "prefect", "source": "sweep", **cov}
    lines = coverage_table([row])
    assert "66%" in lines[2] and lines[3].startswith("  missing:") and lines[-1].startswith("TOTAL")
    grid = matrix({p: "pass" for p in points[:5]} | {points[5]: "fail"})
    assert len(grid) == 2 and grid[1].startswith("model_request:gpt-4o#1") and "F" in grid[1]
    assert CrashPoint(Unit("tool_call", "x", 1), "before", "kill", "kill").slug.startswith("sweep-tool-x-1")


def test_a_sweep_finds_a_bug_that_only_an_in_process_retry_shows(pytester: object) -> None:
    """retry_only_agent.py: output_matches_golden breaks when a tool's result is lost and the engine
    retries it in the same process, never after a kill and resume in a new process. The sweep's
    retry cells after the tool ran fail; its kill cells after the tool ran pass."""
    import json
    import shutil

    import pytest

    assert isinstance(pytester, pytest.Pytester)
    target = pytester.path / "scenarios"
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns("*.yaml", "__pycache__"))
    shutil.copytree(EXAMPLES / "cassettes", target / "cassettes", dirs_exist_ok=True)
    # The known-bad sweep lives beside the tests, not in scenarios/: its retry cells fail by design (a
    # sweep cannot declare per-cell expected violations), which would turn the examples' run red.
    shutil.copy(Path(__file__).with_name("sweep_retry_only.yaml"), target)
    copy_shared(target, ("data_analyst_core", "data_analyst_dbos"))
    report = pytester.path / "chaos.json"
    result = pytester.runpytest_subprocess(
        "--chaos", "scenarios", "-k", "after", f"--chaos-report={report}", "-p", "no:cacheprovider"
    )
    assert result.ret == 1, result.stdout.str()
    result.stdout.fnmatch_lines(["sweep data-analyst-sweep-retry-only on prefect*", "*missing:*"])
    (sweep,) = json.loads(report.read_text())["sweeps"]
    cells = {(c["unit"], c["recovery"]): c["verdict"] for c in sweep["cells"]}
    assert cells == {
        ("tool_call:load_dataset#1", "retry"): "fail",
        ("tool_call:compute_statistics#1", "retry"): "fail",
        ("tool_call:load_dataset#1", "kill"): "pass",
        ("tool_call:compute_statistics#1", "kill"): "pass",
    }
    assert sweep["coverage"]["points"] == 8 and sweep["coverage"]["exercised"] == 4
