"""``durable-chaos init``: what it lists and the files it writes. (That its output records and runs
unchanged is driven end to end by tests/test_own_agent_page.py, which follows docs/own-agent.md.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from durable_chaos.cli import main
from durable_chaos.infra.model_server import Script
from durable_chaos.scaffold import guess_side_effecting, placeholder
from durable_chaos.scenario.read import load_scenario

AGENT = Path(__file__).resolve().parent / "own_agent" / "triage_agents.py"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(AGENT, tmp_path / AGENT.name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_init_lists_the_agent_and_writes_a_script_and_a_scenario(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "triage_agents:triage"]) == 0
    out = capsys.readouterr().out
    assert "tools:       lookup_customer(email), send_refund(refund_id, email, amount)" in out
    assert "durability:  prefect" in out and "side_effecting_tools guessed from the names: send_refund" in out
    scenario = load_scenario(project / "triage.chaos.yaml")
    assert scenario.engines == ["prefect"] and scenario.side_effecting_names() == ("send_refund",)
    faults = [plan.faults[0].kind for plan in scenario.plans]
    assert faults == ["kill", "http_error", "tool_error"]
    assert scenario.plans[2].faults[0].at.name == "lookup_customer"  # a read-only tool
    script = Script.from_file(project / "triage.script.yaml")
    turns = script.conversations[0].turns
    assert [t.tool_calls[0].name for t in turns[:2]] == ["lookup_customer", "send_refund"]
    assert turns[1].tool_calls[0].arguments == {"refund_id": "example", "email": "example", "amount": 1.0}
    assert "Tools really run during trials" in (project / "triage.chaos.yaml").read_text()
    capsys.readouterr()
    assert main(["validate", "--no-import", str(project / "triage.chaos.yaml")]) == 0
    # Its cassette is not recorded yet: validate says so, with the command that records it.
    assert main(["validate", str(project / "triage.chaos.yaml")]) == 2
    err = capsys.readouterr().err
    assert f"cassette: {project / 'cassettes' / 'triage.yaml'} does not exist" in err
    assert f"`pytest --chaos --chaos-record {project / 'triage.chaos.yaml'}`" in err
    (project / "cassettes").mkdir()
    (project / "cassettes" / "triage.yaml").write_text("interactions: []\nversion: 1\n")
    assert main(["validate", str(project / "triage.chaos.yaml")]) == 0
    assert main(["init", "triage_agents:triage"]) == 2  # never overwrites without --force
    assert "exists; pass --force" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("triage_agents:plain", "has no durable execution"),
        ("triage_agents:nope", "cannot import 'triage_agents:nope'"),
        ("triage_agents:tools", "is a function, not a pydantic-ai agent"),
    ],
)
def test_init_refuses_what_it_cannot_scaffold_in_one_line(
    project: Path, capsys: pytest.CaptureFixture[str], target: str, message: str
) -> None:
    assert main(["init", target]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_placeholders_validate_against_their_schema() -> None:
    defs = {"Inner": {"properties": {"a": {"type": "integer"}}, "required": ["a"], "type": "object"}}
    schema = {
        "properties": {
            "summary": {"type": "string"},
            "items": {"items": {"$ref": "#/$defs/Inner"}, "type": "array", "minItems": 1},
            "ok": {"default": True, "type": "boolean"},
            "tier": {"enum": ["gold", "silver"]},
            "note": {"anyOf": [{"type": "null"}, {"type": "number"}]},
        },
        "required": ["summary", "items", "tier", "note"],
        "type": "object",
    }
    assert placeholder(schema, defs) == {
        "summary": "example",
        "items": [{"a": 1}],
        "tier": "gold",
        "note": 1.0,
    }


def test_side_effecting_guess_reads_the_tool_names() -> None:
    from durable_chaos.infra.introspect import ToolInfo

    tools = tuple(ToolInfo(name, "t") for name in ["lookup_customer", "send_refund", "save_report", "resend"])
    assert guess_side_effecting(tools) == ("send_refund", "save_report")
