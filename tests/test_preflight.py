"""Configuration mistakes caught before a trial runs: introspection of the target, the one-line
problems, ``durable-chaos validate`` (exit 2) and the trial verdict ``invalid``."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_chaos.cli import main
from durable_chaos.infra.engines.base import import_object
from durable_chaos.infra.introspect import describe
from durable_chaos.run import preflight
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

AGENTS = Path(__file__).resolve().parent / "own_agent"

SCENARIO = """\
schema_version: 1
name: triage
agent: triage_agents:{attr}
prompt: Refund order 7
engines: [{engine}]
model_server: {{script: script.yaml}}
side_effecting_tools: {tools}
plans:
  - name: one
    faults:
      - kind: tool_error
        at: {{kind: tool_call, name: {tool}}}
"""


def write(
    tmp_path: Path,
    attr: str = "triage",
    engine: str = "prefect",
    tools: str = "[{name: send_refund, idempotency: {argument: refund_id}}]",
    tool: str = "lookup_customer",
) -> Path:
    (tmp_path / "triage_agents.py").write_text((AGENTS / "triage_agents.py").read_text())
    path = tmp_path / "triage.yaml"
    path.write_text(SCENARIO.format(attr=attr, engine=engine, tools=tools, tool=tool))
    return path


def test_describe_lists_model_tools_toolsets_and_durability(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    info = describe("triage_agents:triage", import_object("triage_agents:triage", AGENTS))
    assert info.agent and info.kind == "Agent"
    assert info.model == "gpt-4o" and info.model_spec == "openai-chat:gpt-4o"
    assert info.tool_names == ("lookup_customer", "send_refund")
    assert info.tool("send_refund") is not None
    assert info.tool("send_refund").parameters == ("refund_id", "email", "amount")  # type: ignore[union-attr]
    assert info.toolsets == ("support_tools",) and info.mcp_servers == ()
    assert info.durability == "prefect"
    assert "  durability:  prefect" in info.lines()
    plain = describe("triage_agents:plain", import_object("triage_agents:plain", AGENTS))
    assert plain.durability is None
    assert not describe("m:f", write).agent


def test_a_correct_configuration_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path)
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.startswith(f"ok   {path}")


MISTAKES = [
    ({"attr": "triage_agnt"}, "3: agent: cannot import 'triage_agents:triage_agnt': AttributeError"),
    ({"attr": "plain"}, "3: agent: agent triage_agents:plain has no durable execution"),
    ({"engine": "dbos"}, "3: agent: agent triage_agents:triage is made durable for prefect, not dbos"),
    (
        {"tool": "send_refnd"},
        "12: plans[0].faults[0].at.name: "
        "plan 'one' fault #1 selects tool_call 'send_refnd', which matches no tool of agent "
        "triage_agents:triage (its tools: lookup_customer, send_refund)",
    ),
    (
        {"tools": "[send_email]"},
        "7: side_effecting_tools[0]: side_effecting_tools names 'send_email', which is no tool of agent "
        "triage_agents:triage",
    ),
    (
        {"tools": "[{name: send_refund, idempotency: {argument: refund}}]"},
        "7: side_effecting_tools[0]: side_effecting_tools: tool 'send_refund' has no argument 'refund' to "
        "use as its idempotency key",
    ),
]


@pytest.mark.parametrize(("change", "message"), MISTAKES)
def test_validate_exits_2_with_one_line_per_mistake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, str], message: str
) -> None:
    path = write(tmp_path, **change)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and err[0].startswith(f"{path}:{message}"), err
    assert main(["validate", "--no-import", str(path)]) == 0  # syntax only


def test_an_engine_that_is_not_installed_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preflight, "missing_modules", lambda spec: ["prefect"])
    assert main(["validate", str(write(tmp_path))]) == 2
    assert (
        "engine 'prefect' needs prefect, which is not installed: install it with: pip install"
        in capsys.readouterr().err
    )


@pytest.mark.parametrize(("change", "message"), MISTAKES)
def test_a_trial_with_a_configuration_mistake_is_invalid_before_anything_starts(
    tmp_path: Path, change: dict[str, str], message: str
) -> None:
    scenario = load_scenario(write(tmp_path, **change))
    runner = TrialRunner(root=tmp_path / "trials")
    try:
        result = runner.run(TrialSpec(scenario, scenario.engines[0], scenario.plans[0]))
        assert not runner.engines  # no engine was started
    finally:
        runner.close()
    assert result.verdict == "invalid"
    assert message in result.reason and "\n" not in result.reason
