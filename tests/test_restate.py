"""The Restate engine against a real restate-server (the embedded one) and real SIGKILLs.

Skipped, with the command that installs it, when the server binary is absent.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from durable_chaos.fixtures.engines.base import EngineUnavailable
from durable_chaos.fixtures.engines.restate.install import ENV_SERVER, INSTALL_COMMAND, server_binary
from durable_chaos.fixtures.engines.restate.server import EmbeddedServer
from durable_chaos.harness.runner import TrialResult, TrialRunner, TrialSpec
from durable_chaos.harness.scenario_loader import load_scenario

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
    with pytest.raises(EngineUnavailable, match="python -m durable_chaos.fixtures.engines.restate.install"):
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


def test_every_restate_hook_resolves_and_a_broken_one_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from restate.vm import VMWrapper

    from durable_chaos.fixtures.engines.restate import hooks
    from durable_chaos.fixtures.engines.restate.adapter import observe_journal
    from durable_chaos.fixtures.hooks import check_hooks, library_version

    assert check_hooks(hooks.ALL) == {}
    original = VMWrapper.sys_run
    monkeypatch.setattr(VMWrapper, "sys_run", lambda self, label: original(self, label))
    problems = check_hooks(hooks.ALL)
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

    from durable_chaos.fixtures.engines.base import Target, TargetMismatch
    from durable_chaos.fixtures.engines.restate.adapter import RestateAdapter

    with pytest.raises(TargetMismatch, match="no durable execution"):
        RestateAdapter().check_target(Target("agent", Agent("test"), "m:agent", prompt="hi"))


def test_journal_mismatch_names_the_recorded_entry() -> None:
    from durable_chaos.fixtures.engines.restate.adapter import recorded_name

    message = (
        "(570) Found a mismatch between the code paths taken during the previous execution and the paths "
        "taken during this execution.\n- The mismatch happened while executing 'run' (index '2')\n"
        "- Difference:\n   name: Calling load_dataset != Calling compute_statistics\n"
    )
    assert recorded_name(message) == "Calling load_dataset"
