"""The items: a scenario file is a pytest file, each (engine x plan) of it one trial item, its
``explore:`` table one exploration item and each crash point of its sweep one item. Without ``--chaos``
the items are collected and skipped; a malformed scenario is a collection error that names the file,
line and field, without a traceback.

Light at import: the scenario loader is imported when a scenario file is collected, the runner when a
trial runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from durable_chaos.pytest_plugin.state import (
    COLLECTED_KEY,
    FILES_KEY,
    FIXTURE_TESTS_KEY,
    IGNORED_KEY,
    LOOKALIKES_KEY,
    PLANNED_KEY,
    RECEIVED_KEY,
    RESULTS_KEY,
    SCENARIO_ERRORS_KEY,
    SKIPPED_KEY,
    runner_for,
)
from durable_chaos.scrub import for_terminal

if TYPE_CHECKING:
    from durable_chaos.run.results import TrialResult
    from durable_chaos.scenario.trial_specs import TrialSpec


def collect_file(file_path: Path, parent: pytest.Collector) -> ScenarioFile | None:
    """A scenario file as a pytest file; a file that looks like a scenario but is not one is remembered
    (the session's end names it)."""
    if file_path.suffix not in {".yaml", ".yml", ".toml"}:
        return None
    from durable_chaos.scenario.discover import scenario_skip_reason

    reason = scenario_skip_reason(file_path, parent.config.rootpath)
    if reason is None:
        parent.config.stash.setdefault(COLLECTED_KEY, set()).add(os.path.realpath(file_path))
        return ScenarioFile.from_parent(parent, path=file_path)
    if reason == "no top-level schema_version":
        from durable_chaos.pytest_plugin.collection import looks_like_scenario

        lookalike = looks_like_scenario(file_path, shown_path(parent.config, file_path))
        if lookalike is not None:
            parent.config.stash.setdefault(LOOKALIKES_KEY, []).append(lookalike)
    return None


def shown_path(config: pytest.Config, path: Path) -> str:
    """``path`` relative to where pytest was started, when it is below it."""
    relative = os.path.relpath(path, config.invocation_params.dir)
    return str(path) if relative.startswith("..") else relative


def collection_finished(session: pytest.Session) -> None:
    """The trials selected (after ``-k``/``-m`` deselection, which runs in pytest's own
    ``pytest_collection_modifyitems``, possibly after ours); each sweep item learns how many points of its
    sweep were selected (the progress line's total)."""
    session.config.stash[PLANNED_KEY] = [item.nodeid for item in session.items if isinstance(item, TrialItem)]
    if not session.config.getoption("chaos"):
        return
    session.config.stash[IGNORED_KEY] = ignored_scenario_files(session.config)
    session.config.stash[FIXTURE_TESTS_KEY] = sum(
        1 for item in session.items if "chaos" in getattr(item, "fixturenames", ())
    )
    from durable_chaos.report.progress import count_points

    counts = count_points(session.items)
    for item in session.items:
        if isinstance(item, TrialItem) and item.sweep_group is not None:
            item.sweep_total = counts[item.sweep_group]


def ignored_scenario_files(config: pytest.Config) -> list[str]:
    """Scenario files below the directories named on the command line that pytest did not collect."""
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return []
    from durable_chaos.pytest_plugin.collection import not_collected

    base = Path(config.invocation_params.dir)
    roots = [base / arg.split("::")[0] for arg in config.args]
    return not_collected(roots, config.stash.get(COLLECTED_KEY, set()), lambda path: shown_path(config, path))


class ScenarioFile(pytest.File):
    """A scenario file: one item per (engine x plan)."""

    def collect(self) -> Iterator[TrialItem]:
        from durable_chaos.scenario.errors import ScenarioError
        from durable_chaos.scenario.model import Plan
        from durable_chaos.scenario.read import load_scenario
        from durable_chaos.scenario.trial_specs import TrialSpec

        self.config.stash[FILES_KEY] = self.config.stash.get(FILES_KEY, 0) + 1
        try:
            scenario = load_scenario(self.path)
        except ScenarioError as exc:
            self.config.stash.setdefault(SCENARIO_ERRORS_KEY, []).append(str(exc))
            raise ScenarioCollectError(str(exc)) from None
        engines = self.config.getoption("chaos_engine") or scenario.engines
        for engine in scenario.engines:
            if engine not in engines:
                continue
            for plan in scenario.plans:
                spec = TrialSpec(scenario, engine, plan)
                yield TrialItem.from_parent(self, name=f"{scenario.name}[{spec.id}]", spec=spec)
            if scenario.explore is not None:
                spec = TrialSpec(scenario, engine, Plan(name="explore"))
                yield ExploreItem.from_parent(self, name=f"{scenario.name}[{spec.id}]", spec=spec)
            if scenario.sweep is not None:
                yield from self.sweep(scenario, engine)
            elif self.config.getoption("chaos_sweep"):
                from durable_chaos.scenario.model import Sweep

                swept = scenario.model_copy(update={"sweep": Sweep()})
                swept = swept.located(scenario.path)
                yield from self.sweep(swept, engine)

    def sweep(self, scenario: Any, engine: str) -> Iterator[TrialItem]:
        """A sweep's items: under ``--chaos`` one per crash point of the golden run, made now (every
        xdist worker makes the same, cassette-replayed, so all collect the same items); else one
        placeholder that is skipped like every trial without ``--chaos``."""
        from durable_chaos.scenario.model import Plan
        from durable_chaos.scenario.trial_specs import TrialSpec

        if self.config.getoption("chaos"):
            from durable_chaos.explore.sweep import SweepUnavailable, sweep_specs

            try:
                specs = sweep_specs(scenario, engine, runner_for(self.config))
            except SweepUnavailable as exc:
                raise ScenarioCollectError(str(exc)) from None
        else:
            specs = [TrialSpec(scenario, engine, Plan(name="sweep"))]
        for spec in specs:
            item = TrialItem.from_parent(self, name=f"{scenario.name}[{spec.id}]", spec=spec)
            if spec.point is not None:
                item.sweep_group = (scenario.name, engine)
            yield item

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
        self.sweep_group: tuple[str, str] | None = None
        """A sweep's point: its (scenario, engine)."""
        self.sweep_total = 0
        """A sweep's point: how many points of its sweep the session selected."""

    def runtest(self) -> None:
        if not self.config.getoption("chaos"):
            pytest.skip("durable-chaos trial: run with --chaos")
        result = runner_for(self.config).run(self.spec)
        self.result = result
        self.config.stash[RESULTS_KEY].append(result)
        self.config.stash.setdefault(RECEIVED_KEY, set()).add(self.nodeid)
        for name, verdict in result.verdicts.items():
            self.user_properties.append((f"chaos.{name}", verdict.held))
        report = result.to_report()
        self.user_properties.append(("chaos.verdict", result.verdict))
        self.user_properties.append(("chaos.model_calls.duplicates", report["model_calls"]["duplicates"]))
        self.user_properties.append(("chaos.tokens.saved", report["tokens"]["saved"]))
        if result.verdict == "skipped":
            pytest.skip(for_terminal(f"durable-chaos trial skipped: {result.reason}"))
        if result.verdict != "pass":
            raise TrialFailed(for_terminal(f"{result.verdict.upper()}: {result.reason}"))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, TrialFailed):
            if self.result is None:
                return str(excinfo.value)
            from durable_chaos.report.terminal import detail_lines

            return for_terminal("\n".join(detail_lines(self.result)))
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        # A line, not None: pytest reports a skip marker's skip at the item's location and needs one.
        return self.path, 0, f"chaos trial {self.name}"


class ExploreItem(TrialItem):
    """A scenario's ``explore:`` table on one engine: Hypothesis generates fault plans, runs each as a
    trial and shrinks a failure (see :mod:`durable_chaos.explore.search`). Its result is the minimal
    failing trial's (or the last trial's when every schedule held)."""

    def runtest(self) -> None:
        if not self.config.getoption("chaos"):
            pytest.skip("durable-chaos exploration: run with --chaos")
        from durable_chaos.run.preflight import problems

        found = problems(self.spec.scenario, [self.spec.engine], None)  # Hypothesis not installed, ...
        if found:
            from durable_chaos.run.results import TrialResult

            self.result = TrialResult(self.spec, "invalid", "; ".join(found))
            self.config.stash[RESULTS_KEY].append(self.result)
            raise TrialFailed(f"INVALID: {self.result.reason}")
        from durable_chaos.explore.search import explore
        from durable_chaos.explore.seeding import seed_in_use
        from durable_chaos.python_api import Chaos

        config = self.config
        api = Chaos(
            runner=lambda: runner_for(config), seed=seed_in_use(config)[0], current_test=lambda: self.nodeid
        )
        outcome, failed = explore(api, self.spec.scenario, self.spec.engine)
        self.result = outcome.result
        config.stash[RESULTS_KEY].append(outcome.result)
        config.stash.setdefault(RECEIVED_KEY, set()).add(self.nodeid)
        for name, verdict in outcome.result.verdicts.items():
            self.user_properties.append((f"chaos.{name}", verdict.held))
        if failed:
            raise TrialFailed(for_terminal(outcome.describe()))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, TrialFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)


def annotate_report(item: pytest.Item, call: pytest.CallInfo[None], report: Any) -> None:
    """What a trial's test report carries: its engine and sweep (the progress lines); on an xdist worker
    the trial's result, which rides on its ``call`` report to the controller."""
    if isinstance(item, TrialItem):
        if call.when == "setup" and report.skipped:  # a skip marker: accounted for, not a lost trial
            item.config.stash.setdefault(SKIPPED_KEY, set()).add(item.nodeid)
        report.durable_chaos_engine = item.spec.engine  # progress lines (pytest_report_teststatus)
        if item.sweep_group is not None:  # the sweep's progress line (report.progress)
            report.durable_chaos_sweep = [*item.sweep_group, item.sweep_total]
    if call.when == "call" and isinstance(item, TrialItem) and item.result is not None:
        from durable_chaos.pytest_plugin import xdist as distributed

        if distributed.is_worker(item.config):
            setattr(report, distributed.REPORT_ATTRIBUTE, distributed.encode(item.result))


def test_status(report: pytest.TestReport, config: pytest.Config) -> Any:
    """Progress as each trial finishes, in pytest's verbose style: the outcome, the trial's engine and
    duration (``PASSED [prefect, 3.2s]``); with ``-q`` only the usual letter."""
    engine = getattr(report, "durable_chaos_engine", None)
    if engine is None or report.when != "call" or not config.getoption("chaos"):
        return None
    letter = {"passed": ".", "failed": "F", "skipped": "s"}[report.outcome]
    word = f"{report.outcome.upper()} [{engine}, {report.duration:.1f}s]"
    return report.outcome, letter, (word, {"green": report.passed, "red": report.failed})


__all__ = ["ExploreItem", "ScenarioFile", "TrialItem"]
