"""The pytest plugin: ``pytest --chaos``.

Scenario files (YAML or TOML with a top-level ``schema_version``) are collected as pytest files;
each (engine x plan) of a scenario is one item. Without ``--chaos`` the items are collected and
skipped, so ordinary test runs stay fast. A malformed scenario is a collection error that names the
file, line and field, without a traceback.

With ``--chaos`` the session's exit status says what happened (see :mod:`durable_chaos.report.gate`):
0 every guarantee held; 1 a guarantee was violated (a trial failed, or the ``[tool.durable-chaos]`` gate
did); 2 a scenario or the configuration is invalid; 3 the harness or its infrastructure failed (a trial
error). Precedence 2 > 3 > 1 > 0.


The plugin stays light: pytest imports it in every session of every project that has durable-chaos
installed, so this module imports nothing of the harness at the top. Collecting scenario files needs
only the scenario loader; the runner, pydantic-ai, vcrpy and the engines are imported when a trial runs
under ``--chaos`` (``bench/plugin_import.py`` measures it).
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from durable_chaos.infra.engines.command_line import command_line_options
from durable_chaos.scrub import for_terminal

if TYPE_CHECKING:
    from durable_chaos.pytest_plugin.xdist import Controller  # noqa: F401 - in a StashKey string
    from durable_chaos.python_api import Chaos
    from durable_chaos.report.gate import GateConfig, GateOutcome
    from durable_chaos.run.results import TrialResult
    from durable_chaos.run.runner import TrialRunner
    from durable_chaos.scenario.trial_specs import TrialSpec

RESULTS_KEY = pytest.StashKey["list[TrialResult]"]()
RUNNER_KEY = pytest.StashKey["TrialRunner"]()
GATE_KEY = pytest.StashKey["GateConfig"]()
OUTCOME_KEY = pytest.StashKey["GateOutcome"]()
SCENARIO_ERRORS_KEY = pytest.StashKey[list[str]]()
FILES_KEY = pytest.StashKey[int]()
"""How many scenario files were collected."""
PLANNED_KEY = pytest.StashKey[list[str]]()
"""The node ids of the trials the session selected to run (after deselection)."""
RECEIVED_KEY = pytest.StashKey[set[str]]()
"""The node ids of the trials that produced a result."""
SKIPPED_KEY = pytest.StashKey[set[str]]()
"""The node ids of the items pytest skipped before they ran (a skip marker); under xdist, on the
controller, from the workers' reports."""
CURRENT_TEST_KEY = pytest.StashKey[str]()
"""The node id of the test running now (regression files are named after it)."""
TIMEOUT_KEY = pytest.StashKey[float]()
"""``--chaos-timeout``, validated."""
LOOKALIKES_KEY = pytest.StashKey[list[str]]()
"""Files pytest offered that look like scenarios but are not (``path:line: why``)."""
COLLECTED_KEY = pytest.StashKey[set[str]]()
"""The real paths of the scenario files collected."""
IGNORED_KEY = pytest.StashKey[list[str]]()
"""Under ``--chaos``: scenario files below the paths given that pytest never offered."""
FIXTURE_TESTS_KEY = pytest.StashKey[int]()
"""Under ``--chaos``: how many selected tests use the ``chaos`` fixture (they run trials too)."""
CONTROLLER_KEY = pytest.StashKey["Controller"]()
"""Under pytest-xdist, on the controller: the results and counts the workers report."""


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
        help="record the model requests the scenarios' cassettes do not hold yet (recorded ones are "
        "kept), scrubbed of credentials; a scenario's model_server script stands in for the provider",
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
        help="only run trials on this engine (repeatable): any registered engine "
        "(durable-chaos ships prefect, dbos, temporal, restate)",
    )
    group.addoption(
        "--chaos-markdown",
        metavar="PATH",
        default=None,
        help="write a GitHub-flavoured Markdown summary to PATH (for $GITHUB_STEP_SUMMARY)",
    )
    group.addoption(
        "--chaos-html",
        metavar="PATH",
        default=None,
        help="write the HTML report to PATH",
    )
    group.addoption(
        "--chaos-require",
        metavar="PROP",
        action="append",
        default=[],
        help="a property that must hold in every trial for exit status 0 (repeatable); replaces the "
        "'required' lists of [tool.durable-chaos] in pyproject.toml",
    )
    group.addoption(
        "--chaos-min-savings",
        metavar="FRACTION",
        default=None,
        help="fail (exit 1) unless total tokens saved / naive-restart tokens is at least FRACTION "
        "(e.g. 0.2); overrides min_token_savings of [tool.durable-chaos]",
    )
    group.addoption(
        "--chaos-timeout",
        metavar="SECONDS",
        default="600",
        help="stop a trial that runs longer than this as an error naming where it was stuck, in-process "
        "or in workers (default 600, at most 86400; a scenario's 'timeout' wins)",
    )
    for option in command_line_options():  # each engine's own (--chaos-dbos-url, ...)
        group.addoption(option.flag, metavar=option.metavar, default=None, dest=option.dest, help=option.help)
    group.addoption(
        "--chaos-sweep",
        action="store_true",
        default=False,
        help="also sweep every scenario without a 'sweep' table: each unit of its golden run x phase x "
        "tool_error/http_error/kill x retry/kill, one trial each (a progress line per sweep with the "
        "time left, silent with -q; a verdict matrix and fault coverage in every report)",
    )
    group.addoption(
        "--chaos-seed",
        metavar="N",
        type=int,
        default=None,
        help="seed the Hypothesis tests that use the 'chaos' fixture with N (as Hypothesis's @seed(N)): "
        "the same seed generates the same fault schedules and verdicts; printed and recorded in the "
        "JSON report and regression files",
    )
    group.addoption(
        "--chaos-keep-artifacts",
        action="store_true",
        default=False,
        help="keep each trial's history, ledger, engine logs (engine-<role>.log) and engine data in the temp "
        "directory (those of trials that did not pass are always kept, and named in the report)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: a durable-chaos trial collected from a scenario file")
    if config.getoption("hypothesis_profile", None) == "durable-chaos":  # before Hypothesis loads it
        from durable_chaos.strategies import register_profile

        register_profile()
    for option in command_line_options():
        value = config.getoption(option.dest, None)
        if value:
            os.environ[option.environment] = value  # worker processes read it too
    config.stash[RESULTS_KEY] = []
    from durable_chaos.pytest_plugin.options import OptionError, trial_timeout

    try:  # the chaos fixture runs trials without --chaos too
        config.stash[TIMEOUT_KEY] = trial_timeout(config.getoption("chaos_timeout"))
    except OptionError as exc:
        pytest.exit(f"durable-chaos: {exc}", returncode=2)
    if config.getoption("chaos"):
        from durable_chaos.pytest_plugin import xdist as distributed

        if distributed.is_controller(config):  # under xdist the workers' reports bring the results
            config.stash[CONTROLLER_KEY] = distributed.Controller(config, config.stash[RESULTS_KEY])
            config.pluginmanager.register(config.stash[CONTROLLER_KEY], "durable-chaos-controller")
        if not distributed.is_worker(config):  # the process that owns the terminal
            from durable_chaos.report.progress import SweepProgress

            config.pluginmanager.register(SweepProgress(config), "durable-chaos-progress")
        from durable_chaos.report.gate import EXIT_INVALID, GateConfigError
        from durable_chaos.report.markdown import write_invalid_configuration

        try:
            config.stash[GATE_KEY] = gate_config(config)
        except GateConfigError as exc:
            message = f"durable-chaos: {exc}"
            markdown = config.getoption("chaos_markdown")
            if markdown:
                try:
                    write_invalid_configuration(Path(markdown), str(exc))
                except OSError as err:
                    message += f" (and the Markdown summary could not be written: {err})"
            pytest.exit(message, returncode=EXIT_INVALID)


def pytest_collection_finish(session: pytest.Session) -> None:
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


def shown_path(config: pytest.Config, path: Path) -> str:
    """``path`` relative to where pytest was started, when it is below it."""
    relative = os.path.relpath(path, config.invocation_params.dir)
    return str(path) if relative.startswith("..") else relative


def uncollected_lines(config: pytest.Config) -> list[str]:
    """Lines naming the files that look like scenarios but were not collected, and (under ``--chaos``)
    the scenario files pytest skipped."""
    lookalikes = config.stash.get(LOOKALIKES_KEY, [])
    ignored = config.stash.get(IGNORED_KEY, [])
    return [f"durable-chaos: not collected: {line}" for line in [*lookalikes, *ignored]]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("chaos_seed") is not None:
        from durable_chaos.explore.seeding import seed_chaos_tests

        seed_chaos_tests(config, items)


def pytest_report_header(config: pytest.Config) -> str | None:
    """The seed in use, when there is one or chaos trials run."""
    if config.getoption("chaos") or config.getoption("chaos_seed") is not None:
        from durable_chaos.explore.seeding import header_line

        return header_line(config)
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Remember the running test: the ``chaos`` fixture names regression files after it."""
    item.config.stash[CURRENT_TEST_KEY] = item.nodeid


@pytest.fixture(scope="session")
def chaos(request: pytest.FixtureRequest) -> Iterator[Chaos]:
    """Run a trial of an agent or entry point with a fault plan and get its verdicts:
    ``chaos.run("scenario.yaml", plan).assert_held()``. Session-scoped (safe with ``@given``), on the
    session's trial runner (shared with the scenario files' items); works with or without ``--chaos``.
    Override it in a conftest.py like any fixture. See docs/exploration.md."""
    from durable_chaos.explore.seeding import seed_in_use
    from durable_chaos.python_api import Chaos

    config = request.config
    api = Chaos(
        runner=lambda: runner_for(config),
        seed=seed_in_use(config)[0],
        current_test=lambda: config.stash.get(CURRENT_TEST_KEY, None),
    )
    with api.active():
        yield api


def pyproject_path(config: pytest.Config) -> Path:
    """The project's pyproject.toml: pytest's inifile when that is one, else the one in the rootdir."""
    inipath = config.inipath
    if inipath is not None and inipath.name == "pyproject.toml":
        return Path(inipath)
    return Path(config.rootpath) / "pyproject.toml"


def gate_config(config: pytest.Config) -> GateConfig:
    """``[tool.durable-chaos]`` with the command-line overrides applied."""
    from durable_chaos.report.gate import load_config

    overrides = {
        "required": config.getoption("chaos_require") or None,
        "min_token_savings": config.getoption("chaos_min_savings"),
    }
    return load_config(pyproject_path(config), overrides)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ScenarioFile | None:
    if file_path.suffix not in {".yaml", ".yml", ".toml"}:
        return None
    from durable_chaos.scenario.read import scenario_skip_reason

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


class ScenarioFile(pytest.File):
    """A scenario file: one item per (engine x plan)."""

    def collect(self) -> Iterator[TrialItem]:
        from durable_chaos.scenario.model import Plan
        from durable_chaos.scenario.read import ScenarioError, load_scenario
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
                swept._path = scenario.path
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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """On an xdist worker: the trial's result rides on its ``call`` report to the controller."""
    report = yield
    if isinstance(item, TrialItem):
        if call.when == "setup" and report.skipped:  # a skip marker: accounted for, not a lost trial
            item.config.stash.setdefault(SKIPPED_KEY, set()).add(item.nodeid)
        report.durable_chaos_engine = item.spec.engine  # progress lines (pytest_report_teststatus)
        if item.sweep_group is not None:  # the sweep's progress line (harness.progress)
            report.durable_chaos_sweep = [*item.sweep_group, item.sweep_total]
    if call.when == "call" and isinstance(item, TrialItem) and item.result is not None:
        from durable_chaos.pytest_plugin import xdist as distributed

        if distributed.is_worker(item.config):
            setattr(report, distributed.REPORT_ATTRIBUTE, distributed.encode(item.result))
    return report


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    """Progress as each trial finishes, in pytest's verbose style: the outcome, the trial's engine and
    duration (``PASSED [prefect, 3.2s]``); with ``-q`` only the usual letter."""
    engine = getattr(report, "durable_chaos_engine", None)
    if engine is None or report.when != "call" or not config.getoption("chaos"):
        return None
    letter = {"passed": ".", "failed": "F", "skipped": "s"}[report.outcome]
    word = f"{report.outcome.upper()} [{engine}, {report.duration:.1f}s]"
    return report.outcome, letter, (word, {"green": report.passed, "red": report.failed})


def runner_for(config: pytest.Config) -> TrialRunner:
    from durable_chaos.run.runner import TrialRunner

    if RUNNER_KEY not in config.stash:
        config.stash[RUNNER_KEY] = TrialRunner(
            record=config.getoption("chaos_record"),
            keep_artifacts=config.getoption("chaos_keep_artifacts"),
            timeout=config.stash[TIMEOUT_KEY],
        )
    return config.stash[RUNNER_KEY]


def not_run_line(config: pytest.Config) -> str | None:
    """Without ``--chaos``: one line saying how many chaos trials were collected and not run, and how
    to run them (None when there were none)."""
    planned = len(config.stash.get(PLANNED_KEY, []))
    if config.getoption("chaos") or not planned:
        return None
    files = config.stash.get(FILES_KEY, 0)
    args = " ".join(str(arg) for arg in config.invocation_params.args)
    return (
        f"durable-chaos: {planned} chaos trial(s) from {files} scenario file(s) were collected and not run "
        f"(skipped); run them with: pytest --chaos {args}".rstrip()
    )


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    for line in [not_run_line(config), *uncollected_lines(config)]:
        if line is not None:
            terminalreporter.write_line(line)
    results = config.stash.get(RESULTS_KEY, [])
    outcome = config.stash.get(OUTCOME_KEY, None)
    if config.getoption("chaos_seed") is not None and not results and outcome is None:
        from durable_chaos.explore.seeding import header_line

        terminalreporter.write_line(header_line(config))
    if not results and outcome is None:
        return
    from durable_chaos.report.terminal import terminal_lines

    terminalreporter.section("durable-chaos")
    if results:
        from durable_chaos.explore.coverage import coverage_lines
        from durable_chaos.explore.sweep import sweep_lines

        coverage = coverage_lines(results, verbose=config.get_verbosity() > 0)
        for line in [*terminal_lines(results), "", *sweep_lines(results), *coverage]:
            terminalreporter.write_line(for_terminal(line))
    if outcome is not None:
        for line in outcome_lines(outcome, results):
            terminalreporter.write_line(for_terminal(line))
    from durable_chaos.explore.seeding import header_line

    terminalreporter.write_line(header_line(config))


def outcome_lines(outcome: GateOutcome, results: list[TrialResult] | None = None) -> list[str]:
    """The exit status and its reasons. A trial that did not pass is counted, not repeated: its details
    are its pytest failure (FAILURES section, JUnit XML)."""
    from durable_chaos.report.gate import TRIAL_MESSAGE_PREFIXES
    from durable_chaos.report.terminal import WIDTH

    lines = [f"durable-chaos exit status {outcome.exit_code}: {outcome.meaning}"]
    counts = [
        f"{n} trial(s) {word}"
        for verdict, word in (("fail", "failed"), ("error", "errored"), ("invalid", "were invalid"))
        if (n := sum(r.verdict == verdict for r in results or []))
    ]
    texts = [m for m in outcome.messages if not m.startswith(TRIAL_MESSAGE_PREFIXES)]
    if counts:
        texts.insert(0, f"{' and '.join(counts)}: details in pytest's FAILURES section above")
    for text in [*texts, *(f"note: {note}" for note in outcome.notes)]:
        text = for_terminal(text)  # before wrapping: a credential split across lines is not recognised
        lines += textwrap.wrap(text, WIDTH, initial_indent="  ", subsequent_indent="    ") or [""]
    return lines


def write_reports(
    config: pytest.Config, results: list[TrialResult], outcome: GateOutcome, *, incomplete: bool = False
) -> GateOutcome:
    """Write the requested reports (HTML, then JSON, then Markdown, so the summaries carry the final
    outcome), each atomically (a reader sees the previous file or the whole new one). A report that
    cannot be written is a harness failure: the returned outcome says so. ``incomplete``: the
    provisional reports written at the session's start (see :func:`pytest_sessionstart`)."""
    from durable_chaos.report.gate import EXIT_INFRASTRUCTURE, GateOutcome, worst
    from durable_chaos.report.markdown import write_markdown
    from durable_chaos.report.terminal import write_json

    def html(path: Path, gate: dict[str, Any]) -> None:
        from durable_chaos.report.html import write_html  # written separately; imported lazily

        write_html(path, results, gate)

    from durable_chaos.explore.seeding import seed_in_use

    seed, source = seed_in_use(config)
    seed_record = {"seed": seed, "source": source}
    writers: list[tuple[str, str, Callable[[Path, dict[str, Any]], None]]] = [
        ("chaos_html", "HTML report", html),
        (
            "chaos_report",
            "JSON report",
            lambda path, gate: write_json(path, results, gate, seed_record, incomplete=incomplete),
        ),
        ("chaos_markdown", "Markdown summary", lambda path, gate: write_markdown(path, results, gate)),
    ]
    for option, what, write in writers:
        path = config.getoption(option)
        if not path:
            continue
        try:
            write(Path(path), outcome.as_dict() | ({"incomplete": True} if incomplete else {}))
        except Exception as exc:  # noqa: BLE001 - a report that cannot be written is a harness failure
            problem = f"ERROR cannot write the {what} to {path}: {type(exc).__name__}: {exc}"
            outcome = GateOutcome(
                worst([outcome.exit_code, EXIT_INFRASTRUCTURE]), [*outcome.messages, problem], outcome.notes
            )
    return outcome


def judges(config: pytest.Config) -> bool:
    """Whether this process judges the session: ``--chaos`` with a valid gate, not an xdist worker (the
    controller judges), not ``--collect-only`` (which runs nothing, so there is nothing to judge)."""
    return (
        bool(config.getoption("chaos"))
        and GATE_KEY in config.stash
        and not hasattr(config, "workerinput")
        and not config.getoption("collectonly")
    )


PROVISIONAL = (
    "INCOMPLETE: this report was written when the session started and the session never replaced it "
    "with its result: the pytest process was killed or ended abruptly (SIGKILL, os._exit, a crash), or "
    "it is still running. No guarantee is established."
)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Replace any report of an earlier run with a provisional one (exit status 3, ``incomplete``): if
    the process dies before the session's end, what stays says so, never an old run's green."""
    config = session.config
    if not judges(config):
        return
    from durable_chaos.report.gate import EXIT_INFRASTRUCTURE, GateOutcome

    write_reports(config, [], GateOutcome(EXIT_INFRASTRUCTURE, [PROVISIONAL]), incomplete=True)


def session_facts(config: pytest.Config) -> tuple[list[str], set[str], int, list[str]]:
    """The trials the session selected, those with a result, scenario files collected and scenario
    errors: this process's, or under xdist what the workers reported to the controller."""
    controller = config.stash.get(CONTROLLER_KEY, None)
    if controller is not None:
        return controller.planned, controller.received, controller.files, controller.scenario_errors
    return (
        config.stash.get(PLANNED_KEY, []),
        config.stash.get(RECEIVED_KEY, set()),
        config.stash.get(FILES_KEY, 0),
        config.stash.get(SCENARIO_ERRORS_KEY, []),
    )


def skipped_trials(config: pytest.Config) -> set[str]:
    """The trials pytest skipped before they ran (under xdist: as the workers reported them)."""
    controller = config.stash.get(CONTROLLER_KEY, None)
    return controller.skipped if controller is not None else config.stash.get(SKIPPED_KEY, set())


def finish(config: pytest.Config, pytest_status: int) -> GateOutcome:
    """The session's one outcome (:func:`durable_chaos.report.gate.session_outcome`), written to
    every report. Ctrl-C while the reports are written is held back until they are complete."""
    from durable_chaos.atomic import interrupts_deferred
    from durable_chaos.report.gate import session_outcome

    planned, received, files, scenario_errors = session_facts(config)
    results = config.stash.get(RESULTS_KEY, [])
    outcome = session_outcome(
        results,
        config.stash[GATE_KEY],
        pytest_status=pytest_status,
        planned=planned,
        received=received,
        files=files,
        scenario_errors=scenario_errors,
        skipped=skipped_trials(config),
        # Under xdist the controller collects nothing, so it cannot count the tests that use the `chaos`
        # fixture: it never calls a session without trials not green.
        fixture_tests=1 if CONTROLLER_KEY in config.stash else config.stash.get(FIXTURE_TESTS_KEY, 0),
        lookalikes=config.stash.get(LOOKALIKES_KEY, []),
        ignored=config.stash.get(IGNORED_KEY, []),
    )
    with interrupts_deferred() as deferred:
        outcome = write_reports(config, results, outcome)
    if deferred.interrupted:
        outcome.notes.append("Ctrl-C arrived while the reports were written: they were completed first")
    config.stash[OUTCOME_KEY] = outcome
    return outcome


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Generator[None, None, None]:
    """With ``--chaos``: decide the session's one outcome from pytest's own status and the trials'
    results (:func:`finish`), write the reports, and set the session's exit status to it. As the
    outermost wrapper, the status set after ``yield`` is the last word (pytest returns
    ``session.exitstatus`` once the sessionfinish hooks have run); the terminal summary, printed by
    an inner hook, shows the same outcome."""
    config = session.config
    if config.getoption("chaos") and GATE_KEY in config.stash and hasattr(config, "workerinput"):
        from durable_chaos.pytest_plugin.xdist import publish_counts  # the controller judges

        publish_counts(
            config,
            config.stash.get(PLANNED_KEY, []),
            config.stash.get(FILES_KEY, 0),
            config.stash.get(SCENARIO_ERRORS_KEY, []),
        )
    outcome: GateOutcome | None = None
    try:
        if judges(config):
            outcome = finish(config, exitstatus)
    finally:
        runner = config.stash.get(RUNNER_KEY, None)
        if runner is not None:
            runner.close()
    result = yield
    if outcome is not None:
        before = int(session.exitstatus)
        if before not in (int(exitstatus), outcome.exit_code):  # an inner hook changed pytest's status
            outcome = finish(config, before)
        session.exitstatus = outcome.exit_code
        if outcome.exit_code != before:
            from durable_chaos.report.gate import EXIT_MEANINGS

            reporter = config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(
                    f"durable-chaos: exit status {outcome.exit_code} "
                    f"({EXIT_MEANINGS.get(outcome.exit_code, 'see above')}; pytest alone would have "
                    f"exited {before})"
                )
    return result


__all__ = ["ScenarioFile", "TrialItem"]
