"""``durable-chaos merge``: one gate and one set of reports from the JSON reports of a run's shards
(``pytest --chaos --chaos-shard K/N --chaos-report shard-K.json``, see :mod:`durable_chaos.explore.shards`).

Each shard's report carries a ``shard`` section: the shard (K, N), the fingerprint of the whole unsplit
run, whether the session completed, and the session's facts (the trials it owned, those with a result,
pytest's status, the gate's configuration, ...). The merge

- checks the set (:func:`shard_problems`): every shard 1..N exactly once, one N, one fingerprint, one gate
  configuration, every shard complete; anything else is exit 3 naming the shard or file, never green;
- rebuilds each trial's result from its JSON record (:func:`recorded_result`): enough for the reports'
  writers and the gate (verdicts, model calls, tokens, cost, crash point), with the record itself as the
  trial's JSON line;
- judges the whole run as one session would (:func:`durable_chaos.report.gate.session_outcome` over the
  union of the shards' facts), so the exit status is the one an unsharded run would give.

What the JSON record lacks, the merged reports lack: the trials' history (the HTML timelines). Fault
coverage is computed again: a plain trial's record keeps the few events it is computed from
(``coverage_events``), a sweep's trial its crash point.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from durable_chaos.report.gate import (
    EXIT_INFRASTRUCTURE,
    PYTEST_FAILED,
    PYTEST_OK,
    GateConfig,
    GateOutcome,
    session_outcome,
    worst,
)
from durable_chaos.report.json_report import REPORT_VERSION
from durable_chaos.run.results import TrialResult


class MergeError(Exception):
    """A report cannot be merged (unreadable, not a shard's JSON report); one line naming the file."""


@dataclass(frozen=True)
class ShardReport:
    """One shard's JSON report, read."""

    path: Path
    data: dict[str, Any]

    @property
    def shard(self) -> dict[str, Any]:
        section: dict[str, Any] = self.data["shard"]
        return section

    @property
    def label(self) -> str:
        return f"shard {self.shard['index']}/{self.shard['total']} ({self.path})"


def read_shard_report(path: Path) -> ShardReport:
    """A shard's JSON report; :class:`MergeError` (one line naming the file) when it is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise MergeError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise MergeError(f"{path}: not a JSON report: {exc}") from None
    if (
        not isinstance(data, dict)
        or data.get("version") != REPORT_VERSION
        or not isinstance(data.get("trials"), list)
    ):
        raise MergeError(f"{path}: not a durable-chaos JSON report (version {REPORT_VERSION})")
    shard = data.get("shard")
    if not isinstance(shard, dict):
        raise MergeError(
            f"{path}: not a shard's report (no 'shard' section): write each shard's report with "
            "`pytest --chaos --chaos-shard K/N --chaos-report PATH`"
        )
    index, total = shard.get("index"), shard.get("total")
    if not (isinstance(index, int) and isinstance(total, int) and 1 <= index <= total):
        raise MergeError(
            f"{path}: its 'shard' section names no shard K/N (a merged report cannot be merged again)"
        )
    return ShardReport(Path(path), data)


def shard_problems(reports: Sequence[ShardReport]) -> list[str]:
    """Why these reports are not the complete set of one run's shards (empty when they are)."""
    if not reports:
        return ["no shard report given"]
    problems: list[str] = []
    totals = sorted({r.shard["total"] for r in reports})
    if len(totals) > 1:
        listed = ", ".join(f"{r.path} is {r.shard['index']}/{r.shard['total']}" for r in reports)
        problems.append(f"the reports split the run in different numbers of shards ({listed})")
    fingerprints = {r.shard.get("fingerprint") for r in reports} - {None}
    if len(fingerprints) > 1:
        listed = ", ".join(f"{r.path}: {r.shard.get('fingerprint')}" for r in reports)
        problems.append(
            "the reports are shards of different runs (their whole-run fingerprints differ: "
            f"{listed}); merge the shards of one run (same commit, options and selection)"
        )
    splits = {str(r.shard.get("split")) for r in reports if r.shard.get("split") is not None}
    if len(splits) > 1 and len(fingerprints) <= 1:
        listed = ", ".join(f"{r.path}: {r.shard.get('split')}" for r in reports)
        problems.append(
            f"the shards dealt the tests differently ({listed}): some trials ran in two shards or in none; "
            "give every shard the same --chaos-shard-durations files"
        )
    configs = {
        json.dumps(r.shard.get("gate_config"), sort_keys=True) for r in reports if r.shard.get("complete")
    }
    if len(configs) > 1:
        problems.append(
            "the shards ran with different gate configurations ([tool.durable-chaos], --chaos-require)"
        )
    seen: dict[tuple[int, int], list[ShardReport]] = {}
    for report in reports:
        seen.setdefault((report.shard["index"], report.shard["total"]), []).append(report)
    for (index, total), copies in sorted(seen.items()):
        if len(copies) > 1:
            problems.append(
                f"shard {index}/{total} given {len(copies)} times: {', '.join(str(r.path) for r in copies)}"
            )
    for total in totals:
        missing = [f"{index}/{total}" for index in range(1, total + 1) if (index, total) not in seen]
        if missing:
            problems.append(
                f"shard(s) {', '.join(missing)} missing: no report for them among the {len(reports)} given, "
                "so their trials are not judged"
            )
    for report in reports:
        if report.data.get("incomplete") or not report.shard.get("complete"):
            problems.append(
                f"{report.label} is incomplete: its session was interrupted, stopped early or never finished "
                "(its report is not the session's final one), so its trials are not all judged"
            )
    return problems


@dataclass
class RecordedResult(TrialResult):
    """A trial's result rebuilt from its JSON record; its JSON line is the record itself."""

    record: dict[str, Any] = field(default_factory=dict)

    def to_report(self) -> dict[str, Any]:
        return dict(self.record)


def recorded_result(trial: dict[str, Any]) -> RecordedResult:
    """A trial's result from its record in a JSON report (version 1)."""
    from durable_chaos.explore.sweep import CrashPoint, Unit
    from durable_chaos.judge.accounting import ModelCalls, Tokens
    from durable_chaos.judge.checkers import Verdict
    from durable_chaos.judge.pricing import Cost
    from durable_chaos.scenario.model import Expect, Plan, Scenario, Sweep
    from durable_chaos.scenario.trial_specs import TrialSpec

    raw = trial.get("point")
    point, sweep = None, None
    if isinstance(raw, dict):
        point = CrashPoint(
            Unit(**raw["unit"]), raw["phase"], raw["fault"], raw["recovery"], raw.get("version", "")
        )
        sweep = Sweep.model_construct(**raw["sweep"]) if raw.get("sweep") else None
    expect = Expect.model_construct(violations=list(trial.get("expected_violations") or []))
    scenario = Scenario.model_construct(
        name=trial["scenario"],
        resume=trial.get("resume_mode") or "same_run",
        resume_worker=trial.get("resume_worker") or "new",
        expect=expect,
        sweep=sweep,
    ).located(trial.get("scenario_file"))
    plan = Plan.model_construct(name=trial["plan"], faults=[], expect=None)
    calls, tokens = trial.get("model_calls") or {}, trial.get("tokens") or {}
    ran = trial.get("ran", bool(calls.get("total")))
    cost = trial.get("cost")
    return RecordedResult(
        spec=TrialSpec(scenario, trial["engine"], plan, point),
        verdict=trial["verdict"],
        reason=trial.get("reason") or "",
        verdicts={
            name: Verdict(p.get("held"), p.get("detail", ""))
            for name, p in trial.get("properties", {}).items()
        },
        calls=ModelCalls(
            calls.get("golden", 0),
            calls.get("total", 0),
            calls.get("duplicates", 0),
            calls.get("expected_reexecutions", 0),
            concurrent=2 if calls.get("depends_on_scheduling") else 0,
        )
        if ran
        else None,
        tokens=Tokens(**{k: tokens.get(k, 0) for k in ("golden", "spent", "naive_restart", "saved")})
        if ran
        else None,
        fired=[int(f.get("fired", 0)) for f in trial.get("faults", [])],
        seconds=float(trial.get("seconds") or 0.0),
        resumes=int(trial.get("resumes") or 0),
        cost=Cost(
            cost.get("golden"),
            cost.get("spent"),
            cost.get("naive_restart"),
            cost.get("saved"),
            list(cost.get("unpriced_models") or []),
        )
        if isinstance(cost, dict)
        else None,
        harness_changes=list(trial.get("harness_changes") or []),
        events=list(trial.get("coverage_events") or []),
        record=dict(trial),
    )


def _union(lists: Sequence[Sequence[str]]) -> list[str]:
    return list(dict.fromkeys(item for items in lists for item in items))


def merged_outcome(reports: Sequence[ShardReport]) -> tuple[list[TrialResult], GateOutcome]:
    """The shards' trials and the run's one outcome: as an unsharded session would judge it, and never
    green when the set of shards is not whole (:func:`shard_problems`)."""
    ordered = sorted(reports, key=lambda r: (r.shard["index"], str(r.path)))
    problems = shard_problems(ordered)
    results: list[TrialResult] = []
    try:
        for report in ordered:
            results += [recorded_result(trial) for trial in report.data["trials"]]
    except (KeyError, TypeError, ValueError) as exc:
        problems.append(f"a trial record cannot be read back ({type(exc).__name__}: {exc})")
        results = []
    # Each scenario's trials together, files in path order (as one session collects them); within a
    # scenario, shard by shard.
    results.sort(key=lambda r: (str(r.spec.scenario.path or ""), r.spec.scenario.name))
    facts = [r.shard for r in ordered if r.shard.get("complete")]
    statuses = [int(f.get("pytest_status", PYTEST_OK)) for f in facts]
    status = PYTEST_FAILED if PYTEST_FAILED in statuses else max(statuses, default=PYTEST_OK)
    config = (
        GateConfig.model_validate(facts[0]["gate_config"])
        if facts and facts[0].get("gate_config")
        else GateConfig()
    )
    outcome = session_outcome(
        results,
        config,
        pytest_status=status,
        planned=_union([f.get("planned", []) for f in facts]),
        received=_union([f.get("received", []) for f in facts]),
        files=max((int(f.get("files", 0)) for f in facts), default=0),
        scenario_errors=_union([f.get("scenario_errors", []) for f in facts]),
        skipped=_union([f.get("skipped", []) for f in facts]),
        fixture_tests=sum(int(f.get("fixture_tests", 0)) for f in facts),
        lookalikes=_union([f.get("lookalikes", []) for f in facts]),
        ignored=_union([f.get("ignored", []) for f in facts]),
    )
    if problems and not facts:  # no complete shard: nothing to judge (not "no scenario collected")
        return results, GateOutcome(EXIT_INFRASTRUCTURE, [f"MERGE {problem}" for problem in problems])
    if problems:
        messages = [f"MERGE {problem}" for problem in problems]
        outcome = GateOutcome(
            worst([outcome.exit_code, EXIT_INFRASTRUCTURE]), messages + outcome.messages, outcome.notes
        )
    return results, outcome


def merge_record(reports: Sequence[ShardReport], outcome: GateOutcome) -> dict[str, Any]:
    """The merged JSON report's ``shard`` section: what was merged (no ``index``: not a shard), and every
    shard's recorded test durations (what the next run's ``--chaos-shard-durations`` reads)."""
    fingerprints = sorted({str(r.shard.get("fingerprint")) for r in reports})
    durations: dict[str, float] = {}
    for report in sorted(reports, key=lambda r: r.shard["index"]):
        if isinstance(report.shard.get("durations"), dict):
            durations.update(report.shard["durations"])
    return {
        "index": None,
        "total": reports[0].shard["total"] if reports else None,
        "fingerprint": fingerprints[0] if len(fingerprints) == 1 else None,
        "complete": not any(m.startswith("MERGE ") for m in outcome.messages),
        "merged": [str(r.path) for r in sorted(reports, key=lambda r: r.shard["index"])],
        "durations": dict(sorted(durations.items())),
    }


__all__ = [
    "MergeError",
    "RecordedResult",
    "ShardReport",
    "merge_record",
    "merged_outcome",
    "read_shard_report",
    "recorded_result",
    "shard_problems",
]
