"""The pytest plugin: ``pytest --chaos``.

Scenario files (YAML or TOML with a top-level ``schema_version``) are collected as pytest files;
each (engine x plan) of a scenario is one item. Without ``--chaos`` the items are collected and
skipped, so ordinary test runs stay fast. A malformed scenario is a collection error that names the
file, line and field, without a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from durable_chaos.harness.report import terminal_lines, write_json
from durable_chaos.harness.runner import TrialResult, TrialRunner, TrialSpec
from durable_chaos.harness.scenario import Scenario
from durable_chaos.harness.scenario_loader import ScenarioError, is_scenario_file, load_scenario

RESULTS_KEY = pytest.StashKey[list[TrialResult]]()
RUNNER_KEY = pytest.StashKey[TrialRunner]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("durable-chaos", "chaos-testing of durable agents (durable-chaos)")
    group.addoption(
        "--chaos",
        action="store_true",
        default=False,
        help="run the chaos trials of scenario files (without it they are collected and skipped)",
    )
    group.addoption(
        "--chaos-record",
        action="store_true",
        default=False,
        help="record missing model traffic into the scenarios' cassettes (scrubbed of credentials)",
    )
    group.addoption(
        "--chaos-report",
        metavar="PATH",
        default=None,
        help="write the JSON report (version 1) of all trials to PATH",
    )
    group.addoption(
        "--chaos-engine",
        metavar="NAME",
        action="append",
        default=[],
        help="only run trials on this engine (repeatable): prefect, dbos, temporal",
    )
    group.addoption(
        "--chaos-keep-artifacts",
        action="store_true",
        default=False,
        help="keep each trial's history, ledger and engine data in the temp directory",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: a durable-chaos trial collected from a scenario file")
    dbos_url = config.getoption("chaos_dbos_url", None)
    if dbos_url:
        os.environ["DURABLE_CHAOS_DBOS_DATABASE_URL"] = dbos_url
    config.stash[RESULTS_KEY] = []


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ScenarioFile | None:
    if file_path.suffix in {".yaml", ".yml", ".toml"} and is_scenario_file(file_path, parent.config.rootpath):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    """A scenario file: one item per (engine x plan)."""

    def collect(self) -> Iterator[TrialItem]:
        try:
            scenario = load_scenario(self.path)
        except ScenarioError as exc:
            raise ScenarioCollectError(str(exc)) from None
        engines = self.config.getoption("chaos_engine") or scenario.engines
        for engine in scenario.engines:
            if engine not in engines:
                continue
            for plan in scenario.plans:
                spec = TrialSpec(scenario, engine, plan)
                yield TrialItem.from_parent(self, name=f"{scenario.name}[{spec.id}]", spec=spec)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioCollectError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))


class ScenarioCollectError(Exception):
    """A scenario file failed validation."""


class TrialFailed(Exception):
    """The trial's verdict was fail or error."""


class TrialItem(pytest.Item):
    def __init__(self, *, spec: TrialSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.add_marker(pytest.mark.chaos)
        self.result: TrialResult | None = None

    def runtest(self) -> None:
        if not self.config.getoption("chaos"):
            pytest.skip("durable-chaos trial: run with --chaos")
        result = runner_for(self.config).run(self.spec)
        self.result = result
        self.config.stash[RESULTS_KEY].append(result)
        for name, verdict in result.verdicts.items():
            self.user_properties.append((f"chaos.{name}", verdict.held))
        report = result.to_report()
        self.user_properties.append(("chaos.verdict", result.verdict))
        self.user_properties.append(("chaos.model_calls.duplicates", report["model_calls"]["duplicates"]))
        self.user_properties.append(("chaos.tokens.saved", report["tokens"]["saved"]))
        if result.verdict != "pass":
            raise TrialFailed(f"{result.verdict.upper()}: {result.reason}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, TrialFailed):
            lines = [str(excinfo.value)]
            if self.result is not None:
                lines += terminal_lines([self.result])[:-1]
            return "\n".join(lines)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"chaos trial {self.name}"


def runner_for(config: pytest.Config) -> TrialRunner:
    if RUNNER_KEY not in config.stash:
        config.stash[RUNNER_KEY] = TrialRunner(
            record=config.getoption("chaos_record"),
            keep_artifacts=config.getoption("chaos_keep_artifacts"),
        )
    return config.stash[RUNNER_KEY]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    results = config.stash.get(RESULTS_KEY, [])
    if not results:
        return
    terminalreporter.section("durable-chaos")
    for line in terminal_lines(results):
        terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    results = config.stash.get(RESULTS_KEY, [])
    report_path = config.getoption("chaos_report")
    if report_path and results:
        write_json(Path(report_path), results)
    runner = config.stash.get(RUNNER_KEY, None)
    if runner is not None:
        runner.close()


__all__ = ["Scenario", "ScenarioFile", "TrialItem"]
