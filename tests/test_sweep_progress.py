"""A sweep's progress line (count and time left), and its matrix and fault coverage in every report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from example_files import copy_shared

from durable_chaos.report.progress import SweepProgress, duration

EXAMPLES = Path(__file__).resolve().parent.parent / "scenarios" / "data_analyst"
SCENARIO = """\
schema_version: 1
name: sweep-progress
agent: data_analyst_agent:analyst
prompt: Analyze the sales data for Q4
engines: [prefect]
cassette: cassettes/data_analyst.yaml
model_server: {script: script.yaml}
plans:
  - name: tool-error-before-load-dataset
    faults: [{kind: tool_error, at: {kind: tool_call, name: load_dataset, phase: before}}]
sweep:
  unit_kinds: [tool_call]
  faults: [tool_error]
  recovery: [retry]
"""


class Written:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def ensure_newline(self) -> None:
        pass

    def write_line(self, line: str) -> None:
        self.lines.append(line)


def config(verbosity: int, reporter: Written) -> Any:
    plugins = SimpleNamespace(get_plugin=lambda name: reporter)
    return SimpleNamespace(get_verbosity=lambda: verbosity, pluginmanager=plugins)


def report(when: str = "call", seconds: float = 2.0, passed: bool = True) -> Any:
    return SimpleNamespace(
        when=when, duration=seconds, passed=passed, durable_chaos_sweep=["s", "prefect", 4]
    )


def test_progress_lines_the_first_point_then_throttled_then_the_last_with_the_wall_time() -> None:
    written = Written()
    progress = SweepProgress(config(0, written), interval=3600)
    for _ in range(4):
        progress.pytest_runtest_logreport(report())
    assert len(written.lines) == 2
    assert (
        written.lines[0].startswith("sweep s on prefect: 1/4 crash points, ~") and "left" in written.lines[0]
    )
    assert written.lines[1].startswith("sweep s on prefect: 4/4 crash points in ")
    # the setup and teardown of a trial that ran are not points; a setup that failed is one
    progress.pytest_runtest_logreport(report(when="teardown"))
    progress.pytest_runtest_logreport(report(when="setup"))
    assert progress.clocks[("s", "prefect")].done == 4


def test_progress_is_silent_with_q() -> None:
    written = Written()
    progress = SweepProgress(config(-1, written), interval=0)
    for _ in range(4):
        progress.pytest_runtest_logreport(report())
    assert written.lines == []


def test_durations_read_like_pytests() -> None:
    assert [duration(s) for s in (4.4, 130, 3780)] == ["4s", "2m10s", "1h03m"]


def project(pytester: pytest.Pytester) -> None:
    target = pytester.path / "scenarios"
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns("*.yaml", "__pycache__"))
    shutil.copytree(EXAMPLES / "cassettes", target / "cassettes", dirs_exist_ok=True)
    copy_shared(target, ("data_analyst_core", "data_analyst_dbos"))
    (target / "sweep_progress.yaml").write_text(SCENARIO)


def test_a_sweeps_progress_matrix_and_coverage_under_xdist_in_every_report(pytester: pytest.Pytester) -> None:
    """-n 2: the controller writes the progress lines from the workers' reports; the JSON, Markdown and
    HTML reports hold the sweep's matrix and the coverage of the sweep and of the scenario's plans."""
    project(pytester)
    paths = {kind: pytester.path / f"chaos.{kind}" for kind in ("json", "md", "html")}
    result = pytester.runpytest_subprocess(
        "--chaos",
        "scenarios",
        "-n",
        "2",
        "-p",
        "no:cacheprovider",
        f"--chaos-report={paths['json']}",
        f"--chaos-markdown={paths['md']}",
        f"--chaos-html={paths['html']}",
    )
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "sweep sweep-progress on prefect: 1/4 crash points, ~*s left",
            "sweep sweep-progress on prefect: 4/4 crash points in *s",
            "fault coverage: *",
            "sweep-progress (sweep) *prefect*4*0*100%",
            "TOTAL*4*0*100%",
            "fault coverage of hand-written plans: 1 of 20 crash points (5%), a hint, not a gate*",
        ]
    )
    data = json.loads(paths["json"].read_text())
    rows = {row["source"]: row for row in data["coverage"]}
    assert (rows["sweep"]["points"], rows["sweep"]["exercised"], rows["sweep"]["missed"]) == (4, 4, [])
    assert (rows["plans"]["points"], rows["plans"]["exercised"], len(rows["plans"]["missed"])) == (20, 1, 19)
    assert "tool_call:load_dataset#1 before tool_error retry" not in rows["plans"]["missed"]
    markdown = paths["md"].read_text()
    assert "### Sweep: sweep-progress on prefect" in markdown
    assert "| tool_call:load_dataset#1 | pass | pass |" in markdown
    assert "| sweep-progress | prefect | plans | 20 | 19 | 5% | `model_request:gpt-4o#1 before" in markdown
    assert "and 14 more |" in markdown
    page = paths["html"].read_text()
    assert "Sweep: sweep-progress on prefect" in page and 'id="coverage"' in page
    assert page.count("<li>model_request:gpt-4o#") >= 12  # every missed point, folded


def test_a_sweeps_progress_without_xdist_and_silent_with_q(pytester: pytest.Pytester) -> None:
    project(pytester)
    args = ["--chaos", "scenarios", "-p", "no:cacheprovider", "-k", "sweep-tool"]
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["sweep sweep-progress on prefect: 1/4 crash points, ~*s left", "*4/4 crash points in *s"]
    )
    quiet = pytester.runpytest_subprocess(*args, "-q")
    assert quiet.ret == 0, quiet.stdout.str()
    assert "sweep sweep-progress on prefect:" not in quiet.stdout.str()
