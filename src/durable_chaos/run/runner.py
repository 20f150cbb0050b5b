"""The trial runner: golden run, faulted run, then the checkers.

A trial is one (scenario x engine x plan). The runner owns the session's engine infrastructure
(one adapter per engine, started on first use), a temp directory per trial (history, ledger, result
storage) and turns every failure of its own into a trial *error* with a clear message.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import signal
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from durable_chaos import jsonl
from durable_chaos.extras import missing_extra_of
from durable_chaos.faults.abort import TrialAborted, aborting
from durable_chaos.faults.context import Injection, RestartControl, activated
from durable_chaos.faults.injectors.http import model_faults
from durable_chaos.faults.injectors.mcp import mcp_faults
from durable_chaos.faults.injectors.tools import tool_faults
from durable_chaos.faults.plan import ArmedPlan
from durable_chaos.faults.units import UnitTracker
from durable_chaos.infra.cassettes import MISS, CassetteError, CassetteMode, cassette_traffic
from durable_chaos.infra.engines import (
    EngineAdapter,
    EngineUnavailable,
    RunOutcome,
    RunRequest,
    Target,
    TargetMismatch,
    adapter_for,
    engine_spec,
)
from durable_chaos.infra.engines.base import ReplayUndecided, RestartUnavailable, import_object
from durable_chaos.infra.ledger import Ledger
from durable_chaos.infra.model_server import Script, ScriptedServer
from durable_chaos.judge.accounting import ModelCalls, Tokens, model_calls, token_use
from durable_chaos.judge.checkers import Verdict, check, judge
from durable_chaos.judge.effects import EffectsError, EffectsProbe
from durable_chaos.judge.evidence import (
    FAULTED,
    GOLDEN,
    REFERENCE_PREFIX,
    VARIANT_PREFIX,
    Comparator,
    Evidence,
    VariantRuns,
    is_faulted,
    reference_role,
    variant_role,
)
from durable_chaos.judge.pricing import Cost, cost
from durable_chaos.patching import check_hooks
from durable_chaos.run import preflight
from durable_chaos.run.artifacts import scrub_directory
from durable_chaos.run.engine_logs import log_file_name, logs_to
from durable_chaos.run.exit_guard import ProcessExitCalled, exit_reason, exits_stopped
from durable_chaos.run.golden_cache import GoldenRun, golden_key
from durable_chaos.run.history import History, TrialObserver
from durable_chaos.run.network import (
    NetworkHandle,
    NetworkSession,
    NetworkUnavailable,
    TargetNotOffered,
    TrialNetwork,
    needs_worker,
    relay_model_traffic,
)
from durable_chaos.run.restarts import TrialRestarts, restart_errors, restart_faults
from durable_chaos.run.workers import (
    DEADLINE_GRACE_SECONDS,
    WarmWorkerGone,
    WorkerFailed,
    WorkerPool,
    Zygote,
    kill_group,
    run_process,
)
from durable_chaos.scenario.model import Plan, Scenario
from durable_chaos.scenario.trial_specs import TrialSpec

PLACEHOLDER_API_KEY = "sk-durable-chaos-replay"
ROOT_PREFIX = "durable-chaos-"
OWNER_FILE = "owner.pid"
"""Written when a session starts, removed when it closes: a directory that still has it and whose
process is gone belongs to a session that died without cleaning up."""


def remove_stale_roots(temp: Path | None = None) -> list[Path]:
    """Remove the session directories of earlier runs whose process is gone without cleaning up (a
    SIGKILLed pytest) and that kept nothing on purpose (no failed trial's artifacts)."""
    removed = []
    for root in Path(temp or tempfile.gettempdir()).glob(f"{ROOT_PREFIX}*"):
        try:
            pid = int((root / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # closed normally (what is left was kept on purpose), or not ours
        if pid == os.getpid() or _alive(pid):
            continue
        shutil.rmtree(root, ignore_errors=True)
        removed.append(root)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


DEFAULT_TRIAL_TIMEOUT_SECONDS = 600.0


class TrialTimeout(BaseException):
    """A trial ran past its deadline. A BaseException, so that no engine's or agent's ``except
    Exception`` (a task retry, a tool wrapper) swallows it."""


@contextmanager
def deadline(
    seconds: float | None, history: Path, on_expiry: Callable[[], None] | None = None
) -> Iterator[None]:
    """Stop the block with :class:`TrialTimeout` after ``seconds``, naming where it was stuck (the code
    running then and the last unit the history recorded); ``on_expiry`` runs first (it stops the
    trial's worker processes). Only in the main thread (signals)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        if on_expiry is not None:
            with contextlib.suppress(Exception):
                on_expiry()
        where = f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}" if frame else "?"
        last = ""
        with contextlib.suppress(Exception):
            events = [e for e in jsonl.read(history) if "unit" in e]
            if events:
                unit = events[-1]["unit"]
                last = f"; the last unit recorded was {unit['kind']} {unit['name']!r} ({events[-1]['event']})"
        raise TrialTimeout(
            f"the trial did not finish within its {seconds:g}s deadline: stuck at {where}{last}. Raise "
            "the scenario's 'timeout' or --chaos-timeout if it legitimately takes longer"
        )

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class TrialResult:
    spec: TrialSpec
    verdict: str
    reason: str
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    calls: ModelCalls | None = None
    tokens: Tokens | None = None
    golden: RunOutcome | None = None
    faulted: RunOutcome | None = None
    fired: list[int] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    workdir: Path | None = None
    seconds: float = 0.0
    resumes: int = 0
    cost: Cost | None = None
    variants: list[VariantRuns] = field(default_factory=list)
    harness_changes: list[str] = field(default_factory=list)
    """What the harness changed in how the engine ran the user's units (the engine adapter's list)."""

    def __repr__(self) -> str:  # the fields hold the whole history: megabytes
        return f"<TrialResult {self.spec.title}: {self.verdict}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))  # Hypothesis's printer would show the dataclass's fields

    def to_report(self) -> dict[str, Any]:
        """This trial in the JSON report (version 1)."""
        plan = self.spec.plan
        return {
            "scenario": self.spec.scenario.name,
            "scenario_file": str(self.spec.scenario.path) if self.spec.scenario.path else None,
            "engine": self.spec.engine,
            "plan": plan.name,
            "faults": [
                {**fault.model_dump(mode="json"), "fired": self.fired[i] if i < len(self.fired) else 0}
                for i, fault in enumerate(plan.faults)
            ],
            "verdict": self.verdict,
            "reason": self.reason,
            "expected_violations": self.spec.scenario.expect_for(plan).violations,
            "properties": {name: v.as_dict() for name, v in self.verdicts.items()},
            "model_calls": {
                "golden": self.calls.golden if self.calls else 0,
                "total": self.calls.total if self.calls else 0,
                "duplicates": self.calls.duplicates if self.calls else 0,
                "expected_reexecutions": self.calls.expected_reexecutions if self.calls else 0,
                "depends_on_scheduling": bool(self.calls and self.calls.concurrent > 1),
            },
            "tokens": {
                "golden": self.tokens.golden if self.tokens else 0,
                "spent": self.tokens.spent if self.tokens else 0,
                "naive_restart": self.tokens.naive_restart if self.tokens else 0,
                "saved": self.tokens.saved if self.tokens else 0,
            },
            "cost": self.cost.as_dict() if self.cost else None,
            "resumes": self.resumes,
            "resume_mode": self.spec.scenario.resume,
            "variants": [
                {"name": v.name, "completed": v.shared.completed, "fresh_completed": v.reference.completed}
                for v in self.variants
            ],
            "harness_changes": list(self.harness_changes),
            "seconds": round(self.seconds, 3),
        }


PLACEHOLDER_KEY_VARIABLES = (
    ("OPENAI_API_KEY",),
    ("ANTHROPIC_API_KEY",),
    ("GOOGLE_API_KEY", "GEMINI_API_KEY"),
)
"""Per provider, the variables its SDK reads a key from (the first is set when none is)."""


def ensure_placeholder_credentials() -> None:
    """Provider SDKs refuse to build a client without a key; replayed traffic needs none (a real key in
    the environment is left alone: replay never sends, and recording scrubs it)."""
    for variables in PLACEHOLDER_KEY_VARIABLES:
        if not any(os.environ.get(v) for v in variables):
            os.environ[variables[0]] = PLACEHOLDER_API_KEY


def load_comparator(scenario: Scenario, plan: Plan) -> Comparator | None:
    """The plan's ``expect.comparator``, imported (``None`` for structural equality)."""
    name = scenario.expect_for(plan).comparator
    if name is None:
        return None
    try:
        comparator = import_object(name, scenario.base_dir)
    except Exception as exc:  # noqa: BLE001 - reported as a trial error
        raise TrialSetupError(f"cannot import comparator {name!r}: {type(exc).__name__}: {exc}") from exc
    if not callable(comparator):
        raise TrialSetupError(f"comparator {name!r} is not callable")
    return comparator  # type: ignore[no-any-return]


def load_target(scenario: Scenario) -> Target:
    ensure_placeholder_credentials()
    import_path = scenario.agent or scenario.entry
    assert import_path is not None
    try:
        obj = import_object(import_path, scenario.base_dir)
    except Exception as exc:  # noqa: BLE001 - reported as a trial error
        message = preflight.import_failure(import_path, exc)
        if missing_extra_of(exc) is not None:  # an extra to install: the configuration is invalid
            raise preflight.ConfigurationError(message) from exc
        raise TrialSetupError(message) from exc
    if scenario.agent is not None:
        return Target("agent", obj, import_path, prompt=scenario.prompt)
    return Target("entry", obj, import_path, args=dict(scenario.args))


class TrialSetupError(Exception):
    """The trial could not be set up (target, cassette, engine); the message says why."""


class TrialRunner:
    """Runs trials, owning engine infrastructure and temp directories for one session."""

    def __init__(
        self,
        record: bool = False,
        keep_artifacts: bool = False,
        root: Path | None = None,
        warm_workers: bool = True,
        timeout: float | None = DEFAULT_TRIAL_TIMEOUT_SECONDS,
        reuse_golden: bool = True,
    ) -> None:
        self.timeout = timeout
        """Seconds a trial may take before it is stopped as an error (``--chaos-timeout``); a
        scenario's own ``timeout`` wins. It bounds the whole trial, in-process runs and workers alike."""
        self.deadline_at: float | None = None
        """The running trial's deadline (``time.monotonic()``), if it has one."""
        self.live_workers: set[int] = set()
        """Process (group) ids of the workers running now."""
        self.record = record
        self.keep_artifacts = keep_artifacts
        remove_stale_roots()
        self.root = root or Path(tempfile.mkdtemp(prefix=ROOT_PREFIX))
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / OWNER_FILE).write_text(str(os.getpid()))
        self.kept: list[Path] = []
        """Trial directories kept at close because their trial did not pass (or all, with keep_artifacts)."""
        self.engines: dict[str, EngineAdapter] = {}
        self.engine_errors: dict[str, str] = {}
        self.unusable: dict[str, dict[str, str]] = {}
        """Per engine: properties whose private hooks are broken, with the reason (see fixtures.hooks)."""
        self.counter = 0
        self.warm_workers = warm_workers
        self.zygotes: dict[tuple[str, str], Zygote] = {}
        """Warm workers by (engine, target module): each has imported the engine and the target."""
        self.network = NetworkSession()
        """The session's Toxiproxy, started by the first trial with network faults."""
        self.reuse_golden = reuse_golden
        """Make a scenario's golden run once per engine and session (see :mod:`golden_cache`)."""
        self.goldens: dict[tuple[str, ...], GoldenRun] = {}

    def engine(self, name: str) -> EngineAdapter:
        if name in self.engine_errors:
            raise EngineUnavailable(self.engine_errors[name])
        if name not in self.engines:
            try:
                adapter = adapter_for(name)
                with logs_to(self.root / log_file_name(f"session-{name}")):
                    adapter.start(self.root / f"engine-{name}")
            except EngineUnavailable as exc:
                self.engine_errors[name] = str(exc)
                raise
            self.engines[name] = adapter
            self.unusable[name] = check_hooks(adapter.hooks())
        return self.engines[name]

    def launch_worker(
        self,
        adapter: EngineAdapter,
        job_path: Path,
        env: dict[str, str],
        log_path: Path,
        scenario: Scenario | None = None,
    ) -> int:
        """Run one worker job to its end and return its exit code: forked from a warm worker that has
        imported the engine and the scenario's target module when possible (no imports to pay), else as
        a plain subprocess."""
        timeout = self.worker_timeout()
        zygote = self.zygote(adapter, scenario) if self.warm_workers else None
        if zygote is not None:
            try:
                return zygote.run(job_path, log_path, timeout, self.live_workers)
            except WarmWorkerGone:  # the job never started: run it as a plain process
                zygote.close()
                timeout = self.worker_timeout()  # unless the trial's deadline stopped it
                if not zygote.ready:  # it could not even import: no warm workers this session
                    self.warm_workers = False
        return run_process(job_path, log_path, timeout, self.live_workers)

    def worker_timeout(self) -> float | None:
        """How long a worker may be waited for: until just past the running trial's deadline (which
        kills it), or without bound when the trial has none."""
        if self.deadline_at is None:
            return None
        remaining = self.deadline_at - time.monotonic()
        if remaining <= 0:
            raise WorkerFailed("the trial's deadline passed before the worker started")
        return remaining + DEADLINE_GRACE_SECONDS

    def stop_workers(self) -> None:
        """At the trial's deadline: kill the running workers' process groups, and the warm workers
        starting one (its imports or its fork), so every wait for a worker ends now."""
        for pid in list(self.live_workers):
            kill_group(pid)
        for zygote in list(self.zygotes.values()):
            if zygote.busy:
                kill_group(zygote.process.pid)

    def zygote(self, adapter: EngineAdapter, scenario: Scenario | None = None) -> Zygote | None:
        import_path = (scenario.agent or scenario.entry or "") if scenario is not None else ""
        module = import_path.partition(":")[0]
        key = (adapter.name, f"{scenario.base_dir}:{module}" if scenario is not None and module else "")
        current = self.zygotes.get(key)
        if current is not None and current.alive():
            return current
        if current is not None:
            current.close()  # stopped at a trial's deadline, or died
        if not hasattr(os, "fork"):
            return None
        target = (str(scenario.base_dir), module) if scenario is not None and module else None
        try:
            self.zygotes[key] = Zygote(
                list(adapter.preload_modules),
                self.root / f"warm-worker-{adapter.name}-{len(self.zygotes)}.log",
                target=target,
            )
        except (WorkerFailed, OSError):
            self.warm_workers = False
            return None
        return self.zygotes[key]

    def close(self) -> None:
        for zygote in self.zygotes.values():
            zygote.close()
        self.zygotes.clear()
        for name, adapter in self.engines.items():
            with logs_to(self.root / log_file_name(f"session-{name}")):  # late records: not the terminal
                adapter.stop()
        self.engines.clear()
        self.network.close()
        (self.root / OWNER_FILE).unlink(missing_ok=True)
        if self.keep_artifacts:
            scrub_directory(self.root)
            return
        if not self.kept:
            shutil.rmtree(self.root, ignore_errors=True)
            return
        for child in self.root.iterdir():  # keep what explains the trials that did not pass
            if child not in self.kept and not child.name.startswith(("warm-worker-", "engine-session-")):
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        scrub_directory(self.root)

    def prewarm(self, scenario: Scenario, engine: str, *, kills: bool) -> None:
        """Start the warm worker of a scenario's trials on an engine now, without waiting for it: its
        imports overlap the engine's start and the golden run. Only when trials will need worker
        processes (``kills``, or an engine that runs nothing in process)."""
        if not self.warm_workers or engine in self.engine_errors:
            return
        try:
            adapter = self.engines.get(engine) or adapter_for(engine)
        except EngineUnavailable:
            return
        if kills or not adapter.runs_in_process:
            self.zygote(adapter, scenario)

    def run(self, spec: TrialSpec, *, golden_only: bool = False) -> TrialResult:
        """Run one trial. ``golden_only``: make (or take from the cache) only its golden run, as a
        result whose verdict is ``pass`` when the golden run completed (a sweep expands from it)."""
        started = time.monotonic()
        self.counter += 1
        workdir = self.root / f"{self.counter:03d}-{spec.scenario.name}-{spec.id}"
        workdir.mkdir(parents=True, exist_ok=True)
        history = workdir / "history.jsonl"
        try:
            # Configuration mistakes (target not importable, engine not installed, agent not durable for
            # it, selectors naming nothing the agent has, no cassette to replay) are an invalid trial,
            # found before anything starts, as `durable-chaos validate` finds them.
            with exits_stopped() as exits:  # the target is imported and may run in this process
                preflight.check(spec.scenario, spec.engine, record=self.record)
                self.engine(spec.engine)  # the session's infrastructure starts outside the trial's deadline
                seconds = spec.scenario.timeout or self.timeout
                self.deadline_at = None if not seconds else time.monotonic() + seconds
                try:
                    with deadline(seconds, history, on_expiry=self.stop_workers):
                        result = asyncio.run(self._run(spec, workdir, golden_only))
                finally:
                    self.deadline_at = None
            if exits:  # the engine may have taken the exception for a failed unit and gone on
                result = TrialResult(spec, "error", exit_reason(exits))
        except TargetMismatch as exc:
            result = TrialResult(spec, "invalid", str(exc))
        except (TargetNotOffered, RestartUnavailable) as exc:
            result = TrialResult(spec, "skipped", str(exc))
        except (TrialSetupError, EffectsError, EngineUnavailable, CassetteError, NetworkUnavailable) as exc:
            result = TrialResult(spec, "error", str(exc))
        except Exception as exc:  # noqa: BLE001 - the harness's own failure is an error verdict
            (workdir / "harness-error.txt").write_text(traceback.format_exc())
            result = TrialResult(
                spec,
                "error",
                f"harness failure: {type(exc).__name__}: {exc} "
                f"(traceback in {workdir / 'harness-error.txt'})",
            )
        except TrialTimeout as exc:
            result = TrialResult(spec, "error", str(exc))
        except ProcessExitCalled as exc:
            result = TrialResult(spec, "error", exit_reason([exc.status]))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - user code must not end the session, nor pass
            # SystemExit, GeneratorExit, or the user's own BaseException subclass (at import, in a tool)
            result = TrialResult(
                spec,
                "error",
                f"the target raised {type(exc).__name__}({exc}) during the trial: user code ended the run "
                "instead of returning or raising an error, so nothing about it can be judged",
            )
        result.workdir = workdir
        result.seconds = time.monotonic() - started
        if result.verdict not in ("pass", "skipped"):
            self.kept.append(workdir)
            scrub_directory(workdir)  # kept artifacts carry no credential, even if the session dies
        return result

    async def _run(self, spec: TrialSpec, workdir: Path, golden_only: bool = False) -> TrialResult:
        scenario = spec.scenario
        target = load_target(scenario)
        adapter = self.engine(spec.engine)
        adapter.check_target(target)
        history = History(workdir / "history.jsonl")
        ledger = Ledger(workdir / "ledger.jsonl")
        observer = TrialObserver(history, ledger, adapter)
        # Restarts first: the engine may put the trial on infrastructure it owns, which the network
        # targets and the workers' environment then name.
        restarts = TrialRestarts.open(spec.plan.faults, adapter, workdir, history)
        try:
            network = self.network.trial(spec.plan.faults, adapter, workdir)
            try:
                return await self._judge(
                    spec, workdir, target, adapter, observer, network, restarts, golden_only
                )
            finally:
                if network is not None:
                    network.close()
        finally:
            if restarts is not None:
                restarts.close()

    async def _judge(
        self,
        spec: TrialSpec,
        workdir: Path,
        target: Target,
        adapter: EngineAdapter,
        observer: TrialObserver,
        network: TrialNetwork | None,
        restarts: TrialRestarts | None = None,
        golden_only: bool = False,
    ) -> TrialResult:
        scenario = spec.scenario
        history, ledger = observer.history, observer.ledger
        expect = scenario.expect_for(spec.plan)
        properties = scenario.properties_for(spec.plan)
        comparator = load_comparator(scenario, spec.plan)
        workers = WorkerPool(self, spec, adapter, history, workdir, network=network, restarts=restarts)
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
                    record=self.record,
                    network=handle,
                )
            return await workers.run(role, armed=False)

        effects = EffectsProbe.load(scenario.effects_functions(), scenario.base_dir)
        # A golden run taken from the cache makes no effects to observe.
        reusable = not (self.record or scenario.variants or effects.functions)
        key = golden_key(spec) if self.reuse_golden and reusable else None
        cached = self.goldens.get(key) if key is not None else None
        effects.read("before")
        if cached is not None:
            golden, golden_misses = cached.replay_into(history, ledger)
        else:
            golden, golden_misses = await unfaulted(GOLDEN)
            if key is not None and golden.completed and not golden_misses:
                self.goldens[key] = GoldenRun.snapshot(golden, history, ledger)
        effects.read("golden")
        if golden_only:
            errors = setup_errors(scenario, golden, golden_misses, ArmedPlan([]))
            verdict = "error" if errors else "pass"
            reason = "; ".join(errors) or "the golden run completed"
            return TrialResult(spec, verdict, reason, golden=golden, events=history.events())
        variants: list[VariantRuns] = []
        if "no_false_cache_sharing" in properties and golden.completed:
            # Each variant in a fresh engine context (what it sends when nothing is shared), then in the
            # golden run's context, which the golden run and the variants before it have filled.
            for variant in scenario.variants:
                reference, reference_misses = await unfaulted(reference_role(variant.name))
                shared, shared_misses = await unfaulted(variant_role(variant.name))
                golden_misses += reference_misses + shared_misses
                variants.append(VariantRuns(variant.name, reference, shared))
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
                "faulted",
                armed,
                workdir,
                record=self.record,
                network=handle,
            )
        else:
            faulted, faulted_misses = await workers.run_until_done(scenario.max_resumes)
            armed.fired = fired_counts(history.events(), len(spec.plan.faults))
        effects.read("faulted")
        if "deterministic_replay" in properties and faulted.completed:
            await replay_check(scenario, adapter, observer, target, faulted, workdir)
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
            scenario, golden, misses, armed, variants, other_aborts(events), golden_failure_is_error=False
        )
        errors += restart_errors(evidence.events)
        judged: list[str] = list(properties)
        if not golden.completed and "completes" not in judged:  # the agent's own failure is always said
            judged.insert(0, "completes")
        verdicts = check(evidence, judged)
        if aborts(events):  # a harness error, not the agent's: nothing about the agent can be judged
            verdicts = {}
        for name, problem in self.unusable.get(spec.engine, {}).items():
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
            harness_changes=adapter.harness_changes(scenario.engine_options(adapter.name)),
        )


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
    request = run_request(scenario, adapter, role, workdir, resume, previous_ids or {}, allow_kill)
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
        observer.history.mark("run_start", role, resume=resume)
        try:
            outcome = await adapter.run(target, request)
        except TrialAborted:
            outcome = RunOutcome(role, False)
        finally:
            injection.close_network()
        if abort.reason is not None:  # whatever the engine made of it, the run was aborted
            outcome = RunOutcome(role, False, error=f"aborted: {abort.reason}", engine_ids=outcome.engine_ids)
        observer.history.mark("run_end", role, completed=outcome.completed, error=outcome.error)
    return outcome, misses


def run_request(
    scenario: Scenario,
    adapter: EngineAdapter,
    role: str,
    workdir: Path,
    resume: bool = False,
    previous_ids: dict[str, Any] | None = None,
    resumable: bool = False,
) -> RunRequest:
    """The engine's view of one run of the trial."""
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
    )


async def replay_check(
    scenario: Scenario,
    adapter: EngineAdapter,
    observer: TrialObserver,
    target: Target,
    faulted: RunOutcome,
    workdir: Path,
) -> None:
    """Ask the engine to replay the finished faulted run against its history; record what it found (a
    ``replay_check`` event, which ``deterministic_replay`` judges). Nothing is recorded when the engine
    has no replay check."""
    request = run_request(scenario, adapter, FAULTED, workdir)
    try:
        problems = await adapter.replay_check(target, faulted, request)
    except ReplayUndecided as exc:
        observer.history.mark("replay_check", FAULTED, problems=[], undecided=str(exc))
        return
    if problems is not None:
        observer.history.mark("replay_check", FAULTED, problems=problems)


def run_id(scenario: Scenario, workdir: Path, role: str) -> str:
    """The durable run's id: one for the golden run, one shared by the faulted run and its resumes
    (so a resume recovers the same workflow / flow run), one per variant run. A digest of the trial
    directory's full path (under the session's own temp root) keeps ids apart across sessions and xdist
    workers that share real infrastructure (one Prefect server, DBOS database server, Temporal cluster)."""
    lineage = "faulted" if is_faulted(role) else role.replace(":", "-")
    digest = hashlib.sha1(str(workdir.resolve()).encode()).hexdigest()[:8]
    return f"{scenario.name}-{workdir.name}-{digest}-{lineage}"


def engine_context(role: str) -> str:
    """The engine state a run shares (``RunRequest.context``): a variant runs in the golden run's, where
    too coarse a cache would hand it the golden run's results; its reference run in one of its own."""
    if role == GOLDEN or role.startswith(VARIANT_PREFIX):
        return GOLDEN
    if role.startswith(REFERENCE_PREFIX):
        return role.replace(":", "-")
    return "faulted"


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


def plan_kills(plan: Plan) -> bool:
    return any(fault.kind == "kill" for fault in plan.faults)


def fired_counts(events: list[dict[str, Any]], n_faults: int) -> list[int]:
    """How often each fault of the plan fired, from the history (all processes of the trial)."""
    counts = [0] * n_faults
    for event in events:
        if event["event"] == "fault" and is_faulted(event["role"]) and event["fault"]["index"] < n_faults:
            counts[event["fault"]["index"]] += 1
    return counts


def aborts(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs of the trial that a harness error aborted (``aborted`` events, see ``faults.abort``)."""
    return [e for e in events if e["event"] == "aborted"]


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
    for index, fault in [] if no_chance else armed.unfired():
        where = fault.at.model_dump(exclude_defaults=True) or "any unit"
        errors.append(
            f"planned fault #{index + 1} ({fault.kind} at {where}) never fired: no unit matched its selector"
        )
    return errors
