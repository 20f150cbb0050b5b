"""One outcome per session: the process's exit status, the terminal's, the JSON report's and the Markdown
summary's are the same in every way a session can end (issue 19.1). Each test is a reproduction, run
as a user runs it (a pytest subprocess); none needs an engine to start: the trials end at their
import or never run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from example_files import copy_data_analyst_example

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

SCENARIO = """\
schema_version: 1
name: {name}
agent: {module}:analyst
prompt: Analyze the sales data for Q4
engines: [prefect]
cassette: cassettes/data_analyst.yaml
plans:
  - name: tool-error
    faults:
      - kind: tool_error
        at: {{kind: tool_call, name: compute_statistics, times: 1}}
"""

CUSTOM_BASE_EXCEPTION = """\
class Stop(BaseException):
    pass


raise Stop("the agent's module gave up")
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    copy_data_analyst_example(pytester.path)
    return pytester


def scenario(project: pytest.Pytester, name: str, module: str, code: str | None = None) -> Path:
    """A scenario file whose agent is ``module`` (written with ``code`` when given)."""
    if code is not None:
        (project.path / "scenarios" / f"{module}.py").write_text(code)
    path = project.path / "scenarios" / f"{name}.yaml"
    path.write_text(SCENARIO.format(name=name, module=module))
    return path


def run(project: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, Any], str]:
    """``pytest --chaos ARGS`` with the JSON and Markdown reports; returns the run and both reports."""
    report, markdown = project.path / "chaos.json", project.path / "chaos.md"
    result = project.runpytest_subprocess(
        "--chaos", f"--chaos-report={report}", f"--chaos-markdown={markdown}", "-p", "no:cacheprovider", *args
    )
    return result, json.loads(report.read_text()), markdown.read_text()


def assert_one_outcome(result: pytest.RunResult, data: dict[str, Any], markdown: str) -> None:
    """Every output says the process's exit status, and the reports are final."""
    status = int(result.ret)
    assert data["gate"]["exit_code"] == status, (data["gate"], result.stdout.str())
    assert data["incomplete"] is False
    assert f"**Exit status {status}**" in markdown
    result.stdout.fnmatch_lines([f"durable-chaos exit status {status}: *"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    if status:
        assert "every guarantee held" not in result.stdout.str() + markdown


def test_a_trial_that_never_ran_after_x_stopped_the_session_is_exit_3(project: pytest.Pytester) -> None:
    project.makepyfile(test_fails="def test_fails():\n    assert False\n")
    scenario(project, "first", "data_analyst_agent")
    scenario(project, "second", "data_analyst_agent")
    result, data, markdown = run(project, "-x", "test_fails.py", "scenarios")
    assert result.ret == 3
    assert_one_outcome(result, data, markdown)
    assert "only 0 of 2 trial(s) produced a result" in data["gate"]["messages"][0]


def test_a_custom_base_exception_at_import_is_a_trial_error_not_a_missing_trial(
    project: pytest.Pytester,
) -> None:
    scenario(project, "stopping", "stopping_agent", CUSTOM_BASE_EXCEPTION)
    result, data, markdown = run(project, "scenarios")
    assert result.ret == 3
    assert_one_outcome(result, data, markdown)
    [trial] = data["trials"]
    assert trial["verdict"] == "error"
    assert "the target raised Stop(the agent's module gave up)" in trial["reason"]


def test_os_exit_in_agent_code_is_a_trial_error_and_replaces_the_last_runs_report(
    project: pytest.Pytester,
) -> None:
    stale = {"version": 1, "gate": {"exit_code": 0, "meaning": "every guarantee held"}, "trials": []}
    (project.path / "chaos.json").write_text(json.dumps(stale))
    scenario(project, "exiting", "exiting_agent", "import os\n\nos._exit(0)\n")
    result, data, markdown = run(project, "scenarios")
    assert result.ret == 3
    assert_one_outcome(result, data, markdown)
    [trial] = data["trials"]
    assert trial["verdict"] == "error" and "called os._exit(0)" in trial["reason"]


def test_a_killed_session_leaves_the_provisional_incomplete_report_never_a_stale_one(
    project: pytest.Pytester,
) -> None:
    """What cannot be caught (SIGKILL of pytest itself) leaves the report written at the start."""
    for name in ("chaos.json", "chaos.md"):
        (project.path / name).write_text("a green report of an earlier run\n")
    project.makeconftest("import os\n\n\ndef pytest_runtest_setup(item):\n    os.kill(os.getpid(), 9)\n")
    scenario(project, "analyst", "data_analyst_agent")
    report, markdown = project.path / "chaos.json", project.path / "chaos.md"
    result = project.runpytest_subprocess(
        "--chaos", "scenarios", f"--chaos-report={report}", f"--chaos-markdown={markdown}"
    )
    assert result.ret != 0
    data = json.loads(report.read_text())
    assert data["incomplete"] is True and data["gate"]["exit_code"] == 3
    assert "**Exit status 3**" in markdown.read_text() and "INCOMPLETE" in markdown.read_text()


def test_a_missing_path_and_an_empty_directory_are_reported_as_pytest_exits(project: pytest.Pytester) -> None:
    (project.path / "empty").mkdir()
    for where, status in (("empty", 5), ("scenarioz", 4)):
        result, data, markdown = run(project, where)
        assert result.ret == status
        assert data["gate"]["exit_code"] == status and data["incomplete"] is False
        assert f"**Exit status {status}**" in markdown


def test_a_chaos_fixture_test_whose_trial_errors_exits_1_everywhere(project: pytest.Pytester) -> None:
    path = scenario(project, "stopping", "stopping_agent", CUSTOM_BASE_EXCEPTION)
    project.makepyfile(
        test_fixture=f"def test_trial(chaos):\n    chaos.run({str(path)!r}).assert_held()\n",
    )
    result, data, markdown = run(project, "test_fixture.py")
    assert result.ret == 1
    assert_one_outcome(result, data, markdown)
    assert data["gate"]["meaning"] == "a test failed"


INTERRUPT_WHILE_WRITING = """\
import os
import signal

from durable_chaos.report import json_report as report

write_json = report.write_json


def interrupted(*args, **kwargs):
    if not kwargs.get("incomplete"):  # the final report, not the provisional one
        os.kill(os.getpid(), signal.SIGINT)
    write_json(*args, **kwargs)


report.write_json = interrupted
"""


def test_ctrl_c_while_the_reports_are_written_completes_them_without_a_traceback(
    project: pytest.Pytester,
) -> None:
    project.makeconftest(INTERRUPT_WHILE_WRITING)
    scenario(project, "stopping", "stopping_agent", CUSTOM_BASE_EXCEPTION)
    result, data, markdown = run(project, "scenarios")
    assert result.ret == 3
    assert_one_outcome(result, data, markdown)
    result.stdout.fnmatch_lines(["*note: Ctrl-C arrived while the reports were written: they were*"])


def test_a_crashed_xdist_worker_loses_no_trial_silently(project: pytest.Pytester) -> None:
    """``-n 2`` while a worker dies (SIGKILL in the agent's import): pytest says 1 ("worker crashed");
    the trial it ran has no result, which is exit status 3 in every output."""
    pytest.importorskip("xdist")
    scenario(project, "killing", "killing_agent", "import os\n\nos.kill(os.getpid(), 9)\n")
    scenario(project, "stopping", "stopping_agent", CUSTOM_BASE_EXCEPTION)
    result, data, markdown = run(project, "scenarios", "-n", "2")
    result.stdout.fnmatch_lines(["*worker 'gw*' crashed*"])
    assert result.ret == 3
    assert_one_outcome(result, data, markdown)
    assert "no result from scenarios/killing.yaml::killing[prefect-tool-error]" in data["gate"]["messages"][0]


TOOL_AGENT = """\
import functools
import os

import data_analyst_core as core
from data_analyst_agent import INSTRUCTIONS, MODEL_TASKS, TOOL_TASKS, DataAnalysis
from pydantic_ai import Agent, FunctionToolset
from pydantic_ai.durable_exec.prefect import PrefectDurability


class Stop(BaseException):
    pass


@functools.wraps(core.compute_statistics)  # the same tool schema, so the cassette replays
def compute_statistics(*args, **kwargs):
    {body}


tools = FunctionToolset(id="analyst_tools")
tools.tool_plain(core.load_dataset)
tools.tool_plain(compute_statistics)
analyst = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[tools],
    capabilities=[PrefectDurability(model_task_config=MODEL_TASKS, tool_task_config=TOOL_TASKS)],
)
"""


def test_a_tool_that_ends_the_run_in_process_is_a_trial_error(project: pytest.Pytester) -> None:
    """In a trial that runs the agent in pytest's own process (Prefect): a tool raising its own
    BaseException, or calling os._exit(0), which would have ended the session with status 0."""
    scenario(project, "stopping", "stopping_tool", TOOL_AGENT.format(body='raise Stop("tool gave up")'))
    scenario(project, "exiting", "exiting_tool", TOOL_AGENT.format(body="os._exit(0)"))
    result, data, markdown = run(project, "scenarios", "--chaos-timeout=120")
    assert result.ret == 3
    assert_one_outcome(result, data, markdown)
    reasons = {trial["scenario"]: trial["reason"] for trial in data["trials"]}
    assert {trial["verdict"] for trial in data["trials"]} == {"error"}
    assert "called os._exit(0)" in reasons["exiting"]
    assert "Stop" in reasons["stopping"], reasons["stopping"]


def test_a_trial_skipped_by_a_marker_is_accounted_for_not_lost(project: pytest.Pytester) -> None:
    project.makeconftest(
        "import pytest\n\n\ndef pytest_collection_modifyitems(items):\n"
        "    for item in items:\n        item.add_marker(pytest.mark.skip(reason='not today'))\n"
    )
    scenario(project, "analyst", "data_analyst_agent")
    result, data, markdown = run(project, "scenarios")
    assert result.ret == 0
    assert_one_outcome(result, data, markdown)
    assert data["gate"]["notes"] == ["1 trial(s) skipped by pytest (a skip marker): nothing checked in them"]
