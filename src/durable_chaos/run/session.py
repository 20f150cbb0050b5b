"""A session's resources: the engines it started, its warm workers, its Toxiproxy, its golden-run
cache and its temp root (a directory per trial), all closed together at its end.

:class:`~durable_chaos.run.runner.TrialRunner` is the session that runs trials on them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from durable_chaos.infra.engines import EngineAdapter, EngineUnavailable, adapter_for
from durable_chaos.infra.engines.stream_events import HOOKS as HANDLER_HOOKS
from durable_chaos.infra.shared_servers import alive
from durable_chaos.patching import check_hooks
from durable_chaos.run.fault_services.network import NetworkSession
from durable_chaos.run.guards.deadline import DEFAULT_TRIAL_TIMEOUT_SECONDS
from durable_chaos.run.records.artifacts import scrub_directory
from durable_chaos.run.records.engine_logs import log_file_name, logs_to
from durable_chaos.run.records.golden_cache import GoldenRun
from durable_chaos.run.workers import (
    DEADLINE_GRACE_SECONDS,
    WarmWorkerGone,
    WorkerFailed,
    Zygote,
    kill_group,
    run_process,
)
from durable_chaos.scenario.model import Scenario

ROOT_PREFIX = "durable-chaos-"
OWNER_FILE = "owner.pid"
"""Written when a session starts, removed when it closes: a directory that still has it and whose
process is gone belongs to a session that died without cleaning up."""

SHARD_ENVIRONMENT = "DURABLE_CHAOS_SHARD"
"""``K/N`` in a shard's processes (``--chaos-shard``; :data:`durable_chaos.explore.shards.ENVIRONMENT`)."""


def root_prefix() -> str:
    """The session directory's prefix: under ``--chaos-shard K/N`` it names the shard, so the names engines
    derive from trial directories (DBOS databases, Temporal task queues and workflow ids, Restate services)
    differ between the shards of a run that share an engine server, whatever the temp directories."""
    shard = os.environ.get(SHARD_ENVIRONMENT, "")
    slug = "".join(c if c.isalnum() else "-" for c in shard)
    return f"{ROOT_PREFIX}shard-{slug}-" if slug else ROOT_PREFIX


def remove_stale_roots(temp: Path | None = None) -> list[Path]:
    """Remove the session directories of earlier runs whose process is gone without cleaning up (a
    SIGKILLed pytest) and that kept nothing on purpose (no failed trial's artifacts)."""
    removed = []
    for root in Path(temp or tempfile.gettempdir()).glob(f"{ROOT_PREFIX}*"):
        try:
            pid = int((root / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # closed normally (what is left was kept on purpose), or not ours
        if pid == os.getpid() or alive(pid):
            continue
        shutil.rmtree(root, ignore_errors=True)
        removed.append(root)
    return removed


class Session:
    """Engine infrastructure, worker processes and temp directories of one session."""

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
        self.root = root or Path(tempfile.mkdtemp(prefix=root_prefix()))
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / OWNER_FILE).write_text(str(os.getpid()))
        self.kept: list[Path] = []
        """Trial directories kept at close because their trial did not pass (or all, with keep_artifacts)."""
        self.engines: dict[str, EngineAdapter] = {}
        self.engine_errors: dict[str, str] = {}
        self.unusable: dict[str, dict[str, str]] = {}
        """Per engine: properties whose private hooks are broken, with the reason (see
        :mod:`durable_chaos.infra.private_apis`)."""
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
            self.unusable[name] = check_hooks([*adapter.hooks(), *HANDLER_HOOKS])
        return self.engines[name]

    def launch_worker(
        self,
        adapter: EngineAdapter,
        job_path: Path,
        env: dict[str, str],
        log_path: Path,
        scenario: Scenario | None = None,
        import_path: str | None = None,
        python: str | None = None,
    ) -> int:
        """Run one worker job to its end and return its exit code: forked from a warm worker that has
        imported the engine and the scenario's target module when possible (no imports to pay), else as
        a plain subprocess. ``import_path``: the target the job runs, when not the scenario's own (an
        upgrade's N+1); ``python``: another interpreter, which a warm worker of this one cannot stand in for
        (the job then runs as a plain process of that interpreter)."""
        timeout = self.worker_timeout()
        if python is not None:
            return run_process(job_path, log_path, timeout, self.live_workers, python)
        zygote = self.zygote(adapter, scenario, import_path) if self.warm_workers else None
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

    def zygote(
        self, adapter: EngineAdapter, scenario: Scenario | None = None, import_path: str | None = None
    ) -> Zygote | None:
        if import_path is None:
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
