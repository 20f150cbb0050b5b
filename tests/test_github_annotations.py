"""GitHub Actions annotations (``--chaos-github-annotations PATH``): workflow commands for the session's
outcome and every trial that did not pass, written through the report table like every report."""

from __future__ import annotations

from pathlib import Path

import pytest
from example_files import copy_data_analyst_example

from durable_chaos.judge.checkers import Verdict
from durable_chaos.report.formats import FORMATS, in_write_order
from durable_chaos.report.github import command, escape_data, escape_property, render_annotations
from durable_chaos.run.results import TrialResult
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

SCENARIO = """\
schema_version: 1
name: {name}
agent: {module}:analyst
prompt: Analyze the sales data for Q4
engines: [prefect]
cassette: cassettes/data_analyst.yaml
plans:
  - name: first
  - name: tool-error
    faults:
      - kind: tool_error
        at: {{kind: tool_call, name: compute_statistics, times: 1}}
"""

GATE_FAILED = {
    "exit_code": 1,
    "meaning": "a guarantee was violated",
    "messages": ["FAIL scenario analyst on prefect", "token savings 0.10 below the minimum 0.20"],
    "notes": [],
}


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    copy_data_analyst_example(pytester.path)
    return pytester


def scenario_file(directory: Path, name: str = "analyst", module: str = "data_analyst_agent") -> Path:
    path = directory / "scenarios" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(SCENARIO.format(name=name, module=module))
    return path


def test_the_option_comes_from_the_report_table() -> None:
    row = next(f for f in FORMATS if f.option == "--chaos-github-annotations")
    assert row.dest == "chaos_github_annotations"
    assert row.writer == "durable_chaos.report.github:write_report"
    written = [f.option for f in in_write_order()]
    assert written[-1] == "--chaos-markdown"  # the summary that names the others: last
    assert written.index("--chaos-html") < written.index("--chaos-report") < written.index(row.option)


def test_messages_and_properties_are_escaped_as_the_actions_toolkit_does() -> None:
    assert escape_data("50% done\r\nnext: a, b") == "50%25 done%0D%0Anext: a, b"
    assert escape_property("a: b, c%") == "a%3A b%2C c%25"
    assert command("error", "two\nlines", file="a,b.yaml", line=None, title="t: x") == (
        "::error file=a%2Cb.yaml,title=t%3A x::two%0Alines"
    )
    assert command("notice", "no properties") == "::notice::no properties"


def test_a_violated_trial_is_an_error_on_its_plan_line_and_the_outcome_comes_first(tmp_path: Path) -> None:
    scenario = load_scenario(scenario_file(tmp_path))
    failed = TrialResult(
        TrialSpec(scenario, "prefect", scenario.plans[1]),
        "fail",
        "a guarantee was violated",
        {
            "completes": Verdict(True, "fine"),
            "tools_exactly_once": Verdict(False, "compute_statistics ran twice"),
        },
    )
    passed = TrialResult(TrialSpec(scenario, "prefect", scenario.plans[0]), "pass", "every property held")
    lines = render_annotations([passed, failed], GATE_FAILED, workspace=str(tmp_path)).splitlines()
    assert lines[0] == ("::error title=durable-chaos exit status 1::exit status 1: a guarantee was violated")
    assert lines[1] == "::error title=durable-chaos exit status 1::token savings 0.10 below the minimum 0.20"
    assert len(lines) == 3  # the trial's own message is not repeated; the passed trial has none
    assert lines[2].startswith("::error file=scenarios/analyst.yaml,line=9,title=durable-chaos FAIL%3A ")
    assert lines[2].endswith(
        "::FAIL: a guarantee was violated%0Atools_exactly_once VIOLATED: compute_statistics ran twice"
    )


def test_credentials_never_reach_the_annotations(tmp_path: Path) -> None:
    scenario = load_scenario(scenario_file(tmp_path))
    secret = "sk-ant-api03-" + "x" * 40
    errored = TrialResult(
        TrialSpec(scenario, "prefect", scenario.plans[0]), "error", f"auth failed: {secret}"
    )
    text = render_annotations([errored], {"exit_code": 3, "meaning": "m", "messages": [], "notes": []})
    assert secret not in text
    assert "::error file=" in text


def test_the_session_writes_the_annotations_of_an_errored_trial(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a user runs it: the trial errors at its agent's import (no engine starts), exit status 3."""
    monkeypatch.setenv("GITHUB_WORKSPACE", str(project.path))
    (project.path / "scenarios" / "stopping_agent.py").write_text(
        'class Stop(BaseException):\n    pass\n\n\nraise Stop("the agent gave up")\n'
    )
    scenario_file(project.path, "stopping", "stopping_agent")
    annotations = project.path / "annotations.txt"
    result = project.runpytest_subprocess(
        "--chaos", f"--chaos-github-annotations={annotations}", "-p", "no:cacheprovider", "-k", "first"
    )
    assert result.ret == 3
    lines = annotations.read_text().splitlines()
    assert lines[0].startswith("::error title=durable-chaos exit status 3::exit status 3: ")
    assert any(line.startswith("::error file=scenarios/stopping.yaml,line=8,") for line in lines[1:])
    assert "INCOMPLETE" not in annotations.read_text()  # the provisional file was replaced


def test_an_unwritable_annotations_file_is_a_harness_failure(project: pytest.Pytester) -> None:
    (project.path / "annotations").mkdir()  # a directory: the file cannot be written
    result = project.runpytest_subprocess(
        "--chaos", f"--chaos-github-annotations={project.path / 'annotations'}", "-p", "no:cacheprovider"
    )
    assert result.ret == 3
    result.stdout.fnmatch_lines(["*ERROR cannot write the GitHub annotations to *"])
