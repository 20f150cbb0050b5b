"""How a crash point's cost grows with the agent's length: 10, 50 and 200 units.

    python bench/scale.py                          # DBOS, 10/50/200 units, kills early, midway and late
    python bench/scale.py --engine temporal --sizes 10 50
    python bench/scale.py --sweep 10               # also sweep every crash point of the 10-unit agent
    python bench/scale.py --json                   # machine-readable

The agent is generated: a pydantic-ai agent whose scripted model (the project's scripted model server,
recorded into a cassette first, no key) calls a ``step`` tool once per model request until the last
request answers, so an agent of U units makes about U/2 model requests and U/2 tool calls (past 90
units, several tool calls per request: pydantic-ai stops a run at 50 requests by default), each a
durable unit of the engine's own integration (the capability form). For each size, in one
``TrialRunner`` (the engine started once):

- ``golden s``: the unfaulted run alone (its ``run_start``..``run_end`` in the trial's history);
- one crash point per position (a kill before the 2nd model request, before the middle one and before
  the last one): ``point s``, the trial's own time (faulted run, SIGKILL, resumed run, checks), and
  ``point - golden s``, what the crash costs over an unfaulted run: it should grow with the replayed
  prefix (the position), not with the agent's length.

``--sweep U`` also runs the default sweep of the U-unit agent (every unit x before/after x
retry/kill/fresh) as ``pytest --chaos -n 2`` and prints points, seconds and points per minute.
Numbers, not pass/fail: the verdicts are printed beside them (every trial of this correct agent should
pass, except ``fresh`` sweep cells, which re-pay the model by design).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ENGINES = {
    "dbos": (
        "from pydantic_ai.durable_exec.dbos import DBOSDurability",
        "capabilities=[DBOSDurability()]",
    ),
    "prefect": (
        "from pydantic_ai.durable_exec.prefect import PrefectDurability",
        "capabilities=[PrefectDurability()]",
    ),
    "temporal": (
        "from pydantic_ai.durable_exec.temporal import TemporalDurability",
        "capabilities=[TemporalDurability()]",
    ),
}
"""Per engine: the import and the ``Agent`` argument that make every model request and tool call a unit,
as the engine's pydantic-ai docs advise (defaults only)."""

AGENT = '''"""A generated agent for bench/scale.py: {requests} model requests, {tools} tool calls."""
from pydantic_ai import Agent, FunctionToolset
{engine_import}


def step(number: int) -> str:
    """Do step number ``number``."""
    return f"step {{number}} done"


agent = Agent(
    "openai-chat:gpt-4o",
    name="chain_{units}",
    instructions="You are a step counter. Call step once per turn.",
    toolsets=[FunctionToolset([step], id="steps")],
    {engine_argument},
)
'''


MAX_REQUESTS = 45
"""pydantic-ai's default ``request_limit`` is 50 model requests a run: longer agents call several tools
per request (in one response, as parallel tool calls)."""


def shape(units: int) -> tuple[int, int]:
    """Model requests and tool calls per request for an agent of about ``units`` units."""
    per_request = 1
    while units / (1 + per_request) > MAX_REQUESTS:
        per_request += 1
    return max(2, round(units / (1 + per_request))), per_request


def script(requests: int, per_request: int) -> str:
    """The scripted replies: ``per_request`` ``step`` calls per model request, then the answer."""
    lines = ["conversations:", '  - match: "step counter"', "    turns:"]
    for turn in range(1, requests):
        calls = ", ".join(
            f"{{name: step, arguments: {{number: {(turn - 1) * per_request + i}}}}}"
            for i in range(1, per_request + 1)
        )
        lines.append(f"      - tool_calls: [{calls}]")
        lines.append("        usage: {prompt_tokens: 100, completion_tokens: 10}")
    lines.append(f'      - text: "{(requests - 1) * per_request} steps done"')
    lines.append("        usage: {prompt_tokens: 100, completion_tokens: 5}")
    return "\n".join(lines) + "\n"


def kill_positions(requests: int) -> dict[str, int]:
    """Early, midway and late crash points: the model request a kill strikes before. The first, a
    warm-up, is not measured: it makes the golden run and starts the agent's warm worker."""
    return {"warm-up": 2, "early": 2, "middle": max(2, (requests + 1) // 2), "late": requests}


def scenario(engine: str, units: int, requests: int, sweep: bool) -> str:
    text = (
        f"schema_version: 1\nname: scale-{units}\nagent: chain_agent:agent\nprompt: count the steps\n"
        f"engines: [{engine}]\ncassette: cassette.yaml\nmodel_server: {{script: script.yaml}}\n"
    )
    if sweep:
        return text + "sweep:\n  unit_kinds: [model_request, tool_call]\n"
    text += "plans:\n"
    for name, occurrence in kill_positions(requests).items():
        text += (
            f"  - name: kill-{name}\n    faults:\n      - kind: kill\n"
            f"        at: {{kind: model_request, occurrence: {occurrence}, phase: before}}\n"
        )
    return text


def write_project(folder: Path, engine: str, units: int, *, sweep: bool = False) -> Path:
    requests, per_request = shape(units)
    engine_import, engine_argument = ENGINES[engine]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "chain_agent.py").write_text(
        AGENT.format(
            requests=requests,
            tools=(requests - 1) * per_request,
            units=units,
            engine_import=engine_import,
            engine_argument=engine_argument,
        )
    )
    (folder / "script.yaml").write_text(script(requests, per_request))
    path = folder / "scale.yaml"
    path.write_text(scenario(engine, units, requests, sweep))
    return path


def role_seconds(events: list[dict[str, Any]], role: str) -> float:
    """Wall seconds from a role's first ``run_start`` to its last ``run_end``."""
    starts = [e["t"] for e in events if e["event"] == "run_start" and e.get("role") == role]
    ends = [e["t"] for e in events if e["event"] == "run_end" and e.get("role") == role]
    return max(ends) - min(starts) if starts and ends else 0.0


def measure(engine: str, sizes: list[int], root: Path) -> list[dict[str, Any]]:
    from durable_chaos.run.runner import TrialRunner
    from durable_chaos.scenario.read import load_scenario
    from durable_chaos.scenario.trial_specs import TrialSpec

    files = {units: write_project(root / f"agent_{units}", engine, units) for units in sizes}
    recorder = TrialRunner(root=root / "recording", record=True)
    try:  # the cassettes first (the scripted server answers), so the measured trials replay them
        for scenario_file in files.values():
            loaded = load_scenario(scenario_file)
            recorder.run(TrialSpec(loaded, engine, loaded.plans[0]), golden_only=True)
    finally:
        recorder.close()
    rows: list[dict[str, Any]] = []
    runner = TrialRunner(root=root / "trials")
    try:
        for units, scenario_file in files.items():
            loaded = load_scenario(scenario_file)
            requests, per_request = shape(units)
            for plan in loaded.plans:
                started = time.monotonic()
                result = runner.run(TrialSpec(loaded, engine, plan))
                seconds = time.monotonic() - started
                golden = role_seconds(result.events, "golden")
                rows.append(
                    {
                        "units": requests + (requests - 1) * per_request,
                        "point": plan.name.removeprefix("kill-"),
                        "golden_s": round(golden, 3),
                        "point_s": round(seconds, 3),
                        "verdict": result.verdict,
                        "reason": result.reason[:160],
                    }
                )
        golden = {row["units"]: row["golden_s"] for row in rows if row["point"] == "warm-up"}
        rows = [row for row in rows if row["point"] != "warm-up"]
        for row in rows:  # the warm-up made the golden run; the measured points reuse it
            row["golden_s"] = golden[row["units"]]
            row["over_golden_s"] = round(row["point_s"] - row["golden_s"], 3)
    finally:
        runner.close()
    return rows


def sweep(engine: str, units: int, root: Path, workers: int) -> dict[str, Any]:
    folder = root / "sweep" / "scenarios"
    write_project(folder, engine, units, sweep=True)
    recorded = root / f"agent_{units}" / "cassette.yaml"
    if recorded.exists():
        (folder / "cassette.yaml").write_bytes(recorded.read_bytes())
    report = root / "sweep" / "chaos.json"
    command = [sys.executable, "-m", "pytest", "--chaos", "scenarios", f"--chaos-report={report}"]
    command += ["-q", "-p", "no:cacheprovider", "-n", str(workers)]
    started = time.monotonic()
    subprocess.run(command, cwd=folder.parent, capture_output=True, check=False, timeout=3600)
    seconds = time.monotonic() - started
    trials = json.loads(report.read_text())["trials"] if report.exists() else []
    points = [t for t in trials if t["plan"].startswith("sweep-") and t["plan"] != "sweep-baseline"]
    verdicts: dict[str, int] = {}
    for trial in points:
        verdicts[trial["verdict"]] = verdicts.get(trial["verdict"], 0) + 1
    rate = 60.0 * len(points) / seconds if seconds else 0.0
    return {
        "units": units,
        "points": len(points),
        "seconds": round(seconds, 1),
        "per_min": round(rate, 1),
    } | {"verdicts": verdicts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=sorted(ENGINES), default="dbos")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 200], help="units per agent")
    parser.add_argument("--sweep", type=int, metavar="UNITS", help="also sweep the agent of UNITS units")
    parser.add_argument("--workers", type=int, default=2, help="pytest-xdist workers for --sweep")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
        rows = measure(args.engine, args.sizes, Path(tmp))
        swept = sweep(args.engine, args.sweep, Path(tmp), args.workers) if args.sweep else None
    if args.json:
        print(json.dumps({"engine": args.engine, "points": rows, "sweep": swept}, indent=2))
        return
    print(f"{args.engine}: one crash point (kill before a model request) as the agent grows")
    print(f"{'units':>6} {'point':>7} {'golden s':>9} {'point s':>8} {'point - golden s':>17}  verdict")
    for row in rows:
        print(
            f"{row['units']:>6} {row['point']:>7} {row['golden_s']:>9.2f} {row['point_s']:>8.2f} "
            f"{row['over_golden_s']:>17.2f}  {row['verdict']}"
            + (f" ({row['reason']})" if row["verdict"] != "pass" else "")
        )
    if swept:
        print(
            f"sweep of the {swept['units']}-unit agent, -n {args.workers}: {swept['points']} points in "
            f"{swept['seconds']} s = {swept['per_min']} per minute; {swept['verdicts']}"
        )


if __name__ == "__main__":
    main()
