"""The report formats: one table, format → command-line option → writer.

Each row names a report's option (``--chaos-html PATH``), what a failure to write it calls it, its
``--help`` text, and its writer as ``module:function``, imported only when that report is written (the
pytest plugin registers the options from this table in every session, so it must stay light), and its
place in the write order: the summaries that repeat the session's outcome (Markdown last) come after
the others, so a report that could not be written is named in them.

A writer is ``write_report(path: Path, inputs: ReportInputs) -> None`` and writes the whole file
atomically (:func:`durable_chaos.atomic.atomic_write_text`): a reader sees the previous file or the new
one. To add a format: a writer module in this package and one row below (see CONTRIBUTING.md).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from durable_chaos.run.results import TrialResult


@dataclass(frozen=True)
class ReportInputs:
    """What every writer gets: the trials, the session's outcome and seed."""

    results: Sequence[TrialResult]
    gate: dict[str, Any]
    """The session's outcome (``GateOutcome.as_dict()``, with ``incomplete: true`` in a provisional
    report)."""
    seed: dict[str, Any] | None = None
    """The session's chaos seed and its source (:func:`durable_chaos.explore.seeding.seed_in_use`)."""
    incomplete: bool = False
    """True in the provisional reports written when the session starts (replaced at its end)."""
    shard: dict[str, Any] | None = None
    """Under ``--chaos-shard``: the shard, the whole run's fingerprint and the session's facts (the JSON
    report's ``shard`` section, read by ``durable-chaos merge``)."""


@dataclass(frozen=True)
class ReportFormat:
    """One report format: its option, its name in messages, its help text and its writer."""

    option: str
    what: str
    help: str
    writer: str
    """``module:function``, the function being ``write_report(path, inputs)``."""
    written: int
    """Its place in the write order: a summary that repeats the session's outcome comes after the
    reports it may name as not written (the Markdown summary last)."""

    @property
    def dest(self) -> str:
        """The option's name in ``config.getoption`` (``--chaos-html`` → ``chaos_html``)."""
        return self.option.lstrip("-").replace("-", "_")

    def write(self, path: Path, inputs: ReportInputs) -> None:
        module, _, function = self.writer.partition(":")
        getattr(importlib.import_module(module), function)(path, inputs)


FORMATS: tuple[ReportFormat, ...] = (
    ReportFormat(
        "--chaos-report",
        "JSON report",
        "write the JSON report (version 1) of all trials to PATH",
        "durable_chaos.report.json_report:write_report",
        written=2,
    ),
    ReportFormat(
        "--chaos-markdown",
        "Markdown summary",
        "write a GitHub-flavoured Markdown summary to PATH (for $GITHUB_STEP_SUMMARY)",
        "durable_chaos.report.markdown:write_report",
        written=4,
    ),
    ReportFormat(
        "--chaos-html",
        "HTML report",
        "write the HTML report to PATH",
        "durable_chaos.report.html:write_report",
        written=1,
    ),
    ReportFormat(
        "--chaos-github-annotations",
        "GitHub annotations",
        "write GitHub Actions workflow commands (::error file=...::) for every trial that did not pass and "
        "the session's outcome to PATH; `cat PATH` in a later step shows them on the pull request",
        "durable_chaos.report.github:write_report",
        written=3,
    ),
)
"""Every report format, in the order of ``--help``."""


def in_write_order() -> list[ReportFormat]:
    """The formats in the order they are written (:attr:`ReportFormat.written`)."""
    return sorted(FORMATS, key=lambda report: report.written)


__all__ = ["FORMATS", "ReportFormat", "ReportInputs", "in_write_order"]
