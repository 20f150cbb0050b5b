"""The session's words in the terminal: the chaos summary (the table of trials, sweeps, fault
coverage, the exit status and its reasons, the seed), and what was collected and not run or not
collected at all."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

import pytest

from durable_chaos.pytest_plugin.state import (
    FILES_KEY,
    IGNORED_KEY,
    LOOKALIKES_KEY,
    OUTCOME_KEY,
    PLANNED_KEY,
    RESULTS_KEY,
)
from durable_chaos.scrub import for_terminal

if TYPE_CHECKING:
    from durable_chaos.report.gate import GateOutcome
    from durable_chaos.run.results import TrialResult


def write_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The session's lines at the end of pytest's terminal summary."""
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


def uncollected_lines(config: pytest.Config) -> list[str]:
    """Lines naming the files that look like scenarios but were not collected, and (under ``--chaos``)
    the scenario files pytest skipped."""
    lookalikes = config.stash.get(LOOKALIKES_KEY, [])
    ignored = config.stash.get(IGNORED_KEY, [])
    return [f"durable-chaos: not collected: {line}" for line in [*lookalikes, *ignored]]
