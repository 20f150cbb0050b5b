"""The pytest plugin, driven as a user drives it: `pytest --chaos` in a project with a scenario."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import sys
from pathlib import Path

import pytest
from example_files import copy_data_analyst_example

from durable_chaos.judge.accounting import ModelCalls, Tokens
from durable_chaos.judge.checkers import Verdict
from durable_chaos.judge.pricing import Cost
from durable_chaos.report.terminal import terminal_lines
from durable_chaos.run.results import TrialResult
from durable_chaos.scenario.model import Scenario
from durable_chaos.scenario.trial_specs import TrialSpec

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

SCENARIO = """\
schema_version: 1
name: analyst
agent: data_analyst_agent:analyst
prompt: Analyze the sales data for Q4
engines: [prefect]
cassette: cassettes/data_analyst.yaml
plans:
  - name: tool-error
    faults:
      - kind: tool_error
        at: {kind: tool_call, name: compute_statistics, times: 1}
"""

GATE = """\
[tool.durable-chaos]
required = ["completes", "no_duplicate_model_calls"]
min_token_savings = 0.1

[tool.durable-chaos.engines.dbos]
required = ["completes"]
"""

# A flow that passes the current time to an audit task: its cache key changes on every attempt.
# Not declared as a known-bad agent, so the violation fails the trial and the run exits 1.
UNSTABLE = """\
schema_version: 1
name: audited
entry: data_analyst_agent:analyze_sales_audited
args: {prompt: Analyze the sales data for Q4}
engines: [prefect]
cassette: cassettes/data_analyst.yaml
plans:
  - name: flow-retry
    faults:
      - kind: tool_error
        exception: ConnectionError
        at: {kind: tool_call, name: compute_statistics, phase: after, times: 3}
expect:
  properties: [completes, no_duplicate_model_calls, stable_cache_keys, output_matches_golden]
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    target = copy_data_analyst_example(pytester.path)
    (target / "analyst.yaml").write_text(SCENARIO)
    return pytester


def test_without_chaos_trials_are_collected_and_skipped(project: pytest.Pytester) -> None:
    result = project.runpytest("scenarios", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*run with --chaos*"])


def test_chaos_runs_trials_and_writes_reports(project: pytest.Pytester) -> None:
    report = project.path / "chaos.json"
    junit = project.path / "junit.xml"
    markdown = project.path / "out" / "chaos.md"
    (project.path / "pyproject.toml").write_text(GATE)
    result = project.runpytest_subprocess(
        "--chaos",
        "scenarios",
        f"--chaos-report={report}",
        f"--chaos-markdown={markdown}",
        f"--junitxml={junit}",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "*durable-chaos*",
            "*scenario / trial*dup/calls*tok saved*$ saved*outcome",
            "       analyst",
            "PASS     prefect-tool-error*0/3*977*$0.0030  7 held; 2 n/a",
            "*1 trial(s): 1 passed*",
            "durable-chaos exit status 0: every guarantee held",
            "  note: min_token_savings 10.0% met: *",
        ]
    )
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "durable-chaos" in line and line.startswith("="))
    ours = [line for line in lines[start + 1 :] if not line.startswith("=")]  # our section only
    assert ours and all(len(line) <= 110 for line in ours)
    summary = markdown.read_text()
    assert "**Exit status 0**: every guarantee held." in summary
    assert "| analyst | prefect | tool-error | PASS | none | 0 of 3 |" in summary
    data = json.loads(report.read_text())
    assert data["version"] == 1
    assert data["gate"]["exit_code"] == 0
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
    assert result.ret == 2
    result.stdout.fnmatch_lines(["durable-chaos exit status 2: a scenario or the configuration is invalid"])
    output = result.stdout.str()
    assert "analyst.yaml:11: plans[0].faults[0].at.times" in output
    assert "Traceback" not in output


def test_options_are_documented_in_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "*--chaos *",
            "*--chaos-record*",
            "*--chaos-report=PATH*",
            "*--chaos-markdown=PATH*",
            "*--chaos-html=PATH*",
            "*--chaos-require=PROP*",
            "*--chaos-min-savings=FRACTION*",
            "*--chaos-dbos-url=URL*",
            "*--chaos-seed=N*",
        ]
    )


def test_collected_item_names_scenario_engine_and_plan(project: pytest.Pytester) -> None:
    result = project.runpytest("--collect-only", "-q", "scenarios")
    result.stdout.fnmatch_lines(["scenarios/analyst.yaml::analyst[[]prefect-tool-error]"])


def test_unrelated_yaml_is_not_collected(pytester: pytest.Pytester) -> None:
    Path(pytester.path / "config.yaml").write_text("key: value\n")
    result = pytester.runpytest("--collect-only", "-q")
    assert "config.yaml" not in result.stdout.str()


def test_a_violated_guarantee_exits_1_naming_scenario_engine_unit_and_fix(project: pytest.Pytester) -> None:
    (project.path / "scenarios" / "analyst.yaml").write_text(UNSTABLE)
    (project.path / "pyproject.toml").write_text(GATE)
    markdown = project.path / "chaos.md"
    result = project.runpytest_subprocess(
        "--chaos", "scenarios", f"--chaos-markdown={markdown}", "-p", "no:cacheprovider"
    )
    assert result.ret == 1
    output = result.stdout.str()
    assert "durable-chaos exit status 1: a guarantee was violated" in output
    message = output[output.index("durable-chaos exit status 1") :]
    assert "1 trial(s) failed: details in pytest's FAILURES section above" in message
    flat = " ".join(output.split())  # the details are wrapped at 110 columns
    failure = flat[flat.index("FAILURES") : flat.index("durable-chaos exit status 1")]
    assert "FAIL audited[prefect-flow-retry]" in failure
    assert "VIOLATED: 1 unit(s) changed cache key between attempts" in failure
    assert "analysis-request#1" in failure and "make the inputs deterministic" in failure
    # Each failure's detail once, in one place. (pytest's short test summary repeats a failure's whole
    # text when it believes it runs on CI, CI=true: that summary is pytest's, not counted here.)
    report = flat.split("short test summary info")[0]
    assert report.count("make the inputs deterministic") == 1
    summary = markdown.read_text()
    assert "**Exit status 1**" in summary and "### FAIL: audited on prefect, plan flow-retry" in summary


def test_an_infrastructure_error_exits_3(project: pytest.Pytester) -> None:
    never = SCENARIO.replace("times: 1}", "occurrence: 9}")
    (project.path / "scenarios" / "analyst.yaml").write_text(never)
    result = project.runpytest_subprocess("--chaos", "scenarios", "-p", "no:cacheprovider")
    assert result.ret == 3
    result.stdout.fnmatch_lines(
        [
            "ERROR analyst?prefect-tool-error?  (*s)",
            "*reason: planned fault #1 (tool_error*",
            "*never fired: no unit matched its selector*",
            "durable-chaos exit status 3: the harness or its infrastructure failed",
            "  1 trial(s) errored: details in pytest's FAILURES section above",
            "durable-chaos: exit status 3 (*; pytest alone would have exited 1)",
        ]
    )


def test_an_invalid_gate_table_exits_2_with_one_line(project: pytest.Pytester) -> None:
    (project.path / "pyproject.toml").write_text('[tool.durable-chaos]\nmin_token_savings = "lots"\n')
    markdown = project.path / "chaos.md"
    result = project.runpytest_subprocess("--chaos", "scenarios", f"--chaos-markdown={markdown}")
    assert result.ret == 2  # before any engine starts: no trial ran
    lines = [line for line in result.stderr.lines if line.strip()]
    assert lines == [
        f"Exit: durable-chaos: invalid [tool.durable-chaos] in {project.path / 'pyproject.toml'}: "
        "tool.durable-chaos.min_token_savings: Input should be a valid number (got 'lots')"
    ]
    assert "Traceback" not in result.stdout.str()
    assert "**Exit status 2**" in markdown.read_text()


def test_an_invalid_command_line_gate_exits_2(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--chaos", "scenarios", "--chaos-require", "fast")
    assert result.ret == 2
    assert "--chaos-require: Input should be 'completes'" in result.stderr.str()


def test_without_chaos_the_gate_table_is_not_read(project: pytest.Pytester) -> None:
    (project.path / "pyproject.toml").write_text("[tool.durable-chaos]\nbogus = 1\n")
    result = project.runpytest("scenarios")
    assert result.ret == 0
    result.assert_outcomes(skipped=1)


# --- the terminal summary -----------------------------------------------------------------------------

PROPERTIES = ["completes", "no_duplicate_model_calls", "stable_cache_keys", "output_matches_golden"]
LONG = (
    "1 unit(s) changed cache key between attempts; first: task 'record-analysis-request' #1 had keys "
    "143b4a393657, 16cfe8d87fba. Something in the unit's inputs changes on every attempt: make the inputs "
    "deterministic or exclude that field from the cache policy."
)


def synthetic(
    verdict: str, name: str, plan: str, violated: tuple[str, ...] = (), declared: tuple[str, ...] = ()
) -> TrialResult:
    scenario = Scenario.model_validate(
        {
            "schema_version": 1,
            "name": name,
            "agent": "m:agent",
            "prompt": "p",
            "engines": ["prefect"],
            "cassette": "c.yaml",
            "plans": [{"name": plan}],
            "expect": {"properties": PROPERTIES, "violations": list(declared)},
        }
    )
    spec = TrialSpec(scenario, "prefect", scenario.plans[0])
    if verdict == "error":
        return TrialResult(spec, "error", "the engine failed to start: prefect server exited with code 1")
    verdicts = {p: Verdict(False, LONG) if p in violated else Verdict(True, "fine") for p in PROPERTIES}
    reason = "violated: stable_cache_keys: " + LONG if verdict == "fail" else "every property held"
    return TrialResult(
        spec,
        verdict,
        reason,
        verdicts,
        ModelCalls(3, 4, 0, 1),
        Tokens(golden=1728, spent=2275, naive_restart=2705, saved=430),
        cost=Cost(0.0053, 0.0070, 0.0083, 0.0013),
    )


def test_terminal_summary_is_a_table_then_totals_without_repeating_failure_details() -> None:
    results = [
        synthetic("pass", "analyst", "kill"),
        synthetic(
            "pass",
            "data-analyst-unstable-cache-key-with-a-rather-long-name",
            "tool-exception-flow-retry-and-more",
            ("stable_cache_keys",),
            ("stable_cache_keys",),
        ),
        synthetic("fail", "audited", "flow-retry", ("stable_cache_keys",)),
        synthetic("error", "never", "kill"),
    ]
    lines = terminal_lines(results)
    assert all(len(line) <= 110 for line in lines), [line for line in lines if len(line) > 110]
    table = lines[: lines.index("")]
    assert table[0].startswith("outcome: held = the guarantee held; VIOLATED = it broke")
    assert table[4:] == [
        "       scenario / trial      dup/calls  tok saved  $ saved  outcome",
        "healthy agents (every guarantee must hold)",
        "       analyst",
        "PASS     prefect-kill              0/4        430  $0.0013  all 4 held",
        "       audited",
        "FAIL     prefect-flow-retry        0/4        430  $0.0013  VIOLATED stable_cache_keys; 3 held",
        "       never",
        "ERROR    prefect-kill                -          -        -  not judged",
        "known-bad agents (each must be caught with exactly its declared violations)",
        "       data-analyst-unstable-cache-key-with-a-rather-long-name",
        "PASS     prefect-tool-exception-flow-retry-and-more",  # never cut: a line of its own
        "                                   0/4        430  $0.0013  caught stable_cache_keys; 3 held",
    ]
    assert LONG[:40] not in "\n".join(lines)  # the details are the trial's pytest failure, printed once
    assert lines[len(table) + 1].startswith("4 trial(s)")  # the table, a blank line, the totals
    assert lines[-3].startswith("4 trial(s): 2 passed, 1 failed, 1 error(s); model calls 12, duplicated 0")
    assert lines[-2].startswith(
        "tokens: spent 6825 vs naive restart 8115, saved 1290 (15.9%); dollars: spent"
    )


def test_terminal_table_fits_110_columns_with_the_longest_names() -> None:
    longest = synthetic("pass", "s" * 80, "p" * 80)
    lines = terminal_lines([longest])
    assert all(len(line) <= 110 for line in lines)
    assert "PASS     prefect-" + "p" * 80 in lines  # the whole id, on its own line
    row = lines[lines.index("PASS     prefect-" + "p" * 80) + 1]
    assert row.split() == ["0/4", "430", "$0.0013", "all", "4", "held"]


def test_a_negative_saving_is_in_parentheses_and_explained() -> None:
    result = synthetic("pass", "analyst", "rate-limit")
    result = dataclasses.replace(
        result,
        tokens=Tokens(golden=1728, spent=1728, naive_restart=1728, saved=0),
        cost=Cost(0.0053, 0.0064, 0.0053, -0.0011),
    )
    lines = terminal_lines([result])
    row = next(line for line in lines if line.startswith("PASS"))
    assert row.split()[2:5] == ["0/4", "0", "($0.0011)"]
    note = " ".join(lines)
    assert "(in parentheses): a negative saving: the faulted run spent more than a restart" in note
    assert "although no completed call was repeated" in note
    assert result.calls is not None
    repeated = dataclasses.replace(result, calls=dataclasses.replace(result.calls, duplicates=2))
    note = " ".join(terminal_lines([repeated]))
    assert "(completed calls repeated, requests re-sent after a fault" in note
    assert "although no completed call" not in note


# ------------------------------------------------------------------------------ a gate CI can trust

INTERRUPT = """\
import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    raise KeyboardInterrupt
"""


def test_an_interrupted_session_is_never_green_anywhere(project: pytest.Pytester) -> None:
    project.makeconftest(INTERRUPT)
    report = project.path / "chaos.json"
    markdown = project.path / "chaos.md"
    result = project.runpytest(
        "--chaos", "scenarios", f"--chaos-report={report}", f"--chaos-markdown={markdown}"
    )
    assert result.ret == 3
    result.stdout.fnmatch_lines(["*durable-chaos exit status 3*", "*INTERRUPTED after 0 of 1 trial(s)*"])
    gate = json.loads(report.read_text())["gate"]
    assert gate["exit_code"] == 3 and "INTERRUPTED" in gate["messages"][0]
    assert "exit status 0" not in markdown.read_text() and "every guarantee held" not in result.stdout.str()


def test_a_chaos_session_whose_scenario_files_yield_no_trial_is_not_green(project: pytest.Pytester) -> None:
    result = project.runpytest("--chaos", "scenarios", "--chaos-engine=dbos")  # the scenario is prefect-only
    assert result.ret == 3
    result.stdout.fnmatch_lines(["*no trial ran although 1 scenario file(s) were collected*"])


def test_a_trial_past_its_deadline_is_an_error_naming_where_it_was_stuck(project: pytest.Pytester) -> None:
    """The deadline bounds the whole trial: a run hanging in process (a latency fault), and one hanging
    in a worker (a kill fault puts the faulted run there), with no other cap on the worker wait."""
    hang = (
        "      - kind: latency\n        seconds: 600\n"
        "        at: {kind: tool_call, name: compute_statistics}\n"
    )
    slow = SCENARIO.replace(
        "      - kind: tool_error\n        at: {kind: tool_call, name: compute_statistics, times: 1}\n", hang
    ) + (
        "  - name: hang-in-worker\n    faults:\n"
        + hang
        + "      - kind: kill\n        at: {kind: model_request, occurrence: 50}\n"
    )
    (project.path / "scenarios" / "analyst.yaml").write_text(slow)
    report = project.path / "chaos.json"
    result = project.runpytest("--chaos", "scenarios", "--chaos-timeout=20", f"--chaos-report={report}")
    assert result.ret == 3
    text = " ".join(result.stdout.str().split())
    assert "the last unit recorded was tool_call 'compute_statistics'" in text
    in_process, in_worker = json.loads(report.read_text())["trials"]
    for trial in (in_process, in_worker):
        assert trial["verdict"] == "error"
        assert trial["reason"].startswith("the trial did not finish within its 20s deadline: stuck at")
    assert 20 <= in_worker["seconds"] < 25, in_worker["seconds"]  # the first trial also started Prefect


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "0", "soon", "86401", ""])
def test_a_chaos_timeout_that_is_no_positive_finite_number_of_seconds_is_refused(value: str) -> None:
    from durable_chaos.pytest_plugin.options import OptionError, trial_timeout

    with pytest.raises(OptionError, match=f"--chaos-timeout: .*{value!r}"):
        trial_timeout(value)
    assert trial_timeout("20") == 20.0 and trial_timeout("0.5") == 0.5


def test_an_invalid_chaos_timeout_is_exit_2_naming_the_option(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--chaos", "scenarios", "--chaos-timeout=nan")
    assert result.ret == 2
    result.stderr.fnmatch_lines(["*durable-chaos: --chaos-timeout: must be a number of seconds*'nan'*"])
    assert "harness failure" not in result.stdout.str()


def test_configuration_mistakes_validate_finds_are_exit_2_under_pytest_too(project: pytest.Pytester) -> None:
    """A misspelled agent attribute and a cassette that was never recorded: `validate` exits 2 with
    path:line: field: message, and so does `pytest --chaos` (not 3, "the harness failed")."""
    scenarios = project.path / "scenarios"
    (scenarios / "analyst.yaml").write_text(
        SCENARIO.replace("data_analyst_agent:analyst", "data_analyst_agent:analyts")
    )
    unrecorded = SCENARIO.replace("name: analyst", "name: unrecorded").replace(
        "data_analyst.yaml", "unrecorded.yaml"
    )
    (scenarios / "unrecorded.yaml").write_text(unrecorded)
    expected = [
        "*analyst.yaml:3: agent: cannot import 'data_analyst_agent:analyts': AttributeError*",
        "*unrecorded.yaml:6: cassette: *cassettes/unrecorded.yaml does not exist*",
    ]
    validate = project.run(sys.executable, "-m", "durable_chaos", "validate", "scenarios")
    assert validate.ret == 2
    validate.stderr.fnmatch_lines(expected, consecutive=False)
    assert "`pytest --chaos --chaos-record scenarios/unrecorded.yaml`" in validate.stderr.str()
    result = project.runpytest("--chaos", "scenarios")
    assert result.ret == 2
    text = " ".join(result.stdout.str().split())
    assert "analyst.yaml:3: agent: cannot import 'data_analyst_agent:analyts': AttributeError" in text
    compact = "".join(text.split())  # a long path is wrapped anywhere, even inside "file:line:"
    assert "unrecorded.yaml:6:cassette:" in compact and "--chaos-record" in text
    assert "Traceback" not in result.stdout.str()


MISSPELLED = SCENARIO.replace("schema_version: 1", "schema_verison: 1")
PASSING_TEST = "def test_ordinary():\n    assert True\n"


def test_a_misspelled_scenario_is_named_and_a_chaos_session_without_trials_is_not_green(
    project: pytest.Pytester,
) -> None:
    scenarios = project.path / "scenarios"
    (scenarios / "typo.yaml").write_text(MISSPELLED.replace("name: analyst", "name: typo"))
    (scenarios / "test_ordinary.py").write_text(PASSING_TEST)
    plain = project.runpytest("scenarios")  # without --chaos: said, and the trials not run are counted
    assert plain.ret == 0
    plain.stdout.fnmatch_lines(
        [
            "durable-chaos: 1 chaos trial(s) from 1 scenario file(s) were collected and not run (skipped); "
            "run them with: pytest --chaos scenarios*",
            "durable-chaos: not collected: scenarios/typo.yaml:1: 'schema_verison' is probably a "
            "misspelling of 'schema_version'*",
        ]
    )
    (scenarios / "analyst.yaml").unlink()  # now only the misspelled one: no trial runs at all
    result = project.runpytest("--chaos", "scenarios")
    assert result.ret == 2
    text = " ".join(result.stdout.str().split())
    assert "INVALID " in text and "typo.yaml:1: 'schema_verison' is probably a misspelling" in text
    assert "no chaos trial ran: pytest collected no scenario file" in text
    assert "every guarantee held" not in text


def test_scenario_files_in_directories_pytest_skips_are_named(project: pytest.Pytester) -> None:
    scenarios = project.path / "scenarios"
    (scenarios / "analyst.yaml").rename(scenarios / "moved.yaml")
    for hidden in ("build", ".drafts"):  # norecursedirs by default; a hidden directory
        (scenarios / hidden).mkdir()
        shutil.copy(scenarios / "moved.yaml", scenarios / hidden / "analyst.yaml")
    (scenarios / "moved.yaml").unlink()
    (scenarios / "test_ordinary.py").write_text(PASSING_TEST)
    result = project.runpytest("--chaos", "scenarios", "-p", "no:cacheprovider")
    assert result.ret == 2
    text = " ".join(result.stdout.str().split())
    for hidden in ("build", ".drafts"):
        assert (
            f"not collected: scenarios/{hidden}/analyst.yaml: a scenario file pytest did not collect" in text
        )
    assert "no chaos trial ran" in text


def test_user_code_calling_sys_exit_is_a_trial_error_not_a_green_session(project: pytest.Pytester) -> None:
    (project.path / "scenarios" / "exiting_agent.py").write_text(
        "import sys\n\nsys.exit(0)\nanalyst = None\n"
    )
    scenario = SCENARIO.replace("agent: data_analyst_agent:analyst", "agent: exiting_agent:analyst")
    (project.path / "scenarios" / "analyst.yaml").write_text(scenario)
    result = project.runpytest("--chaos", "scenarios")
    assert result.ret == 3
    assert "every guarantee held" not in result.stdout.str()


def test_under_xdist_every_trial_reaches_the_controller_with_the_same_verdicts(
    project: pytest.Pytester,
) -> None:
    """``-n 2``: the workers run the trials, their results travel on xdist's reports, and the
    controller's summary, JSON report and gate see all of them, with the verdicts of a plain run."""
    pytest.importorskip("xdist")
    (project.path / "scenarios" / "audited.yaml").write_text(UNSTABLE)
    verdicts = {}
    for args in ([], ["-n", "2"]):
        report = project.path / f"chaos{len(args)}.json"
        result = project.runpytest_subprocess(
            "--chaos", "scenarios", f"--chaos-report={report}", "-p", "no:cacheprovider", *args
        )
        assert result.ret == 1, result.stdout.str()
        result.stdout.fnmatch_lines(["*2 trial(s): 1 passed, 1 failed*", "durable-chaos exit status 1*"])
        data = json.loads(report.read_text())
        assert data["summary"]["trials"] == 2 and data["gate"]["exit_code"] == 1
        verdicts[len(args)] = sorted(
            (t["scenario"], t["verdict"], sorted((k, v["held"]) for k, v in t["properties"].items()))
            for t in data["trials"]
        )  # the details name run-specific cache keys and ids; what held must not differ
    assert verdicts[0] == verdicts[2]


def test_each_trial_prints_its_engine_and_duration_as_it_finishes(project: pytest.Pytester) -> None:
    result = project.runpytest("--chaos", "scenarios", "-v")
    result.stdout.re_match_lines([r".*analyst\[prefect-tool-error\] PASSED \[prefect, \d+\.\ds\].*"])


def test_a_cassette_miss_is_one_short_error_and_engine_logs_go_to_the_trials_artifacts(
    project: pytest.Pytester,
) -> None:
    unrecorded = SCENARIO.replace("Analyze the sales data for Q4", "A prompt that was never recorded")
    (project.path / "scenarios" / "analyst.yaml").write_text(unrecorded)
    result = project.runpytest_subprocess(
        "--chaos", "scenarios", "-p", "no:cacheprovider", "-p", "no:warnings"
    )
    assert result.ret == 3
    output = result.stdout.str() + result.stderr.str()
    assert "is not in cassette" in output and "--chaos-record" in output
    # no engine log, traceback or vcrpy advice on the terminal: those go to the trial's artifacts
    for noise in ("prefect.flow_runs", "prefect.task_runs", "Crash detected", "Traceback", "record_mode"):
        assert noise not in output, noise
    assert "VIOLATED completes" not in output and "VIOLATED:" not in output  # an error, not a violation
    # said once, in the failure (the exit status counts failing trials instead of repeating them;
    # pytest's short test summary below repeats a failure's whole text on CI or with -vv)
    before_summary, _, short_summary = result.stdout.str().partition(" short test summary info ")
    report = re.sub(r"\s+", " ", before_summary)  # lines are wrapped at the terminal's width
    assert report.count("is not in cassette") == 1, result.stdout.str()
    assert "analyst[prefect-tool-error]" in short_summary, result.stdout.str()
    match = re.search(r"engine-<role>\.log, worker logs\) kept in (\S+)", re.sub(r"\n +", "", output))
    assert match is not None, output
    log = Path(match.group(1)) / "engine-golden.log"
    assert "prefect.flow_runs" in log.read_text()
