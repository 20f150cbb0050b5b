"""End-to-end trials on the real Prefect engine and real pydantic-ai agents (cassette traffic).

Every property checker is shown catching a deliberately broken agent (a known-bad scenario that
declares exactly the violations it must produce) and passing correct ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_chaos.harness.runner import TrialResult, TrialRunner, TrialSpec
from durable_chaos.harness.scenario_loader import load_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

EXAMPLES = SCENARIOS / "data_analyst"


def run_plan(
    runner: TrialRunner, file: str, plan: str | None = None, engine: str | None = None, **changes: object
) -> TrialResult:
    scenario = load_scenario(EXAMPLES / file)
    if changes:
        scenario = scenario.model_copy(update=changes)
        scenario._path = EXAMPLES / file
    chosen = next(p for p in scenario.plans if plan is None or p.name == plan)
    return runner.run(TrialSpec(scenario, engine or scenario.engines[0], chosen))


def held(result: TrialResult) -> dict[str, bool | None]:
    return {name: verdict.held for name, verdict in result.verdicts.items()}


CORRECT = [
    ("timeout.yaml", "model-timeout"),
    ("timeout.yaml", "timeout-after-response"),
    ("rate_limit_storm.yaml", "rate-limit-storm"),
    ("rate_limit_storm.yaml", "overloaded-then-500"),
    ("tool_error.yaml", "tool-exception-flow-retry"),
    ("tool_error.yaml", "tool-error-absorbed-by-task-retry"),
    ("tool_error.yaml", "malformed-then-latency"),
    ("wrapper_agent.yaml", "timeout-absorbed-by-task-retry"),
    ("kill.yaml", "kill-before-third-model-request"),
    ("kill.yaml", "kill-after-second-model-request"),
    ("kill.yaml", "kill-twice"),
    ("side_effects.yaml", "kill-after-the-side-effect-completed"),
    ("dbos_kill.yaml", "kill-before-third-model-request"),
    ("dbos_kill.yaml", "kill-after-second-model-request"),
    ("dbos_kill.yaml", "timeout-then-kill"),
]


@pytest.mark.parametrize(("file", "plan"), CORRECT)
def test_correct_agents_hold_every_property(runner: TrialRunner, file: str, plan: str) -> None:
    result = run_plan(runner, file, plan)
    assert result.verdict == "pass", result.reason
    assert set(held(result).values()) <= {True, None}
    assert held(result)["completes"] is True
    assert held(result)["output_matches_golden"] is True
    assert result.calls is not None and result.calls.duplicates == 0


KNOWN_BAD = [
    ("unstable_cache_key.yaml", {"stable_cache_keys"}, "record-analysis-request"),
    ("time_in_deps.yaml", {"stable_cache_keys", "no_duplicate_model_calls"}, "model_request #1"),
    ("wrapper_agent.yaml", {"stable_cache_keys", "no_duplicate_model_calls"}, "model_request #1"),
    ("no_retries.yaml", {"completes"}, "ConnectionError"),
    ("attempt_in_output.yaml", {"output_matches_golden"}, "produced_by_attempt"),
    ("kill_fresh_run.yaml", {"stable_cache_keys", "no_duplicate_model_calls"}, "different flow runs"),
    ("side_effects.yaml", {"tools_exactly_once"}, "'load_dataset'"),
    ("dbos_plain_tool.yaml", {"tools_exactly_once"}, "@DBOS.step"),
]


@pytest.mark.parametrize(("file", "violations", "named"), KNOWN_BAD)
def test_known_bad_agents_are_caught_with_exactly_their_violation(
    runner: TrialRunner, file: str, violations: set[str], named: str
) -> None:
    scenario = load_scenario(EXAMPLES / file)
    plan = next(p for p in scenario.plans if scenario.expect_for(p).violations)
    result = runner.run(TrialSpec(scenario, scenario.engines[0], plan))
    violated = {name for name, value in held(result).items() if value is False}
    assert violated == violations
    assert result.verdict == "pass", result.reason
    assert any(named in result.verdicts[v].detail for v in violations)


def test_known_bad_agent_fails_the_trial_when_its_violation_is_not_declared(runner: TrialRunner) -> None:
    scenario = load_scenario(EXAMPLES / "unstable_cache_key.yaml")
    undeclared = scenario.model_copy(update={"expect": scenario.expect.model_copy(update={"violations": []})})
    undeclared._path = scenario.path
    result = runner.run(TrialSpec(undeclared, "prefect", undeclared.plans[0]))
    assert result.verdict == "fail"
    assert "stable_cache_keys" in result.reason


def test_declared_violation_that_does_not_happen_fails_the_trial(runner: TrialRunner) -> None:
    scenario = load_scenario(EXAMPLES / "tool_error.yaml")
    wrong = scenario.model_copy(
        update={"expect": scenario.expect.model_copy(update={"violations": ["stable_cache_keys"]})}
    )
    wrong._path = scenario.path
    result = runner.run(TrialSpec(wrong, "prefect", wrong.plans[0]))
    assert result.verdict == "fail"
    assert "no violation" in result.reason


def test_durable_resume_saves_tokens_over_a_restart(runner: TrialRunner) -> None:
    result = run_plan(runner, "tool_error.yaml", "tool-exception-flow-retry")
    assert result.tokens is not None
    assert result.tokens.spent == result.tokens.golden
    assert result.tokens.naive_restart > result.tokens.spent
    assert result.tokens.saved == result.tokens.naive_restart - result.tokens.spent


def test_a_fault_that_never_fires_is_an_error_not_a_pass(runner: TrialRunner) -> None:
    scenario = load_scenario(EXAMPLES / "timeout.yaml")
    plan = scenario.plans[0]
    fault = plan.faults[0].model_copy(update={"at": plan.faults[0].at.model_copy(update={"occurrence": 9})})
    never = plan.model_copy(update={"faults": [fault]})
    result = runner.run(TrialSpec(scenario, "prefect", never))
    assert result.verdict == "error"
    assert "never fired" in result.reason


def test_missing_cassette_is_a_clear_error(runner: TrialRunner, tmp_path: object) -> None:
    result = run_plan(runner, "timeout.yaml", "model-timeout", cassette="cassettes/does-not-exist.yaml")
    assert result.verdict == "error"
    assert "does-not-exist.yaml does not exist" in result.reason
    assert "--chaos-record" in result.reason


def test_model_request_missing_from_cassette_is_a_clear_error(runner: TrialRunner) -> None:
    result = run_plan(runner, "timeout.yaml", "model-timeout", prompt="A prompt that was never recorded")
    assert result.verdict == "error"
    assert "not in cassette" in result.reason


def test_unimportable_target_is_a_clear_error(runner: TrialRunner) -> None:
    result = run_plan(runner, "timeout.yaml", "model-timeout", agent="data_analyst_agent:no_such_agent")
    assert result.verdict == "error"
    assert "cannot import 'data_analyst_agent:no_such_agent'" in result.reason


def test_history_and_ledger_record_every_unit_and_fault(runner: TrialRunner) -> None:
    result = run_plan(runner, "rate_limit_storm.yaml", "rate-limit-storm")
    faulted = [e for e in result.events if e["role"] == "faulted"]
    faults = [e for e in faulted if e["event"] == "fault"]
    assert len(faults) == 4
    assert {f["unit"]["kind"] for f in faults} == {"model_request"}
    assert {f["unit"]["ordinal"] for f in faults} == {3}
    keys = [e for e in faulted if e["event"] == "cache_key"]
    assert keys and all(e["engine"]["task_run_id"] for e in keys)
    report = result.to_report()
    assert report["faults"][0]["fired"] == 4
    assert report["model_calls"] == {"golden": 3, "total": 3, "duplicates": 0, "expected_reexecutions": 0}


def test_kill_resumes_the_same_flow_run_in_a_new_worker(runner: TrialRunner) -> None:
    result = run_plan(runner, "kill.yaml", "kill-twice")
    assert result.verdict == "pass", result.reason
    assert result.resumes == 2
    pids = {e["pid"] for e in result.events if e["role"] != "golden" and e["event"] == "invoke"}
    assert len(pids) == 3  # the faulted worker and two resumes, each killed or finished in turn
    killed = [e for e in result.events if e["event"] == "killed"]
    assert [k["exit_code"] for k in killed] == [-9, -9]
    flow_runs = {e["engine"]["flow_run_id"] for e in result.events if e["event"] == "run_ids"}
    assert len(flow_runs) == 2  # the golden run's and the one faulted flow run, resumed twice


def test_fresh_run_resume_re_executes_what_same_run_resume_replays(runner: TrialRunner) -> None:
    same = run_plan(runner, "kill.yaml", "kill-before-third-model-request")
    fresh = run_plan(runner, "kill_fresh_run.yaml")
    assert same.calls is not None and fresh.calls is not None
    assert same.calls.total == 3 and fresh.calls.total == 5
    assert same.tokens is not None and fresh.tokens is not None
    assert fresh.tokens.spent > same.tokens.spent


def worker_processes() -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "durable_chaos.harness.worker" in cmdline or "prefect.server.api.server:create_app" in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


def test_no_process_outlives_a_killed_trial_or_the_session(tmp_path: Path) -> None:
    own = TrialRunner(root=tmp_path / "own")
    before = set(worker_processes())
    try:
        result = own.run(
            TrialSpec(
                load_scenario(EXAMPLES / "kill.yaml"),
                "prefect",
                load_scenario(EXAMPLES / "kill.yaml").plans[0],
            )
        )
        assert result.verdict == "pass", result.reason
        assert not [p for p in worker_processes() if "harness.worker" in p]
    finally:
        own.close()
    assert set(worker_processes()) <= before


def test_dbos_kill_and_recovery_on_postgres(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DURABLE_CHAOS_DBOS_DATABASE_URL", postgres_url)
    on_postgres = TrialRunner(root=tmp_path / "pg")
    try:
        result = run_plan(on_postgres, "dbos_kill.yaml", "kill-before-third-model-request")
        bad = run_plan(on_postgres, "dbos_plain_tool.yaml")
    finally:
        on_postgres.close()
    assert result.verdict == "pass", result.reason
    assert result.resumes == 1 and result.calls is not None and result.calls.duplicates == 0
    assert bad.verdict == "pass", bad.reason
    assert bad.verdicts["tools_exactly_once"].held is False
