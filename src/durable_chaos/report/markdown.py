"""The Markdown summary (GitHub-flavoured), for a CI step summary: ``--chaos-markdown PATH``.

``cat chaos.md >> "$GITHUB_STEP_SUMMARY"`` shows the totals, one table row per trial, each sweep's
matrix, the fault coverage, and for every trial that did not pass the detail of each violated property
(which names the unit and the fix).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from durable_chaos.atomic import atomic_write_text
from durable_chaos.explore.coverage import coverage_rows
from durable_chaos.explore.sweep import matrix_cells, sweep_report, sweep_verdicts
from durable_chaos.report.formats import ReportInputs
from durable_chaos.report.gate import TRIAL_MESSAGE_PREFIXES
from durable_chaos.report.json_report import summary
from durable_chaos.report.terminal import cost_text, dollars, mcp_listings_text, percent, reason_is_details
from durable_chaos.run.results import TrialResult
from durable_chaos.scrub import scrub_text, strip_controls

TITLE = "durable-chaos"


def escape_text(text: str, *, scrubbed: bool = False) -> str:
    """Prose that GitHub renders as written: no credential (:mod:`durable_chaos.scrub`, unless already
    ``scrubbed``), no raw HTML, no accidental emphasis, code, strikethrough, math or heading; no live
    link, image or @mention from a user's string; no terminal control sequence. Underscores inside
    words (``tool_call``) cannot emphasize and stay as they are."""
    text = strip_controls(text if scrubbed else scrub_text(text))  # before escaping alters its shape
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = re.sub(r"([\\`*$~\[\]!])", r"\\\1", text)
    text = _MENTION.sub("@&#8203;", text)  # a zero-width space after @ stops a mention (ASCII source)
    text = re.sub(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", r"\\_", text)
    return "\\" + text if text.startswith("#") else text


_MENTION = re.compile(r"@(?=[A-Za-z0-9_])")


def escape_line(text: str) -> str:
    """Escaped prose on one line (a paragraph or a list item)."""
    return escape_text(" ".join(scrub_text(str(text)).split()), scrubbed=True)


def escape_cell(text: str) -> str:
    """A table cell: escaped prose, ``|`` escaped, on one line."""
    return escape_line(text).replace("|", "\\|")


def _code(text: str) -> str:
    """Inline code (property names, file paths); backticks inside are replaced."""
    return f"`{strip_controls(scrub_text(text)).replace('`', chr(39))}`"


def _violated(trial: dict[str, Any]) -> str:
    expected = set(trial.get("expected_violations") or [])
    names = [n for n, p in trial["properties"].items() if p["held"] is False]
    if not names:
        return "none" if trial["verdict"] != "error" else "not judged"
    return ", ".join(f"{n} (expected)" if n in expected else n for n in names)


def _dollars_cell(cost: dict[str, Any] | None) -> str:
    if cost is None:
        return "tokens only (not priced)"
    if cost.get("spent") is None and cost.get("naive_restart") is None:
        return cost_text(cost)
    cell = (
        f"{dollars(cost.get('spent'))} / {dollars(cost.get('naive_restart'))} / {dollars(cost.get('saved'))}"
    )
    unpriced = cost.get("unpriced_models") or []
    return cell + (f" (unpriced: {', '.join(unpriced)})" if unpriced else "")


def _money(cost: dict[str, Any]) -> str:
    if cost["naive_restart"] is None:
        return escape_text(cost_text(cost))
    saved, naive = escape_text(dollars(cost["saved"])), escape_text(dollars(cost["naive_restart"]))
    text = f"dollars saved **{saved}** of {naive}"
    unpriced = cost["unpriced_models"]
    return text + (f" (unpriced: {escape_text(', '.join(unpriced))})" if unpriced else "")


def totals_line(results: Sequence[TrialResult]) -> str:
    totals = summary(results)
    return (
        f"**{totals['trials']} trial(s)**: {totals['passed']} passed, {totals['failed']} failed, "
        f"{totals['errors']} error(s). Model calls {totals['model_calls']}, duplicated "
        f"{totals['duplicate_model_calls']}. Tokens spent {totals['tokens_spent']} vs naive restart "
        f"{totals['tokens_naive_restart']}: saved **{totals['tokens_saved']}** "
        f"({escape_text(percent(totals['tokens_saved'], totals['tokens_naive_restart']))}); "
        f"{_money(totals['cost'])}."
    )


def trial_table(results: Sequence[TrialResult]) -> list[str]:
    """One row per trial (numbers are ``-`` for a trial that never got to run)."""
    header = [
        "Scenario",
        "Engine",
        "Plan",
        "Verdict",
        "Violated properties",
        "Duplicate model calls",
        "Tokens spent / naive / saved",
        "Dollars spent / naive / saved",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for result in results:
        t = result.to_report()
        tokens, ran = t["tokens"], result.calls is not None
        cells = [
            t["scenario"],
            t["engine"],
            t["plan"],
            t["verdict"].upper(),
            _violated(t),
            _calls_cell(t["model_calls"]) if ran else "-",
            f"{tokens['spent']} / {tokens['naive_restart']} / {tokens['saved']}" if ran else "-",
            _dollars_cell(t.get("cost")) if ran else "-",
        ]
        lines.append("| " + " | ".join(escape_cell(str(c)) for c in cells) + " |")
    return lines


def _calls_cell(calls: dict[str, Any]) -> str:
    listings = mcp_listings_text(calls)
    return f"{calls['duplicates']} of {calls['total']}" + (f"; {listings}" if listings else "")


def trial_section(result: TrialResult) -> list[str]:
    """What went wrong in one trial that did not pass."""
    trial = result.to_report()
    title = f"{trial['verdict'].upper()}: {trial['scenario']} on {trial['engine']}, plan {trial['plan']}"
    lines = [f"### {escape_text(title)}", ""]
    if trial.get("scenario_file"):
        lines += [f"Scenario file: {_code(trial['scenario_file'])}", ""]
    if not reason_is_details(result):
        lines += [escape_line(trial["reason"]), ""]
    expected = set(trial.get("expected_violations") or [])
    violated = [(n, p) for n, p in trial["properties"].items() if p["held"] is False]
    for name, prop in violated:
        note = " (expected: known-bad agent)" if name in expected else ""
        lines.append(f"- {_code(name)}{note}: {escape_line(prop['detail'])}")
    missing = sorted(expected - {n for n, _ in violated}) if trial["verdict"] != "error" else []
    for name in missing:
        held = (trial["properties"].get(name) or {}).get("held", "absent")
        state = {True: "held", None: "was not applicable"}.get(held, "was not checked")
        lines.append(f"- {_code(name)}: expected to be violated (known-bad agent) but {state}")
    if violated or missing:
        lines.append("")
    return lines


def gate_section(gate: dict[str, Any], results: Sequence[TrialResult]) -> list[str]:
    """The exit status and why; the trials that did not pass are detailed in their own sections."""
    lines = [f"**Exit status {gate['exit_code']}**: {escape_text(gate['meaning'])}.", ""]
    failed = sum(r.verdict == "fail" for r in results)
    errors = sum(r.verdict == "error" for r in results)
    bullets = [escape_line(m) for m in gate.get("messages", []) if not m.startswith(TRIAL_MESSAGE_PREFIXES)]
    counts = [f"{n} trial(s) {what}" for n, what in ((failed, "failed"), (errors, "errored")) if n]
    if counts:
        bullets.insert(0, " and ".join(counts) + ": see below")
    bullets += [f"note: {escape_line(n)}" for n in gate.get("notes", [])]
    return lines + [f"- {b}" for b in bullets] + ([""] if bullets else [])


MISSED_LISTED = 5
"""How many missed crash points a coverage row lists (the JSON report lists all)."""


def sweep_sections(results: Sequence[TrialResult]) -> list[str]:
    """Per sweep, its matrix: units x fault/phase/recovery, each cell the trial's verdict."""
    lines: list[str] = []
    for group in sweep_report(results):
        columns, rows = matrix_cells(sweep_verdicts(results, group["scenario"], group["engine"]))
        lines += [f"### Sweep: {escape_text(group['scenario'])} on {escape_text(group['engine'])}", ""]
        lines.append("| Unit | " + " | ".join(escape_cell(c) for c in columns) + " |")
        lines.append("|" + "---|" * (len(columns) + 1))
        for label, cells in rows:
            marks = [(v.upper() if v != "pass" else "pass") if v else "-" for v in cells]
            lines.append(f"| {escape_cell(label)} | " + " | ".join(marks) + " |")
        lines.append("")
    return lines


def coverage_section(results: Sequence[TrialResult]) -> list[str]:
    """Fault coverage per scenario, engine and source (sweep or plans), the first missed points listed."""
    rows = coverage_rows(results)
    if not rows:
        return []
    lines = [
        "### Fault coverage",
        "",
        "Crash points of the golden run (unit x phase x fault x recovery) that the trials exercised.",
        "",
        "| Scenario | Engine | Source | Points | Missed | Cover | Missing |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        missed = [_code(m) for m in row["missed"][:MISSED_LISTED]]
        if len(row["missed"]) > MISSED_LISTED:
            missed.append(f"and {len(row['missed']) - MISSED_LISTED} more")
        cells = [escape_cell(row["scenario"]), escape_cell(row["engine"]), escape_cell(row["source"])]
        cells += [str(row["points"]), str(row["points"] - row["exercised"]), f"{int(row['percent'])}%"]
        lines.append("| " + " | ".join([*cells, ", ".join(missed) or "none"]) + " |")
    return [*lines, ""]


def render_markdown(results: Sequence[TrialResult], gate: dict[str, Any] | None = None) -> str:
    """The Markdown summary: a totals line, a table with one row per trial, then a section for each
    trial that did not pass with each violated property's detail. ``gate`` (``GateOutcome.as_dict()``)
    adds the exit status and its messages."""
    lines = [f"## {TITLE}", ""]
    if gate is not None:
        lines += gate_section(gate, results)
    if not results and not (gate or {}).get("incomplete"):
        lines += ["No chaos trial ran.", ""]
        return "\n".join(lines)
    lines += [totals_line(results), ""]
    lines += trial_table(results)
    lines.append("")
    lines += sweep_sections(results) + coverage_section(results)
    for result in results:
        if result.verdict != "pass":
            lines += trial_section(result)
    return "\n".join(lines).rstrip("\n") + "\n"


def write_markdown(path: Path, results: Sequence[TrialResult], gate: dict[str, Any] | None = None) -> None:
    atomic_write_text(path, render_markdown(results, gate))  # its texts are scrubbed as escaped


def write_report(path: Path, inputs: ReportInputs) -> None:
    """``--chaos-markdown`` (:data:`durable_chaos.report.formats.FORMATS`)."""
    write_markdown(path, inputs.results, inputs.gate)


def write_invalid_configuration(path: Path, message: str) -> None:
    """The summary of a run that stopped on an invalid configuration (exit status 2)."""
    gate = {"exit_code": 2, "meaning": "a scenario or the configuration is invalid", "messages": [message]}
    write_markdown(path, [], gate)
