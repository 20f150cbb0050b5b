"""End-to-end trials on the real Prefect and DBOS engines and real pydantic-ai agents (cassette traffic).

Every property checker is shown catching a deliberately broken agent (a known-bad scenario that
declares exactly the violations it must produce) and passing correct ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from durable_chaos.infra import shared_servers
from durable_chaos.infra.engines.base import Target
from durable_chaos.infra.engines.prefect.options import PrefectOptions
from durable_chaos.run.results import TrialResult
from durable_chaos.run.role import engine_context, role_target, run_id
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.model import Expect, SideEffectingTool, Variant
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

EXAMPLES = SCENARIOS / "data_analyst"


def run_plan(
    runner: TrialRunner, file: str, plan: str | None = None, engine: str | None = None, **changes: object
) -> TrialResult:
    scenario = load_scenario(EXAMPLES / file)
    if changes:
        scenario = scenario.model_copy(update=changes)
        scenario = scenario.located(EXAMPLES / file)
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
    ("kill_budget.yaml", "one-kill-within-budget"),
    ("variants.yaml", "model-timeout"),
    ("variant_inputs.yaml", "model-timeout"),
    ("dated_report.yaml", "tool-exception-flow-retry"),
    ("dbos_journaled_copy.yaml", "kill-before-second-model-request"),
    ("dbos_journaled_copy.yaml", "slow-first-model-request"),
    ("dbos_tool_error.yaml", "crm-unavailable-once"),
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
    ("unstable_cache_key.yaml", {"stable_cache_keys"}, "record-analysis-request#1"),
    ("time_in_deps.yaml", {"stable_cache_keys", "no_duplicate_model_calls"}, "model_request #1"),
    ("wrapper_agent.yaml", {"stable_cache_keys", "no_duplicate_model_calls"}, "model_request #1"),
    ("no_retries.yaml", {"completes"}, "ConnectionError"),
    ("attempt_in_output.yaml", {"output_matches_golden"}, "produced_by_attempt"),
    ("kill_fresh_run.yaml", {"stable_cache_keys", "no_duplicate_model_calls"}, "different flow runs"),
    ("side_effects.yaml", {"tools_exactly_once"}, "'load_dataset'"),
    ("dbos_plain_tool.yaml", {"tools_exactly_once"}, "@DBOS.step"),
    ("dbos_plain_tool_error.yaml", {"completes"}, "tool `load_dataset` is not a durable unit under DBOS"),
    (
        "untasked_tool_error.yaml",
        {"completes"},
        "tool `compute_statistics` is not a durable unit under Prefect",
    ),
    ("kill_budget.yaml", {"completes_within"}, "completed only after 2 resume(s), more than the bound of 1"),
    ("retry_storm.yaml", {"bounded_retries"}, "made 5 engine-level attempts in role faulted"),
    ("dated_attempt_in_output.yaml", {"output_matches_golden"}, "'produced_by_attempt' differs"),
    ("shared_cache.yaml", {"no_false_cache_sharing"}, "sent 0 of the 3 model request(s)"),
    ("variant_inputs_cached_by_prompt.yaml", {"no_false_cache_sharing"}, "3 variant(s) shared results"),
    ("dbos_local_copy.yaml", {"completes", "stable_cache_keys"}, "DBOS refused to recover it"),
    ("dbos_shared_copy.yaml", {"stable_cache_keys"}, "differ from the golden run's with the same inputs"),
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
    undeclared = undeclared.located(scenario.path)
    result = runner.run(TrialSpec(undeclared, "prefect", undeclared.plans[0]))
    assert result.verdict == "fail"
    assert "stable_cache_keys" in result.reason


def test_declared_violation_that_does_not_happen_fails_the_trial(runner: TrialRunner) -> None:
    scenario = load_scenario(EXAMPLES / "tool_error.yaml")
    wrong = scenario.model_copy(
        update={"expect": scenario.expect.model_copy(update={"violations": ["stable_cache_keys"]})}
    )
    wrong = wrong.located(scenario.path)
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


def test_missing_cassette_is_an_invalid_trial_naming_the_command_to_record_it(
    runner: TrialRunner, tmp_path: object
) -> None:
    result = run_plan(runner, "timeout.yaml", "model-timeout", cassette="cassettes/does-not-exist.yaml")
    assert result.verdict == "invalid"  # exit 2, as `durable-chaos validate` says
    assert "does-not-exist.yaml does not exist" in result.reason
    assert "`pytest --chaos --chaos-record " in result.reason


def test_model_request_missing_from_cassette_is_a_clear_error(runner: TrialRunner) -> None:
    result = run_plan(runner, "timeout.yaml", "model-timeout", prompt="A prompt that was never recorded")
    assert result.verdict == "error"
    assert "not in cassette" in result.reason


def test_unimportable_target_is_an_invalid_trial(runner: TrialRunner) -> None:
    result = run_plan(runner, "timeout.yaml", "model-timeout", agent="data_analyst_agent:no_such_agent")
    assert result.verdict == "invalid"
    assert "cannot import 'data_analyst_agent:no_such_agent'" in result.reason


def test_history_and_ledger_record_every_unit_and_fault(runner: TrialRunner) -> None:
    result = run_plan(runner, "rate_limit_storm.yaml", "rate-limit-storm")
    faulted = [e for e in result.events if e["role"] == "faulted"]
    faults = [e for e in faulted if e["event"] == "fault"]
    assert len(faults) == 4
    assert {f["unit"]["kind"] for f in faults} == {"model_request"}
    assert {f["unit"]["ordinal"] for f in faults} == {3}
    keys = [e for e in faulted if e["event"] == "identity"]
    assert keys and all(e["engine"]["task_run_id"] for e in keys)
    report = result.to_report()
    assert report["faults"][0]["fired"] == 4
    assert report["model_calls"] == {
        "golden": 3,
        "total": 3,
        "duplicates": 0,
        "expected_reexecutions": 0,
        "depends_on_scheduling": False,
        "mcp_listings": 0,
        "mcp_listing_units": 0,
        "mcp_listings_per_model_request": 0.0,
    }


def test_kill_resumes_the_same_flow_run_in_a_new_worker(runner: TrialRunner) -> None:
    result = run_plan(runner, "kill.yaml", "kill-twice")
    assert result.verdict == "pass", result.reason
    assert result.resumes == 2
    pids = {e["pid"] for e in result.events if e["role"] != "golden" and e["event"] == "invoke"}
    assert len(pids) == 3  # the faulted worker and two resumes, each killed or finished in turn
    killed = [e for e in result.events if e["event"] == "killed"]
    assert [k["exit_code"] for k in killed] == [-9, -9]
    recorded = [e for e in result.events if e["event"] == "run_ids"]
    assert [e["role"] for e in recorded] == ["faulted", "resume-1", "resume-2"]
    assert len({e["engine"]["flow_run_id"] for e in recorded}) == 1  # one flow run, resumed twice


def test_fresh_run_resume_re_executes_what_same_run_resume_replays(runner: TrialRunner) -> None:
    same = run_plan(runner, "kill.yaml", "kill-before-third-model-request")
    fresh = run_plan(runner, "kill_fresh_run.yaml")
    assert same.calls is not None and fresh.calls is not None
    assert same.calls.total == 3 and fresh.calls.total == 5
    assert same.tokens is not None and fresh.tokens is not None
    assert fresh.tokens.spent > same.tokens.spent


HARNESS_PROCESSES = (
    "durable_chaos.run.worker",  # a plain worker subprocess
    "durable_chaos.run.zygote",  # the warm worker, and every worker forked from it
    "prefect.server.api.server:create_app",  # the session's Prefect API server
)


def harness_processes() -> dict[int, tuple[int, str]]:
    """Processes the harness starts, by pid: (parent pid, command line)."""
    found: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if any(marker in cmdline for marker in HARNESS_PROCESSES):
            found[int(entry.name)] = (parent, cmdline)
    return found


def test_no_process_outlives_a_killed_trial_or_the_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A session of its own servers (not the xdist controller's shared ones, which outlive it by design:
    # tests/test_shared_servers.py shows they end with their owner).
    monkeypatch.delenv(shared_servers.ENV_DIR, raising=False)
    before = set(harness_processes())
    own = TrialRunner(root=tmp_path / "own")
    try:
        scenario = load_scenario(EXAMPLES / "kill.yaml")
        result = own.run(TrialSpec(scenario, "prefect", scenario.plans[0]))
        assert result.verdict == "pass", result.reason
        assert result.resumes == 1
        started = {pid: info for pid, info in harness_processes().items() if pid not in before}
        zygotes = {  # this process's own: another session on the machine may have its warm workers too
            pid for pid, (parent, cmd) in started.items() if "run.zygote" in cmd and parent == os.getpid()
        }
        # Between trials only the runner's own long-lived processes remain: its warm worker and its
        # Prefect server. Every worker forked for the trial (killed or finished) is gone.
        forked = [pid for pid, (parent, _) in started.items() if parent in zygotes]
        assert forked == []
        assert not [cmd for _, cmd in started.values() if "run.worker" in cmd]
        assert len(zygotes) == 1
    finally:
        own.close()
    # Left over: a new process that is this one's child or an orphan (re-parented to init). Other
    # sessions on the machine start harness processes too; theirs have a living parent of their own.
    left = {pid: parent for pid, (parent, _) in harness_processes().items() if pid not in before}
    assert not [pid for pid, parent in left.items() if parent in (os.getpid(), 1)]


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


# ------------------------------------------------------------------ the properties beyond the first five


def test_completes_within_counts_resumes_against_the_bound(runner: TrialRunner) -> None:
    within = run_plan(runner, "kill_budget.yaml", "one-kill-within-budget")
    assert within.resumes == 1
    assert within.verdicts["completes_within"].detail == "the run completed after 1 resume(s); the bound is 1"
    over = run_plan(runner, "kill_budget.yaml", "two-kills-over-budget")
    assert over.resumes == 2 and over.verdicts["completes"].held is True


def test_the_same_storm_without_the_users_retry_loop_stays_within_the_policy(runner: TrialRunner) -> None:
    """The 429 storm that makes retry_storm.yaml's loop retry beyond the task's policy, on the plain
    agent: the task's 4 attempts fail, the trial flow retries (a new flow attempt), and the request
    succeeds there. Every flow attempt stays within the task's policy."""
    result = run_plan(
        runner,
        "retry_storm.yaml",
        entry=None,
        agent="data_analyst_agent:analyst",
        prompt="Analyze the sales data for Q4",
        prefect=PrefectOptions(flow_retries=1),
        expect=Expect(),
    )
    assert result.verdict == "pass", result.reason
    assert result.verdicts["bounded_retries"].held is True
    assert "made 4 of 4 allowed attempt(s)" in result.verdicts["bounded_retries"].detail


def test_structural_equality_is_the_default_and_the_comparator_replaces_it(runner: TrialRunner) -> None:
    structural = run_plan(runner, "dated_report.yaml", expect=Expect())
    assert structural.verdicts["output_matches_golden"].held is False
    assert "output.generated_at" in structural.verdicts["output_matches_golden"].detail
    compared = run_plan(runner, "dated_report.yaml")
    assert compared.verdicts["output_matches_golden"].detail == (
        "the output equals the golden run's by comparator comparators:same_report"
    )


def test_a_comparator_that_cannot_be_imported_is_an_invalid_trial(runner: TrialRunner) -> None:
    result = run_plan(runner, "dated_report.yaml", expect=Expect(comparator="comparators:no_such_function"))
    assert result.verdict == "invalid"
    assert "cannot import comparator 'comparators:no_such_function'" in result.reason


def test_variants_run_fresh_then_in_the_golden_runs_context(runner: TrialRunner) -> None:
    result = run_plan(runner, "variants.yaml")
    roles = [e["role"] for e in result.events if e["event"] == "run_start"]
    assert roles == [
        "golden",
        "reference:q3",
        "variant:q3",
        "reference:outliers",
        "variant:outliers",
        "faulted",
    ]
    assert result.workdir is not None
    storages = sorted(p.name for p in result.workdir.iterdir() if p.name.startswith("results-"))
    assert storages == [
        "results-faulted",
        "results-golden",
        "results-reference-outliers",
        "results-reference-q3",
    ]
    calls = result.to_report()["model_calls"]
    assert (calls["golden"], calls["total"]) == (3, 3)  # variant runs are judged apart from the faulted run
    assert [v["name"] for v in result.to_report()["variants"]] == ["q3", "outliers"]


def test_variants_on_dbos_share_the_trial_database_and_not_the_workflow(runner: TrialRunner) -> None:
    result = run_plan(
        runner,
        "dbos_kill.yaml",
        "kill-before-third-model-request",
        cassette="cassettes/variants.yaml",
        variants=[Variant(name="q3", prompt="Analyze the sales data for Q3")],
    )
    assert result.verdict == "pass", result.reason
    assert result.verdicts["no_false_cache_sharing"].held is True
    assert result.workdir is not None
    assert (result.workdir / "dbos-system-reference_q3.sqlite").exists()


def test_step_identity_on_dbos_is_the_same_function_at_the_same_step_id(runner: TrialRunner) -> None:
    result = run_plan(runner, "dbos_kill.yaml", "kill-after-second-model-request")
    detail = result.verdicts["stable_cache_keys"].detail
    assert result.verdicts["stable_cache_keys"].held is True
    assert "each with one step function; 4 of them paired with the golden run's, all the same" in detail
    refused = run_plan(runner, "dbos_local_copy.yaml")
    assert "DBOSUnexpectedStepError" in (refused.faulted.error if refused.faulted else "")
    mismatch = [e for e in refused.events if e["event"] == "identity" and e["engine"].get("recorded")]
    assert mismatch and mismatch[0]["engine"]["recorded"] == "data_analyst.download_dataset"


def test_variant_roles_run_the_variants_inputs_in_their_own_engine_context(tmp_path: Path) -> None:
    scenario = load_scenario(EXAMPLES / "time_in_deps.yaml").model_copy(
        update={"variants": [Variant(name="q3", args={"prompt": "Analyze the sales data for Q3"})]}
    )
    entry = Target("entry", None, "m:f", args={"prompt": "Q4", "extra": 1})
    assert role_target(scenario, entry, "variant:q3").args == {
        "prompt": "Analyze the sales data for Q3",
        "extra": 1,
    }
    assert (
        role_target(scenario, entry, "reference:q3").args == role_target(scenario, entry, "variant:q3").args
    )
    assert role_target(scenario, entry, "faulted") is entry
    agent = Target("agent", None, "m:a", prompt="Q4")
    prompted = scenario.model_copy(update={"variants": [Variant(name="q3", prompt="Q3")]})
    assert role_target(prompted, agent, "variant:q3").prompt == "Q3"
    contexts = {role: engine_context(role) for role in ("golden", "variant:q3", "reference:q3", "resume-2")}
    assert contexts == {
        "golden": "golden",
        "variant:q3": "golden",
        "reference:q3": "reference-q3",
        "resume-2": "faulted",
    }
    ids = {role: run_id(scenario, tmp_path, role) for role in ("golden", "faulted", "resume-1", "variant:q3")}
    assert ids["faulted"] == ids["resume-1"] != ids["golden"]
    assert ids["variant:q3"].endswith("-variant-q3")


def test_an_idempotent_tool_survives_the_at_least_once_window_that_fails_a_plain_one(
    runner: TrialRunner,
) -> None:
    """side_effects.yaml's known-bad plan (an error after load_dataset's effect, retried by its task),
    with load_dataset declared idempotent by its tool call id: the retry carries the same call id."""
    scenario = load_scenario(EXAMPLES / "side_effects.yaml")
    plan = next(p for p in scenario.plans if p.name == "error-after-the-side-effect")
    plan = plan.model_copy(update={"expect": None})
    idempotent = SideEffectingTool(name="load_dataset", idempotency="call_id")
    scenario = scenario.model_copy(update={"side_effecting_tools": [idempotent]})
    scenario = scenario.located(EXAMPLES / "side_effects.yaml")
    result = runner.run(TrialSpec(scenario, "prefect", plan))
    assert result.verdict == "pass", result.reason
    assert (
        "idempotent tools, every re-execution with its first key"
        in result.verdicts["tools_exactly_once"].detail
    )


def test_warm_worker_imports_the_provider_sdk_of_a_deferred_model_before_forking() -> None:
    # Durability capabilities defer model inference to the run; without warming, every resumed
    # worker imported the OpenAI SDK after the kill (measured: DBOS kill->recover 1.9 s -> 0.6 s).
    code = (
        "import sys\n"
        "from pydantic_ai import Agent\n"
        "from durable_chaos.run.zygote import warm_models\n"
        "agent = Agent('openai-chat:gpt-4o', defer_model_check=True)\n"
        "assert 'pydantic_ai.providers.openai' not in sys.modules\n"
        "warm_models([agent, object()])\n"
        "assert 'pydantic_ai.providers.openai' in sys.modules\n"
    )
    env = {**os.environ, "OPENAI_API_KEY": "placeholder-" + "key"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def tool_attempts(result: TrialResult, name: str) -> list[dict[str, object]]:
    return [
        e
        for e in result.events
        if e["role"] == "faulted" and e.get("unit", {}).get("name") == name and e["event"] != "identity"
    ]


def test_a_tool_error_on_dbos_fires_inside_the_step_its_body_opens_and_dbos_retries_it(
    runner: TrialRunner,
) -> None:
    result = run_plan(runner, "dbos_tool_error.yaml", "crm-unavailable-once")
    assert result.verdict == "pass", result.reason
    assert held(result)["completes"] is True and held(result)["tools_exactly_once"] is True
    seen = [(e["event"], e["attempt"]) for e in tool_attempts(result, "load_dataset")]
    assert seen == [("invoke", 1), ("execute", 1), ("fault", 1), ("fail", 1), ("invoke", 2), ("ok", 2)]
    events = tool_attempts(result, "load_dataset")
    fault = next(e for e in events if e["event"] == "fault")
    retry = next(e for e in events if e["event"] == "invoke" and e["attempt"] == 2)
    # inside the step: DBOS names it, and the retry is attempt 2 of the same step (same unit, same id)
    assert fault["engine"]["step_attempt"] == 0 and fault["engine"]["max_attempts"] == 3
    assert retry["engine"]["step_id"] == fault["engine"]["step_id"] and retry["engine"]["step_attempt"] == 1
    assert {e["unit"]["ordinal"] for e in events} == {1}
    assert "outside_unit" not in fault["fault"]


def test_a_tool_error_after_a_dbos_step_ran_is_retried_and_its_effect_counted_twice(
    runner: TrialRunner,
) -> None:
    result = run_plan(runner, "dbos_tool_error.yaml", "result-lost-after-the-step-ran")
    assert result.verdict == "pass", result.reason
    assert held(result)["completes"] is True and held(result)["tools_exactly_once"] is False
    executes = [e["attempt"] for e in tool_attempts(result, "load_dataset") if e["event"] == "execute"]
    assert executes == [1, 2]


def test_a_plain_dbos_tool_gets_the_not_a_durable_unit_verdict_with_the_fix(runner: TrialRunner) -> None:
    result = run_plan(runner, "dbos_plain_tool_error.yaml")
    assert result.verdict == "pass", result.reason
    detail = result.verdicts["completes"].detail
    assert "ConnectionError: CRM unavailable" in detail
    assert "tool `load_dataset` is not a durable unit under DBOS" in detail
    assert "@DBOS.step(retries_allowed=True" in detail
    fault = next(e for e in tool_attempts(result, "load_dataset") if e["event"] == "fault")
    assert fault["fault"]["outside_unit"] is True and fault["engine"] == {}


def test_a_tool_error_fires_inside_the_prefect_tool_task_and_outside_an_untasked_tool(
    runner: TrialRunner,
) -> None:
    correct = run_plan(runner, "tool_error.yaml", "tool-error-absorbed-by-task-retry")
    assert correct.verdict == "pass", correct.reason
    fault = next(e for e in tool_attempts(correct, "compute_statistics") if e["event"] == "fault")
    assert fault["engine"]["task_run_count"] == 1 and "outside_unit" not in fault["fault"]
    bad = run_plan(runner, "untasked_tool_error.yaml")
    assert bad.verdict == "pass", bad.reason
    fault = next(e for e in tool_attempts(bad, "compute_statistics") if e["event"] == "fault")
    assert fault["fault"]["outside_unit"] is True and fault["engine"] == {}
    assert "metadata={'prefect': False}" in bad.verdicts["completes"].detail
