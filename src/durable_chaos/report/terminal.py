"""The terminal summary: the table of trials, the totals, a trial's details (its pytest failure), and
the small formatters (dollars, percentages, property marks) the Markdown and HTML reports share."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

from durable_chaos.properties import PROPERTY_MARKS
from durable_chaos.report.json_report import summary
from durable_chaos.run.results import TrialResult
from durable_chaos.scrub import for_terminal

WIDTH = 110


def dollars(value: float | None) -> str:
    """``$0.0030``, ``-$1.25``; ``n/a`` when unpriced."""
    if value is None:
        return "n/a"
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    return f"{sign}${magnitude:,.2f}" if magnitude >= 1 else f"{sign}${magnitude:.4f}"


def percent(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def property_order(results: Sequence[TrialResult]) -> list[str]:
    """Every property any trial checked: the known ones in their usual order, then the others."""
    seen = dict.fromkeys(name for r in results for name in r.verdicts)
    return [n for n in PROPERTY_MARKS if n in seen] + [n for n in seen if n not in PROPERTY_MARKS]


def property_abbreviations(names: Sequence[str]) -> dict[str, str]:
    marks: dict[str, str] = {}
    for name in names:
        mark = PROPERTY_MARKS.get(name) or "".join(part[:1] for part in name.split("_") if part).upper()
        base, n = mark or "?", 1
        while mark in marks.values() or not mark:
            n += 1
            mark = f"{base}{n}"
        marks[name] = mark
    return marks


def property_mark(result: TrialResult, name: str) -> str:
    """``+`` held, ``X`` violated, ``x`` violated as the scenario declared (a known-bad agent caught),
    ``-`` not applicable, ``.`` not checked (the compact marks of the Markdown and HTML reports)."""
    verdict = result.verdicts.get(name)
    if verdict is None:
        return "."
    if verdict.held is None:
        return "-"
    if verdict.held:
        return "+"
    declared = result.spec.scenario.expect_for(result.spec.plan).violations
    return "x" if name in declared else "X"


def is_known_bad(result: TrialResult) -> bool:
    """Whether the trial runs a known-bad agent: its plan declares the violations it must produce."""
    return bool(result.spec.scenario.expect_for(result.spec.plan).violations)


def outcome_text(result: TrialResult) -> str:
    """The properties' outcomes in words: the violated and caught ones by name, the rest counted."""
    if not result.verdicts:
        return "not judged"
    by_mark: dict[str, list[str]] = {}
    for name in result.verdicts:
        by_mark.setdefault(property_mark(result, name), []).append(name)
    parts = []
    if by_mark.get("X"):
        parts.append(f"VIOLATED {', '.join(by_mark['X'])}")
    if by_mark.get("x"):
        parts.append(f"caught {', '.join(by_mark['x'])}")
    held, na = len(by_mark.get("+", [])), len(by_mark.get("-", []))
    if held:
        parts.append(f"{'all ' if not parts and not na else ''}{held} held")
    if na:
        parts.append(f"{na} n/a")
    return "; ".join(parts)


def signed(value: str, negative: bool) -> str:
    """A saving; a negative one in parentheses (the table's legend says what that means)."""
    return f"({value.lstrip('-')})" if negative else value


ID_WIDTH = 38
"""The trial id column; a longer id gets a line of its own (ids are never cut)."""

LEGEND = [
    "outcome: held = the guarantee held; VIOLATED = it broke (details in pytest's FAILURES above); "
    "caught = a known-bad agent's declared violation was found; n/a = nothing to judge",
    "dup/calls: model calls repeated after their checkpoint / all model calls; saved: tokens and dollars "
    "durable resume saved over restarting from scratch",
]
NEGATIVE_NOTE = (
    "(in parentheses): a negative saving: the faulted run spent more than a restart from scratch would "
    "have (requests re-sent after a fault, or billed at other prices), although no completed call was "
    "repeated"
)
NEGATIVE_NOTE_REPEATED = (
    "(in parentheses): a negative saving: the faulted run spent more than a restart from scratch would "
    "have (completed calls repeated, requests re-sent after a fault, or billed at other prices)"
)


def _trial_rows(result: TrialResult) -> tuple[str, str, str, str, str, bool]:
    trial = result.to_report()
    cost, ran = trial["cost"], result.calls is not None
    if not ran:
        return result.verdict.upper(), result.spec.id, "-", "-", "-", False
    saved = trial["tokens"]["saved"]
    money = cost["saved"] if cost else None
    negative = saved < 0 or (money is not None and money < 0)
    return (
        result.verdict.upper(),
        result.spec.id,
        f"{trial['model_calls']['duplicates']}/{trial['model_calls']['total']}",
        signed(str(saved), saved < 0),
        signed(dollars(money), money is not None and money < 0) if cost else "n/a",
        negative,
    )


def table_lines(results: Sequence[TrialResult], width: int = WIDTH) -> list[str]:
    """One row per trial (verdict, trial id ``engine-plan``, model calls duplicated/total, tokens and
    dollars saved, the properties' outcomes in words) under a line naming its scenario; the user's own
    trials first, then the known-bad agents (whose declared violations must be caught), each under its
    own heading; a legend first. A trial id is never cut: one too long for its column gets a line of
    its own, with the row's cells on the next line."""
    rows = [(result, _trial_rows(result)) for result in results]
    header = ("", "trial", "dup/calls", "tok saved", "$ saved", "outcome")
    figures = [header[2:5], *(r[2:5] for _, r in rows)]
    numbers = [max(len(str(row[i])) for row in figures) for i in range(3)]
    fixed = 5 + 2 + sum(n + 2 for n in numbers)
    fitting = [len(r[1]) + 2 for _, r in rows if len(r[1]) + 2 <= ID_WIDTH]
    id_width = max([len("scenario / trial"), *fitting])
    outcome_width = width - fixed - id_width - 2

    def line(verdict: str, trial: str, cells: Sequence[str], outcome: str) -> list[str]:
        left = f"{verdict:5}  {'  ' + trial:{id_width}}"
        nums = "".join(f"  {cell:>{numbers[i]}}" for i, cell in enumerate(cells))
        wrapped = textwrap.wrap(outcome, max(outcome_width, 20), break_long_words=False) or [""]
        indent = " " * (len(left) + len(nums) + 2)
        return [f"{left}{nums}  {wrapped[0]}".rstrip(), *(indent + more for more in wrapped[1:])]

    lines = [*(piece for text in LEGEND for piece in textwrap.wrap(text, width, subsequent_indent="  "))]
    title = " " * 7 + "scenario / trial"  # fits: the id column is at least as wide
    lines.append(title + line("", "", header[2:5], "outcome")[0][len(title) :])
    negative = repeated = False
    sections = [
        ("healthy agents (every guarantee must hold)", [(r, row) for r, row in rows if not is_known_bad(r)]),
        (
            "known-bad agents (each must be caught with exactly its declared violations)",
            [(r, row) for r, row in rows if is_known_bad(r)],
        ),
    ]
    headed = all(section for _, section in sections)
    for heading, section in sections:
        if not section:
            continue
        if headed:
            lines.append(heading)
        scenario = None
        for result, (verdict, trial, *cells, below_zero) in section:
            negative = negative or below_zero
            repeated = repeated or (below_zero and result.calls is not None and result.calls.duplicates > 0)
            if result.spec.scenario.name != scenario:
                scenario = result.spec.scenario.name
                lines += textwrap.wrap(scenario, width - 7, initial_indent=" " * 7, subsequent_indent=" " * 7)
            if len(trial) + 2 > id_width:
                lines.append(f"{verdict:5}    {trial}")
                lines += line("", "", cells, outcome_text(result))
            else:
                lines += line(verdict, trial, cells, outcome_text(result))
    if negative:
        note = NEGATIVE_NOTE_REPEATED if repeated else NEGATIVE_NOTE
        lines += textwrap.wrap(note, width, subsequent_indent="  ")
    return lines


def _wrapped(text: str, indent: str, width: int = WIDTH) -> list[str]:
    """``text`` scrubbed for the terminal, then wrapped (a credential split across lines would not be
    recognised)."""
    return textwrap.wrap(
        for_terminal(text), width, initial_indent=indent, subsequent_indent=indent + "  "
    ) or [indent]


def detail_lines(result: TrialResult, width: int = WIDTH) -> list[str]:
    """The details of one trial: verdict and reason, every property with its detail, the numbers."""
    trial = result.to_report()
    calls, tokens, cost = trial["model_calls"], trial["tokens"], trial["cost"]
    lines = [f"{result.verdict.upper():5} {result.spec.title}  ({result.seconds:.1f}s)"]
    if trial["scenario_file"]:
        lines.append(f"      file: {trial['scenario_file']}")
    if not reason_is_details(result):
        lines += _wrapped(f"reason: {result.reason}", "      ", width)
    label = max((len(n) for n in result.verdicts), default=0)
    for name, verdict in result.verdicts.items():
        mark = {True: "ok", False: "VIOLATED", None: "n/a"}[verdict.held]
        if verdict.held is False and name in (trial["expected_violations"] or []):
            mark = "violated (expected)"
        lines += _wrapped(f"{name:{label}}  {mark}: {verdict.detail}", "      ", width)
    if result.calls is not None:
        lines += _wrapped(
            f"model calls: golden {calls['golden']}, total {calls['total']}, duplicates "
            f"{calls['duplicates']}, expected re-executions {calls['expected_reexecutions']}; tokens: spent "
            f"{tokens['spent']}, naive restart {tokens['naive_restart']}, saved {tokens['saved']}"
            + (f"; dollars: {cost_text(cost)}" if cost else "")
            + (f"; {listings}" if (listings := mcp_listings_text(calls)) else ""),
            "      ",
            width,
        )
    if trial.get("upgrade"):
        lines += _wrapped(upgrade_line(trial["upgrade"]), "      ", width)
    for change in trial.get("harness_changes", []):
        lines += _wrapped(f"harness changed: {change}", "      ", width)
    if result.workdir is not None:
        lines += _wrapped(
            f"artifacts (history, ledger, engine-<role>.log, worker logs) kept in {result.workdir}",
            "      ",
            width,
        )
    return lines


def upgrade_line(upgrade: dict[str, Any]) -> str:
    """An upgrade trial's versions, and whether the run reached N+1."""
    reached = "resumed on N+1" if upgrade.get("resumed_on_n_plus_1") else "never resumed on N+1"
    environments = upgrade.get("environments") or {}
    n, n_plus_1 = environments.get("N") or {}, environments.get("N+1") or {}
    changed = sorted(k for k in {*n, *n_plus_1} if k != "python" and n.get(k) != n_plus_1.get(k))
    libraries = (
        "; libraries: " + ", ".join(f"{k} {n.get(k, 'none')} -> {n_plus_1.get(k, 'none')}" for k in changed)
        if n and n_plus_1 and changed
        else ""
    )
    return f"upgrade: started on N ({upgrade['from']}), {reached} ({upgrade['to']}){libraries}"


def mcp_listings_text(calls: dict[str, Any]) -> str | None:
    """``MCP tool listings 3 (3 as engine units), 1.00 per model request`` for a trial's ``model_calls``
    (JSON report form); None when the golden run listed no MCP server's tools."""
    if not calls.get("mcp_listings"):
        return None
    return (
        f"MCP tool listings {calls['mcp_listings']} ({calls['mcp_listing_units']} as engine units), "
        f"{calls['mcp_listings_per_model_request']:.2f} per model request"
    )


def reason_is_details(result: TrialResult) -> bool:
    """Whether the trial's reason only repeats the details of its violated properties (shown anyway)."""
    violated = [v.detail for v in result.verdicts.values() if v.held is False]
    return result.verdict == "fail" and bool(violated) and all(d in result.reason for d in violated)


def cost_text(cost: dict[str, Any]) -> str:
    """Dollars spent, naive restart and saved, or why there are none."""
    unpriced = cost.get("unpriced_models") or []
    if cost.get("spent") is None and cost.get("naive_restart") is None:
        return (
            f"tokens only (unpriced: {', '.join(unpriced)})" if unpriced else "tokens only (nothing priced)"
        )
    text = (
        f"spent {dollars(cost.get('spent'))}, naive restart {dollars(cost.get('naive_restart'))}, "
        f"saved {dollars(cost.get('saved'))}"
    )
    return text + (f" (unpriced, left out: {', '.join(unpriced)})" if unpriced else "")


def totals_lines(results: Sequence[TrialResult], width: int = WIDTH) -> list[str]:
    totals = summary(results)
    lines = [
        f"{totals['trials']} trial(s): {totals['passed']} passed, {totals['failed']} failed, "
        f"{totals['errors']} error(s); model calls {totals['model_calls']}, duplicated "
        f"{totals['duplicate_model_calls']}"
    ]
    tokens = (
        f"tokens: spent {totals['tokens_spent']} vs naive restart {totals['tokens_naive_restart']}, "
        f"saved {totals['tokens_saved']} ({percent(totals['tokens_saved'], totals['tokens_naive_restart'])})"
    )
    lines += textwrap.wrap(f"{tokens}; dollars: {cost_text(totals['cost'])}", width, subsequent_indent="  ")
    return lines


def terminal_lines(results: Sequence[TrialResult], width: int = WIDTH) -> list[str]:
    """The chaos summary for the terminal: a table with one row per trial, then the totals (the last
    line is always the totals). The details of a trial that did not pass are its pytest failure
    (:func:`detail_lines`, in pytest's FAILURES section and the JUnit XML): printed once, there."""
    return [*table_lines(results, width), "", *totals_lines(results, width)]
