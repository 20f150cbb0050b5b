"""The Restate engine against a real restate-server (the embedded one) and real SIGKILLs.

Skipped, with the command that installs it, when the server binary is absent.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from durable_chaos.infra.engines.base import EngineUnavailable
from durable_chaos.infra.engines.restate.install import ENV_SERVER, INSTALL_COMMAND, server_binary
from durable_chaos.infra.engines.restate.server import EmbeddedServer
from durable_chaos.run.results import TrialResult
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

pytest.importorskip("restate.ext.pydantic")
pytest.importorskip("hypercorn")

EXAMPLES = Path(__file__).resolve().parent.parent / "scenarios" / "restate"
needs_server = pytest.mark.skipif(
    server_binary() is None, reason=f"restate-server is not installed: run `{INSTALL_COMMAND}`"
)


def trial(runner: TrialRunner, file: str, plan: str | None = None) -> TrialResult:
    scenario = load_scenario(EXAMPLES / file)
    chosen = next(p for p in scenario.plans if plan is None or p.name == plan)
    return runner.run(TrialSpec(scenario, "restate", chosen))


def events(result: TrialResult, event: str, role: str | None = None) -> list[dict[str, Any]]:
    return [e for e in result.events if e["event"] == event and (role is None or e["role"] == role)]


def test_a_missing_server_binary_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(ENV_SERVER, raising=False)
    monkeypatch.setenv("DURABLE_CHAOS_CACHE_DIR", str(tmp_path / "empty-cache"))
    with pytest.raises(EngineUnavailable, match="python -m durable_chaos.infra.engines.restate.install"):
        EmbeddedServer(tmp_path / "server").start()
    monkeypatch.setenv(ENV_SERVER, str(tmp_path / "no-such-binary"))
    with pytest.raises(EngineUnavailable, match=f"{ENV_SERVER}=.*is not an executable file"):
        EmbeddedServer(tmp_path / "server").start()


@needs_server
def test_the_embedded_server_starts_on_loopback_and_stops_with_its_process_group(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "server")
    endpoints = server.start()
    try:
        assert endpoints.admin_url.startswith("http://127.0.0.1:") and endpoints.healthy()
        assert endpoints.query("SELECT count(*) AS n FROM sys_invocation") == [{"n": 0}]
        process = server.process
        assert process is not None
    finally:
        server.stop()
    assert process.poll() is not None and not (tmp_path / "server" / "base").exists()
    port = int(endpoints.admin_url.rsplit(":", 1)[1])
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


@needs_server
def test_faults_beneath_ctx_run_are_retried_by_restate_and_the_run_passes(runner: TrialRunner) -> None:
    result = trial(runner, "data_analyst.yaml", "tool-error-before-compute-statistics")
    assert result.verdict == "pass", result.reason
    fault = events(result, "fault")[0]
    # the fault fired inside the journaled unit: the adapter names its ctx.run entry
    assert fault["engine"]["entry_name"] == "Calling compute_statistics"
    assert fault["engine"]["invocation_id"].startswith("inv_")
    golden = [e["engine"]["entry_name"] for e in events(result, "checkpoint", "golden")]
    assert golden == [
        "Model call",
        "Calling load_dataset",
        "Model call",
        "Calling compute_statistics",
        "Model call",
    ]
    assert (
        result.golden is not None
        and [e["name"] for e in result.golden.engine_ids["journal"] if e["name"]] == golden
    )


@needs_server
def test_a_kill_of_the_endpoint_recovers_from_the_journal(runner: TrialRunner) -> None:
    result = trial(runner, "kill.yaml", "kill-before-model-request-3")
    assert result.verdict == "pass", result.reason
    assert result.resumes == 1 and result.verdicts["no_duplicate_model_calls"].held is True
    replayed = [e["engine"]["entry_name"] for e in events(result, "replay", "resume-1")]
    assert replayed == ["Model call", "Calling load_dataset", "Model call", "Calling compute_statistics"]
    assert [e["unit"]["kind"] for e in events(result, "invoke", "resume-1")] == ["model_request"]


@needs_server
def test_a_side_effecting_tool_outside_ctx_run_is_caught(runner: TrialRunner) -> None:
    result = trial(runner, "plain_tool.yaml")
    assert result.verdict == "pass", result.reason
    violated = sorted(name for name, v in result.verdicts.items() if v.held is False)
    assert violated == ["tools_exactly_once"]
    assert "auto_wrap_tools=True" in result.verdicts["tools_exactly_once"].detail


def tool_attempts(result: TrialResult, name: str) -> list[dict[str, Any]]:
    return [
        e
        for e in result.events
        if e["role"] == "faulted" and e.get("unit", {}).get("name") == name and e["event"] != "identity"
    ]


@needs_server
def test_a_tool_error_fires_inside_the_ctx_run_the_tool_body_opens_and_restate_retries_it(
    runner: TrialRunner,
) -> None:
    # load_dataset: restate_context().run_typed with a sync action (run in the SDK's executor)
    result = trial(runner, "run_tools.yaml", "crm-unavailable-once")
    assert result.verdict == "pass", result.reason
    assert result.verdicts["completes"].held is True and result.verdicts["tools_exactly_once"].held is True
    calls = tool_attempts(result, "load_dataset")
    seen = [(e["event"], e["attempt"]) for e in calls]
    assert seen == [("invoke", 1), ("execute", 1), ("fault", 1), ("fail", 1), ("invoke", 2), ("ok", 2)]
    fault, fail = calls[2], calls[3]
    # inside the journal entry the body opened: the adapter names it; the fault is not outside a unit
    assert "outside_unit" not in fault["fault"]
    assert fault["engine"]["entry_name"] == "load_dataset" and fault["engine"]["run_attempt"] == 1
    assert fault["engine"]["invocation_id"].startswith("inv_") and fault["engine"]["max_attempts"] == 4
    assert fail["engine"] == fault["engine"] and fail["error"] == "ConnectionError: CRM unavailable"
    checkpoints = [e["engine"]["entry_name"] for e in events(result, "checkpoint", "faulted")]
    assert checkpoints.count("load_dataset") == 1  # the retried entry was journaled once, after attempt 2


@needs_server
def test_every_restate_retry_of_a_tool_entry_is_one_attempt_of_the_tool_call(runner: TrialRunner) -> None:
    # compute_statistics: ctx.run with an async action; the fault fires on two attempts (times: 2)
    result = trial(runner, "run_tools.yaml", "statistics-fail-twice")
    assert result.verdict == "pass", result.reason
    calls = tool_attempts(result, "compute_statistics")
    assert [(e["event"], e["attempt"]) for e in calls] == [
        ("invoke", 1),
        ("execute", 1),
        ("fault", 1),
        ("fail", 1),
        ("invoke", 2),
        ("fault", 2),
        ("fail", 2),
        ("invoke", 3),
        ("ok", 3),
    ]
    faults = [e for e in calls if e["event"] == "fault"]
    # Restate retries a failed ctx.run by retrying the invocation: the same entry, run again
    assert [f["engine"]["run_attempt"] for f in faults] == [1, 2]
    assert len({(f["engine"]["invocation_id"], f["engine"]["position"]) for f in faults}) == 1
    assert all("outside_unit" not in f["fault"] for f in faults)
    # the replayed load_dataset (journaled) is not counted as a second execution
    assert result.verdicts["tools_exactly_once"].held is True


@needs_server
def test_a_tool_error_after_the_ctx_run_ran_counts_its_effect_twice(runner: TrialRunner) -> None:
    result = trial(runner, "run_tools.yaml", "result-lost-after-load-dataset-ran")
    assert result.verdict == "pass", result.reason  # a declared violation, caught
    assert result.verdicts["completes"].held is True and result.verdicts["tools_exactly_once"].held is False
    executes = [e["attempt"] for e in tool_attempts(result, "load_dataset") if e["event"] == "execute"]
    assert executes == [1, 2]
    assert "in flight when a fault struck after its effect" in result.verdicts["tools_exactly_once"].detail


@needs_server
def test_a_tool_error_on_a_tool_outside_ctx_run_fires_outside_any_unit(runner: TrialRunner) -> None:
    result = trial(runner, "plain_tool.yaml", "crm-unavailable-once")
    assert result.verdict == "pass", result.reason
    fault = next(e for e in tool_attempts(result, "load_dataset") if e["event"] == "fault")
    assert fault["fault"]["outside_unit"] is True and fault["engine"] == {}
    # Restate retried the whole invocation: the run completed, the body ran again
    assert result.verdicts["completes"].held is True and result.verdicts["tools_exactly_once"].held is False
    detail = result.verdicts["tools_exactly_once"].detail
    assert "opens no ctx.run of its own" in detail and "restate_context().run_typed" in detail


@needs_server
def test_a_plain_restate_tool_gets_the_not_a_durable_unit_verdict_with_the_fix(runner: TrialRunner) -> None:
    result = trial(runner, "plain_tool_error.yaml")
    assert result.verdict == "pass", result.reason
    detail = result.verdicts["completes"].detail
    assert "ConnectionError('CRM unavailable')" in detail  # Restate's failure after its retries ran out
    assert "tool `load_dataset` is not a durable unit under Restate" in detail
    assert "restate_context().run_typed(..., RunOptions(max_attempts=...))" in detail
    faults = [e for e in tool_attempts(result, "load_dataset") if e["event"] == "fault"]
    assert len(faults) == 3 and all(f["fault"]["outside_unit"] is True for f in faults)


def test_a_ctx_run_action_reaches_the_listener_captured_where_ctx_run_was_called() -> None:
    import asyncio
    import contextvars
    from collections.abc import Hashable, Iterator
    from contextlib import contextmanager

    from durable_chaos.faults.context import current_unit_listener, listening_for_units, unit_body
    from durable_chaos.infra.engines.restate.observe import unit_action

    heard: list[Hashable] = []

    @contextmanager
    def listener(key: Hashable) -> Iterator[None]:
        heard.append(key)
        yield

    with listening_for_units(listener):
        captured = current_unit_listener()
    assert captured is listener and current_unit_listener() is None

    async def async_body() -> str:
        with unit_body("nested"):  # units opened inside a unit do not reach the listener
            return "async"

    def sync_body() -> str:
        return "sync"

    async def main() -> list[str]:
        # run as the SDK does: later, from a task of its own, a sync action in an executor thread
        # with a copied context (here a context whose listener is another one, which must not hear it)
        other: list[Hashable] = []

        @contextmanager
        def bystander(key: Hashable) -> Iterator[None]:
            other.append(key)
            yield

        with listening_for_units(bystander):
            first = await asyncio.create_task(unit_action(async_body, ("inv", 1), captured)())
            ctx = contextvars.copy_context()
            loop = asyncio.get_running_loop()
            second = await loop.run_in_executor(None, ctx.run, unit_action(sync_body, ("inv", 2), captured))
        assert other == []
        return [first, second]

    assert asyncio.run(main()) == ["async", "sync"]
    assert heard == [("inv", 1), ("inv", 2)]
    assert asyncio.iscoroutinefunction(unit_action(async_body, ("inv", 1), None))
    assert not asyncio.iscoroutinefunction(unit_action(sync_body, ("inv", 1), None))


def test_every_restate_hook_resolves_and_a_broken_one_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from restate.vm import VMWrapper

    from durable_chaos.infra.engines.restate import private_apis
    from durable_chaos.infra.engines.restate.observe import observe_journal
    from durable_chaos.patching import check_hooks, library_version

    assert check_hooks(private_apis.ALL) == {}
    original = VMWrapper.sys_run
    monkeypatch.setattr(VMWrapper, "sys_run", lambda self, label: original(self, label))
    problems = check_hooks(private_apis.ALL)
    message = problems["stable_cache_keys"]
    assert f"restate-sdk {library_version('restate-sdk')}" in message
    assert "restate.vm:VMWrapper.sys_run" in message and "no longer takes name" in message
    with observe_journal():
        assert (
            VMWrapper.sys_run is not original and VMWrapper.take_notification.__name__ == "take_notification"
        )
        assert VMWrapper.sys_run.__name__ == "<lambda>"  # the broken hook was left alone


def test_a_plain_agent_is_a_target_mismatch() -> None:
    from pydantic_ai import Agent

    from durable_chaos.infra.engines.base import Target, TargetMismatch
    from durable_chaos.infra.engines.restate.adapter import RestateAdapter

    with pytest.raises(TargetMismatch, match="no durable execution"):
        RestateAdapter().check_target(Target("agent", Agent("test"), "m:agent", prompt="hi"))


def test_a_users_subclass_of_restate_agent_is_a_restate_target() -> None:
    # e.g. a RestateAgent subclass whose run carries a job's usage (restate/usage_job_budget.yaml)
    from pydantic_ai import Agent
    from pydantic_ai.models.test import TestModel
    from restate.ext.pydantic import RestateAgent

    from durable_chaos.infra.engines.base import Target
    from durable_chaos.infra.engines.restate.adapter import RestateAdapter

    class Budgeted(RestateAgent[None, str]):
        pass

    RestateAdapter().check_target(Target("agent", Budgeted(Agent(TestModel())), "m:agent", prompt="hi"))


def test_journal_mismatch_names_the_recorded_entry() -> None:
    from durable_chaos.infra.engines.restate.observe import recorded_name

    message = (
        "(570) Found a mismatch between the code paths taken during the previous execution and the paths "
        "taken during this execution.\n- The mismatch happened while executing 'run' (index '2')\n"
        "- Difference:\n   name: Calling load_dataset != Calling compute_statistics\n"
    )
    assert recorded_name(message) == "Calling load_dataset"
