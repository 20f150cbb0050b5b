"""Generated fault schedules: strategies, the chaos fixture, shrinking to a regression file, seeds.

The known-bad agent (scenarios/data_analyst/breaker_agent.py) breaks only under a 429 storm on a
model request FOLLOWED by a tool whose result is lost after it ran. A property-based test written as a
user writes it (tests/explore_breaker.py: ``@given`` + ``strategies.fault_plans`` + the ``chaos``
fixture) must find it, Hypothesis must shrink it to exactly those two faults in that order, the
regression file written must reproduce the violation under ``pytest --chaos``, and the correct twin
must pass the same exploration.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from random import Random
from typing import Any

import pytest
import yaml
from example_files import copy_shared
from hypothesis import HealthCheck, Phase, find, given, seed, settings

from durable_chaos import strategies
from durable_chaos.cli import main as cli_main
from durable_chaos.explore.regressions import write_regression
from durable_chaos.explore.sweep import Unit
from durable_chaos.python_api import Chaos, ChaosError
from durable_chaos.scenario.model import Plan
from durable_chaos.scenario.read import load_scenario

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "scenarios" / "data_analyst"
UNITS = [
    Unit("model_request", "gpt-4o", 1),
    Unit("tool_call", "load_dataset", 1),
    Unit("model_request", "gpt-4o", 2),
    Unit("tool_call", "compute_statistics", 1),
    Unit("model_request", "gpt-4o", 3),
]
"""The data analyst's golden run, in order."""
POSITION = {(u.kind, u.name, u.occurrence): i for i, u in enumerate(UNITS)}
FAST = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def position(fault: Any) -> int:
    return POSITION[(fault.at.kind, fault.at.name, fault.at.occurrence)]


def breaks_the_breaker(plan: Plan) -> bool:
    """What breaker_agent.py does, as a pure predicate: a 429 storm that outlasts the SDK's 3 sends at
    a model request, then a lost tool result at a LATER tool."""
    storms = [
        position(f) for f in plan.faults if f.kind == "http_error" and f.status == 429 and f.at.times >= 3
    ]
    lost = [position(f) for f in plan.faults if f.kind == "tool_error" and f.at.phase == "after"]
    return any(s < t for s in storms for t in lost)


@FAST
@given(plan=strategies.fault_plans(units=UNITS, max_faults=4))
def test_generated_faults_strike_the_golden_runs_units_in_run_order(plan: Plan) -> None:
    assert 1 <= len(plan.faults) <= 4 and plan.name.startswith(f"generated-{len(plan.faults)}-")
    for fault in plan.faults:
        assert fault.applies_to(fault.at.kind), fault
        assert (fault.at.kind, fault.at.name, fault.at.occurrence) in POSITION
        assert fault.at.times <= strategies.DEFAULT_MAX_TIMES[fault.kind]
    keys = [(position(f), ("before", "after").index(f.at.phase)) for f in plan.faults]
    assert keys == sorted(keys)
    boundaries = [(f.kind, position(f), f.at.phase) for f in plan.faults]
    assert len(set(boundaries)) == len(boundaries)


@FAST
@given(fault=strategies.faults(kinds=["kill", "timeout"]))
def test_without_units_faults_use_generic_selectors(fault: Any) -> None:
    assert fault.kind in ("kill", "timeout") and fault.at.name == "*"
    assert fault.at.kind in strategies.APPLIES_TO[fault.kind] and 1 <= fault.at.occurrence <= 3


def test_shrinking_reaches_two_faults_in_the_order_that_breaks() -> None:
    minimal = find(
        strategies.fault_plans(
            units=UNITS, kinds=["http_error", "tool_error", "timeout", "kill"], max_faults=4
        ),
        breaks_the_breaker,
        settings=settings(database=None, max_examples=2000, phases=[Phase.generate, Phase.shrink]),
        random=Random(0),
    )
    storm, lost = minimal.faults
    assert (storm.kind, storm.status, storm.at.times, position(storm), storm.at.phase) == (
        "http_error",
        429,
        3,
        0,
        "before",
    )
    assert (lost.kind, lost.at.name, lost.at.phase, lost.at.times) == (
        "tool_error",
        "load_dataset",
        "after",
        1,
    )


def generated(seed_value: int) -> list[str]:
    plans: list[str] = []

    @seed(seed_value)
    @settings(max_examples=15, database=None, phases=[Phase.generate])
    @given(plan=strategies.fault_plans(units=UNITS))
    def collect(plan: Plan) -> None:
        plans.append(plan.model_dump_json())

    collect()
    return plans


def test_the_same_seed_generates_the_same_schedules() -> None:
    assert generated(7) == generated(7)
    assert generated(7) != generated(8)


SEEDED_TEST = """
import json
from hypothesis import given, settings
from durable_chaos import strategies
from durable_chaos.explore.sweep import Unit

UNITS = [Unit("model_request", "gpt-4o", 1), Unit("tool_call", "load_dataset", 1)]

@settings(max_examples=10)
@given(plan=strategies.fault_plans(units=UNITS))
def test_schedules(chaos, plan):
    with open("drawn.jsonl", "a") as out:
        out.write(plan.model_dump_json() + "\\n")
"""


def test_the_chaos_seed_seeds_given_tests_that_use_the_fixture_and_is_printed(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_seeded=SEEDED_TEST)
    drawn = pytester.path / "drawn.jsonl"
    runs = []
    for seed_value in ("11", "11", "12"):
        drawn.unlink(missing_ok=True)
        result = pytester.runpytest_subprocess("--chaos-seed", seed_value, "-p", "no:cacheprovider")
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines([f"durable-chaos seed: {seed_value} (from --chaos-seed*"])
        runs.append(drawn.read_text())
    assert runs[0] == runs[1] and runs[0] != runs[2]
    unseeded = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    unseeded.assert_outcomes(passed=1)
    assert "durable-chaos seed" not in unseeded.stdout.str()  # no --chaos, no seed: nothing to say


def test_the_durable_chaos_settings_profile_loads_from_the_command_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_profile="""
from hypothesis import HealthCheck, settings

def test_profile():
    assert settings.default.deadline is None and settings.default.max_examples == 20
    assert HealthCheck.too_slow in settings.default.suppress_health_check
"""
    )
    result = pytester.runpytest_subprocess("--hypothesis-profile", "durable-chaos", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_bad_strategy_arguments_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="fault kinds must be among"):
        strategies.faults(kinds=["explode"], units=UNITS)
    with pytest.raises(ValueError, match="none of the fault kinds"):
        strategies.faults(kinds=["tool_error"], units=UNITS[:1])
    with pytest.raises(ValueError, match="min_faults <= max_faults"):
        strategies.fault_plans(units=UNITS, min_faults=3, max_faults=2)


def test_python_api_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    chaos = Chaos(runner=lambda: pytest.fail("no trial may start"))  # type: ignore[arg-type,return-value]
    with pytest.raises(ChaosError, match=r"^scenario built in Python: .*: .*") as built:
        chaos.scenario(name="x", engines=["prefect"], cassette="c.yaml")
    assert "\n" not in str(built.value)
    with pytest.raises(ChaosError, match="does not run on 'dbos'"):
        chaos.run(EXAMPLES / "kill.yaml", None, engine="dbos")
    with pytest.raises(ChaosError, match=r"^plan: faults\.0"):
        chaos.run(EXAMPLES / "kill.yaml", [{"kind": "kill", "at": {"phase": "sideways"}}])
    (tmp_path / "bad.yaml").write_text("schema_version: 1\nname: bad\nengines: [prefect]\n")
    with pytest.raises(ChaosError, match="bad.yaml"):
        chaos.run(tmp_path / "bad.yaml", None)
    assert "seed None" in repr(chaos)


def test_a_regression_file_loads_validates_and_keeps_the_faults_in_order(tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    shutil.copytree(EXAMPLES, folder, ignore=shutil.ignore_patterns("*.yaml", "__pycache__"))
    shutil.copytree(EXAMPLES / "cassettes", folder / "cassettes", dirs_exist_ok=True)
    copy_shared(folder, ("data_analyst_core", "data_analyst_dbos"))
    shutil.copy(HERE / "breaker.yaml", folder)
    scenario = load_scenario(folder / "breaker.yaml")
    plan = scenario.plans[0]
    path = write_regression(
        scenario, plan, test="tests/test_x.py::test_storms", seed=5, violations=["output_matches_golden: x"]
    )
    assert path == folder / "regression-data-analyst-breaker-test_storms.yaml"
    text = path.read_text()
    assert "# seed: 5" in text and "--chaos-seed 5" in text and "# reproduce: pytest --chaos" in text
    loaded = load_scenario(path)
    assert [f.kind for f in loaded.plans[0].faults] == ["http_error", "tool_error"]
    assert loaded.plans[0].faults == plan.faults and loaded.expect.violations == []
    assert cli_main(["validate", str(path)]) == 0


def copy_breaker_project(root: Path) -> Path:
    """The data analyst's modules, cassette and script, the two breaker scenarios and the user-style
    property tests, in one folder."""
    shutil.copytree(
        EXAMPLES, root, ignore=shutil.ignore_patterns("*.yaml", "__pycache__"), dirs_exist_ok=True
    )
    shutil.copytree(EXAMPLES / "cassettes", root / "cassettes", dirs_exist_ok=True)
    copy_shared(root, ("data_analyst_core", "data_analyst_dbos"))
    for name in ("breaker.yaml", "breaker_fixed.yaml"):
        shutil.copy(HERE / name, root)
    shutil.copy(HERE / "explore_breaker.py", root / "test_breaker_properties.py")
    return root


def test_given_and_the_chaos_fixture_find_the_two_fault_bug_and_its_regression_reproduces_it(
    pytester: pytest.Pytester,
) -> None:
    root = copy_breaker_project(pytester.path)
    explored = pytester.runpytest_subprocess(
        "test_breaker_properties.py", "--chaos-seed", "3", "-p", "no:cacheprovider", "-W", "ignore"
    )
    out = explored.stdout.str()
    explored.assert_outcomes(failed=1, passed=1)
    explored.stdout.fnmatch_lines(
        [
            "durable-chaos seed: 3 (from --chaos-seed*",
            "*output_matches_golden VIOLATED: *warehouse_queries_billed: golden 2 vs faulted 3*",
            "*regression scenario written to *regression-data-analyst-breaker-test_breaker_bills_each*.yaml",
            "FAILED test_breaker_properties.py::test_breaker_bills_each_query_once*",
        ]
    )
    assert "test_fixed_breaker_bills_each_query_once" not in out.split("short test summary")[-1]
    (regression,) = root.glob("regression-*.yaml")
    document = yaml.safe_load(regression.read_text())
    storm, lost = document["plans"][0]["faults"]  # exactly two faults, in the order the run meets them
    assert storm["kind"] == "http_error" and storm["status"] == 429 and storm["at"]["times"] >= 3
    assert storm["at"]["kind"] == "model_request"
    assert (
        lost["kind"] == "tool_error" and lost["at"]["phase"] == "after" and lost["at"]["kind"] == "tool_call"
    )
    order = {("model_request", 1): 0, ("tool_call", "load_dataset"): 1, ("model_request", 2): 2}
    order |= {("tool_call", "compute_statistics"): 3, ("model_request", 3): 4}
    assert order[("model_request", storm["at"]["occurrence"])] < order[("tool_call", lost["at"]["name"])]
    assert "# seed: 3" in regression.read_text()

    report = root / "chaos.json"
    replayed = pytester.runpytest_subprocess(
        "--chaos",
        regression.name,
        "breaker.yaml",
        "--chaos-seed",
        "3",
        f"--chaos-report={report}",
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore",
    )
    assert replayed.ret == 1, replayed.stdout.str()
    data = json.loads(report.read_text())
    assert data["chaos_seed"] == {"seed": 3, "source": "--chaos-seed"}
    verdicts = {(t["scenario"], t["plan"]): t["verdict"] for t in data["trials"]}
    (regression_trial,) = [t for t in data["trials"] if t["scenario"].startswith("regression-")]
    assert regression_trial["verdict"] == "fail"
    assert regression_trial["properties"]["output_matches_golden"]["held"] is False
    # Each fault alone, and both in the other order, hold; the storm first is caught (declared known-bad).
    assert {plan: v for (name, plan), v in verdicts.items() if name == "data-analyst-breaker"} == {
        "storm-then-lost-tool-result": "pass",
        "lost-tool-result-then-storm": "pass",
        "storm-alone": "pass",
        "lost-tool-result-alone": "pass",
    }


def test_a_scenario_built_in_python_runs_and_assert_held_names_the_violation(
    runner: Any, tmp_path: Path
) -> None:
    """The Python API on the session's runner: a side-effecting tool whose result is lost after it ran
    runs twice (caught, named, written out); a tool error before it ran holds; the same plan twice is
    one trial."""
    chaos = Chaos(runner=lambda: runner, seed=9, regressions=tmp_path)
    scenario = chaos.scenario(
        name="analyst-in-python",
        agent="data_analyst_agent:analyst",
        prompt="Analyze the sales data for Q4",
        engines=["prefect"],
        cassette="cassettes/data_analyst.yaml",
        side_effecting_tools=["load_dataset"],
        base_dir=EXAMPLES,
    )
    lost = [{"kind": "tool_error", "at": {"kind": "tool_call", "name": "load_dataset", "phase": "after"}}]
    broken = chaos.run(scenario, lost)
    assert broken.verdict == "fail" and broken.violated == ["tools_exactly_once"], broken.describe()
    assert broken.held("completes") is True
    with pytest.raises(AssertionError, match="tools_exactly_once VIOLATED: .*load_dataset") as failure:
        broken.assert_held()
    assert broken.regression is not None and str(broken.regression) in str(failure.value)
    assert "seed 9" in broken.regression.read_text()
    broken.assert_held("completes", "no_duplicate_model_calls")  # only these must hold: they do
    before = [{"kind": "tool_error", "at": {"kind": "tool_call", "name": "load_dataset", "phase": "before"}}]
    chaos.run(scenario, before).assert_held()
    trials = chaos.trials
    assert chaos.run(scenario, before).verdict == "pass" and chaos.trials == trials  # memoized


def test_a_scenario_files_explore_table_is_one_item_that_shrinks_to_the_two_faults(
    pytester: pytest.Pytester,
) -> None:
    root = copy_breaker_project(pytester.path)
    shutil.copy(HERE / "breaker_explore.yaml", root)
    report = root / "chaos.json"
    collected = pytester.runpytest_subprocess("--collect-only", "-q", "breaker_explore.yaml")
    collected.stdout.fnmatch_lines(["breaker_explore.yaml::data-analyst-breaker-explore[[]prefect-explore]"])
    result = pytester.runpytest_subprocess(
        "--chaos", "breaker_explore.yaml", "--chaos-seed", "3", f"--chaos-report={report}", "-W", "ignore"
    )
    assert result.ret == 1, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["*output_matches_golden VIOLATED*", "*regression scenario written to *regression-*explore*.yaml"]
    )
    (regression,) = root.glob("regression-*.yaml")
    storm, lost = load_scenario(regression).plans[0].faults
    assert (storm.kind, storm.at.kind, lost.kind, lost.at.phase) == (
        "http_error",
        "model_request",
        "tool_error",
        "after",
    )
    (trial,) = json.loads(report.read_text())["trials"]
    assert trial["verdict"] == "fail" and trial["properties"]["output_matches_golden"]["held"] is False
