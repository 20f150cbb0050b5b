"""Sweep time and crash points per minute, per engine, with ``-n 1`` and ``-n 2`` (pytest-xdist).

    python bench/sweep.py [--engine prefect] [--workers 1 2] [--unit-kinds tool_call model_request]

Sweeps the data-analysis example (``scenarios/data_analyst``, the capability-form agent) in a temp
copy, with ``pytest --chaos -n N``, and prints per engine and worker count: crash points (trials),
wall time, crash points per minute, each point's own mean seconds (its trial: the faulted run, resumes
and checks), the rest of the wall time (``setup s``: pytest and the engine starting, the golden run,
the warm worker's imports; estimated as wall - trial seconds / N) and the verdicts (numbers, not
pass/fail). Target: 60 per minute with ``-n 2``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERBOSE = False
PROMPT = "prompt: Analyze the sales data for Q4"
TARGETS = {
    "prefect": (
        "data_analyst",
        f"agent: data_analyst_agent:analyst\n{PROMPT}",
        "cassettes/data_analyst.yaml",
    ),
    "dbos": ("data_analyst", f"agent: data_analyst_dbos:analyst\n{PROMPT}", "cassettes/data_analyst.yaml"),
    "temporal": (
        "temporal",
        f"agent: data_analyst_temporal:analyst\n{PROMPT}",
        "../_shared/cassettes/data_analyst.yaml",
    ),
    "restate": (
        "restate",
        f"agent: data_analyst_restate:analyst\n{PROMPT}",
        "../_shared/cassettes/data_analyst_restate.yaml",
    ),
}
"""Per engine: the examples directory holding its data analyst, the scenario's target lines, its cassette
(the examples' shared files, ``scenarios/_shared``, are copied beside the directory)."""


def scenario(engine: str, unit_kinds: list[str]) -> str:
    return (
        f"schema_version: 1\nname: sweep-bench\n{TARGETS[engine][1]}\nengines: [{engine}]\n"
        f"cassette: {TARGETS[engine][2]}\nmodel_server: {{script: ../_shared/scripts/data_analyst.yaml}}\n"
        f"sweep:\n  unit_kinds: [{', '.join(unit_kinds)}]\n"
    )


def run(engine: str, workers: int, unit_kinds: list[str]) -> tuple[int, float, float, dict[str, int]]:
    """One sweep: its points, wall seconds, the sum of its trials' own seconds, verdict counts."""
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        examples = ROOT / "scenarios" / TARGETS[engine][0]
        target = Path(tmp) / "scenarios"
        shutil.copytree(examples, target, ignore=shutil.ignore_patterns("*.yaml", "__pycache__"))
        if (examples / "cassettes").is_dir():
            shutil.copytree(examples / "cassettes", target / "cassettes", dirs_exist_ok=True)
        shutil.copytree(ROOT / "scenarios" / "_shared", target.parent / "_shared")
        (target / "bench.yaml").write_text(scenario(engine, unit_kinds))
        report = Path(tmp) / "chaos.json"
        command = [sys.executable, "-m", "pytest", "--chaos", "scenarios", f"--chaos-report={report}"]
        command += ["-q", "-p", "no:cacheprovider", "-n", str(workers)]
        started = time.monotonic()
        subprocess.run(command, cwd=tmp, capture_output=True, check=False, timeout=3600)
        seconds = time.monotonic() - started
        data = json.loads(report.read_text())
        swept = [
            t for t in data["trials"] if t["plan"].startswith("sweep-") and t["plan"] != "sweep-baseline"
        ]
        verdicts: dict[str, int] = {}
        for trial in swept:
            verdicts[trial["verdict"]] = verdicts.get(trial["verdict"], 0) + 1
        if VERBOSE:
            for trial in swept:
                print(f"  {trial['plan']}: {trial['verdict']} {trial['reason'][:200]}", file=sys.stderr)
        return len(swept), seconds, sum(t["seconds"] for t in swept), verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", action="append", choices=sorted(TARGETS))
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--unit-kinds", nargs="+", default=["model_request", "tool_call"])
    parser.add_argument("--verbose", action="store_true", help="print each trial's verdict and reason")
    args = parser.parse_args()
    global VERBOSE  # noqa: PLW0603 - a bench script's switch
    VERBOSE = args.verbose
    print(
        f"{'engine':<10} {'-n':>3} {'points':>7} {'seconds':>8} {'points/min':>11} {'s/point':>8} "
        f"{'setup s':>8}  verdicts"
    )
    for engine in args.engine or sorted(TARGETS):
        for workers in args.workers:
            points, seconds, trials, verdicts = run(engine, workers, args.unit_kinds)
            rate = 60.0 * points / seconds if seconds else 0.0
            per_point = trials / points if points else 0.0
            setup = seconds - trials / workers  # session start, engine, golden run, warm worker: not trials
            print(
                f"{engine:<10} {workers:>3} {points:>7} {seconds:>8.1f} {rate:>11.1f} {per_point:>8.2f} "
                f"{setup:>8.1f}  {verdicts}",
                flush=True,
            )


if __name__ == "__main__":
    main()
