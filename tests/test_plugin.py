"""The pytest plugin, driven as a user drives it: `pytest --chaos` in a project with a scenario."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

SCENARIO = """\
schema_version: 1
name: analyst
agent: data_analyst_agent:analyst
prompt: Analyze the sales data for Q4
cassette: cassettes/data_analyst.yaml
plans:
  - name: tool-error
    faults:
      - kind: tool_error
        at: {kind: tool_call, name: compute_statistics, times: 1}
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    source = SCENARIOS / "data_analyst"
    target = pytester.path / "scenarios"
    target.mkdir()
    for module in ("data_analyst_agent.py", "data_analyst_core.py"):
        shutil.copy(source / module, target)
    shutil.copytree(source / "cassettes", target / "cassettes")
    (target / "analyst.yaml").write_text(SCENARIO)
    return pytester


def test_without_chaos_trials_are_collected_and_skipped(project: pytest.Pytester) -> None:
    result = project.runpytest("scenarios", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*run with --chaos*"])


def test_chaos_runs_trials_and_writes_reports(project: pytest.Pytester) -> None:
    report = project.path / "chaos.json"
    junit = project.path / "junit.xml"
    result = project.runpytest_subprocess(
        "--chaos", "scenarios", f"--chaos-report={report}", f"--junitxml={junit}", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*durable-chaos*", "PASS  analyst[[]prefect-tool-error]*", "*1 trial(s): 1 passed*"]
    )
    data = json.loads(report.read_text())
    assert data["version"] == 1
    assert data["summary"]["trials"] == 1 and data["summary"]["passed"] == 1
    trial = data["trials"][0]
    assert trial["verdict"] == "pass" and trial["engine"] == "prefect"
    assert trial["properties"]["completes"]["held"] is True
    assert set(trial["model_calls"]) >= {"golden", "total", "duplicates", "expected_reexecutions"}
    assert set(trial["tokens"]) >= {"golden", "spent", "naive_restart", "saved"}
    assert 'name="chaos.completes" value="True"' in junit.read_text()


def test_malformed_scenario_names_file_line_and_field_without_traceback(project: pytest.Pytester) -> None:
    bad = SCENARIO.replace("times: 1", "times: 0")
    (project.path / "scenarios" / "analyst.yaml").write_text(bad)
    result = project.runpytest("--chaos", "scenarios")
    assert result.ret != 0
    output = result.stdout.str()
    assert "analyst.yaml:10: plans[0].faults[0].at.times" in output
    assert "Traceback" not in output


def test_options_are_documented_in_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--chaos *", "*--chaos-record*", "*--chaos-report=PATH*"])


def test_collected_item_names_scenario_engine_and_plan(project: pytest.Pytester) -> None:
    result = project.runpytest("--collect-only", "-q", "scenarios")
    result.stdout.fnmatch_lines(["scenarios/analyst.yaml::analyst[[]prefect-tool-error]"])


def test_unrelated_yaml_is_not_collected(pytester: pytest.Pytester) -> None:
    Path(pytester.path / "config.yaml").write_text("key: value\n")
    result = pytester.runpytest("--collect-only", "-q")
    assert "config.yaml" not in result.stdout.str()
