"""GitHub Actions annotations: ``--chaos-github-annotations PATH``.

The file holds GitHub Actions workflow commands, one a line: the session's exit status first (``::notice``
when every guarantee held, ``::error`` otherwise), then each reason of the exit status that is not one
trial's, then one ``::error`` per trial that did not pass (fail, error, invalid), on its scenario file at
the line of its plan, with the trial's reason and every violated property's detail. A known-bad agent
whose declared violations were caught passed: it gets none. A later step prints the file
(``cat PATH``, with ``if: always()``) and GitHub shows the annotations on the pull request's diff and
the run's summary, as pytest-github-actions-annotate-failures does for failed tests.

The file is written through :data:`durable_chaos.report.formats.FORMATS` like every report: a
provisional one (exit status 3, the session never finished) when the session starts, the final one at
its end. Paths are relative to ``$GITHUB_WORKSPACE`` (else the working directory) when below it. Every
text is scrubbed of credentials and control sequences, then escaped as the Actions toolkit does
(``%``, carriage returns and newlines in messages; also ``:`` and ``,`` in properties). GitHub shows at
most 10 error annotations per step, so the session's outcome comes first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from durable_chaos.atomic import atomic_write_text
from durable_chaos.report.formats import ReportInputs
from durable_chaos.report.gate import TRIAL_MESSAGE_PREFIXES
from durable_chaos.run.results import TrialResult
from durable_chaos.scrub import for_terminal

TITLE = "durable-chaos"
FAILED_VERDICTS = ("fail", "error", "invalid")


def escape_data(text: str) -> str:
    """A command's message: ``%``, CR and LF escaped (``escapeData`` of @actions/core)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A command's property value: as a message, and ``:`` and ``,`` escaped (``escapeProperty``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(kind: str, message: str, **properties: object) -> str:
    """One workflow command (``::error file=a.yaml,line=3,title=...::message``), scrubbed and escaped;
    properties that are None are left out."""
    props = ",".join(
        f"{name}={escape_property(for_terminal(str(value)))}"
        for name, value in properties.items()
        if value is not None
    )
    return f"::{kind}{' ' + props if props else ''}::{escape_data(for_terminal(message))}"


def shown_path(path: Path, workspace: str | None = None) -> str:
    """``path`` relative to the workspace (``$GITHUB_WORKSPACE``, else the working directory) when it is
    below it, with forward slashes, as GitHub matches it against the repository's files."""
    base = Path(workspace or os.environ.get("GITHUB_WORKSPACE") or os.getcwd()).resolve()
    resolved = path.resolve()
    return (resolved.relative_to(base) if resolved.is_relative_to(base) else resolved).as_posix()


def plan_line(result: TrialResult) -> int | None:
    """The line of the trial's plan in its scenario file (of its ``sweep`` or ``explore`` table for a
    generated plan), or None when unknown."""
    scenario, plan = result.spec.scenario, result.spec.plan
    for index, declared in enumerate(scenario.plans):
        if declared is plan or declared.name == plan.name:
            return scenario.line_of(("plans", index))
    for table in ("sweep", "explore"):
        if getattr(scenario, table, None) is not None:
            return scenario.line_of((table,))
    return None


def trial_message(result: TrialResult) -> str:
    """The trial's verdict and reason, then each violated property (a declared one said so)."""
    declared = result.spec.scenario.expect_for(result.spec.plan).violations
    lines = [f"{result.verdict.upper()}: {result.reason}"]
    for name, verdict in result.verdicts.items():
        if verdict.held is False:
            lines.append(
                f"{name} {'violated (expected)' if name in declared else 'VIOLATED'}: {verdict.detail}"
            )
    return "\n".join(lines)


def trial_annotations(results: Sequence[TrialResult], workspace: str | None = None) -> Iterator[str]:
    """One ``::error`` per trial that did not pass, on its scenario file (and plan's line)."""
    for result in results:
        if result.verdict not in FAILED_VERDICTS:
            continue
        path = result.spec.scenario.path
        yield command(
            "error",
            trial_message(result),
            file=shown_path(path, workspace) if path is not None else None,
            line=plan_line(result) if path is not None else None,
            title=f"{TITLE} {result.verdict.upper()}: {result.spec.title}",
        )


def outcome_annotations(gate: dict[str, Any]) -> Iterator[str]:
    """The session's exit status (a notice when 0, else an error), each reason that is not one trial's,
    and the notes."""
    code = gate.get("exit_code")
    kind = "notice" if code == 0 else "error"
    yield command(kind, f"exit status {code}: {gate.get('meaning', '')}", title=f"{TITLE} exit status {code}")
    for message in gate.get("messages", []):
        if not str(message).startswith(TRIAL_MESSAGE_PREFIXES):
            yield command(kind, str(message), title=f"{TITLE} exit status {code}")
    for note in gate.get("notes", []):
        yield command("notice", str(note), title=f"{TITLE} note")


def render_annotations(
    results: Sequence[TrialResult], gate: dict[str, Any], workspace: str | None = None
) -> str:
    """The file's text: the session's outcome first, then the trials'."""
    lines = [*outcome_annotations(gate), *trial_annotations(results, workspace)]
    return "".join(line + "\n" for line in lines)


def write_report(path: Path, inputs: ReportInputs) -> None:
    """``--chaos-github-annotations`` (:data:`durable_chaos.report.formats.FORMATS`)."""
    atomic_write_text(path, render_annotations(inputs.results, inputs.gate))


__all__ = ["command", "render_annotations", "write_report"]
