"""One run of a trial's target in this process (golden, faulted, a resume, a variant's): what a
worker process runs, and what the trial runs in its own process when nothing may kill it.

Every fault and observation layer is installed around the engine's run: the cassette, the fault
injectors, the engine's observation, the history.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

from durable_chaos import events
from durable_chaos.faults.abort import TrialAborted, aborting
from durable_chaos.faults.context import Injection, RestartControl, activated
from durable_chaos.faults.injectors.http import model_faults
from durable_chaos.faults.injectors.mcp import mcp_faults
from durable_chaos.faults.injectors.tools import tool_faults
from durable_chaos.faults.plan import ArmedPlan
from durable_chaos.faults.units import UnitTracker
from durable_chaos.infra.cassettes import CassetteMode, cassette_traffic
from durable_chaos.infra.engines import EngineAdapter, RunOutcome, RunRequest, Target
from durable_chaos.infra.model_server import Script, ScriptedServer
from durable_chaos.judge.evidence import (
    FAULTED,
    GOLDEN,
    REFERENCE_PREFIX,
    VARIANT_PREFIX,
    WARM_UP_PREFIX,
    is_faulted,
)
from durable_chaos.run.fault_services.network import NetworkHandle, relay_model_traffic
from durable_chaos.run.records.engine_logs import log_file_name, logs_to
from durable_chaos.run.records.history import TrialObserver
from durable_chaos.run.targets import TrialSetupError
from durable_chaos.scenario.model import Scenario


async def run_role(
    scenario: Scenario,
    target: Target,
    adapter: EngineAdapter,
    observer: TrialObserver,
    role: str,
    plan: ArmedPlan,
    workdir: Path,
    *,
    record: bool = False,
    tracker: UnitTracker | None = None,
    resume: bool = False,
    previous_ids: dict[str, Any] | None = None,
    allow_kill: bool = False,
    network: NetworkHandle | None = None,
    end_process: Callable[[str], None] | None = None,
    restarts: RestartControl | None = None,
    upgraded: bool = False,
) -> tuple[RunOutcome, list[str]]:
    """One run of the target in this process, with every fault and observation layer installed.
    Returns the outcome and the model requests the cassette could not answer. A variant's roles run
    the variant's inputs. A harness error (a cassette miss) aborts the run (:mod:`faults.abort`): in a
    worker ``end_process`` ends the process then and there; here the run's outcome says so."""
    injection = Injection(
        plan,
        tracker or UnitTracker(),
        observer,
        role,
        allow_kill=allow_kill,
        network=network,
        resumed=resume,
        restarts=restarts,
    )
    target = role_target(scenario, target, role)
    request = run_request(
        scenario, adapter, role, workdir, resume, previous_ids or {}, allow_kill, upgraded=upgraded
    )
    with (
        model_traffic(scenario, record) as misses,
        relay_model_traffic(network),
        model_faults(),
        tool_faults(),
        mcp_faults(),
        adapter.observing(),
        activated(injection),
        aborting(end_process) as abort,
        logs_to(workdir / log_file_name(role)),
    ):
        versioned = version_facts(request.version, target) if request.version else {}
        observer.history.mark(events.RUN_START, role, resume=resume, **versioned)
        try:
            injection.launch(adapter.name)  # a resumed worker: restarts ``during: launch`` go first
            outcome = await adapter.run(target, request)
        except TrialAborted:
            outcome = RunOutcome(role, False)
        finally:
            injection.close_network()
        if abort.reason is not None:  # whatever the engine made of it, the run was aborted
            outcome = RunOutcome(role, False, error=f"aborted: {abort.reason}", engine_ids=outcome.engine_ids)
        observer.history.mark(events.RUN_END, role, completed=outcome.completed, error=outcome.error)
    return outcome, misses


def version_facts(version: str, target: Target) -> dict[str, Any]:
    """What version a run of an upgrade trial runs: N or N+1, its target, its interpreter, and the versions
    of pydantic-ai and of every registered engine's library (a library upgrade shows in the report)."""
    import platform
    from importlib.metadata import PackageNotFoundError, packages_distributions
    from importlib.metadata import version as installed

    from durable_chaos.infra.engines import engine_specs

    owners = packages_distributions()
    names = ["pydantic-ai-slim"] + [
        name
        for spec in engine_specs().values()
        for module in spec.modules
        for name in owners.get(module.partition(".")[0], [])
    ]
    libraries: dict[str, str] = {}
    for name in dict.fromkeys(names):
        with suppress(PackageNotFoundError):
            libraries[name] = installed(name)
    environment = {"python": sys.executable, "python_version": platform.python_version(), **libraries}
    return {"version": version, "target": target.import_path, "environment": environment}


def run_request(
    scenario: Scenario,
    adapter: EngineAdapter,
    role: str,
    workdir: Path,
    resume: bool = False,
    previous_ids: dict[str, Any] | None = None,
    resumable: bool = False,
    *,
    upgraded: bool = False,
) -> RunRequest:
    """The engine's view of one run of the trial (``upgraded``: a resume on the upgrade's N+1)."""
    upgrade = scenario.upgrade
    return RunRequest(
        role,
        run_id(scenario, workdir, role),
        workdir,
        options=scenario.engine_options(adapter.name),
        resume=resume,
        resume_mode=scenario.resume,
        previous_ids=previous_ids or {},
        context=engine_context(role),
        resumable=resumable,
        version="" if upgrade is None else "N+1" if upgraded else "N",
        upgrade_wait=upgrade.wait if upgrade is not None else None,
        warm_up=role.startswith(WARM_UP_PREFIX),
    )


def run_id(scenario: Scenario, workdir: Path, role: str) -> str:
    """The durable run's id: one for the golden run, one shared by the faulted run and its resumes
    (so a resume recovers the same workflow / flow run), one per variant run. A digest of the trial
    directory's full path (under the session's own temp root) keeps ids apart across sessions and xdist
    workers that share real infrastructure (one Prefect server, DBOS database server, Temporal cluster)."""
    lineage = FAULTED if is_faulted(role) else role.replace(":", "-")
    digest = hashlib.sha1(str(workdir.resolve()).encode()).hexdigest()[:8]
    return f"{scenario.name}-{workdir.name}-{digest}-{lineage}"


def engine_context(role: str) -> str:
    """The engine state a run shares (``RunRequest.context``): a variant runs in the golden run's, where
    too coarse a cache would hand it the golden run's results; its reference run in one of its own."""
    if role == GOLDEN or role.startswith(VARIANT_PREFIX):
        return GOLDEN
    if role.startswith(REFERENCE_PREFIX):
        return role.replace(":", "-")
    if role.startswith(WARM_UP_PREFIX):
        return "warm-up"  # a warm resume's warm-ups: nothing shared with the faulted run's engine state
    return FAULTED


def role_target(scenario: Scenario, target: Target, role: str) -> Target:
    """The target with a variant's inputs, for that variant's runs; else the target itself."""
    name = role.partition(":")[2] if role.startswith((VARIANT_PREFIX, REFERENCE_PREFIX)) else None
    variant = next((v for v in scenario.variants if v.name == name), None)
    if variant is None:
        return target
    if target.kind == "agent":
        return replace(target, prompt=variant.prompt if variant.prompt is not None else target.prompt)
    return replace(target, args={**target.args, **(variant.args or {})})


@contextmanager
def model_traffic(scenario: Scenario, record: bool) -> Iterator[list[str]]:
    """The model traffic of a run: the cassette (replayed or recorded), with the scenario's
    scripted server standing in for the provider while recording."""
    if scenario.cassette is None:
        raise TrialSetupError("live model traffic without a cassette is not supported; add 'cassette'")
    mode: CassetteMode = "record" if record else "replay"
    cassette = scenario.resolve(scenario.cassette)
    if mode == "record" and scenario.model_server is not None:
        script = Script.from_file(scenario.resolve(scenario.model_server.script))
        with (
            ScriptedServer(script) as server,
            cassette_traffic(cassette, mode, upstream=server.url) as session,
        ):
            yield session.misses
    else:
        with cassette_traffic(cassette, mode) as session:
            yield session.misses


def fired_counts(history: list[dict[str, Any]], n_faults: int) -> list[int]:
    """How often each fault of the plan fired, from the history (all processes of the trial)."""
    counts = [0] * n_faults
    for event in history:
        if (
            event["event"] == events.FAULT
            and is_faulted(event["role"])
            and event["fault"]["index"] < n_faults
        ):
            counts[event["fault"]["index"]] += 1
    return counts
