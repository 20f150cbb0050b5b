"""An upgrade sweep (docs/upgrades.md): crash points x {same version, upgraded} show which in-flight
positions survive the deploy."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_chaos.explore.sweep import (
    CrashPoint,
    Unit,
    crash_points,
    expand,
    matrix,
    sweep_lines,
    sweep_report,
    sweep_specs,
)
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.errors import ScenarioError
from durable_chaos.scenario.read import load_scenario

UPGRADES = Path(__file__).resolve().parent.parent / "scenarios" / "upgrade"
UNITS = [Unit("model_request", "gpt-4o", 1), Unit("tool_call", "load_dataset", 1)]


def test_every_kill_point_runs_on_the_same_version_and_upgraded() -> None:
    plain = crash_points(UNITS, ("http_error", "tool_error", "kill"), ("retry", "kill", "fresh"))
    points = crash_points(
        UNITS, ("http_error", "tool_error", "kill"), ("retry", "kill", "fresh"), upgrade=True
    )
    kills = [p for p in plain if p.recovery == "kill"]
    assert len(points) == len(plain) + len(kills)  # every kill point doubled, the others once
    assert {(p.recovery, p.version) for p in points} == {
        ("retry", "N"),
        ("fresh", "N"),
        ("kill", "N"),
        ("kill", "N+1"),
    }
    scenario = load_scenario(UPGRADES / "dbos_unpinned_sweep.yaml")
    trials = expand(scenario, "dbos", points)
    ids = [spec.id for _, spec in trials]
    assert len(set(ids)) == len(ids)  # distinct, and stable: the same ids as a plain sweep's, plus N+1's
    assert {spec.id for _, spec in expand(scenario, "dbos", points)} == set(ids)
    assert {p.slug for p in plain} <= {spec.plan.name for _, spec in trials}
    twins = {
        p.version: spec
        for p, spec in trials
        if p.unit == UNITS[0] and p.phase == "before" and p.recovery == "kill"
    }
    assert twins["N+1"].id == "dbos-sweep-model-gpt-4o-1-before-kill-kill-upgraded"
    assert twins["N+1"].scenario.upgrade is not None and twins["N+1"].scenario.expect.violations == [
        "completes"
    ]
    assert twins["N"].scenario.upgrade is None and twins["N"].scenario.expect.violations == []
    assert twins["N"].scenario.path == scenario.path
    grid = matrix({p: "pass" if p.version == "N" else "fail" for p in points if p.recovery == "kill"})
    assert grid[0].split() == [
        "kill/after/kill",
        "kill/after/kill-upgraded",
        "kill/before/kill",
        "kill/before/kill-upgraded",
    ]
    assert grid[1].split()[1:] == ["P", "F", "P", "F"]
    assert (
        CrashPoint(UNITS[0], "after", "kill", "kill").slug
        == CrashPoint(UNITS[0], "after", "kill", "kill", "N").slug
    )


def test_an_upgrade_sweep_needs_kill_points_and_explore_stays_refused(tmp_path: Path) -> None:
    text = (UPGRADES / "dbos_unpinned_sweep.yaml").read_text()
    for table, message in [
        ("sweep:\n  recovery: [retry]\n", "an upgrade sweep resumes its kill points on N+1"),
        ("explore: {max_examples: 2}\n", "an upgrade runs with 'plans' or a 'sweep' (no 'explore' yet)"),
    ]:
        path = tmp_path / "sweep.yaml"
        path.write_text(text.split("sweep:")[0] + table + "expect:\n  violations: [completes]\n")
        with pytest.raises(ScenarioError, match="upgrade") as caught:
            load_scenario(path)
        assert message in str(caught.value)


def test_a_dbos_upgrade_sweep_holds_on_the_same_version_and_is_caught_upgraded(runner: TrialRunner) -> None:
    """The unpinned release: killed before a model request, the run resumes on the same version
    (DBOS recovers it: every property holds) and stays PENDING on N+1 (completes violated, as expected)."""
    scenario = load_scenario(UPGRADES / "dbos_unpinned_sweep.yaml")
    assert scenario.upgrade is not None
    quick = scenario.upgrade.model_copy(update={"wait": 2.0})
    scenario = scenario.model_copy(update={"upgrade": quick}).located(scenario.path)
    specs = sweep_specs(scenario, "dbos", runner)
    assert len(specs) == 12  # 3 model requests x 2 phases x {N, N+1}
    chosen = [s for s in specs if s.point.unit.occurrence == 2 and s.point.phase == "before"]
    results = {s.point.version: runner.run(s) for s in chosen}
    same, upgraded = results["N"], results["N+1"]
    assert same.verdict == "pass", same.reason
    assert {n for n, v in same.verdicts.items() if v.held is False} == set()
    assert same.upgrade is None
    assert upgraded.verdict == "pass", upgraded.reason  # caught: exactly the expected violation
    assert {n for n, v in upgraded.verdicts.items() if v.held is False} == {"completes"}
    assert "UpgradeStuck" in upgraded.verdicts["completes"].detail
    assert sweep_lines(list(results.values()))[2].split() == ["model_request:gpt-4o#2", "P", "C"]
    (group,) = sweep_report(list(results.values()))
    assert {c["version"]: c["verdict"] for c in group["cells"]} == {"N": "pass", "N+1": "pass"}
