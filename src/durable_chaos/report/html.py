"""The HTML report: one self-contained page (inline CSS and JS, no network): ``--chaos-html PATH``.

The page shows the totals, a table of trials (filterable by verdict), each sweep's verdict matrix (cells
linked to their trials), the fault coverage (every missed crash point, folded) and, per trial, its properties
and a timeline of every process of the trial: one lane per role (golden, faulted, resume-1, ...),
each unit attempt a bar from ``invoke`` to ``ok`` / ``fail``, with markers for the faults that fired
and the SIGKILLs, and ticks for checkpoints, unit identities (cache keys, step functions, activity
types), replays, workflow tasks and tool bodies run.

Python renders the static parts (escaped) and embeds each trial's timeline as JSON
(``<script type="application/json" id="chaos-data">``); the inline script draws the timelines as SVG.
The page's skeleton, style and script are package files (``report/assets/page.html``, ``page.css``,
``page.js``), inlined into every report so that the page stays one file.
"""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from durable_chaos.atomic import atomic_write_text
from durable_chaos.events import (
    CHECKPOINT,
    EXECUTE,
    FAIL,
    FAULT,
    IDENTITY,
    INVOKE,
    KILLED,
    OK,
    REPLAY,
    RUN_END,
    RUN_IDS,
    RUN_START,
    WORKFLOW_TASK,
)
from durable_chaos.explore.coverage import coverage_rows
from durable_chaos.explore.sweep import CrashPoint, matrix_cells, sweep_report, sweep_verdicts
from durable_chaos.judge.evidence import is_faulted
from durable_chaos.report.formats import ReportInputs
from durable_chaos.report.gate import TRIAL_MESSAGE_PREFIXES
from durable_chaos.report.json_report import summary
from durable_chaos.report.terminal import dollars, mcp_listings_text, percent, property_order, upgrade_line
from durable_chaos.run.results import TrialResult
from durable_chaos.scrub import scrub_json, scrub_text

# History events drawn as small ticks on a lane, and the field that labels them.
TICKS = (CHECKPOINT, IDENTITY, REPLAY, EXECUTE, WORKFLOW_TASK)
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
        if kind == KILLED:  # written by the supervising process about this role's worker
            lane["outcome"] = "killed"
            marks.append(
                {"type": KILLED, "role": role, "t": at, "by": e.get("pid"), "exit": e.get("exit_code")}
            )
            continue
        if e.get("pid") not in lane["pids"]:
            lane["pids"].append(e.get("pid"))
        unit = e.get("unit") or {}
        if kind == RUN_START:
            lane["start"] = at
        elif kind == RUN_END:
            lane["outcome"] = "completed" if e.get("completed") else "failed"
            lane["error"] = e.get("error")
        elif kind == RUN_IDS:
            lane["ids"] = e.get("engine") or {}
        elif kind in (INVOKE, OK, FAIL) and unit:
            key = (
                role,
                e.get("pid"),
                unit.get("kind"),
                unit.get("ordinal"),
                unit.get("fingerprint"),
                e.get("attempt"),
            )
            bar = running.pop(key, None)
            if bar is not None and kind == INVOKE:  # invoked again without an end: the earlier one is open
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
            if kind == INVOKE:
                running[key] = bar
            else:
                bar.update(end=at, outcome=kind, status=e.get("status"), error=e.get("error"))
                bar["replayed"] = e.get("replayed") or []
        elif kind == FAULT:
            fault = {**(e.get("fault") or {}), "unit": unit, "attempt": e.get("attempt")}
            marks.append({"type": FAULT, "role": role, "t": at, **fault})
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
        f"resumes: {trial['resumes']} ({trial['resume_mode']}"
        + (", warm worker)" if trial.get("resume_worker") == "warm" else ")"),
        *([listings] if (listings := mcp_listings_text(calls)) else []),
    ] + [f"harness changed: {change}" for change in trial.get("harness_changes", [])]
    if trial.get("upgrade"):
        facts.append(upgrade_line(trial["upgrade"]))
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
                f"{r.spec.point.fault}/{r.spec.point.phase}/{r.spec.point.mode}",
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


@functools.cache
def page_asset(name: str) -> str:
    """A file of the page (``assets/page.html``, ``page.css``, ``page.js``), read from the installed
    package (the wheel carries them as package data)."""
    return (resources.files("durable_chaos.report") / "assets" / name).read_text(encoding="utf-8")


def page_template() -> str:
    """The page with ``%%NAME%%`` markers: the style (``%%STYLE%%``), the script (``%%SCRIPT%%``) and
    the trials' figures, rows and cards, all filled in by :func:`render_html` in one pass."""
    return page_asset("page.html")


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
        "STYLE": page_asset("page.css"),
        "SCRIPT": page_asset("page.js"),
    }
    # One pass, so that text taken from the trials (or the style and script) is never searched for markers.
    return re.sub(r"%%([A-Z_]+)%%", lambda m: values[m.group(1)], page_template())


def write_html(path: Path, results: Sequence[TrialResult], gate: dict[str, Any] | None = None) -> None:
    """Write the report page to ``path``."""
    atomic_write_text(path, render_html(results, gate))  # every text in it went through escape()


def write_report(path: Path, inputs: ReportInputs) -> None:
    """``--chaos-html`` (:data:`durable_chaos.report.formats.FORMATS`)."""
    write_html(path, inputs.results, inputs.gate)
