"""Time per kill -> recover cycle (numbers, not pass/fail).

Runs a kill scenario's trial several times through the real harness and measures, from each trial's
history, the time from the kill (the fault event written just before SIGKILL) to the end of the
resumed run (its ``run_end`` event): process start, imports, engine attach and recovery, replay of the
checkpointed units and the rest of the run. The trial's remaining work is cassette replay, so the figure
is dominated by the recovery machinery.

    python bench/kill_cycle.py                    # Prefect, DBOS, Temporal, Restate data-analyst examples
    python bench/kill_cycle.py --engine prefect --runs 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from durable_chaos.run.results import TrialResult
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = {
    "prefect": (REPO / "scenarios" / "data_analyst" / "kill.yaml", "kill-before-third-model-request"),
    "dbos": (REPO / "scenarios" / "data_analyst" / "dbos_kill.yaml", "kill-before-third-model-request"),
    "temporal": (REPO / "scenarios" / "temporal" / "kill.yaml", "kill-before-third-model-request"),
    "restate": (REPO / "scenarios" / "restate" / "kill.yaml", "kill-before-model-request-3"),
}


def cycle_seconds(result: TrialResult) -> list[float]:
    """Kill-to-recovered durations of one trial, one per kill."""
    events = result.events
    kills = [e["t"] for e in events if e["event"] == "fault" and e["fault"]["kind"] == "kill"]
    ends = [e["t"] for e in events if e["event"] == "run_end" and e["role"].startswith("resume-")]
    return [end - kill for kill, end in zip(kills, ends, strict=False)]


def measure(engine: str, runs: int) -> dict[str, Any]:
    path, plan_name = SCENARIOS[engine]
    scenario = load_scenario(path)
    plan = next(p for p in scenario.plans if p.name == plan_name)
    runner = TrialRunner()
    started = time.perf_counter()
    try:
        runner.engine(engine)
        startup = time.perf_counter() - started
        cycles: list[float] = []
        for i in range(runs):
            result = runner.run(TrialSpec(scenario, engine, plan))
            if result.verdict != "pass":
                raise SystemExit(f"{engine} trial {i + 1} did not pass: {result.reason}")
            cycles += cycle_seconds(result)
            print(f"  {engine} run {i + 1}/{runs}: cycle {cycles[-1]:.2f}s", file=sys.stderr)
    finally:
        runner.close()
    return {
        "engine": engine,
        "scenario": f"{path.relative_to(REPO)}::{plan_name}",
        "cycles": [round(c, 3) for c in cycles],
        "median_s": round(statistics.median(cycles), 3),
        "min_s": round(min(cycles), 3),
        "max_s": round(max(cycles), 3),
        "engine_startup_s": round(startup, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", action="append", choices=sorted(SCENARIOS), help="engine(s) to measure")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    engines = args.engine or [e for e in SCENARIOS if SCENARIOS[e][0].exists()]
    results = [measure(engine, args.runs) for engine in engines]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{'engine':9} {'median s':>9} {'min s':>7} {'max s':>7}  cycles")
    for r in results:
        print(f"{r['engine']:9} {r['median_s']:9.2f} {r['min_s']:7.2f} {r['max_s']:7.2f}  {r['cycles']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
