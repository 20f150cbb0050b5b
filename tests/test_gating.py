"""The CI gate: [tool.durable-chaos] loading and the exit code of a chaos run, on synthetic trials."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from durable_chaos.judge.accounting import ModelCalls, Tokens
from durable_chaos.judge.checkers import Verdict
from durable_chaos.judge.pricing import Cost
from durable_chaos.report.gate import (
    GateConfig,
    GateConfigError,
    evaluate,
    load_config,
    session_outcome,
    worst,
)
from durable_chaos.run.results import TrialResult
from durable_chaos.scenario.model import Scenario
from durable_chaos.scenario.trial_specs import TrialSpec

ALL = ["completes", "no_duplicate_model_calls", "stable_cache_keys", "output_matches_golden"]
CACHE_DETAIL = (
    "1 unit(s) changed cache key between attempts; first: task 'record-analysis-request' #1 had keys "
    "143b4a393657, 16cfe8d87fba. Make the inputs deterministic."
)


def trial(
    verdict: str = "pass",
    *,
    name: str = "analyst",
    engine: str = "prefect",
    plan: str = "kill",
    violated: Sequence[str] = (),
    declared: Sequence[str] = (),
    properties: Sequence[str] = ALL,
    reason: str = "",
    spent: int = 1000,
    naive: int = 2000,
) -> TrialResult:
    """A trial result as the runner produces it; ``violated`` properties get a detail naming a unit."""
    scenario = Scenario.model_validate(
        {
            "schema_version": 1,
            "name": name,
            "agent": "agent_module:agent",
            "prompt": "Analyze",
            "cassette": "cassette.yaml",
            "engines": ["prefect", "dbos"],
            "plans": [{"name": plan}],
            "expect": {"properties": list(properties), "violations": list(declared)},
        }
    )
    verdicts = {
        p: Verdict(False, CACHE_DETAIL if p == "stable_cache_keys" else f"{p} broke at tool_call #1 (fix it)")
        if p in violated
        else Verdict(True, "fine")
        for p in properties
    }
    if verdict == "error":
        return TrialResult(TrialSpec(scenario, engine, scenario.plans[0]), "error", reason or "engine failed")
    return TrialResult(
        TrialSpec(scenario, engine, scenario.plans[0]),
        verdict,
        reason or "every property held",
        verdicts,
        ModelCalls(3, 3, 0, 0),
        Tokens(golden=1000, spent=spent, naive_restart=naive, saved=naive - spent),
        cost=Cost(0.005, 0.005, 0.01, 0.005),
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    return path


FULL = """\
[project]
name = "my-agents"

[tool.durable-chaos]
required = ["completes", "no_duplicate_model_calls", "tools_exactly_once"]
min_token_savings = 0.2

[tool.durable-chaos.engines.dbos]
required = ["completes", "tools_exactly_once"]
"""


# --- load_config ------------------------------------------------------------------------------------


def test_valid_table_with_per_engine_override(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL), {})
    assert config.required == ["completes", "no_duplicate_model_calls", "tools_exactly_once"]
    assert config.min_token_savings == 0.2
    assert config.required_for("prefect") == ["completes", "no_duplicate_model_calls", "tools_exactly_once"]
    assert config.required_for("dbos") == ["completes", "tools_exactly_once"]


def test_missing_file_or_table_gives_the_defaults(tmp_path: Path) -> None:
    assert load_config(tmp_path / "pyproject.toml", None) == GateConfig()
    assert load_config(write(tmp_path, "[project]\nname = 'x'\n"), None) == GateConfig()
    assert GateConfig().required_for("dbos") == [] and GateConfig().min_token_savings is None


@pytest.mark.parametrize(
    ("table", "key", "problem"),
    [
        ("reqired = ['completes']", "tool.durable-chaos.reqired", "unknown key"),
        ("required = ['complete']", "tool.durable-chaos.required[0]", "'complete'"),
        ("required = 'completes'", "tool.durable-chaos.required", "valid list"),
        ("min_token_savings = 'lots'", "tool.durable-chaos.min_token_savings", "valid number"),
        ("min_token_savings = true", "tool.durable-chaos.min_token_savings", "valid number"),
        ("min_token_savings = 1.5", "tool.durable-chaos.min_token_savings", "less than or equal to 1"),
        ("[tool.durable-chaos.engines.dbs]\nrequired = []", "tool.durable-chaos.engines.dbs", "'dbs'"),
        (
            "[tool.durable-chaos.engines.dbos]\nrequired = ['tools_once']",
            "tool.durable-chaos.engines.dbos.required[0]",
            "'tools_once'",
        ),
        ("[tool.durable-chaos.engines.dbos]\nmin_token_savings = 0.1", "engines.dbos.min_token_savings", ""),
    ],
)
def test_invalid_table_names_file_and_key(tmp_path: Path, table: str, key: str, problem: str) -> None:
    path = write(tmp_path, f"[tool.durable-chaos]\n{table}\n")
    with pytest.raises(GateConfigError) as excinfo:
        load_config(path, {})
    message = str(excinfo.value)
    assert str(path) in message and key in message and problem in message
    assert "\n" not in message


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[tool.durable-chaos\n")
    with pytest.raises(GateConfigError, match="pyproject.toml: not valid TOML"):
        load_config(path, {})


def test_cli_require_replaces_every_required_list(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, FULL), {"required": ["stable_cache_keys"], "min_token_savings": None}
    )
    assert config.required_for("prefect") == ["stable_cache_keys"]
    assert config.required_for("dbos") == ["stable_cache_keys"]
    assert config.min_token_savings == 0.2  # not overridden


@pytest.mark.parametrize(("given", "fraction"), [("0.35", 0.35), ("35%", 0.35), (0.5, 0.5), ("0", 0.0)])
def test_cli_min_savings_overrides_the_table(tmp_path: Path, given: object, fraction: float) -> None:
    config = load_config(write(tmp_path, FULL), {"min_token_savings": given})
    assert config.min_token_savings == pytest.approx(fraction)
    assert config.required_for("dbos") == ["completes", "tools_exactly_once"]  # not overridden


@pytest.mark.parametrize(
    ("overrides", "option", "problem"),
    [
        ({"required": ["completes", "speedy"]}, "--chaos-require", "'speedy'"),
        ({"min_token_savings": "abc"}, "--chaos-min-savings", "not a number"),
        ({"min_token_savings": "2"}, "--chaos-min-savings", "less than or equal to 1"),
    ],
)
def test_invalid_cli_override_names_the_option(
    tmp_path: Path, overrides: dict[str, object], option: str, problem: str
) -> None:
    with pytest.raises(GateConfigError) as excinfo:
        load_config(tmp_path / "pyproject.toml", overrides)
    assert option in str(excinfo.value) and problem in str(excinfo.value)


# --- evaluate -----------------------------------------------------------------------------------------


def test_every_guarantee_held_is_exit_0() -> None:
    outcome = evaluate([trial(), trial(engine="dbos")], GateConfig(required=["completes"]))
    assert outcome.exit_code == 0 and outcome.messages == []


def test_known_bad_trial_with_its_declared_violation_does_not_fail_the_gate() -> None:
    caught = trial(
        name="unstable-cache-key",
        violated=["stable_cache_keys"],
        declared=["stable_cache_keys"],
        reason="the known-bad agent was caught",
    )
    config = GateConfig(required=["completes", "stable_cache_keys"])
    outcome = evaluate([caught, trial()], config)
    assert outcome.exit_code == 0, outcome.messages


def test_undeclared_violation_is_exit_1_naming_scenario_engine_unit_and_fix() -> None:
    failed = trial(
        "fail", name="audited", engine="prefect", violated=["stable_cache_keys"], reason="violated"
    )
    outcome = evaluate([trial(), failed], GateConfig())
    assert outcome.exit_code == 1
    [message] = outcome.messages
    assert "scenario 'audited'" in message and "engine prefect" in message and "plan 'kill'" in message
    assert "stable_cache_keys violated" in message
    assert "'record-analysis-request'" in message and "Make the inputs deterministic" in message


def test_known_bad_agent_not_caught_is_exit_1() -> None:
    missed = trial("fail", name="known-bad", declared=["stable_cache_keys"], reason="expected exactly ...")
    outcome = evaluate([missed], GateConfig())
    assert outcome.exit_code == 1
    assert (
        "known-bad agent was not caught" in outcome.messages[0] and "stable_cache_keys" in outcome.messages[0]
    )


def test_required_violation_in_a_trial_judged_elsewhere_fails_the_gate() -> None:
    """A passing verdict never carries an undeclared violation from the runner, but the gate does not
    rely on that."""
    odd = trial("pass", violated=["no_duplicate_model_calls"])
    assert evaluate([odd], GateConfig()).exit_code == 0
    outcome = evaluate([odd], GateConfig(required=["no_duplicate_model_calls"]))
    assert outcome.exit_code == 1
    assert "required property no_duplicate_model_calls violated" in outcome.messages[0]


def test_per_engine_required_lists_apply_per_trial() -> None:
    odd = trial("pass", engine="dbos", violated=["no_duplicate_model_calls"])
    config = GateConfig.model_validate(
        {"required": ["no_duplicate_model_calls"], "engines": {"dbos": {"required": ["completes"]}}}
    )
    assert evaluate([odd], config).exit_code == 0
    assert evaluate([trial("pass", violated=["no_duplicate_model_calls"])], config).exit_code == 1


def test_required_property_a_trial_does_not_check_fails_the_gate() -> None:
    """Required and never checked is not established: the gate fails (exit 1), whether the requirement
    came from --chaos-require or pyproject.toml."""
    config = load_config(Path("/nonexistent/pyproject.toml"), {"required": ["tools_exactly_once"]})
    for gate in (config, GateConfig(required=["tools_exactly_once"])):
        outcome = evaluate([trial()], gate)
        assert outcome.exit_code == 1
        assert (
            "tools_exactly_once was not checked by 1 trial(s) (analyst[prefect-kill])" in outcome.messages[0]
        )
        assert outcome.messages[0].startswith("GATE required property")


def test_error_is_exit_3_and_wins_over_failures() -> None:
    outcome = evaluate(
        [trial("fail", violated=["completes"]), trial("error", reason="planned fault #1 never fired")],
        GateConfig(),
    )
    assert outcome.exit_code == 3
    assert outcome.messages[0].startswith("ERROR scenario 'analyst'") and "never fired" in outcome.messages[0]
    assert any(m.startswith("FAIL") for m in outcome.messages)


def test_min_token_savings_below_is_exit_1() -> None:
    results = [trial(spent=1000, naive=1100), trial(engine="dbos", spent=1000, naive=1100)]
    outcome = evaluate(results, GateConfig(min_token_savings=0.2))
    assert outcome.exit_code == 1
    assert "min_token_savings" in outcome.messages[0] and "200 of 2200" in outcome.messages[0]


def test_min_token_savings_met_is_a_note() -> None:
    outcome = evaluate([trial(spent=1000, naive=2000)], GateConfig(min_token_savings=0.5))
    assert outcome.exit_code == 0 and "met" in outcome.notes[0]


def test_min_token_savings_leaves_out_known_bad_agents_and_errors() -> None:
    wasteful = trial(
        name="fresh-run",
        violated=["no_duplicate_model_calls"],
        declared=["no_duplicate_model_calls"],
        spent=5000,
    )
    outcome = evaluate([trial(spent=1000, naive=2000), wasteful], GateConfig(min_token_savings=0.5))
    assert outcome.exit_code == 0
    assert "saved 1000 of 2000 naive-restart tokens (50.0%) over 1 trial(s)" in outcome.notes[0]
    errored = evaluate([trial(spent=1000, naive=2000), trial("error")], GateConfig(min_token_savings=0.5))
    assert not [m for m in errored.messages if "min_token_savings" in m]


def test_min_token_savings_without_any_measurable_trial_is_a_note() -> None:
    outcome = evaluate([trial("error")], GateConfig(min_token_savings=0.1))
    assert outcome.exit_code == 3 and "not evaluated" in outcome.notes[0]
    assert evaluate([], GateConfig(min_token_savings=0.1)).exit_code == 0


def test_exit_code_precedence_is_2_then_3_then_1() -> None:
    assert worst([0, 1, 3, 2]) == 2
    assert worst([1, 3]) == 3 and worst([3, 1]) == 3
    assert worst([0, 1]) == 1 and worst([]) == 0
    assert worst([5, 0]) == 5 and worst([5, 1]) == 1  # pytest's "no tests collected" yields to ours


# --- the session's one outcome ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pytest_status", "planned", "received", "skipped", "code", "first"),
    [
        (0, ["a", "b"], ["a", "b"], [], 0, None),
        (1, ["a", "b"], [], [], 3, "only 0 of 2 trial(s) produced a result (no result from a, b)"),  # -x
        (1, ["a", "b"], ["a"], [], 3, "only 1 of 2 trial(s) produced a result (no result from b)"),  # crash
        (0, ["a", "b"], ["a"], [], 3, "only 1 of 2 trial(s) produced a result"),  # os._exit in a worker
        (2, ["a", "b"], ["a"], [], 3, "INTERRUPTED after 1 of 2 trial(s): the other 1 did not run"),
        (1, [], [], [], 1, "pytest: a test failed that is not a chaos trial"),  # a chaos fixture test
        (4, [], [], [], 4, None),  # a path that does not exist
        (5, [], [], [], 5, None),  # an empty directory
        (7, [], [], [], 7, None),  # pytest.exit(returncode=7)
        (0, ["a", "b"], ["a"], ["b"], 0, None),  # a skip marker: accounted for
    ],
)
def test_the_session_outcome_counts_pytests_status_and_every_planned_trial(
    pytest_status: int,
    planned: list[str],
    received: list[str],
    skipped: list[str],
    code: int,
    first: str | None,
) -> None:
    results = [trial() for _ in received]
    outcome = session_outcome(
        results,
        GateConfig(),
        pytest_status=pytest_status,
        planned=planned,
        received=received,
        skipped=skipped,
        fixture_tests=0 if planned else 1,  # a session without planned trials here ran a chaos fixture test
    )
    assert outcome.exit_code == code
    if first is None:
        assert all(not m.startswith(("only", "INTERRUPTED")) for m in outcome.messages)
    else:
        assert first in outcome.messages[0]
    assert (outcome.meaning == "a test failed") == (code == 1)
    if skipped:
        assert outcome.notes == ["1 trial(s) skipped by pytest (a skip marker): nothing checked in them"]


def test_a_scenario_error_wins_over_a_missing_trial_and_pytests_status() -> None:
    outcome = session_outcome(
        [], GateConfig(), pytest_status=2, planned=["a"], received=[], scenario_errors=["s.yaml:3: bad"]
    )
    assert outcome.exit_code == 2 and outcome.messages[-1] == "INVALID s.yaml:3: bad"
