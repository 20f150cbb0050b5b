"""Harness overhead: a clean run of the example agent under the harness vs. directly under Prefect.

Usage (from the repo root)::

    python bench/overhead.py [--runs N] [--warmup W] [--json]

Both variants run the data-analyst agent of ``scenarios/data_analyst/timeout.yaml`` against the
same embedded Prefect API server (ONE ``PrefectAdapter`` for the whole benchmark), with model
traffic replayed from the scenario's cassette:

* ``direct``: a Prefect ``@flow`` that does ``(await analyst.run(prompt)).output``, inside
  ``cassette_traffic(cassette)`` and ``adapter.settings(fresh storage dir)``; nothing else (no
  history, no ledger, no fault layers, no cache-key/checkpoint observation). The flow has the same
  options as the harness's trial flow (``retries``, ``persist_result=False``,
  ``validate_parameters=False``), so the comparison isolates what the harness adds, not what a
  different flow configuration costs.
* ``harness``: exactly the golden run of ``run.trial.run_trial`` (``run_role`` for the golden
  role): ``Injection`` with an empty ``ArmedPlan``, ``TrialObserver`` writing ``History`` and
  ``Ledger`` to disk, ``model_traffic`` (the cassette), ``model_faults()``,
  ``tool_faults()``, ``adapter.observing()``, ``activated(injection)`` and
  ``adapter.run(target, RunRequest(...))``. Built from the same public pieces, since the runner
  does not expose "one golden run" as a callable.

Each measured run is one ``asyncio.run(...)`` (a fresh event loop, as ``TrialRunner.run`` does per
trial), timed with ``time.perf_counter`` around the whole call, including the creation of the run's
fresh work directory. Both variants are measured the same way. After W warm-up runs of each
(discarded), N runs of each are interleaved (direct, harness, direct, ...) so machine noise hits
both alike. This is a benchmark: it prints numbers and exits 0 whatever the ratio is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SCENARIO_FILE = REPO / "scenarios" / "data_analyst" / "timeout.yaml"
TARGET_RATIO = 1.10

# Quiet Prefect's console logging before it is imported (the adapter's settings say the same for
# its runs); affects both variants alike.
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from durable_chaos.faults.plan import ArmedPlan  # noqa: E402
from durable_chaos.infra.cassettes import cassette_traffic  # noqa: E402
from durable_chaos.infra.engines import Target  # noqa: E402
from durable_chaos.infra.engines.prefect.adapter import PrefectAdapter  # noqa: E402
from durable_chaos.infra.ledger import Ledger  # noqa: E402
from durable_chaos.judge.evidence import GOLDEN  # noqa: E402
from durable_chaos.run.records.history import History, TrialObserver  # noqa: E402
from durable_chaos.run.role import run_role  # noqa: E402
from durable_chaos.run.runner import TrialRunner  # noqa: E402
from durable_chaos.run.targets import load_target  # noqa: E402
from durable_chaos.scenario.model import Scenario  # noqa: E402
from durable_chaos.scenario.read import load_scenario  # noqa: E402


class Bench:
    """The shared pieces: one runner (owning the engine), one started adapter, the target."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.runner = TrialRunner()  # owns the temp root; its engine() starts the adapter once
        self.adapter: PrefectAdapter | None = None
        self.target: Target | None = None
        self.direct_flow: Any = None
        self.cassette = scenario.resolve(scenario.cassette or "")
        self.counter = 0
        self.last_events = 0
        self.last_ledger = 0

    def start(self) -> None:
        adapter = self.runner.engine("prefect")
        assert isinstance(adapter, PrefectAdapter)
        self.adapter = adapter
        self.target = load_target(self.scenario)
        retries = self.scenario.engine_options("prefect").flow_retries  # type: ignore[attr-defined]
        self.direct_flow = make_direct_flow(self.target.obj, retries)

    def close(self) -> None:
        self.runner.close()  # stops the adapter (its server subprocess) and removes the temp root

    def workdir(self, variant: str) -> Path:
        self.counter += 1
        path = self.runner.root / f"{self.counter:03d}-{variant}"
        path.mkdir(parents=True)
        return path

    async def direct(self) -> Any:
        """The agent in a plain flow, cassette replay only."""
        assert self.adapter is not None and self.target is not None
        storage = self.workdir("direct") / "results-direct"
        storage.mkdir()
        with cassette_traffic(self.cassette) as session, self.adapter.settings(storage):
            output = await self.direct_flow(self.target.prompt)
        if session.misses:
            raise RuntimeError(f"direct run: cassette misses {session.misses}")
        return output

    async def harness(self) -> Any:
        """The golden run of a trial: ``run_role`` for the golden role."""
        assert self.adapter is not None and self.target is not None
        scenario, adapter, target = self.scenario, self.adapter, self.target
        workdir = self.workdir("harness")
        history = History(workdir / "history.jsonl")
        ledger = Ledger(workdir / "ledger.jsonl")
        observer = TrialObserver(history, ledger, adapter)
        outcome, misses = await run_role(scenario, target, adapter, observer, GOLDEN, ArmedPlan([]), workdir)
        if misses or not outcome.completed:
            raise RuntimeError(f"harness golden run failed: error={outcome.error} misses={misses}")
        self.last_events = len(history.events())
        self.last_ledger = len(ledger.entries())
        return outcome.output


def make_direct_flow(agent: Any, retries: int) -> Any:
    """The baseline flow: the agent run and nothing else, with the trial flow's options."""
    from prefect import flow

    @flow(
        name="bench direct agent",
        retries=retries,
        retry_delay_seconds=0,
        validate_parameters=False,
        persist_result=False,
    )
    async def direct_agent(prompt: str) -> Any:
        return (await agent.run(prompt)).output

    return direct_agent


def timed(make: Callable[[], Coroutine[Any, Any, Any]]) -> tuple[float, float, Any]:
    """Wall time and this process's CPU time (ms) of one run in a fresh event loop. The CPU time
    leaves out the Prefect server (another process) and I/O waits such as fsync."""
    started, cpu = time.perf_counter(), time.process_time()
    output = asyncio.run(make())
    return (time.perf_counter() - started) * 1000.0, (time.process_time() - cpu) * 1000.0, output


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "median_ms": statistics.median(samples),
        "mean_ms": statistics.fmean(samples),
        "stdev_ms": statistics.stdev(samples) if len(samples) > 1 else 0.0,
        "min_ms": min(samples),
        "max_ms": max(samples),
    }


def measure(bench: Bench, runs: int, warmup: int, progress: bool) -> dict[str, Any]:
    variants: dict[str, Callable[[], Coroutine[Any, Any, Any]]] = {
        "direct": bench.direct,
        "harness": bench.harness,
    }
    outputs: dict[str, Any] = {}
    for _ in range(warmup):
        for name, make in variants.items():
            *_, outputs[name] = timed(make)
    if outputs and outputs["direct"] != outputs["harness"]:
        raise RuntimeError("direct and harness runs produced different outputs")
    samples: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for i in range(runs):
        # Interleave, and alternate which variant goes first, so drift and order effects cancel.
        order = list(variants) if i % 2 == 0 else list(reversed(variants))
        for name in order:
            ms, cpu_ms, _ = timed(variants[name])
            samples[name].append(ms)
            cpu[name].append(cpu_ms)
        if progress:
            print(
                f"  run {i + 1:>3}/{runs}: direct {samples['direct'][-1]:7.1f} ms   "
                f"harness {samples['harness'][-1]:7.1f} ms",
                file=sys.stderr,
            )
    direct, harness = summary(samples["direct"]), summary(samples["harness"])
    paired = [h / d for d, h in zip(samples["direct"], samples["harness"], strict=True)]
    cpu_direct, cpu_harness = statistics.median(cpu["direct"]), statistics.median(cpu["harness"])
    return {
        "scenario": str(SCENARIO_FILE.relative_to(REPO)),
        "agent": bench.scenario.agent,
        "runs": runs,
        "warmup": warmup,
        "event_loop": "one asyncio.run per measured run (both variants)",
        "python": platform.python_version(),
        "direct": {**direct, "cpu_median_ms": cpu_direct, "samples_ms": samples["direct"]},
        "harness": {
            **harness,
            "cpu_median_ms": cpu_harness,
            "samples_ms": samples["harness"],
            "history_events_per_run": bench.last_events,
            "ledger_entries_per_run": bench.last_ledger,
        },
        "ratio_median": harness["median_ms"] / direct["median_ms"],
        "ratio_mean": harness["mean_ms"] / direct["mean_ms"],
        "ratio_min": harness["min_ms"] / direct["min_ms"],
        "ratio_paired_median": statistics.median(paired),
        "ratio_cpu_median": cpu_harness / cpu_direct,
        "target_ratio": TARGET_RATIO,
    }


def profile(bench: Bench, runs: int) -> str:
    """cProfile ``runs`` runs of each variant (after the measurement, not timed with it): totals for
    both, and the harness's own functions plus the syscalls of its JSONL writes by cumulative time.
    Coroutine times count only while the coroutine is on the stack, not while it awaits."""
    import cProfile
    import io
    import pstats

    out = io.StringIO()
    stats: dict[str, pstats.Stats] = {}
    for name, make in (("direct", bench.direct), ("harness", bench.harness)):
        prof = cProfile.Profile()
        for _ in range(runs):
            prof.enable()
            asyncio.run(make())
            prof.disable()
        stats[name] = pstats.Stats(prof, stream=out)
    total = {name: getattr(st, "total_tt", 0.0) for name, st in stats.items()}  # untyped in typeshed
    out.write(
        f"cProfile, {runs} runs per variant: profiled seconds direct {total['direct']:.2f}, "
        f"harness {total['harness']:.2f}\n"
    )
    harness = stats["harness"].sort_stats("cumulative")
    harness.print_stats(r"durable_chaos|posix\.(fsync|open|write)|json/__init__.*dumps", 35)
    return out.getvalue()


def print_table(result: dict[str, Any], startup_s: float) -> None:
    print(f"harness overhead: {result['agent']} ({result['scenario']}), clean run, cassette replay")
    print(
        f"{result['runs']} interleaved runs per variant after {result['warmup']} warm-up runs each; "
        f"{result['event_loop']}; Prefect server startup {startup_s:.1f}s (not measured)"
    )
    print()
    print(
        f"{'variant':<10}{'median ms':>12}{'mean ms':>12}{'stdev ms':>12}{'min ms':>12}{'max ms':>12}"
        f"{'cpu med ms':>12}"
    )
    for name in ("direct", "harness"):
        row = result[name]
        print(
            f"{name:<10}{row['median_ms']:>12.1f}{row['mean_ms']:>12.1f}{row['stdev_ms']:>12.1f}"
            f"{row['min_ms']:>12.1f}{row['max_ms']:>12.1f}{row['cpu_median_ms']:>12.1f}"
        )
    harness = result["harness"]
    print()
    print(
        f"harness writes per run: {harness['history_events_per_run']} history events, "
        f"{harness['ledger_entries_per_run']} ledger entries"
    )
    print(
        f"ratio of means: {result['ratio_mean']:.2f}x   ratio of mins: {result['ratio_min']:.2f}x   "
        f"median of paired ratios: {result['ratio_paired_median']:.2f}x   "
        f"client CPU (medians): {result['ratio_cpu_median']:.2f}x"
    )
    print(
        f"overhead ratio (median harness / median direct): {result['ratio_median']:.2f}x "
        f"(target <= {TARGET_RATIO:.2f}x)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="measured runs per variant (default 15)")
    parser.add_argument(
        "--warmup", type=int, default=2, help="discarded warm-up runs per variant (default 2)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="after measuring, cProfile N more runs of each variant and print where the "
        "harness spends its time (to stderr with --json)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be >= 1 and --warmup >= 0")

    scenario = load_scenario(SCENARIO_FILE)
    bench = Bench(scenario)
    try:
        started = time.perf_counter()
        bench.start()
        startup_s = time.perf_counter() - started
        result = measure(bench, args.runs, args.warmup, progress=not args.json)
        profiled = profile(bench, args.profile) if args.profile > 0 else ""
    finally:
        bench.close()
    result["server_startup_s"] = startup_s
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result, startup_s)
    if profiled:
        print(profiled, file=sys.stderr if args.json else sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
