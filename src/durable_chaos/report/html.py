"""The HTML report: one self-contained page (inline CSS and JS, no network): ``--chaos-html PATH``.

The page shows the totals, a table of trials (filterable by verdict), each sweep's verdict matrix (cells
linked to their trials), the fault coverage (every missed crash point, folded) and, per trial, its properties
and a timeline of every process of the trial: one lane per role (golden, faulted, resume-1, ...),
each unit attempt a bar from ``invoke`` to ``ok`` / ``fail``, with markers for the faults that fired
and the SIGKILLs, and ticks for checkpoints, unit identities (cache keys, step functions, activity
types), replays, workflow tasks and tool bodies run.

Python renders the static parts (escaped) and embeds each trial's timeline as JSON
(``<script type="application/json" id="chaos-data">``); the inline script draws the timelines as SVG.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from durable_chaos.atomic import atomic_write_text
from durable_chaos.explore.coverage import coverage_rows
from durable_chaos.explore.sweep import CrashPoint, matrix_cells, sweep_report, sweep_verdicts
from durable_chaos.judge.evidence import is_faulted
from durable_chaos.report.gate import TRIAL_MESSAGE_PREFIXES
from durable_chaos.report.terminal import dollars, percent, property_order, summary
from durable_chaos.run.results import TrialResult
from durable_chaos.scrub import scrub_json, scrub_text

# History events drawn as small ticks on a lane, and the field that labels them.
TICKS = ("checkpoint", "identity", "replay", "execute", "workflow_task")
LABEL_FIELDS = ("label", "identity", "task_name", "function_name", "activity_type")
"""Fields of an event's ``engine`` dict that name what a tick stands for, first found wins (an engine
may set ``label`` to say it in its own words)."""
STATES = {"held": "held", "violated": "VIOLATED", "na": "n/a", "expected": "violated (expected)"}
OPEN_ALL_UP_TO = 10
"""With at most this many trials every trial's details are open; with more, only those that did not pass."""


def timeline(result: TrialResult) -> dict[str, Any]:
    """The trial's history as lanes (one per role, in order of appearance), unit attempt bars, fault and
    kill marks, and ticks. Times are milliseconds since the trial's first event."""
    events = sorted((e for e in result.events if isinstance(e.get("t"), int | float)), key=lambda e: e["t"])
    if not events:
        return {"lanes": [], "bars": [], "marks": [], "ticks": []}
    t0 = events[0]["t"]
    duplicates = {
        (s.get("role"), (s.get("unit") or {}).get("fingerprint"), s.get("attempt"))
        for s in (result.calls.duplicate_sends if result.calls else [])
    }
    lanes: dict[str, dict[str, Any]] = {}
    bars: list[dict[str, Any]] = []
    marks: list[dict[str, Any]] = []
    ticks: list[dict[str, Any]] = []
    running: dict[tuple[Any, ...], dict[str, Any]] = {}
    for e in events:
        role, kind, at = str(e.get("role", "?")), e.get("event"), round((e["t"] - t0) * 1000, 2)
        lane = lanes.setdefault(
            role,
            {
                "role": role,
                "faulted": is_faulted(role),
                "pids": [],
                "start": at,
                "end": at,
                "outcome": "unfinished",
            },
        )
        lane["end"] = max(lane["end"], at)
        if kind == "killed":  # written by the supervising process about this role's worker
            lane["outcome"] = "killed"
            marks.append(
                {"type": "killed", "role": role, "t": at, "by": e.get("pid"), "exit": e.get("exit_code")}
            )
            continue
        if e.get("pid") not in lane["pids"]:
            lane["pids"].append(e.get("pid"))
        unit = e.get("unit") or {}
        if kind == "run_start":
            lane["start"] = at
        elif kind == "run_end":
            lane["outcome"] = "completed" if e.get("completed") else "failed"
            lane["error"] = e.get("error")
        elif kind == "run_ids":
            lane["ids"] = e.get("engine") or {}
        elif kind in ("invoke", "ok", "fail") and unit:
            key = (
                role,
                e.get("pid"),
                unit.get("kind"),
                unit.get("ordinal"),
                unit.get("fingerprint"),
                e.get("attempt"),
            )
            bar = running.pop(key, None)
            if bar is not None and kind == "invoke":  # invoked again without an end: the earlier one is open
                bar["end"], bar = at, None
            if bar is None:
                bar = {
                    "role": role,
                    "pid": e.get("pid"),
                    **{k: unit.get(k) for k in ("kind", "ordinal", "name")},
                    "attempt": e.get("attempt"),
                    "fp": unit.get("fingerprint"),
                    "start": at,
                    "end": None,
                    "outcome": "open",
                    "dup": (role, unit.get("fingerprint"), e.get("attempt")) in duplicates,
                }
                bars.append(bar)
            if kind == "invoke":
                running[key] = bar
            else:
                bar.update(end=at, outcome=kind, status=e.get("status"), error=e.get("error"))
                bar["replayed"] = e.get("replayed") or []
        elif kind == "fault":
            fault = {**(e.get("fault") or {}), "unit": unit, "attempt": e.get("attempt")}
            marks.append({"type": "fault", "role": role, "t": at, **fault})
        elif kind in TICKS:
            engine = e.get("engine") or {}
            label = next((str(engine[f]) for f in LABEL_FIELDS if engine.get(f)), None)
            ticks.append({"type": kind, "role": role, "t": at, "label": label or unit.get("name")})
    for bar in running.values():  # attempts that never ended: their process was killed or gave up
        bar["end"] = lanes[bar["role"]]["end"]
        bar["outcome"] = "killed" if lanes[bar["role"]]["outcome"] == "killed" else "open"
    return {"lanes": list(lanes.values()), "bars": bars, "marks": marks, "ticks": ticks}


def escape(text: str) -> str:
    """Text for the page: scrubbed of credentials (:mod:`durable_chaos.scrub`), then HTML-escaped."""
    return html.escape(scrub_text(str(text)))


def script_json(data: Any) -> str:
    """JSON that is safe inside a ``<script>`` element: no ``</script>``, no ``<!--``; scrubbed of
    credentials."""
    text = json.dumps(scrub_json(json.loads(json.dumps(data, default=str))), separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _unpriced(cost: dict[str, Any]) -> str:
    return ", ".join(cost.get("unpriced_models") or []) or "no priced model"


def _cost_line(cost: dict[str, Any] | None) -> str:
    if cost is None:
        return "n/a"
    if cost.get("spent") is None and cost.get("naive_restart") is None:
        return f"tokens only (unpriced: {_unpriced(cost)})"
    text = (
        f"{dollars(cost.get('spent'))} spent vs {dollars(cost.get('naive_restart'))} naive restart, "
        f"{dollars(cost.get('saved'))} saved"
    )
    return text + (f" (unpriced, left out: {_unpriced(cost)})" if cost.get("unpriced_models") else "")


def _dollars_card(cost: dict[str, Any]) -> str:
    if cost.get("spent") is None and cost.get("naive_restart") is None:
        return f"tokens only <small>unpriced: {escape(_unpriced(cost))}</small>"
    note = f"; unpriced, left out: {_unpriced(cost)}" if cost.get("unpriced_models") else ""
    return (
        f"{escape(dollars(cost.get('saved')))} <small>spent {escape(dollars(cost.get('spent')))} vs "
        f"{escape(dollars(cost.get('naive_restart')))}{escape(note)}</small>"
    )


def _fault_text(fault: dict[str, Any]) -> str:
    at = fault.get("at") or {}
    unit = "any unit" if at.get("kind", "any") == "any" else str(at.get("kind"))
    unit += f" {at['name']}" if at.get("name", "*") != "*" else ""
    unit += f" #{at['occurrence']}" if at.get("occurrence") else ""
    unit += f" attempt {at['attempt']}" if at.get("attempt") else ""
    unit += f" x{at['times']}" if at.get("times", 1) != 1 else ""
    extra = "".join(f" {fault[k]}" for k in ("status", "exception") if fault.get(k) is not None)
    return f"{fault.get('kind')}{extra} {at.get('phase', 'before')} {unit}: fired {fault.get('fired', 0)}"


def _state(name: str, prop: dict[str, Any], expected: list[str]) -> str:
    state = {True: "held", False: "violated", None: "na"}[prop["held"]]
    return "expected" if state == "violated" and name in expected else state


def _prop_cell(name: str, prop: dict[str, Any] | None, expected: list[str]) -> str:
    if prop is None:
        return '<td class="prop none" title="not checked">&middot;</td>'
    state = _state(name, prop, expected)
    mark = {"held": "&#10003;", "violated": "&#10007;", "na": "n/a", "expected": "&#10007; exp."}[state]
    title = escape(f"{name} {STATES[state]}: {prop['detail']}")
    return f'<td class="prop {state}" title="{title}">{mark}</td>'


def _pill(verdict: str) -> str:
    return f'<span class="pill {escape(verdict)}">{escape(verdict)}</span>'


def _row(i: int, result: TrialResult, trial: dict[str, Any], names: list[str]) -> str:
    expected = trial["expected_violations"] or []
    cells = "".join(_prop_cell(n, trial["properties"].get(n), expected) for n in names)
    calls, cost = trial["model_calls"], trial["cost"]
    search = escape(f"{trial['scenario']} {trial['engine']} {trial['plan']} {trial['verdict']}".lower())
    return (
        f'<tr class="trial-row" data-verdict="{escape(result.verdict)}" data-search="{search}">'
        f'<td>{_pill(result.verdict)}</td><td><a href="#trial-{i}">{escape(trial["scenario"])}</a></td>'
        f"<td>{escape(trial['engine'])}</td><td>{escape(trial['plan'])}</td>{cells}"
        f'<td class="num">{calls["duplicates"]}/{calls["total"]}</td>'
        f'<td class="num">{trial["tokens"]["saved"]}</td>'
        f'<td class="num">{escape(dollars(cost["saved"]) if cost else "n/a")}</td>'
        f'<td class="num">{result.seconds:.1f}s</td></tr>'
    )


def _card(i: int, result: TrialResult, trial: dict[str, Any], open_: bool) -> str:
    expected = trial["expected_violations"] or []
    props = "".join(
        f'<li class="{_state(name, prop, expected)}"><b>{escape(name)}</b> '
        f'<span class="state">{STATES[_state(name, prop, expected)]}</span> '
        f'<span class="detail">{escape(prop["detail"])}</span></li>'
        for name, prop in trial["properties"].items()
    )
    calls, tokens = trial["model_calls"], trial["tokens"]
    facts = [
        f"model calls: golden {calls['golden']}, total {calls['total']}, duplicates {calls['duplicates']}, "
        f"expected re-executions {calls['expected_reexecutions']}",
        f"tokens: spent {tokens['spent']} vs naive restart {tokens['naive_restart']}, "
        f"saved {tokens['saved']}",
        f"dollars: {_cost_line(trial['cost'])}",
        f"resumes: {trial['resumes']} ({trial['resume_mode']})",
    ] + [f"harness changed: {change}" for change in trial.get("harness_changes", [])]
    faults = "".join(f"<li>{escape(_fault_text(f))}</li>" for f in trial["faults"]) or "<li>none</li>"
    description = result.spec.scenario.description.strip()
    where = f'<p class="muted">{escape(trial["scenario_file"])}</p>' if trial["scenario_file"] else ""
    return (
        f'<details class="trial" id="trial-{i}" data-verdict="{escape(result.verdict)}"{" open" * open_}>'
        f'<summary>{_pill(result.verdict)} <span class="title">{escape(result.spec.title)}</span> '
        f'<span class="muted">{escape(trial["engine"])} &middot; {escape(trial["plan"])} &middot; '
        f"{result.seconds:.1f}s</span></summary>\n"
        f'<div class="body"><p class="reason">{escape(result.reason)}</p>'
        + (f'<p class="description">{escape(description)}</p>' if description else "")
        + f'<div class="cols"><div><h4>Properties</h4><ul class="props">{props or "<li>not judged</li>"}</ul>'
        f'</div><div><h4>Faults planned</h4><ul class="faults">{faults}</ul>'
        '<h4>Numbers</h4><ul class="facts">'
        + "".join(f"<li>{escape(f)}</li>" for f in facts)
        + f'</ul>{where}</div></div>\n<div class="timeline" id="timeline-{i}" data-trial="{i}"></div>'
        "</div></details>\n"
    )


def sweep_html(results: Sequence[TrialResult]) -> str:
    """Per sweep, its matrix (units x fault/phase/recovery, each cell the trial's verdict, linked to it)."""
    index = {id(r): i for i, r in enumerate(results)}
    parts = []
    for group in sweep_report(results):
        name, engine = group["scenario"], group["engine"]
        columns, rows = matrix_cells(sweep_verdicts(results, name, engine))
        links = {
            (
                r.spec.point.unit.label,
                f"{r.spec.point.fault}/{r.spec.point.phase}/{r.spec.point.recovery}",
            ): index[id(r)]
            for r in results
            if isinstance(r.spec.point, CrashPoint)
            and (r.spec.scenario.name, r.spec.engine) == (name, engine)
        }
        body = "".join(
            f"<tr><td>{escape(label)}</td>"
            + "".join(
                f'<td class="cell"><a href="#trial-{links[(label, column)]}">{_pill(verdict)}</a></td>'
                if verdict
                else '<td class="cell muted">-</td>'
                for verdict, column in zip(cells, columns, strict=True)
            )
            + "</tr>"
            for label, cells in rows
        )
        heads = "".join(f"<th>{escape(c)}</th>" for c in columns)
        parts.append(
            f'<h3 class="sweep">Sweep: {escape(name)} on {escape(engine)}</h3>'
            f'<table class="trials matrix"><thead><tr><th>unit</th>{heads}</tr></thead>'
            f"<tbody>{body}</tbody></table>"
        )
    return f'<h2 id="sweeps">Sweeps</h2>{"".join(parts)}' if parts else ""


def coverage_html(results: Sequence[TrialResult]) -> str:
    """Fault coverage per scenario, engine and source, every missed crash point listed (folded)."""
    rows = coverage_rows(results)
    if not rows:
        return ""
    body = "".join(
        f"<tr><td>{escape(row['scenario'])}</td><td>{escape(row['engine'])}</td>"
        f'<td>{escape(row["source"])}</td><td class="num">{row["points"]}</td>'
        f'<td class="num">{row["points"] - row["exercised"]}</td>'
        f'<td class="num">{int(row["percent"])}%</td><td>'
        + (
            f"<details><summary>{len(row['missed'])} missed</summary><ul>"
            + "".join(f"<li>{escape(m)}</li>" for m in row["missed"])
            + "</ul></details>"
            if row["missed"]
            else "none"
        )
        + "</td></tr>"
        for row in rows
    )
    return (
        '<h2 id="coverage">Fault coverage</h2><p class="muted">Crash points of the golden run (unit x phase '
        "x fault x recovery) that the trials exercised.</p>"
        '<table class="trials coverage"><thead><tr><th>scenario</th><th>engine</th><th>source</th>'
        '<th class="num">points</th><th class="num">missed</th><th class="num">cover</th><th>missing</th>'
        f"</tr></thead><tbody>{body}</tbody></table>"
    )


def _gate_banner(gate: dict[str, Any] | None) -> str:
    """The session's exit status and why (the trials that did not pass have their own details)."""
    if gate is None:
        return ""
    messages = [m for m in gate.get("messages", []) if not str(m).startswith(TRIAL_MESSAGE_PREFIXES)]
    items = [escape(str(m)) for m in messages] + [f"note: {escape(str(n))}" for n in gate.get("notes", [])]
    return (
        f'<div class="gate {"ok" if gate.get("exit_code") == 0 else "bad"}" id="gate">'
        f"<b>exit status {escape(str(gate.get('exit_code')))}</b>: {escape(str(gate.get('meaning', '')))}"
        + (f"<ul>{''.join(f'<li>{item}</li>' for item in items)}</ul>" if items else "")
        + "</div>"
    )


def render_html(results: Sequence[TrialResult], gate: dict[str, Any] | None = None) -> str:
    """The report page for these trials, as one self-contained HTML document; ``gate``
    (``GateOutcome.as_dict()``), when given, is shown as the session's exit status."""
    pairs = list(enumerate(zip(results, [r.to_report() for r in results], strict=True)))
    totals = summary(results)
    names = property_order(results)
    naive = totals["tokens_naive_restart"]
    data = {
        "trials": [
            {"id": f"trial-{i}", "title": r.spec.title, "verdict": r.verdict, "timeline": timeline(r)}
            for i, r in enumerate(results)
        ]
    }
    values = {
        "GENERATED": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        **{key.upper(): str(totals[key]) for key in ("trials", "passed", "failed", "errors", "model_calls")},
        "DUPLICATES": str(totals["duplicate_model_calls"]),
        "SPENT": str(totals["tokens_spent"]),
        "NAIVE": str(naive),
        "SAVED": str(totals["tokens_saved"]),
        "SAVED_SHARE": escape(percent(totals["tokens_saved"], naive)),
        "METER": f"{max(0.0, min(1.0, totals['tokens_saved'] / naive if naive else 0.0)) * 100:.1f}",
        "DOLLARS": _dollars_card(totals["cost"]),
        "HEADS": "".join(
            f'<th class="prop" title="{escape(n)}">{escape(n.replace("_", " "))}</th>' for n in names
        ),
        "ROWS": "".join(_row(i, r, t, names) for i, (r, t) in pairs),
        "CARDS": "".join(
            _card(i, r, t, len(results) <= OPEN_ALL_UP_TO or r.verdict != "pass") for i, (r, t) in pairs
        ),
        "DATA": script_json(data),
        "GATE": _gate_banner(gate),
        "SWEEPS": sweep_html(results) + coverage_html(results),
    }
    # One pass, so that text taken from the trials is never searched for markers.
    return re.sub(r"%%([A-Z_]+)%%", lambda m: values[m.group(1)], PAGE)


def write_html(path: Path, results: Sequence[TrialResult], gate: dict[str, Any] | None = None) -> None:
    """Write the report page to ``path``."""
    atomic_write_text(path, render_html(results, gate))  # every text in it went through escape()


PAGE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>durable-chaos report</title>
<style>
:root { --fg:#1f2328; --muted:#656d76; --bg:#f6f8fa; --card:#fff; --line:#d0d7de; --soft:#eaeef2;
  --pass:#1a7f37; --fail:#cf222e; --error:#9a6700; --model:#3366cc; --tool:#0f9488; --fault:#e36209;
  --kill:#cf222e; --ckpt:#1a7f37; --cache:#8c959f; --replay:#8250df; --exec:#24292f; }
* { box-sizing:border-box; }
body { margin:0; font:14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
  color:var(--fg); background:var(--bg); }
header { background:#24292f; color:#fff; padding:18px 28px 14px; }
header h1 { margin:0; font-size:20px; font-weight:600; }
header .sub { color:#afb8c1; font-size:12px; }
main { padding:18px 28px 40px; max-width:1600px; }
.cards { display:flex; flex-wrap:wrap; gap:12px; margin:14px 0 4px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:10px 14px;
  min-width:200px; flex:1; }
.card .k { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.card .v { font-size:22px; font-weight:600; }
.card .v small { font-size:13px; font-weight:400; color:var(--muted); }
.v .pass { color:var(--pass); } .v .fail { color:var(--fail); } .v .error { color:var(--error); }
.gate { border:1px solid; border-radius:8px; padding:8px 14px; }
.gate.ok { background:#dafbe1; border-color:#4ac26b; } .gate.bad { background:#ffebe9; border-color:#ff8182; }
.gate ul { margin:4px 0 0; padding-left:18px; font-size:13px; }
.meter { height:6px; background:var(--soft); border-radius:3px; margin-top:6px; overflow:hidden; }
.meter span { display:block; height:100%; background:var(--pass); }
.toolbar { display:flex; gap:8px; align-items:center; margin:18px 0 8px; flex-wrap:wrap; }
.toolbar button { border:1px solid var(--line); background:var(--card); color:var(--fg); border-radius:16px;
  padding:3px 12px; cursor:pointer; font-size:13px; }
.toolbar button.active { background:#24292f; color:#fff; border-color:#24292f; }
.toolbar input, .toolbar select { border:1px solid var(--line); border-radius:6px; padding:4px 8px;
  background:var(--card); color:var(--fg); }
.toolbar input { min-width:240px; }
.toolbar .sep { flex:1; }
table.trials { border-collapse:collapse; width:100%; background:var(--card); border:1px solid var(--line); }
table.trials th, table.trials td { padding:5px 8px; border-bottom:1px solid var(--soft); text-align:left; }
table.trials th { background:var(--bg); font-size:12px; color:var(--muted); font-weight:600; }
table.trials th.prop { max-width:90px; line-height:1.15; }
td.prop { text-align:center; font-weight:600; cursor:help; }
td.prop.held { color:var(--pass); } td.prop.violated { color:#fff; background:var(--fail); }
td.prop.expected { color:var(--error); } td.prop.na, td.prop.none { color:var(--muted); font-weight:400; }
td.num, th.num { text-align:right !important; font-variant-numeric:tabular-nums; white-space:nowrap; }
tr.trial-row:hover { background:var(--bg); }
.pill { display:inline-block; border-radius:10px; padding:0 8px; font-size:12px; font-weight:600;
  color:#fff; text-transform:uppercase; }
.pill.pass { background:var(--pass); } .pill.fail { background:var(--fail); }
.pill.error { background:var(--error); }
table.matrix td.cell { text-align:center; } table.matrix a { text-decoration:none; }
h3.sweep { font-size:15px; margin:16px 0 6px; }
.hidden { display:none !important; }
h2 { font-size:16px; margin:26px 0 8px; }
details.trial { background:var(--card); border:1px solid var(--line); border-left-width:4px;
  border-radius:8px; margin:10px 0; }
details.trial[data-verdict=pass] { border-left-color:var(--pass); }
details.trial[data-verdict=fail] { border-left-color:var(--fail); }
details.trial[data-verdict=error] { border-left-color:var(--error); }
details.trial > summary { padding:8px 12px; cursor:pointer; }
details.trial .title { font-weight:600; margin:0 6px; }
.muted { color:var(--muted); font-size:12px; }
.body { padding:0 14px 12px; }
.reason { margin:4px 0; font-weight:500; overflow-wrap:anywhere; }
.description { margin:4px 0; color:var(--muted); white-space:pre-line; }
.cols { display:grid; grid-template-columns:3fr 2fr; gap:18px; }
h4 { margin:10px 0 4px; font-size:12px; text-transform:uppercase; color:var(--muted); letter-spacing:.04em; }
ul.props, ul.faults, ul.facts { margin:0; padding-left:18px; }
ul.props li { margin:2px 0; }
ul.props .state { font-size:12px; font-weight:600; }
ul.props li.held .state { color:var(--pass); } ul.props li.violated .state { color:var(--fail); }
ul.props li.expected .state { color:var(--error); } ul.props li.na .state { color:var(--muted); }
.legend { display:flex; flex-wrap:wrap; gap:6px 16px; font-size:12px; color:var(--muted);
  align-items:center; }
.legend svg { vertical-align:middle; margin-right:4px; }
.timeline { margin-top:12px; border-top:1px solid var(--soft); padding-top:8px; overflow-x:auto; }
.timeline .empty { color:var(--muted); font-style:italic; }
.timeline svg { display:block; font:11px -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
.lane-bg { fill:var(--card); } .lane-bg.alt { fill:#f9fafb; } .lane-bg.reference { fill:#f1f3f5; }
.lane-sep { stroke:var(--soft); }
.timeline .role { font-weight:600; font-size:12px; fill:var(--fg); }
.timeline .pid, .timeline .lane-note { fill:var(--muted); font-size:10.5px; }
.timeline .lane-note.killed, .timeline .lane-note.failed { fill:var(--kill); font-weight:600; }
.timeline .lane-note.completed { fill:var(--pass); }
.timeline .span { stroke:#c4cad1; stroke-width:2; }
.timeline .axis line { stroke:#d8dee4; } .timeline .axis text { fill:var(--muted); font-size:10px; }
.timeline .gap line { stroke:#c4cad1; stroke-dasharray:2 3; }
.timeline .gap text { fill:#8c959f; font-size:10px; }
.bar { stroke-width:1; cursor:pointer; }
.bar.model_request { fill:var(--model); stroke:#24478f; }
.bar.tool_call { fill:var(--tool); stroke:#0a5e57; }
.bar.fail { stroke:var(--kill); stroke-width:1.5; fill-opacity:.55; }
.bar.killed, .bar.open { fill-opacity:.35; stroke:var(--kill); stroke-dasharray:3 2; }
.bar.dup { stroke:var(--kill); stroke-width:3; }
.bar.reference { fill-opacity:.6; }
.bar.hl, .bar:hover { stroke:#111; stroke-width:2; fill-opacity:1; }
.fail-cap { fill:var(--kill); }
.timeline .label { fill:#424a53; font-size:10.5px; pointer-events:none; }
.timeline .label.fault-label { fill:var(--fault); font-weight:600; }
.timeline .label.kill-label, .timeline .label.dup-label { fill:var(--kill); font-weight:700; }
.fault-marker { fill:var(--fault); stroke:#fff; stroke-width:.8; cursor:help; }
.kill-marker { cursor:help; } .kill-marker line { stroke:var(--kill); stroke-width:2.5; }
.kill-marker path { fill:var(--kill); }
.tick { stroke-width:1.6; cursor:help; }
.tick.checkpoint { stroke:var(--ckpt); } .tick.identity { stroke:var(--cache); }
.tick.workflow_task { stroke:var(--cache); }
.tick.replay { stroke:var(--replay); stroke-width:2.2; } .tick.execute { stroke:var(--exec); }
#tip { position:fixed; pointer-events:none; background:#24292f; color:#fff; font-size:12px; padding:6px 9px;
  border-radius:6px; white-space:pre-line; max-width:460px; z-index:10; display:none;
  box-shadow:0 4px 14px rgba(0,0,0,.25); }
@media (prefers-color-scheme: dark) {
  :root { --fg:#e6edf3; --muted:#9198a1; --bg:#0d1117; --card:#161b22; --line:#30363d; --soft:#21262d;
    --exec:#e6edf3; }
  .lane-bg.alt { fill:#1a1f26; } .lane-bg.reference { fill:#1f242c; }
  .timeline .label { fill:#c9d1d9; }
  .gate.ok { background:#0f2d1a; } .gate.bad { background:#3a1418; }
}
</style></head>
<body>
<header><h1>durable-chaos report</h1>
<div class="sub">%%TRIALS%% trial(s) &middot; generated %%GENERATED%%</div></header>
<main>
%%GATE%%
<div class="cards">
 <div class="card"><div class="k">Trials</div><div class="v" id="total-trials">%%TRIALS%%
  <small><span class="pass">%%PASSED%% passed</span> &middot; <span class="fail">%%FAILED%% failed</span>
  &middot; <span class="error">%%ERRORS%% error(s)</span></small></div></div>
 <div class="card"><div class="k">Duplicate model calls</div>
  <div class="v" id="total-duplicates">%%DUPLICATES%%
  <small>of %%MODEL_CALLS%% model calls</small></div></div>
 <div class="card"><div class="k">Tokens saved vs naive restart</div>
  <div class="v" id="total-tokens">%%SAVED%%
  <small>(%%SAVED_SHARE%%): spent %%SPENT%% vs %%NAIVE%%</small></div>
  <div class="meter" title="share of the naive restart's tokens saved">
  <span style="width:%%METER%%%"></span></div>
 </div>
 <div class="card"><div class="k">Dollars saved vs naive restart</div>
  <div class="v" id="total-dollars">%%DOLLARS%%</div></div>
</div>
<div class="toolbar" id="filters">
 <button class="active" data-filter="all">All %%TRIALS%%</button>
 <button data-filter="fail">Failed %%FAILED%%</button>
 <button data-filter="error">Errors %%ERRORS%%</button>
 <button data-filter="pass">Passed %%PASSED%%</button>
 <input type="search" id="search" placeholder="filter by scenario, engine, plan">
 <span class="sep"></span>
 <label class="muted">time scale <select id="scale"><option value="compressed">compressed</option>
  <option value="linear">linear</option></select></label>
</div>
<table class="trials"><thead><tr><th>verdict</th><th>scenario</th><th>engine</th><th>plan</th>%%HEADS%%
<th class="num">dup/calls</th><th class="num">tokens saved</th><th class="num">$ saved</th>
<th class="num">time</th></tr></thead>
<tbody>%%ROWS%%</tbody></table>
%%SWEEPS%%
<h2>Trials</h2>
<div class="legend">
 <span><svg width="26" height="10"><rect x="1" y="1" width="24" height="8" rx="2" fill="#3366cc"/></svg>
  model request</span>
 <span><svg width="26" height="10"><rect x="1" y="1" width="24" height="8" rx="2" fill="#0f9488"/></svg>
  tool call</span>
 <span><svg width="26" height="10"><rect x="1" y="1" width="24" height="8" rx="2" fill="#3366cc"
  fill-opacity=".55" stroke="#cf222e" stroke-width="1.5"/><rect x="22" y="1" width="3" height="8"
  fill="#cf222e"/></svg>attempt failed</span>
 <span><svg width="26" height="10"><rect x="1" y="1" width="24" height="8" rx="2" fill="#3366cc"
  fill-opacity=".35" stroke="#cf222e" stroke-dasharray="3 2"/></svg>attempt cut short by a kill</span>
 <span><svg width="26" height="10"><rect x="2" y="2" width="22" height="6" rx="2" fill="#3366cc"
  stroke="#cf222e" stroke-width="3"/></svg>duplicate model call</span>
 <span><svg width="12" height="12"><path d="M6 0 L12 6 L6 12 L0 6 Z" fill="#e36209"/></svg>fault fired</span>
 <span><svg width="8" height="14"><line x1="4" y1="0" x2="4" y2="14" stroke="#cf222e" stroke-width="2.5"/>
  </svg>SIGKILL</span>
 <span><svg width="6" height="12"><line x1="3" y1="0" x2="3" y2="12" stroke="#1a7f37" stroke-width="1.6"/>
  </svg>checkpoint</span>
 <span><svg width="6" height="12"><line x1="3" y1="0" x2="3" y2="12" stroke="#8c959f" stroke-width="1.6"/>
  </svg>unit identity (cache key, step, activity)</span>
 <span><svg width="6" height="12"><line x1="3" y1="0" x2="3" y2="12" stroke="#8250df" stroke-width="2.2"/>
  </svg>replay</span>
 <span><svg width="6" height="12"><line x1="3" y1="0" x2="3" y2="12" stroke="#24292f" stroke-width="1.6"/>
  </svg>tool body ran</span>
 <span>labels: name #ordinal, aN = attempt N; hover anything for details</span>
</div>
%%CARDS%%
</main>
<div id="tip"></div>
<script type="application/json" id="chaos-data">%%DATA%%</script>
<script>
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("chaos-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var GUTTER = 132, LABEL_H = 13, BAR_H = 12, BAR_GAP = 3, TICK_H = 7, MIN_BAR = 4, PAD = 6, AXIS_H = 22;
  var LABEL_ROWS = 4, IDLE_MS = 250;
  var FONT = "10.5px -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";
  var measure = document.createElement("canvas").getContext("2d");
  var scaleMode = "compressed";

  function textWidth(text) { measure.font = FONT; return measure.measureText(text).width; }
  function node(tag, attrs, parent, text) {
    var e = document.createElementNS(NS, tag);
    Object.keys(attrs).forEach(function (k) {
      if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
    });
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function tip(e, text) { e.setAttribute("data-tip", text); return e; }
  function path(points) {
    return points.map(function (p, i) { return (i ? "L" : "M") + p[0].toFixed(1) + " " + p[1].toFixed(1); })
      .join(" ") + " Z";
  }
  function secs(ms) {
    var s = ms / 1000, a = Math.abs(s);
    return (a >= 10 ? s.toFixed(1) : a >= 1 ? s.toFixed(2) : s.toFixed(3)) + " s";
  }
  function dur(ms) { return ms < 1 ? ms.toFixed(2) + " ms" : ms < 1000 ? ms.toFixed(1) + " ms" : secs(ms); }
  function unitText(kind, ordinal, name) {
    return (kind === "tool_call" ? "tool call #" : "model request #") + ordinal + " (" + name + ")";
  }

  // The time scale: linear, or compressed, where each gap between consecutive event times weighs
  // sqrt(ms) (at least a little, at most ~32 plus a log), so that millisecond attempts stay visible
  // next to second-long worker start-ups and retry back-offs; idle gaps are marked on the axis.
  function makeScale(tl, x0, width) {
    var ts = [];
    tl.lanes.forEach(function (l) { ts.push(l.start, l.end); });
    tl.bars.forEach(function (b) { ts.push(b.start, b.end); });
    tl.marks.concat(tl.ticks).forEach(function (m) { ts.push(m.t); });
    ts.sort(function (a, b) { return a - b; });
    var times = ts.filter(function (t, i) { return i === 0 || t !== ts[i - 1]; });
    var lo = times[0], hi = times[times.length - 1];
    if (scaleMode === "linear" || times.length < 2) {
      var span = Math.max(hi - lo, 1);
      return { x: function (t) { return x0 + (t - lo) / span * width; }, gaps: [], lo: lo, hi: hi };
    }
    var cum = [0], gaps = [];
    for (var i = 1; i < times.length; i++) {
      var g = times[i] - times[i - 1];
      var w = g < 0.05 ? 0 : g <= 1000 ? Math.max(Math.sqrt(g), 2.5)
        : Math.sqrt(1000) * (1 + Math.log10(g / 1000));
      cum.push(cum[i - 1] + w);
      if (g >= IDLE_MS) gaps.push([times[i - 1], times[i]]);
    }
    var total = cum[cum.length - 1] || 1;
    function x(t) {
      var a = 0, b = times.length - 1;
      if (t <= times[a]) return x0;
      if (t >= times[b]) return x0 + width;
      while (b - a > 1) { var m = (a + b) >> 1; if (times[m] <= t) a = m; else b = m; }
      var f = (t - times[a]) / (times[b] - times[a]);
      return x0 + (cum[a] + f * (cum[b] - cum[a])) / total * width;
    }
    return { x: x, gaps: gaps, lo: lo, hi: hi };
  }

  // Greedy packing into rows of intervals: the first row where [x1, x2] overlaps nothing, -1 if none.
  function pack(rows, x1, x2, limit) {
    for (var r = 0; r < rows.length; r++) {
      var free = rows[r].every(function (iv) { return x2 <= iv[0] || x1 >= iv[1]; });
      if (free) { rows[r].push([x1, x2]); return r; }
    }
    if (limit !== undefined && rows.length >= limit) return -1;
    rows.push([[x1, x2]]);
    return rows.length - 1;
  }

  function barTip(b) {
    var outcome = {
      ok: "ok" + (b.status ? " (HTTP " + b.status + ")" : ""),
      fail: "failed: " + (b.error || (b.status ? "HTTP " + b.status : "error")),
      killed: "cut short: its process was killed",
      open: "never finished"
    }[b.outcome];
    var lines = [unitText(b.kind, b.ordinal, b.name) + ", attempt " + b.attempt,
      b.role + " \u00b7 pid " + b.pid,
      "invoked at " + secs(b.start) + (b.end !== null ? ", lasted " + dur(b.end - b.start) : ""), outcome];
    if (b.replayed && b.replayed.length) lines.push("replayed inside: " + b.replayed.join(", "));
    if (b.dup) lines.push("DUPLICATE: sent again after its response was checkpointed");
    if (b.fp) lines.push("request fingerprint " + b.fp);
    return lines.join("\n");
  }

  function drawLane(layers, trial, lane, li, S, y, plotW, width) {
    var tl = trial.timeline, ref = !lane.faulted;
    var mine = function (m) { return m.role === lane.role; };
    var bars = tl.bars.filter(mine), marks = tl.marks.filter(mine), ticks = tl.ticks.filter(mine);
    var barRows = [], placed = bars.map(function (b) {
      var x1 = S.x(b.start), x2 = Math.max(S.x(b.end), x1 + MIN_BAR);
      return { b: b, x1: x1, x2: x2, row: pack(barRows, x1 - 1, x2 + 1) };
    });
    // labels: kills first, then faults and duplicates, then attempts that went wrong, then the rest
    var labels = marks.map(function (m) {
      return m.type === "killed" ? { pri: 0, x: S.x(m.t), text: "SIGKILL", cls: "kill-label" }
        : { pri: 1, x: S.x(m.t), text: "\u26A1 " + m.kind + " (" + m.phase + ")", cls: "fault-label" };
    });
    placed.forEach(function (p) {
      var b = p.b, text = b.name + " #" + b.ordinal + (b.attempt > 1 ? " a" + b.attempt : "");
      labels.push({ pri: b.dup ? 1 : b.outcome === "ok" ? 3 : 2, x: p.x1, text: text + (b.dup ? " DUP" : ""),
        cls: b.dup ? "dup-label" : "" });
    });
    labels.sort(function (a, b) { return a.pri - b.pri || a.x - b.x; });
    var labelRows = [];
    labels.forEach(function (l) {
      var w = textWidth(l.text);
      l.x = Math.min(l.x, GUTTER + 8 + plotW - w);
      l.row = pack(labelRows, l.x, l.x + w + 8, LABEL_ROWS);
    });
    var nLabel = Math.max(labelRows.length, 1), nBar = Math.max(barRows.length, 1);
    var top = y + PAD, barsTop = top + nLabel * LABEL_H + 2, spanY = barsTop + nBar * (BAR_H + BAR_GAP) + 2;
    var h = Math.max(PAD + nLabel * LABEL_H + 2 + nBar * (BAR_H + BAR_GAP) + TICK_H + PAD, 50);
    var g = node("g", { "class": "lane", "data-role": lane.role, id: trial.id + "-lane-" + li }, layers.body);
    node("rect", { x: 0, y: y, width: width, height: h,
      "class": "lane-bg" + (ref ? " reference" : li % 2 ? " alt" : "") }, layers.bg);
    node("line", { x1: 0, x2: width, y1: y + h, y2: y + h, "class": "lane-sep" }, layers.bg);

    var pids = "pid " + lane.pids.join(", ");
    var role = lane.role + (lane.role === "golden" ? " (reference)" : "");
    node("text", { x: 10, y: y + 16, "class": "role" }, g, role);
    node("text", { x: 10, y: y + 29, "class": "pid" }, g, pids);
    var note = { killed: "\u2620 killed", completed: "\u2713 completed", failed: "\u2717 failed" };
    var ids = Object.keys(lane.ids || {}).map(function (k) { return "\n" + k + " " + lane.ids[k]; });
    var noteText = note[lane.outcome] || lane.outcome;
    tip(node("text", { x: 10, y: y + 42, "class": "lane-note " + lane.outcome }, g, noteText),
      lane.role + " (" + pids + "): " + lane.outcome + (lane.error ? "\n" + lane.error : "")
      + "\nfrom " + secs(lane.start) + " to " + secs(lane.end) + ids.join(""));
    tip(node("line", { x1: S.x(lane.start), x2: S.x(lane.end), y1: spanY, y2: spanY, "class": "span" }, g),
      lane.role + " process (" + pids + "): " + secs(lane.start) + " \u2192 " + secs(lane.end));

    placed.forEach(function (p, i) {
      var b = p.b, by = barsTop + p.row * (BAR_H + BAR_GAP);
      var cls = "bar " + b.kind + " " + b.outcome + (b.dup ? " dup" : "") + (ref ? " reference" : "");
      tip(node("rect", { x: p.x1, y: by, width: p.x2 - p.x1, height: BAR_H, rx: 2, "class": cls,
        id: trial.id + "-bar-" + li + "-" + i, "data-unit": b.kind + "-" + b.ordinal, "data-kind": b.kind,
        "data-ordinal": b.ordinal, "data-name": b.name, "data-attempt": b.attempt, "data-pid": b.pid }, g),
        barTip(b));
      if (b.outcome === "fail") {
        node("rect", { x: p.x2 - 2.5, y: by, width: 2.5, height: BAR_H, "class": "fail-cap" }, g);
      }
    });
    var tickNames = { checkpoint: "checkpoint", identity: "unit identity", workflow_task: "workflow task",
      replay: "replayed from the engine's record", execute: "tool body ran" };
    ticks.forEach(function (m) {
      var x = S.x(m.t), inBar = m.type === "execute";
      var y1 = inBar ? barsTop - 2 : spanY - 5, y2 = inBar ? barsTop + BAR_H + 2 : spanY + 5;
      tip(node("line", { x1: x, x2: x, y1: y1, y2: y2, "class": "tick " + m.type }, g),
        tickNames[m.type] + " at " + secs(m.t) + (m.label ? "\n" + m.label : ""));
    });
    marks.forEach(function (m) {
      var x = S.x(m.t);
      if (m.type === "killed") {
        var k = node("g", { "class": "kill-marker", "data-role": lane.role }, g);
        node("line", { x1: x, x2: x, y1: barsTop - 3, y2: y + h - 2 }, k);
        node("path", { d: path([[x - 5, y + h - 2], [x + 5, y + h - 2], [x, y + h - 9]]) }, k);
        tip(k, "SIGKILL of " + lane.role + " (" + pids + ") at " + secs(m.t) + "\nexit code " + m.exit
          + ", observed by the harness (pid " + m.by + ")");
      } else {
        var cy = barsTop + BAR_H / 2, r = 5.5;
        var d = path([[x, cy - r], [x + r, cy], [x, cy + r], [x - r, cy]]);
        tip(node("path", { d: d, "class": "fault-marker", "data-kind": m.kind, "data-phase": m.phase }, g),
          "fault #" + ((m.index || 0) + 1) + ": " + m.kind + " (" + m.phase + ") at "
          + unitText(m.unit.kind, m.unit.ordinal, m.unit.name) + ", attempt " + m.attempt
          + "\nat " + secs(m.t));
      }
    });
    labels.forEach(function (l) {
      if (l.row < 0) return;
      node("text", { x: l.x, y: top + l.row * LABEL_H + 10, "class": "label " + l.cls }, g, l.text);
    });
    return h;
  }

  function drawAxis(svg, layers, S, plotW, height) {
    var axis = node("g", { "class": "axis" }, svg), range = S.hi - S.lo;
    var row = [[0, GUTTER], [GUTTER + plotW + 20, Infinity]];
    var steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000, 300000];
    var step = steps.find(function (s) { return range / s <= plotW / 70; }) || 600000;
    S.gaps.forEach(function (gp) {
      var mid = (S.x(gp[0]) + S.x(gp[1])) / 2, text = "\u2026 " + dur(gp[1] - gp[0]) + " \u2026";
      var w = textWidth(text);
      node("line", { x1: mid, x2: mid, y1: AXIS_H - 2, y2: height }, layers.grid);
      if (pack([row], mid - w / 2 - 4, mid + w / 2 + 4, 1) === 0) {
        node("text", { x: mid, y: AXIS_H - 8, "text-anchor": "middle" }, layers.grid, text);
      }
    });
    for (var t = Math.ceil(S.lo / step) * step; t <= S.hi; t += step) {
      var x = S.x(t), text = secs(t);
      if (pack([row], x - 2, x + textWidth(text) + 8, 1) !== 0) continue;
      node("line", { x1: x, x2: x, y1: AXIS_H - 5, y2: height, "stroke-opacity": 0.5 }, axis);
      node("text", { x: x + 2, y: AXIS_H - 8 }, axis, text);
    }
    node("text", { x: 10, y: AXIS_H - 8, "class": "pid" }, axis, "time (" + scaleMode + ")");
  }

  function render(container) {
    var trial = DATA.trials[+container.dataset.trial], tl = trial.timeline;
    container.textContent = "";
    if (!tl.lanes.length) {
      var p = document.createElement("p");
      p.className = "empty";
      p.textContent = "No history recorded for this trial.";
      container.appendChild(p);
      return;
    }
    var width = Math.max(container.clientWidth || document.body.clientWidth - 90, 720);
    var plotW = width - GUTTER - 24, S = makeScale(tl, GUTTER + 8, plotW);
    var svg = node("svg", { width: width, "class": "timeline-svg", role: "img" });
    node("title", {}, svg, "Timeline of " + trial.title);
    var layers = { bg: node("g", {}, svg), grid: node("g", { "class": "gap" }, svg) };
    layers.body = node("g", {}, svg);
    var y = AXIS_H;
    tl.lanes.forEach(function (lane, li) { y += drawLane(layers, trial, lane, li, S, y, plotW, width); });
    drawAxis(svg, layers, S, plotW, y);
    svg.setAttribute("height", y + 4);
    container.appendChild(svg);
    container.setAttribute("data-rendered", "true");
  }

  function renderAll() { document.querySelectorAll(".timeline").forEach(render); }

  // Hover: the tooltip, and every attempt of the same unit highlighted.
  var tipBox = document.getElementById("tip");
  document.addEventListener("mousemove", function (ev) {
    var t = ev.target.closest && ev.target.closest("[data-tip]");
    if (!t) { tipBox.style.display = "none"; return; }
    tipBox.textContent = t.getAttribute("data-tip");
    tipBox.style.display = "block";
    var x = ev.clientX + 14, y = ev.clientY + 14;
    if (x + tipBox.offsetWidth > window.innerWidth - 8) x = ev.clientX - tipBox.offsetWidth - 14;
    if (y + tipBox.offsetHeight > window.innerHeight - 8) y = ev.clientY - tipBox.offsetHeight - 14;
    tipBox.style.left = x + "px";
    tipBox.style.top = y + "px";
  });
  document.addEventListener("mouseover", function (ev) {
    var svg = ev.target.closest && ev.target.closest("svg"), unit = ev.target.getAttribute("data-unit");
    if (!svg) return;
    svg.querySelectorAll(".bar.hl").forEach(function (e) { e.classList.remove("hl"); });
    svg.querySelectorAll(".bar").forEach(function (e) {
      if (unit && e.getAttribute("data-unit") === unit) e.classList.add("hl");
    });
  });

  // Filters: by verdict and by text.
  var current = "all";
  function applyFilter() {
    var q = document.getElementById("search").value.trim().toLowerCase();
    document.querySelectorAll("tr.trial-row").forEach(function (row, i) {
      var show = (current === "all" || row.dataset.verdict === current) && row.dataset.search.indexOf(q) >= 0;
      row.classList.toggle("hidden", !show);
      document.getElementById("trial-" + i).classList.toggle("hidden", !show);
    });
  }
  document.querySelectorAll("#filters button").forEach(function (btn) {
    btn.addEventListener("click", function () {
      current = btn.dataset.filter;
      document.querySelectorAll("#filters button").forEach(function (b) {
        b.classList.toggle("active", b === btn);
      });
      applyFilter();
    });
  });
  document.getElementById("search").addEventListener("input", applyFilter);
  document.getElementById("scale").addEventListener("change", function (ev) {
    scaleMode = ev.target.value;
    renderAll();
  });
  document.querySelectorAll('a[href^="#trial-"]').forEach(function (a) {
    a.addEventListener("click", function () {
      document.getElementById(a.getAttribute("href").slice(1)).open = true;
    });
  });
  document.querySelectorAll("details.trial").forEach(function (d) {
    d.addEventListener("toggle", function () { if (d.open) render(d.querySelector(".timeline")); });
  });
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(renderAll, 150);
  });
  renderAll();
})();
</script>
</body></html>
"""
