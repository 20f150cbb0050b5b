"""Entry point of a worker process: ``python -m durable_chaos.run.worker JOB.json``.

Runs one role of one trial with the fault plan armed as the history says (faults that already
fired in an earlier, killed worker do not fire again; unit identities carry over), then writes the
outcome as JSON. A kill fault ends the process with SIGKILL before it gets that far.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from durable_chaos import events
from durable_chaos.faults.plan import ArmedPlan
from durable_chaos.faults.units import UnitTracker
from durable_chaos.infra.engines import EngineAdapter, Target, adapter_for
from durable_chaos.infra.ledger import Ledger
from durable_chaos.jsonable import jsonable
from durable_chaos.judge.effects import EffectsProbe
from durable_chaos.judge.evidence import is_faulted, warm_up_role
from durable_chaos.run.fault_services.network import NetworkHandle
from durable_chaos.run.fault_services.restarts import RestartClient
from durable_chaos.run.records.history import History, TrialObserver
from durable_chaos.run.role import fired_counts, run_role
from durable_chaos.run.targets import load_target
from durable_chaos.run.workers import ABORTED_EXIT_CODE, WorkerJob
from durable_chaos.scenario.model import Plan, Scenario
from durable_chaos.scenario.read import load_scenario


def prior_invocations(history: list[dict[str, Any]], role: str) -> list[dict[str, Any]]:
    """Unit attempts of earlier processes of the same logical run (faulted run and its resumes)."""
    if not is_faulted(role):
        return []
    return [e for e in history if e["event"] == events.INVOKE and is_faulted(e["role"])]


async def work(job: WorkerJob) -> dict[str, Any]:
    scenario = load_scenario(job.scenario_path)
    if job.resume_mode is not None and job.resume_mode != scenario.resume:
        path, scenario = scenario.path, scenario.model_copy(update={"resume": job.resume_mode})
        scenario = scenario.located(path)
    if job.plan_data is not None:
        plan = Plan.model_validate(job.plan_data)
    else:
        plan = next(p for p in scenario.plans if p.name == job.plan)
    target = load_target(scenario, upgraded=job.upgraded)
    adapter = adapter_for(job.engine)
    adapter.attach()
    trial_dir = Path(job.trial_dir)
    history = History(trial_dir / "history.jsonl")
    recorded = history.events()
    armed = (
        ArmedPlan(list(plan.faults), fired_counts(recorded, len(plan.faults))) if job.armed else ArmedPlan([])
    )
    tracker = UnitTracker.from_invocations(prior_invocations(recorded, job.role))
    observer = TrialObserver(history, Ledger(trial_dir / "ledger.jsonl"), adapter)
    warm = await warm_up(job, scenario, target, adapter, observer) if job.warm and job.resume else {}
    outcome, misses = await run_role(
        scenario,
        target,
        adapter,
        observer,
        job.role,
        armed,
        trial_dir,
        record=job.record,
        tracker=tracker,
        resume=job.resume,
        previous_ids=job.previous_ids,
        allow_kill=True,
        network=NetworkHandle.from_env(),
        end_process=lambda reason: end_aborted(job, reason),
        restarts=RestartClient.from_env(),
        upgraded=job.upgraded,
    )
    return {
        "completed": outcome.completed,
        "output": jsonable(outcome.output),
        "error": outcome.error,
        "engine_ids": outcome.engine_ids,
        "misses": misses + warm.get("misses", []),
        "warm_up": warm,
    }


async def warm_up(
    job: WorkerJob, scenario: Scenario, target: Target, adapter: EngineAdapter, observer: TrialObserver
) -> dict[str, Any]:
    """A warm resume's warm-up: the target run to completion once in this process, as a run of its own
    (role ``warm-up-<n>``: its own run id and engine context, no fault armed), so the resume that follows
    finds what a long-lived worker holds (caches filled, clients open, module globals set). Returns its
    outcome and the real effects it made (the trial takes them off the faulted run's: they are not its)."""
    effects = EffectsProbe.load(scenario.effects_functions(), scenario.base_dir)
    effects.read("before")
    outcome, misses = await run_role(
        scenario,
        target,
        adapter,
        observer,
        warm_up_role(job.role),
        ArmedPlan([]),
        Path(job.trial_dir),
        record=job.record,
        network=NetworkHandle.from_env(),
        end_process=lambda reason: end_aborted(job, reason),
        upgraded=job.upgraded,
    )
    effects.read("after")
    made = {t: effects.readings["after"][t] - effects.readings["before"][t] for t in effects.functions}
    return {"completed": outcome.completed, "error": outcome.error, "effects": made, "misses": misses}


def end_aborted(job: WorkerJob, reason: str) -> NoReturn:
    """The run met a harness error (``faults.abort``): write its outcome and end this process now, before
    the engine can retry anything. The history already holds the ``aborted`` event."""
    outcome: dict[str, Any] = {"completed": False, "output": None, "error": f"aborted: {reason}"}
    outcome |= {"engine_ids": {}, "misses": []}
    Path(job.outcome_path).write_text(json.dumps(outcome))
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(ABORTED_EXIT_CODE)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    job = WorkerJob.model_validate_json(Path(args[0]).read_text())
    os.environ.update(job.env)
    try:
        result = asyncio.run(work(job))
    except Exception as exc:  # noqa: BLE001 - reported to the runner as a setup error
        result = {"setup_error": f"{type(exc).__name__}: {exc}"}
    Path(job.outcome_path).write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    # Exit hard, as a warm worker's forked child does: a run given up on (a recovery deadline passed while
    # the engine waits for its database) must not finish in a background thread during interpreter exit.
    exit_code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
