"""One trial: golden run, faulted run, evidence, then the checkers.

A trial is one (scenario x engine x plan). It runs in its own temp directory (history, ledger, result
storage) on the session's engine infrastructure; :class:`~durable_chaos.run.runner.TrialRunner` turns
every failure of the harness's own into a trial *error* with a clear message.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

from durable_chaos.events import ABORTED, REPLAY_CHECK, RUN_START
from durable_chaos.faults.model import fires_at_launch
from durable_chaos.faults.plan import ArmedPlan
from durable_chaos.infra.cassettes import MISS
from durable_chaos.infra.engines import EngineAdapter, RunOutcome, Target, engine_spec
from durable_chaos.infra.engines.base import ReplayUndecided
from durable_chaos.infra.engines.stream_events import harness_changes as observation_changes
from durable_chaos.infra.ledger import Ledger
from durable_chaos.judge.accounting import model_calls, token_use
from durable_chaos.judge.checkers import Verdict, check, judge
from durable_chaos.judge.effects import EffectsProbe
from durable_chaos.judge.evidence import (
    FAULTED,
    GOLDEN,
    UPGRADED_REFERENCE,
    Evidence,
    VariantRuns,
    is_faulted,
    reference_role,
    variant_role,
)
from durable_chaos.judge.pricing import cost
from durable_chaos.properties import judged, needs
from durable_chaos.run.fault_services.network import TrialNetwork, needs_worker
from durable_chaos.run.fault_services.restarts import TrialRestarts, restart_errors, restart_faults
from durable_chaos.run.records.golden_cache import GoldenRun, golden_key
from durable_chaos.run.records.history import History, TrialObserver
from durable_chaos.run.results import TrialResult
from durable_chaos.run.role import fired_counts, run_request, run_role
from durable_chaos.run.session import Session
from durable_chaos.run.targets import load_comparator, load_target
from durable_chaos.run.worker_pool import WorkerPool
from durable_chaos.scenario.model import Plan, Scenario
from durable_chaos.scenario.trial_specs import TrialSpec


async def run_trial(
    session: Session, spec: TrialSpec, workdir: Path, golden_only: bool = False
) -> TrialResult:
    """Run one trial in the session: golden run, faulted run, then the checkers."""
    scenario = spec.scenario
    target = load_target(scenario)
    adapter = session.engine(spec.engine)
    adapter.check_target(target)
    history = History(workdir / "history.jsonl")
    ledger = Ledger(workdir / "ledger.jsonl")
    observer = TrialObserver(history, ledger, adapter)
    # Restarts first: the engine may put the trial on infrastructure it owns, which the network
    # targets and the workers' environment then name.
    restarts = TrialRestarts.open(spec.plan.faults, adapter, workdir, history)
    try:
        network = session.network.trial(spec.plan.faults, adapter, workdir)
        try:
            return await judge_trial(
                session, spec, workdir, target, adapter, observer, network, restarts, golden_only
            )
        finally:
            if network is not None:
                network.close()
    finally:
        if restarts is not None:
            restarts.close()


async def judge_trial(
    session: Session,
    spec: TrialSpec,
    workdir: Path,
    target: Target,
    adapter: EngineAdapter,
    observer: TrialObserver,
    network: TrialNetwork | None,
    restarts: TrialRestarts | None = None,
    golden_only: bool = False,
) -> TrialResult:
    """The trial's runs (golden, each variant's, faulted, the engine's replay check), its evidence,
    and the checkers' verdicts on it."""
    scenario = spec.scenario
    history, ledger = observer.history, observer.ledger
    expect = scenario.expect_for(spec.plan)
    properties = scenario.properties_for(spec.plan)
    comparator = load_comparator(scenario, spec.plan)
    workers = WorkerPool(session, spec, adapter, history, workdir, network=network, restarts=restarts)
    handle = network.handle if network is not None else None
    in_process = (
        adapter.runs_in_process
        and not needs_worker(spec.plan.faults)
        and not restart_faults(spec.plan.faults)
    )

    async def unfaulted(role: str) -> tuple[RunOutcome, list[str]]:
        if in_process:
            return await run_role(
                scenario,
                target,
                adapter,
                observer,
                role,
                ArmedPlan([]),
                workdir,
                record=session.record,
                network=handle,
            )
        return await workers.run(role, armed=False)

    effects = EffectsProbe.load(scenario.effects_functions(), scenario.base_dir)
    # A golden run taken from the cache makes no effects to observe.
    reusable = not (session.record or scenario.variants or effects.functions)
    key = golden_key(spec) if session.reuse_golden and reusable else None
    cached = session.goldens.get(key) if key is not None else None
    effects.read("before")
    if cached is not None:
        golden, golden_misses = cached.replay_into(history, ledger)
    else:
        golden, golden_misses = await unfaulted(GOLDEN)
        if key is not None and golden.completed and not golden_misses:
            session.goldens[key] = GoldenRun.snapshot(golden, history, ledger)
    effects.read("golden")
    if golden_only:
        errors = setup_errors(scenario, golden, golden_misses, ArmedPlan([]))
        verdict = "error" if errors else "pass"
        reason = "; ".join(errors) or "the golden run completed"
        return TrialResult(spec, verdict, reason, golden=golden, events=history.events())
    variants: list[VariantRuns] = []
    if needs(properties, "variants") and golden.completed:
        # Each variant in a fresh engine context (what it sends when nothing is shared), then in the
        # golden run's context, which the golden run and the variants before it have filled.
        for variant in scenario.variants:
            reference, reference_misses = await unfaulted(reference_role(variant.name))
            shared, shared_misses = await unfaulted(variant_role(variant.name))
            golden_misses += reference_misses + shared_misses
            variants.append(VariantRuns(variant.name, reference, shared))
    if needs(properties, "upgrade_reference") and golden.completed:
        # What N+1 sends from scratch, in an engine context of its own (only a worker imports N+1).
        _, reference_misses = await workers.run(UPGRADED_REFERENCE, armed=False, upgraded=True)
        golden_misses += reference_misses
    armed = ArmedPlan(list(spec.plan.faults))
    effects.read("before_faulted")
    if aborts(history.events()):
        # The golden run met a harness error (a cassette miss) that the faulted run would meet too.
        faulted = RunOutcome(FAULTED, False, error="not run: the golden run was aborted")
        faulted_misses: list[str] = []
    elif in_process and not plan_kills(spec.plan):
        faulted, faulted_misses = await run_role(
            scenario,
            target,
            adapter,
            observer,
            FAULTED,
            armed,
            workdir,
            record=session.record,
            network=handle,
        )
    else:
        faulted, faulted_misses = await workers.run_until_done(scenario.max_resumes)
        armed.fired = fired_counts(history.events(), len(spec.plan.faults))
        effects.not_faulted = dict(workers.warm_up_effects)
    effects.read("faulted")
    if needs(properties, "replay_check"):
        replayed = target
        if scenario.upgrade is not None and getattr(adapter, "replays_histories", False):
            # N's finished history against N+1's code, as a deploy would replay it (docs/upgrades.md).
            replayed = load_target(scenario, upgraded=True)
            if golden.completed:
                await replay_check(scenario, adapter, observer, replayed, golden, workdir, against="N+1")
        if faulted.completed:
            await replay_check(scenario, adapter, observer, replayed, faulted, workdir)
    if restarts is not None:
        restarts.close()  # a server still down comes back now, and says so in the history
        if not faulted.completed:
            note = await asyncio.to_thread(adapter.stranded, workdir, faulted)
            if note:
                faulted = replace(faulted, error=f"{faulted.error}; {note}")
    evidence = Evidence(
        golden,
        faulted,
        history.events(),
        ledger.entries(),
        scenario.side_effecting_names(),
        idempotency=scenario.idempotency(),
        effects=effects.per_run(),
        extra={
            "engine": spec.engine,
            "resume": scenario.resume,
            "forced_fresh_run": getattr(spec.point, "recovery", None) == "fresh",
            "resume_worker": scenario.resume_worker,
            "upgrade": scenario.upgrade is not None,
        },
        max_resumes_to_complete=expect.max_resumes_to_complete,
        comparator=comparator,
        comparator_name=expect.comparator,
        variants=tuple(variants),
        rules=engine_spec(spec.engine).rules,
    )

    events = history.events()
    misses = unique(golden_misses + faulted_misses + aborted_misses(events))
    errors = setup_errors(
        scenario,
        golden,
        misses,
        armed,
        variants,
        other_aborts(events),
        golden_failure_is_error=False,
        faulted=faulted,
    )
    errors += restart_errors(evidence.events)
    verdicts = check(evidence, judged(properties, golden.completed))  # the agent's own failure is always said
    if aborts(events):  # a harness error, not the agent's: nothing about the agent can be judged
        verdicts = {}
    for name, problem in session.unusable.get(spec.engine, {}).items():
        if name in verdicts:
            verdicts[name] = Verdict(None, f"not applicable: {problem}")
    verdict, reason = judge(verdicts, list(expect.violations), errors)
    tokens = token_use(evidence)
    return TrialResult(
        spec,
        verdict,
        reason,
        verdicts,
        model_calls(evidence),
        tokens,
        golden,
        faulted,
        list(armed.fired),
        evidence.events,
        resumes=evidence.resumes(),
        cost=cost(evidence, tokens.naive_restart, tokens.golden),
        variants=variants,
        harness_changes=[
            *adapter.harness_changes(scenario.engine_options(adapter.name)),
            *observation_changes(evidence.events),
        ],
        upgrade=upgrade_summary(scenario, events),
    )


async def replay_check(
    scenario: Scenario,
    adapter: EngineAdapter,
    observer: TrialObserver,
    target: Target,
    faulted: RunOutcome,
    workdir: Path,
    against: str | None = None,
) -> None:
    """Ask the engine to replay a finished run (the faulted run; in an upgrade trial also the golden run,
    ``against`` N+1's code) against its history; record what it found (a ``replay_check`` event of the
    faulted run, which ``deterministic_replay`` judges). Nothing is recorded when the engine has no
    replay check."""
    request = run_request(scenario, adapter, FAULTED, workdir)
    upgrade = {"history": faulted.role, "against": against} if against else {}
    try:
        problems = await adapter.replay_check(target, faulted, request)
    except ReplayUndecided as exc:
        observer.history.mark(REPLAY_CHECK, FAULTED, problems=[], undecided=str(exc), **upgrade)
        return
    if problems is not None:
        observer.history.mark(REPLAY_CHECK, FAULTED, problems=problems, **upgrade)


def upgrade_summary(scenario: Scenario, events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """An upgrade trial's versions, for the report: N, N+1, and whether a run started on N+1."""
    if scenario.upgrade is None:
        return None
    starts = [e for e in events if e["event"] == RUN_START and e.get("version") and e["role"] != GOLDEN]
    reached = [e for e in starts if e["version"] == "N+1" and is_faulted(e["role"])]
    environments = {e["version"]: e.get("environment") for e in starts if is_faulted(e["role"])}
    return {
        "from": scenario.version_path(False),
        "to": scenario.version_path(True),
        "resumed_on_n_plus_1": bool(reached),
        "environments": environments,
    }


def plan_kills(plan: Plan) -> bool:
    return any(fault.traits.kills_worker for fault in plan.faults)


def aborts(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs of the trial that a harness error aborted (``aborted`` events, see ``faults.abort``)."""
    return [e for e in events if e["event"] == ABORTED]


def aborted_misses(events: list[dict[str, Any]]) -> list[str]:
    """Cassette misses that aborted a run (in a worker, which reported nothing else)."""
    return [e["detail"] for e in aborts(events) if e.get("kind") == MISS]


def other_aborts(events: list[dict[str, Any]]) -> list[str]:
    others = [e for e in aborts(events) if e.get("kind") != MISS]
    return [f"the {e['role']} run was aborted: {e['reason']}" for e in others]


def unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def setup_errors(
    scenario: Scenario,
    golden: RunOutcome,
    misses: list[str],
    armed: ArmedPlan,
    variants: list[VariantRuns] | None = None,
    aborted: list[str] | None = None,
    *,
    golden_failure_is_error: bool = True,
    faulted: RunOutcome | None = None,
) -> list[str]:
    """Reasons the trial cannot be judged: a broken golden run, a variant that fails even alone,
    cassette misses and other harness errors that aborted a run, unfired faults. A trial that is judged
    (``golden_failure_is_error`` false) reports a golden run that failed in the agent's own code as a
    violation of ``completes`` instead (see :func:`~durable_chaos.judge.checkers.completes`)."""
    errors: list[str] = list(unique(aborted or []))
    if misses:
        source = scenario.path or scenario.name
        more = f" (and {len(misses) - 1} more)" if len(misses) > 1 else ""
        errors.append(
            f"a model request is not in cassette {scenario.cassette}: {misses[0]}{more}. Add it with "
            f"`pytest --chaos --chaos-record {source}` (recorded requests are kept), or delete the cassette "
            "first to record it afresh"
        )
    if golden_failure_is_error and not golden.completed and not misses and not aborted:  # said once
        errors.append(f"the golden run (no faults) failed: {golden.error}")
    for variant in variants or []:
        if not variant.reference.completed:
            errors.append(
                f"variant {variant.name!r} failed in a fresh engine context (no faults, nothing shared): "
                f"{variant.reference.error}"
            )
    # Aborted, or an agent that fails even unfaulted: the planned faults had no chance to fire.
    no_chance = misses or aborted or (not golden.completed and not golden_failure_is_error)
    why = "no unit matched its selector"
    if faulted is not None and not faulted.completed:
        # The golden run got past that unit; this run stopped before it (a flaky agent or engine).
        why = f"the faulted run failed before reaching it: {faulted.error}"
    for index, fault in [] if no_chance else armed.unfired():
        if fires_at_launch(fault):
            errors.append(
                f"planned fault #{index + 1} ({fault.kind} during launch) never fired: no worker resumed a "
                "killed run (the plan's kill never fired)"
            )
            continue
        where = fault.at.model_dump(exclude_defaults=True) or "any unit"
        errors.append(f"planned fault #{index + 1} ({fault.kind} at {where}) never fired: {why}")
    return errors
