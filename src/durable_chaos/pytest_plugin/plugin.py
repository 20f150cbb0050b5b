"""The pytest plugin: ``pytest --chaos``. Hooks only, each delegating to the module that does the job:

- :mod:`~durable_chaos.pytest_plugin.options`: the command-line options and their checks;
- :mod:`~durable_chaos.pytest_plugin.items`: scenario files as pytest files, their trials as items;
- :mod:`~durable_chaos.pytest_plugin.summary`: the terminal summary;
- :mod:`~durable_chaos.pytest_plugin.exit_status`: the session's one outcome, its exit status and the
  reports (:mod:`durable_chaos.report.gate`, :mod:`durable_chaos.report.formats`);
- :mod:`~durable_chaos.pytest_plugin.xdist`: trials under pytest-xdist;
- :mod:`~durable_chaos.pytest_plugin.state`: the session's state in ``config.stash``.

Scenario files (YAML or TOML with a top-level ``schema_version``) are collected as pytest files;
each (engine x plan) of a scenario is one item. Without ``--chaos`` the items are collected and
skipped, so ordinary test runs stay fast.

The plugin stays light: pytest imports it in every session of every project that has durable-chaos
installed, so these modules import nothing of the harness at the top. Collecting scenario files needs
only the scenario loader; the runner, pydantic-ai, vcrpy and the engines are imported when a trial runs
under ``--chaos`` (``bench/plugin_import.py`` measures it).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from durable_chaos.pytest_plugin import exit_status, options, sharding, summary
from durable_chaos.pytest_plugin import items as trials
from durable_chaos.pytest_plugin.state import (
    CONTROLLER_KEY,
    CURRENT_TEST_KEY,
    RESULTS_KEY,
    SHARED_SERVERS_KEY,
    runner_for,
)

if TYPE_CHECKING:
    from durable_chaos.python_api import Chaos


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: a durable-chaos trial collected from a scenario file")
    config.stash[RESULTS_KEY] = []
    options.apply_options(config)
    from durable_chaos.pytest_plugin import xdist as distributed

    if distributed.is_controller(config):  # its workers (and their sessions) share its engine servers
        from durable_chaos.infra.shared_servers import open_shared

        shared = open_shared()
        if shared is not None:
            config.stash[SHARED_SERVERS_KEY] = shared
    if config.getoption("chaos"):
        if distributed.is_controller(config):  # under xdist the workers' reports bring the results
            config.stash[CONTROLLER_KEY] = distributed.Controller(config, config.stash[RESULTS_KEY])
            config.pluginmanager.register(config.stash[CONTROLLER_KEY], "durable-chaos-controller")
        if not distributed.is_worker(config):  # the process that owns the terminal
            from durable_chaos.report.progress import SweepProgress

            config.pluginmanager.register(SweepProgress(config), "durable-chaos-progress")
        options.load_gate(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    """The controller stops the servers it shared, after its workers have ended."""
    shared = config.stash.get(SHARED_SERVERS_KEY, None)
    if shared is not None:
        from durable_chaos.infra.shared_servers import close_shared

        close_shared(shared)
        del config.stash[SHARED_SERVERS_KEY]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> trials.ScenarioFile | None:
    return trials.collect_file(file_path, parent)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Seed the ``chaos`` fixture's tests; with ``--chaos-shard`` keep this shard's tests (last: after
    ``-k``/``-m`` and conftest hooks have selected, so every shard splits the same list)."""
    if config.getoption("chaos_seed") is not None:
        from durable_chaos.explore.seeding import seed_chaos_tests

        seed_chaos_tests(config, items)
    sharding.apply_shard(config, items)


def pytest_collection_finish(session: pytest.Session) -> None:
    """The trials selected (after ``-k``/``-m`` deselection, which runs in pytest's own
    ``pytest_collection_modifyitems``, possibly after ours)."""
    trials.collection_finished(session)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    """The seed in use, when there is one or chaos trials run; missing ``--chaos-shard-durations`` files."""
    if config.getoption("chaos") or config.getoption("chaos_seed") is not None:
        from durable_chaos.explore.seeding import header_line

        return [header_line(config), *sharding.header_lines(config)]
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    """Replace any report of an earlier run with a provisional one (exit status 3, ``incomplete``): if
    the process dies before the session's end, what stays says so, never an old run's green."""
    exit_status.write_provisional_reports(session)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Remember the running test: the ``chaos`` fixture names regression files after it."""
    item.config.stash[CURRENT_TEST_KEY] = item.nodeid


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """On an xdist worker: the trial's result rides on its ``call`` report to the controller."""
    report = yield
    trials.annotate_report(item, call, report)
    return report


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    """Progress as each trial finishes, in pytest's verbose style: the outcome, the trial's engine and
    duration (``PASSED [prefect, 3.2s]``); with ``-q`` only the usual letter."""
    return trials.test_status(report, config)


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


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    summary.write_summary(terminalreporter, config)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Generator[None, None, None]:
    """With ``--chaos``: decide the session's one outcome from pytest's own status and the trials'
    results, write the reports, and set the session's exit status to it
    (:mod:`~durable_chaos.pytest_plugin.exit_status`). As the outermost wrapper, the status set after
    ``yield`` is the last word (pytest returns ``session.exitstatus`` once the sessionfinish hooks have
    run); the terminal summary, printed by an inner hook, shows the same outcome."""
    outcome = exit_status.judge_session(session, exitstatus)
    result = yield
    if outcome is not None:
        exit_status.set_exit_status(session, exitstatus, outcome)
    return result
