"""The session's exit status and its reports (see :mod:`durable_chaos.report.gate`).

With ``--chaos`` the session's exit status says what happened: 0 every guarantee held; 1 a guarantee was
violated (a trial failed, or the ``[tool.durable-chaos]`` gate did); 2 a scenario or the configuration is
invalid; 3 the harness or its infrastructure failed (a trial error). Precedence 2 > 3 > 1 > 0. The same
outcome is written to every report (:data:`durable_chaos.report.formats.FORMATS`): a provisional one
when the session starts, the final one when it ends.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from durable_chaos.pytest_plugin.state import (
    CONTROLLER_KEY,
    FILES_KEY,
    FIXTURE_TESTS_KEY,
    GATE_KEY,
    IGNORED_KEY,
    LOOKALIKES_KEY,
    OUTCOME_KEY,
    PLANNED_KEY,
    RECEIVED_KEY,
    RESULTS_KEY,
    RUNNER_KEY,
    SCENARIO_ERRORS_KEY,
    SHARD_KEY,
    SKIPPED_KEY,
)

if TYPE_CHECKING:
    from durable_chaos.report.gate import GateOutcome
    from durable_chaos.run.results import TrialResult


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


def write_provisional_reports(session: pytest.Session) -> None:
    """Replace any report of an earlier run with a provisional one (exit status 3, ``incomplete``): if
    the process dies before the session's end, what stays says so, never an old run's green."""
    config = session.config
    if not judges(config):
        return
    from durable_chaos.pytest_plugin.sharding import shard_record
    from durable_chaos.report.gate import EXIT_INFRASTRUCTURE, GateOutcome

    shard = shard_record(config, {}, complete=False)
    write_reports(config, [], GateOutcome(EXIT_INFRASTRUCTURE, [PROVISIONAL]), incomplete=True, shard=shard)


def write_reports(
    config: pytest.Config,
    results: list[TrialResult],
    outcome: GateOutcome,
    *,
    incomplete: bool = False,
    shard: dict[str, Any] | None = None,
) -> GateOutcome:
    """Write the requested reports in their write order (:func:`durable_chaos.report.formats.in_write_order`:
    HTML, JSON, ..., Markdown last, so the summaries carry the final outcome), each atomically (a reader sees
    the previous file or the whole new one). A report that cannot be written is a harness failure: the
    returned outcome says so. ``incomplete``: the provisional reports written at the session's start
    (see :func:`write_provisional_reports`); ``shard``: under ``--chaos-shard``, the JSON report's ``shard``
    section (:func:`durable_chaos.pytest_plugin.sharding.shard_record`)."""
    from durable_chaos.explore.seeding import seed_in_use
    from durable_chaos.report.formats import ReportInputs, in_write_order
    from durable_chaos.report.gate import EXIT_INFRASTRUCTURE, GateOutcome, worst

    seed, source = seed_in_use(config)
    seed_record = {"seed": seed, "source": source}
    for report in in_write_order():
        path = config.getoption(report.dest)
        if not path:
            continue
        gate = outcome.as_dict() | ({"incomplete": True} if incomplete else {})
        try:
            report.write(Path(path), ReportInputs(results, gate, seed_record, incomplete, shard))
        except Exception as exc:  # noqa: BLE001 - a report that cannot be written is a harness failure
            problem = f"ERROR cannot write the {report.what} to {path}: {type(exc).__name__}: {exc}"
            outcome = GateOutcome(
                worst([outcome.exit_code, EXIT_INFRASTRUCTURE]), [*outcome.messages, problem], outcome.notes
            )
    return outcome


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
    from durable_chaos.report.gate import (
        PYTEST_INTERNAL_ERROR,
        PYTEST_INTERRUPTED,
        PYTEST_NO_TESTS,
        PYTEST_OK,
        session_outcome,
    )

    planned, received, files, scenario_errors = session_facts(config)
    results = config.stash.get(RESULTS_KEY, [])
    sharded = SHARD_KEY in config.stash
    if sharded and pytest_status == PYTEST_NO_TESTS:  # every test went to the other shards
        pytest_status = PYTEST_OK
    facts: dict[str, Any] = {
        "pytest_status": int(pytest_status),
        "planned": list(planned),
        "received": sorted(received),
        "skipped": sorted(skipped_trials(config)),
        "files": files,
        "scenario_errors": list(scenario_errors),
        # Under xdist the controller collects nothing, so it cannot count the tests that use the `chaos`
        # fixture: it never calls a session without trials not green.
        "fixture_tests": 1 if CONTROLLER_KEY in config.stash else config.stash.get(FIXTURE_TESTS_KEY, 0),
        "lookalikes": config.stash.get(LOOKALIKES_KEY, []),
        "ignored": config.stash.get(IGNORED_KEY, []),
    }
    outcome = session_outcome(
        results,
        config.stash[GATE_KEY],
        pytest_status=pytest_status,
        planned=planned,
        received=received,
        files=files,
        scenario_errors=scenario_errors,
        skipped=facts["skipped"],
        fixture_tests=facts["fixture_tests"],
        lookalikes=facts["lookalikes"],
        ignored=facts["ignored"],
        sharded=sharded,
    )
    shard = None
    if sharded:
        from durable_chaos.pytest_plugin.sharding import shard_record

        facts["gate_config"] = config.stash[GATE_KEY].model_dump(mode="json")
        finished = pytest_status not in (PYTEST_INTERRUPTED, PYTEST_INTERNAL_ERROR)
        accounted = set(received) | set(facts["skipped"])
        shard = shard_record(config, facts, complete=finished and all(t in accounted for t in planned))
    with interrupts_deferred() as deferred:
        outcome = write_reports(config, results, outcome, shard=shard)
    if deferred.interrupted:
        outcome.notes.append("Ctrl-C arrived while the reports were written: they were completed first")
    config.stash[OUTCOME_KEY] = outcome
    return outcome


def judge_session(session: pytest.Session, exitstatus: int) -> GateOutcome | None:
    """At the session's end, before pytest's own sessionfinish hooks: an xdist worker publishes its
    counts to the controller; the process that judges (:func:`judges`) decides the session's one
    outcome and writes the reports (:func:`finish`). The session's trial runner is closed either way."""
    config = session.config
    if config.getoption("chaos") and GATE_KEY in config.stash and hasattr(config, "workerinput"):
        from durable_chaos.pytest_plugin.state import SPLIT_KEY
        from durable_chaos.pytest_plugin.xdist import publish_counts  # the controller judges

        publish_counts(
            config,
            config.stash.get(PLANNED_KEY, []),
            config.stash.get(FILES_KEY, 0),
            config.stash.get(SCENARIO_ERRORS_KEY, []),
            config.stash.get(SPLIT_KEY, None),
        )
    outcome: GateOutcome | None = None
    try:
        if judges(config):
            outcome = finish(config, exitstatus)
    finally:
        runner = config.stash.get(RUNNER_KEY, None)
        if runner is not None:
            runner.close()
    return outcome


def set_exit_status(session: pytest.Session, exitstatus: int, outcome: GateOutcome) -> None:
    """After every sessionfinish hook: the session's exit status is the outcome's (judged again when an
    inner hook changed pytest's status), and a line says so when it differs from pytest's own."""
    config = session.config
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
