"""Reports: the JSON report (version 1) and the terminal summary."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from durable_chaos.harness.runner import TrialResult

REPORT_VERSION = 1


def summary(results: Sequence[TrialResult]) -> dict[str, Any]:
    """Counts and totals over all trials."""
    reports = [r.to_report() for r in results]
    return {
        "trials": len(results),
        "passed": sum(r.verdict == "pass" for r in results),
        "failed": sum(r.verdict == "fail" for r in results),
        "errors": sum(r.verdict == "error" for r in results),
        "duplicate_model_calls": sum(t["model_calls"]["duplicates"] for t in reports),
        "tokens_spent": sum(t["tokens"]["spent"] for t in reports),
        "tokens_naive_restart": sum(t["tokens"]["naive_restart"] for t in reports),
        "tokens_saved": sum(t["tokens"]["saved"] for t in reports),
    }


def json_report(results: Sequence[TrialResult]) -> dict[str, Any]:
    return {
        "version": REPORT_VERSION,
        "summary": summary(results),
        "trials": [r.to_report() for r in results],
    }


def write_json(path: Path, results: Sequence[TrialResult]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_report(results), indent=2, default=str) + "\n")


def _mark(held: bool | None) -> str:
    return {True: "ok", False: "VIOLATED", None: "n/a"}[held]


def terminal_lines(results: Sequence[TrialResult]) -> list[str]:
    """The chaos summary for the terminal: one block per trial, then totals."""
    lines: list[str] = []
    for result in results:
        trial = result.to_report()
        calls, tokens = trial["model_calls"], trial["tokens"]
        lines.append(f"{result.verdict.upper():5} {result.spec.title}  ({result.seconds:.1f}s)")
        for name, verdict in result.verdicts.items():
            lines.append(f"        {name:28} {_mark(verdict.held):9} {verdict.detail}")
        if result.verdict == "error" or (result.verdict == "fail" and not result.verdicts):
            lines.append(f"        {result.reason}")
        if result.calls is not None:
            lines.append(
                f"        model calls: golden {calls['golden']}, total {calls['total']}, "
                f"duplicates {calls['duplicates']}, expected re-executions {calls['expected_reexecutions']}; "
                f"tokens: spent {tokens['spent']}, naive restart {tokens['naive_restart']}, "
                f"saved {tokens['saved']}"
            )
    totals = summary(results)
    lines.append(
        f"{totals['trials']} trial(s): {totals['passed']} passed, {totals['failed']} failed, "
        f"{totals['errors']} error(s); duplicated model calls {totals['duplicate_model_calls']}; "
        f"tokens spent {totals['tokens_spent']} vs naive restart {totals['tokens_naive_restart']} "
        f"(saved {totals['tokens_saved']})"
    )
    return lines
