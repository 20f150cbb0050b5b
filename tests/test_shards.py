"""Shards (issue 23): ``--chaos-shard K/N`` splits a run's tests deterministically and evenly, each shard's
JSON report records the shard, and ``durable-chaos merge`` gives the one outcome an unsharded run gives,
never green when a shard is missing, repeated, foreign or incomplete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from example_files import SCENARIOS, SHARED

from durable_chaos.cli import main as cli
from durable_chaos.explore.shards import (
    ENVIRONMENT,
    Shard,
    ShardError,
    assignment,
    fingerprint,
    parse_shard,
    split,
)
from durable_chaos.report.merge import (
    MergeError,
    ShardReport,
    merged_outcome,
    read_shard_report,
    shard_problems,
)
from durable_chaos.run.session import SHARD_ENVIRONMENT, root_prefix

SWEEP_IDS = [
    f"scenarios/agent.yaml::agent[{engine}-sweep-tool-{tool}-1-{phase}-{fault}-{mode}]"
    for engine in ("dbos", "temporal")
    for tool in ("load", "compute", "report")
    for phase in ("before", "after")
    for fault, mode in (("tool_error", "retry"), ("kill", "kill"))
] + [f"scenarios/plans.yaml::plans[prefect-plan-{i}]" for i in range(7)]


# ------------------------------------------------------------------------------------------- the split


@pytest.mark.parametrize("text", ["0/2", "3/2", "x", "1/0", "1", "-1/2", "1/2/3", ""])
def test_a_shard_that_does_not_exist_is_refused_naming_the_option(text: str) -> None:
    with pytest.raises(ShardError, match="--chaos-shard"):
        parse_shard(text)


def test_k_of_n_is_parsed() -> None:
    assert parse_shard(" 2/3 ") == Shard(2, 3)
    assert str(Shard(2, 3)) == "2/3"


@pytest.mark.parametrize("total", [1, 2, 3, 5, 31, 40])
def test_every_test_is_in_exactly_one_shard_and_shards_are_balanced(total: int) -> None:
    shards = [split(SWEEP_IDS, Shard(k, total)) for k in range(1, total + 1)]
    owned = [test_id for shard in shards for test_id in shard]
    assert sorted(owned) == sorted(SWEEP_IDS)  # each once, none lost
    sizes = [len(shard) for shard in shards]
    assert max(sizes) - min(sizes) <= 1, sizes


def test_the_split_depends_only_on_the_ids() -> None:
    """Any order, any machine: the same ids give the same deal (sha256 of the id, not Python's hash)."""
    assert assignment(SWEEP_IDS, 3) == assignment(list(reversed(SWEEP_IDS)), 3)
    assert split(SWEEP_IDS, Shard(1, 2)) == [
        i for i in SWEEP_IDS if i in set(split(SWEEP_IDS[::-1], Shard(1, 2)))
    ]
    # A pinned deal: a change of the algorithm is a change of every CI's shards, so it is deliberate.
    assert assignment(["a", "b", "c", "d"], 2) == {"a": 2, "b": 1, "c": 2, "d": 1}


def test_one_sweeps_points_spread_over_the_shards() -> None:
    dbos = [i for i in SWEEP_IDS if "[dbos-sweep" in i]
    assert all(len([i for i in split(SWEEP_IDS, Shard(k, 2)) if i in dbos]) >= 4 for k in (1, 2))


def test_the_fingerprint_names_the_whole_list_in_any_order() -> None:
    assert fingerprint(SWEEP_IDS) == fingerprint(list(reversed(SWEEP_IDS)))
    assert fingerprint(SWEEP_IDS) != fingerprint(SWEEP_IDS[1:])


def test_a_shards_temp_root_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Engine names derived from trial directories (DBOS databases, Temporal task queues, Restate
    services) then differ between shards sharing a server."""
    assert SHARD_ENVIRONMENT == ENVIRONMENT
    monkeypatch.setenv(ENVIRONMENT, "2/4")
    assert root_prefix() == "durable-chaos-shard-2-4-"
    monkeypatch.delenv(ENVIRONMENT)
    assert root_prefix() == "durable-chaos-"


# ------------------------------------------------------------------------------------------- the merge


def trial(scenario: str, plan: str, verdict: str = "pass", violated: str | None = None) -> dict[str, Any]:
    """A trial's JSON record (version 1), as small as the merge reads it."""
    properties = {"completes": {"held": True, "detail": "ok"}}
    if violated:
        properties[violated] = {"held": False, "detail": f"{violated} broke"}
    return {
        "scenario": scenario,
        "scenario_file": None,
        "engine": "dbos",
        "plan": plan,
        "faults": [{"kind": "tool_error", "fired": 1}],
        "verdict": verdict,
        "reason": "all held" if verdict == "pass" else f"{violated} violated",
        "expected_violations": [],
        "properties": properties,
        "model_calls": {"golden": 3, "total": 3, "duplicates": 0, "expected_reexecutions": 0},
        "tokens": {"golden": 10, "spent": 12, "naive_restart": 20, "saved": 8},
        "cost": None,
        "ran": True,
        "point": None,
    }


def shard_report(
    index: int, total: int, trials: list[dict[str, Any]], *, fingerprint: str = "f00d", complete: bool = True
) -> ShardReport:
    ids = [f"s.yaml::{t['scenario']}[dbos-{t['plan']}]" for t in trials]
    shard = {
        "index": index,
        "total": total,
        "fingerprint": fingerprint,
        "tests": 4,
        "complete": complete,
        "pytest_status": int(any(t["verdict"] != "pass" for t in trials)),
        "planned": ids,
        "received": ids if complete else ids[:-1],
        "skipped": [],
        "files": 1,
        "scenario_errors": [],
        "fixture_tests": 0,
        "lookalikes": [],
        "ignored": [],
        "gate_config": {"required": [], "min_token_savings": None, "engines": {}},
    }
    data = {"version": 1, "incomplete": False, "trials": trials, "shard": shard}
    return ShardReport(Path(f"shard-{index}.json"), data)


def test_merged_shards_that_all_held_are_green_and_one_failure_is_exit_1() -> None:
    one = shard_report(1, 2, [trial("a", "p1"), trial("a", "p2")])
    two = shard_report(2, 2, [trial("b", "p1"), trial("b", "p2")])
    results, outcome = merged_outcome([two, one])
    assert outcome.exit_code == 0, outcome
    assert [r.spec.title for r in results] == ["a[dbos-p1]", "a[dbos-p2]", "b[dbos-p1]", "b[dbos-p2]"]
    failing = shard_report(2, 2, [trial("b", "p1"), trial("b", "p2", "fail", "tools_exactly_once")])
    _, outcome = merged_outcome([one, failing])
    assert outcome.exit_code == 1
    assert any("tools_exactly_once" in message for message in outcome.messages)


def test_the_gate_judges_the_whole_run_not_each_shard() -> None:
    """min_token_savings is a ratio over every trial: a shard below it does not fail a run above it."""
    low, high = trial("a", "p1"), trial("b", "p1")
    low["tokens"] = {"golden": 10, "spent": 20, "naive_restart": 20, "saved": 0}
    high["tokens"] = {"golden": 10, "spent": 20, "naive_restart": 100, "saved": 80}
    one, two = shard_report(1, 2, [low]), shard_report(2, 2, [high])
    for report in (one, two):
        report.shard["gate_config"]["min_token_savings"] = 0.5
    _, outcome = merged_outcome([one, two])
    assert outcome.exit_code == 0, outcome  # 80 of 120 saved: 67%


@pytest.mark.parametrize(
    ("reports", "problem"),
    [
        (
            [shard_report(1, 3, [trial("a", "p")]), shard_report(3, 3, [trial("b", "p")])],
            "shard(s) 2/3 missing",
        ),
        ([shard_report(1, 1, [trial("a", "p")])] * 2, "shard 1/1 given 2 times"),
        (
            [
                shard_report(1, 2, [trial("a", "p")]),
                shard_report(2, 2, [trial("b", "p")], fingerprint="beef"),
            ],
            "shards of different runs",
        ),
        (
            [shard_report(1, 2, [trial("a", "p")]), shard_report(2, 3, [trial("b", "p")])],
            "different numbers of shards",
        ),
        (
            [shard_report(1, 2, [trial("a", "p")]), shard_report(2, 2, [trial("b", "p")], complete=False)],
            "shard 2/2 (shard-2.json) is incomplete",
        ),
        ([shard_report(1, 1, [trial("a", "p")], complete=False)], "shard 1/1 (shard-1.json) is incomplete"),
    ],
    ids=["missing", "duplicated", "foreign", "different-n", "incomplete", "all-incomplete"],
)
def test_a_set_of_shards_that_is_not_one_whole_run_is_exit_3(
    reports: list[ShardReport], problem: str
) -> None:
    assert any(problem in line for line in shard_problems(reports)), shard_problems(reports)
    _, outcome = merged_outcome(reports)
    assert outcome.exit_code == 3
    assert any(problem in message for message in outcome.messages)


def test_a_file_that_is_no_shards_report_is_one_line_naming_it(tmp_path: Path) -> None:
    cases = {
        "missing.json": None,
        "text.json": "not json {",
        "list.json": "[]",
        "unsharded.json": json.dumps({"version": 1, "trials": []}),
    }
    for name, text in cases.items():
        if text is not None:
            (tmp_path / name).write_text(text)
        with pytest.raises(MergeError, match=rf"^{tmp_path / name}: "):
            read_shard_report(tmp_path / name)


def test_merge_command_exit_3_and_one_line_for_a_bad_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.json").write_text("{")
    assert cli(["merge", str(tmp_path / "bad.json")]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.json" in err and "Traceback" not in err


# ------------------------------------------------------------------------------------------- end to end

GOOD = """\
schema_version: 1
name: good
agent: data_analyst_dbos:analyst_retried_tool
prompt: Analyze the sales data for Q4
engines: [dbos]
cassette: cassettes/data_analyst.yaml
model_server: {script: script.yaml}
side_effecting_tools: [load_dataset]
plans:
  - name: crm-unavailable-once
    faults:
      - kind: tool_error
        at: {kind: tool_call, name: load_dataset, times: 1}
"""
BAD = """\
schema_version: 1
name: bad
agent: data_analyst_dbos:analyst_retried_tool
prompt: Analyze the sales data for Q4
engines: [dbos]
cassette: cassettes/data_analyst.yaml
model_server: {script: script.yaml}
side_effecting_tools: [load_dataset]
plans:
  - name: result-lost-after-the-step-ran
    faults:
      - kind: tool_error
        at: {kind: tool_call, name: load_dataset, phase: after, times: 1}
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """Two DBOS scenarios (SQLite, in-process tool errors: the cheapest real trials): a plan that holds
    and one of an agent whose side effect runs twice, undeclared (a violation: exit 1)."""
    import shutil

    target = pytester.path / "scenarios"
    target.mkdir()
    for module in ("data_analyst_core", "data_analyst_dbos"):
        shutil.copy(SHARED / f"{module}.py", target)
    shutil.copy(SHARED / "scripts" / "data_analyst.yaml", target / "script.yaml")
    shutil.copytree(SCENARIOS / "data_analyst" / "cassettes", target / "cassettes")
    (target / "good.yaml").write_text(GOOD)
    (target / "bad.yaml").write_text(BAD)
    return pytester


def verdicts(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return sorted((t["scenario"], t["engine"], t["plan"], t["verdict"]) for t in report["trials"])


def test_two_shards_merged_give_what_one_unsharded_run_gives(project: pytest.Pytester) -> None:
    path = project.path
    whole = project.runpytest_subprocess("--chaos", "scenarios", f"--chaos-report={path / 'whole.json'}")
    shards = [
        project.runpytest_subprocess(
            "--chaos", "scenarios", f"--chaos-shard={k}/2", f"--chaos-report={path / f'shard-{k}.json'}"
        )
        for k in (1, 2)
    ]
    ran = [json.loads((path / f"shard-{k}.json").read_text()) for k in (1, 2)]
    assert [len(r["trials"]) for r in ran] == [1, 1]  # two trials: one each
    for result, report in zip(shards, ran, strict=True):
        result.stdout.fnmatch_lines(["* 1 deselected *"])
        assert report["shard"]["complete"] is True
    assert ran[0]["shard"]["fingerprint"] == ran[1]["shard"]["fingerprint"]
    assert not set(ran[0]["shard"]["planned"]) & set(ran[1]["shard"]["planned"])
    for report in ran:  # no --chaos-shard-durations: the hash split; each trial's seconds recorded
        assert report["shard"]["split"] == "hash"
        assert set(report["shard"]["durations"]) == set(report["shard"]["planned"])

    merged, summary, junit, html = (path / f"merged.{ext}" for ext in ("json", "md", "xml", "html"))
    reports = [str(path / "shard-1.json"), str(path / "shard-2.json")]
    code = cli(
        ["merge", *reports, f"--json={merged}", f"--markdown={summary}", f"--junit={junit}", f"--html={html}"]
    )
    unsharded = json.loads((path / "whole.json").read_text())
    assert int(whole.ret) == code == 1  # the undeclared violation
    assert verdicts(json.loads(merged.read_text())) == verdicts(unsharded)
    assert json.loads(merged.read_text())["coverage"] == unsharded["coverage"]
    assert json.loads(merged.read_text())["gate"]["exit_code"] == 1
    recorded = {**ran[0]["shard"]["durations"], **ran[1]["shard"]["durations"]}
    assert json.loads(merged.read_text())["shard"]["durations"] == recorded  # the next run's split reads it
    assert "**Exit status 1**" in summary.read_text()
    suite = ElementTree.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    assert "bad[dbos-result-lost-after-the-step-ran]" in html.read_text()

    assert cli(["merge", str(path / "shard-1.json")]) == 3  # shard 2 missing: never green


def test_a_shard_that_does_not_exist_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--chaos", "--chaos-shard=3/2")
    assert result.ret == 2
    result.stderr.fnmatch_lines(["*--chaos-shard: shard 3 of 2 does not exist*"])
    assert "--chaos-shard=K/N" in pytester.runpytest("--help").stdout.str()


def test_a_shard_that_owns_no_test_is_complete_and_not_pytests_5(project: pytest.Pytester) -> None:
    """Two trials over three shards: the third owns nothing (and runs no engine); the merge judges."""
    report = project.path / "shard-3.json"
    result = project.runpytest_subprocess(
        "--chaos", "scenarios", "--chaos-shard=3/3", f"--chaos-report={report}"
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*2 deselected*", "*this shard owned no trial*"])
    shard = json.loads(report.read_text())["shard"]
    assert (shard["index"], shard["total"], shard["tests"], shard["planned"], shard["complete"]) == (
        3,
        3,
        2,
        [],
        True,
    )


def test_a_shard_stopped_early_is_incomplete_and_its_merge_exit_3(project: pytest.Pytester) -> None:
    """``-x`` stops the shard at an ordinary test before its trials run (no engine starts)."""
    project.makepyfile(test_fails="def test_fails():\n    assert False\n")
    report = project.path / "shard-1.json"
    result = project.runpytest_subprocess(
        "-x", "test_fails.py", "scenarios", "--chaos", "--chaos-shard=1/1", f"--chaos-report={report}"
    )
    assert result.ret == 3
    assert json.loads(report.read_text())["shard"]["complete"] is False
    assert cli(["merge", str(report)]) == 3
