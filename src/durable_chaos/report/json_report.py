"""The JSON report (version 1): every trial's record, the totals, the sweeps, the fault coverage and the
session's outcome, in one document (``--chaos-report PATH``). Its shape is public: readers of version 1
rely on it, so a field is only ever added."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from durable_chaos.atomic import atomic_write_text
from durable_chaos.report.formats import ReportInputs
from durable_chaos.run.results import TrialResult
from durable_chaos.scrub import scrub_json

REPORT_VERSION = 1


def cost_totals(trials: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Dollar totals over trial reports. A figure is ``None`` when no trial could price it; models
    genai-prices does not know are listed under ``unpriced_models`` and left out (never guessed)."""
    totals: dict[str, Any] = {"currency": "USD"}
    for key in ("spent", "naive_restart", "saved"):
        values = [t["cost"][key] for t in trials if t.get("cost") and t["cost"].get(key) is not None]
        totals[key] = round(sum(values), 6) if values else None
    totals["unpriced_models"] = sorted(
        {m for t in trials if t.get("cost") for m in t["cost"].get("unpriced_models") or []}
    )
    return totals


def summary(results: Sequence[TrialResult]) -> dict[str, Any]:
    """Counts and totals over all trials."""
    reports = [r.to_report() for r in results]
    return {
        "trials": len(results),
        "passed": sum(r.verdict == "pass" for r in results),
        "failed": sum(r.verdict == "fail" for r in results),
        "errors": sum(r.verdict == "error" for r in results),
        "model_calls": sum(t["model_calls"]["total"] for t in reports),
        "duplicate_model_calls": sum(t["model_calls"]["duplicates"] for t in reports),
        "tokens_spent": sum(t["tokens"]["spent"] for t in reports),
        "tokens_naive_restart": sum(t["tokens"]["naive_restart"] for t in reports),
        "tokens_saved": sum(t["tokens"]["saved"] for t in reports),
        "cost": cost_totals(reports),
    }


def json_report(
    results: Sequence[TrialResult],
    gate: dict[str, Any] | None = None,
    seed: dict[str, Any] | None = None,
    *,
    incomplete: bool = False,
    shard: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON report; ``gate`` (the session's outcome: its exit status, see
    :mod:`durable_chaos.report.gate`) and ``seed`` (the session's chaos seed and its source, see
    :mod:`durable_chaos.explore.seeding`) are included when given. ``incomplete`` is true in the
    provisional report written at the session's start, which the final one replaces. ``shard``: under
    ``--chaos-shard``, what ``durable-chaos merge`` reads (:mod:`durable_chaos.report.merge`)."""
    report: dict[str, Any] = {
        "version": REPORT_VERSION,
        "incomplete": incomplete,
        "summary": summary(results),
        "trials": [r.to_report() for r in results],
    }
    from durable_chaos.explore.coverage import coverage_rows
    from durable_chaos.explore.sweep import sweep_report

    sweeps = sweep_report(results)
    if sweeps:
        report["sweeps"] = sweeps
    report["coverage"] = coverage_rows(results)
    if gate is not None:
        report["gate"] = gate
    if seed is not None:
        report["chaos_seed"] = seed
    if shard is not None:
        report["shard"] = shard
    return report


def write_json(
    path: Path,
    results: Sequence[TrialResult],
    gate: dict[str, Any] | None = None,
    seed: dict[str, Any] | None = None,
    *,
    incomplete: bool = False,
    shard: dict[str, Any] | None = None,
) -> None:
    report = json_report(results, gate, seed, incomplete=incomplete, shard=shard)
    atomic_write_text(path, json.dumps(scrub_json(report), indent=2, default=str) + "\n")


def write_report(path: Path, inputs: ReportInputs) -> None:
    """``--chaos-report`` (:data:`durable_chaos.report.formats.FORMATS`)."""
    write_json(
        path, inputs.results, inputs.gate, inputs.seed, incomplete=inputs.incomplete, shard=inputs.shard
    )
