"""The engine protocol: the whole contract between the harness and an engine package.

An engine package (``durable_chaos.infra.engines.<name>``, or any third-party package registered
in the ``durable_chaos.engines`` entry-point group) exposes one :class:`EngineSpec` object. The spec
is cheap to import (no engine library, no pydantic-ai): the scenario loader and the plugin read its
name, extra, options model and judgement rules; only :meth:`EngineSpec.adapter` imports the engine.

* :class:`EngineSpec`: what the harness knows about an engine without starting it.
* :class:`EngineRules`: the engine's share of judgement (unit and attempt identity, step identity,
  the hints in violation messages), as pure functions of recorded events.
* :class:`EngineAdapter`: infrastructure (``start``/``stop``), running and resuming a target
  (``run``), observation (``unit_context``, ``observing``) and its private hooks (``hooks``).

The defaults every shipped adapter shares, written once (``BaseAdapter``, ``emit``, the target check,
no replay check, ...), are in :mod:`.adapter_base`.

Everything else (faults, cassettes, history, checks, reports) is shared and never names an engine.

Events an adapter records (through :func:`.adapter_base.emit`, named by the constants of
:mod:`durable_chaos.events`), each with an ``engine`` dict that only the engine's :class:`EngineRules`
interprets:

* ``checkpoint``: the engine durably recorded a unit's result (pairs with ``unit_attempt_key``);
  ``engine["error"]`` true when what it recorded was a failure;
* ``replay``: the engine answered a unit from its journal instead of running it;
* ``identity``: the identity the engine gives one logical unit, for ``stable_cache_keys``:
  ``engine = {"scope": <workflow relative to the run's root, "" for the root>, "position": <step id,
  command index, or "<task name>#<n>">, "identity": <cache key, step function, activity type>,
  "recorded": <the identity the journal holds at that position, when the engine refused to replay
  because it differs; else absent>}``; optionally ``"components": {<part of the identity>: <its key>}``
  (``stable_cache_keys`` names the parts that changed) and ``"inputs": <fingerprint of the unit's
  inputs>``, read by ``no_stale_replay`` with the ``checkpoint`` of the same ``task_run_id`` when that one
  carries ``"restored": <answered from a cache without running>`` and ``"output": <fingerprint of the
  result>`` (engines whose cache answers without a request: Prefect);
* ``run_ids``: ids a resume needs, recorded before anything runs.
"""

from __future__ import annotations

import importlib
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from durable_chaos.patching import Hook


class EngineUnavailable(Exception):
    """The engine's infrastructure could not be started or reached; the message says how to fix it."""


class TargetMismatch(Exception):
    """The target cannot run on this engine (wrong durability, none at all, not a workflow): a
    configuration error of the scenario (exit 2), with a one-line message saying what is wrong."""


class RestartUnavailable(Exception):
    """The engine could restart this target, but not in this environment (no PostgreSQL server binaries
    to run a server it owns, ...): the trial is skipped, with the message saying how to fix it."""


class ReplayUndecided(Exception):
    """The engine's replay check could not decide, for a reason of the infrastructure (a deadlock
    detector firing under CPU starvation, ...), not of the workflow: ``deterministic_replay`` is then
    not applicable, with this message."""


def refuse_other_targets(engine: str, target: str, offered: str) -> None:
    """Raise :class:`RestartUnavailable` unless ``target`` is the one ``engine`` can restart (preflight
    refuses such plans first; this guards a direct call)."""
    if target != offered:
        raise RestartUnavailable(f"engine {engine!r} cannot restart {target!r}; it can restart: {offered}")


class RestartableService(Protocol):
    """A server of the engine's infrastructure that the session owns and can stop and start again."""

    name: str
    """What it is, for messages: ``Postgres on 127.0.0.1:5433``."""

    def stop(self) -> object:
        """Stop it now (as a crash or failover would: connections dropped), returning once it is down
        (what it returns is ignored)."""

    def start(self) -> object:
        """Start it again where it was (same address, same data); return once it accepts connections
        (what it returns is ignored)."""


@dataclass
class ServerRestarts:
    """A :class:`RestartableService` made of a server's own stop and start (each engine says which)."""

    name: str
    stop: Callable[[], object]
    start: Callable[[], object]


class EngineOptions(BaseModel):
    """Base of an engine's options model: the scenario's ``<engine>:`` table."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Target:
    """What a trial runs: an agent with a prompt, or a workflow entry point with arguments."""

    kind: str  # "agent" | "entry"
    obj: Any
    import_path: str
    prompt: str | None = None
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRequest:
    """One durable run of a target.

    ``resume``: the worker that ran ``run_id`` was killed; finish *that* run (same flow run, same
    workflow id) rather than starting a new one. ``resume_mode="new_run"`` deliberately starts a
    fresh run with the same inputs instead, as some users do. ``previous_ids`` are the engine ids
    the interrupted run recorded (e.g. its flow run id). ``context`` names the engine state the run
    shares with other runs of the trial (result storage, system database): runs with the same context
    share it, so one run's cached or journaled results are visible to the next. ``options`` is the
    scenario's table for this engine (an instance of the spec's ``options`` model).
    """

    role: str
    run_id: str
    workdir: Path
    options: EngineOptions = field(default_factory=EngineOptions)
    resume: bool = False
    resume_mode: str = "same_run"
    previous_ids: dict[str, Any] = field(default_factory=dict)
    context: str = ""
    resumable: bool = False
    """The run may be killed and resumed (it runs in a worker): the engine must record, before anything
    runs, the ids a resume needs."""
    version: str = ""
    """In an upgrade trial (docs/upgrades.md): the version this run runs, ``"N"`` (the golden run, the
    faulted run's start) or ``"N+1"`` (a resume after the kill); empty otherwise. The engine then applies
    the user's own versioning (no pin of the harness's) and reports a run stuck on the boundary."""
    upgrade_wait: float | None = None
    """In an upgrade trial: seconds a resume on N+1 waits for the engine to pick the run up."""
    warm_up: bool = False
    """A warm resume's warm-up (docs/exploration.md, recovery mode ``warm``): a complete run of its own in
    the worker that then resumes the faulted run, in an engine ``context`` of its own. The engine must
    keep it from picking up the faulted run's pending work (its own executor, task queue or endpoint) and
    leave the process ready to run again afterwards."""


@dataclass
class RunOutcome:
    """How a run ended."""

    role: str
    completed: bool
    output: Any = None
    error: str | None = None
    engine_ids: dict[str, Any] = field(default_factory=dict)


class EngineRules:
    """An engine's share of judgement: pure functions of the ``engine`` dicts its adapter records with
    every event (``unit_context`` and the adapter's own ``checkpoint``/``identity`` events).

    The defaults suit an engine that reports nothing; each engine package overrides what it knows.
    """

    unit_noun: ClassVar[str] = "durable unit"
    """What the engine calls one durable unit ("task run", "step", "activity", "journal entry")."""
    identity_noun: ClassVar[str] = "identity"
    """What ``identity`` events carry ("cache key", "step function", "activity type")."""
    identity_comparable_with_golden: ClassVar[bool] = False
    """Whether a unit's identity in the faulted run must equal the golden run's at the same position
    (true for positional journals: DBOS steps, Temporal commands, Restate entries; false for Prefect
    cache keys, which include the flow run id)."""
    journal_refusal: ClassVar[str] = "the engine refused to replay it"
    """How the engine reacts to a changed identity on replay, for messages."""
    engine_reactions: ClassVar[frozenset[str]] = frozenset()
    """Identities of journal entries the engine (or its pydantic-ai integration) inserts by itself in
    reaction to a failure, such as a durable sleep before a retry: a unit, one of these, then the same
    unit again are one logical unit retried, and paths are compared with the golden run's modulo that
    shape (``stable_cache_keys``). Elsewhere such an entry is compared like any other."""

    def unit_attempt_key(self, engine: dict[str, Any]) -> tuple[Any, ...] | None:
        """Identity of one attempt of a durable unit whose completion the engine checkpoints, to pair a
        delivered model response with the engine's ``checkpoint`` event of the same unit. ``None``: the
        engine names no unit here (delivery then counts as the checkpoint)."""
        return None

    def engine_attempt(self, engine: dict[str, Any]) -> tuple[Any, ...] | None:
        """Identity of one engine-level attempt (for ``bounded_retries``): several HTTP sends inside one
        attempt (the provider SDK's own retries) share it. ``None``: not inside a retried unit."""
        return None

    def tool_repeat_hint(self, kind: str = "tool_call") -> str:
        """Why this engine ran a side-effecting tool again, and the fix (``tools_exactly_once``), for
        the unit kind it ran as (``tool_call``: a function tool, ``mcp``: an MCP server's tool)."""
        return "The engine re-executed it."

    def not_a_unit_hint(self, tool: str) -> str:
        """A tool failed where it is called, outside any durable unit, so the engine had nothing to retry
        (``completes``): say so, and how to make its body a durable unit."""
        return (
            f"tool `{tool}` is not a durable unit: it runs outside any {self.unit_noun}, so a failure of "
            "it fails the run with nothing to retry. Run its body in a durable unit of the engine."
        )

    def identity_change_hint(self, observations: list[dict[str, Any]]) -> str:
        """Why one logical unit had several identities across attempts and resumes, and the fix.
        ``observations``: the ``identity`` events of that unit (faulted run and resumes)."""
        return (
            "Something the unit's identity depends on changes between attempts, so completed work cannot "
            "be matched and reused: make it deterministic."
        )

    def divergence_hint(self) -> str:
        """Why the faulted run's units differ from the golden run's at the same position, and the fix."""
        return (
            "The workflow's path depends on something outside its inputs and its journal (a file, the "
            "clock, a random draw, process state): a recovery may take another path than the interrupted "
            "execution. Read such values inside a durable unit."
        )


class EngineAdapter(Protocol):
    """The running side of an engine: one instance per session (pytest process) and per worker."""

    name: str
    runs_in_process: bool
    """Whether runs may happen in the pytest process (runs with kill faults always use workers)."""
    preload_modules: tuple[str, ...]
    """Modules a warm worker imports before forking (the engine library, its pydantic-ai integration)."""

    def hooks(self) -> list[Hook]:
        """Every private API of a library this adapter relies on, checked when the engine starts."""

    def harness_changes(self, options: EngineOptions) -> list[str]:
        """What the harness changes in how the engine runs the user's units for a trial with these
        options (the scenario's table for this engine), one sentence each, for the trial's report.
        Anything that could change a verdict (a timeout, a retry policy, a heartbeat) is listed; an
        empty list means the engine runs the units exactly as in production."""

    def start(self, workdir: Path) -> None:
        """Start (or connect to) the engine's infrastructure for the session."""

    def stop(self) -> None:
        """Stop everything ``start`` started."""

    def worker_environment(self, trial_dir: Path) -> dict[str, str]:
        """Environment a worker process of this trial needs to reach the session's infrastructure."""

    def network_targets(self, trial_dir: Path) -> dict[str, tuple[str, int]]:
        """Where this trial's engine connections go, per network target the engine has: ``database``
        (its database server) and ``engine_api`` (its API server), each ``(host, port)``. ``{}`` when
        none applies (an embedded SQLite file has no connection to cut). ``network`` faults on a target
        missing here make the trial an error saying so."""

    def proxied_environment(self, env: dict[str, str], routes: dict[str, tuple[str, int]]) -> dict[str, str]:
        """``env`` (from :meth:`worker_environment`) rewritten so the worker connects to each routed
        target at the given ``(host, port)`` (a Toxiproxy proxy) instead of the real address."""

    def restart_service(self, target: str, trial_dir: Path) -> RestartableService:
        """The server behind ``target`` (one of the spec's ``restart_targets``) for this trial, for
        ``restart`` faults; called in the session before the trial's first run, so the engine can put
        the trial on infrastructure it owns (a user's server is not the harness's to restart). Raises
        :class:`RestartUnavailable` when it cannot here, saying how to fix it."""

    def stranded(self, trial_dir: Path, outcome: RunOutcome) -> str | None:
        """In the session, after a faulted run that did not complete, with the infrastructure back up: a
        sentence naming the run if the engine still holds it unfinished with nothing left to finish it
        (a DBOS workflow still PENDING), or how it ended after the run gave up on it; else ``None``."""

    def attach(self) -> None:
        """In a worker process: take the infrastructure from the environment ``worker_environment`` set."""

    def check_target(self, target: Target) -> None:
        """Raise :class:`TargetMismatch` when the target cannot run on this engine (an agent with
        another engine's durability or none, an entry point that is not this engine's workflow)."""

    async def run(self, target: Target, request: RunRequest) -> RunOutcome:
        """Run the target once as a durable run (or resume it), in this process."""

    def unit_context(self) -> dict[str, Any]:
        """Engine identifiers of the durable unit running now, if any."""

    def observing(self) -> AbstractContextManager[None]:
        """Install engine-specific observation (cache keys, checkpoints, identities) for the block."""

    async def replay_check(
        self, target: Target, outcome: RunOutcome, request: RunRequest
    ) -> list[str] | None:
        """After a run finished (in the process that owns the session): replay its recorded history on a
        cold worker with the same code, as the engine's own tooling does (Temporal's ``Replayer``).
        ``None``: this engine has no such check (``deterministic_replay`` is then not applicable);
        ``[]``: the replay matched; otherwise one message per divergence, naming the event where replay
        diverged and the workflow code responsible. Raises :class:`ReplayUndecided` when the check could
        not decide for a reason of the infrastructure."""


class EngineSpec(Protocol):
    """What the harness knows about an engine without importing the engine library."""

    name: str
    """The name scenarios use (``engines: [<name>]``) and the scenario's options table is under."""
    extra: str
    """The pip extra that installs the engine (``durable-chaos[<extra>]``)."""
    modules: tuple[str, ...]
    """Top-level modules the engine needs; a missing one means the extra is not installed."""
    durability_modules: tuple[str, ...]
    """Modules defining this engine's agent wrappers and durability capabilities (an agent whose
    wrapper or capability comes from one of them is durable for this engine)."""
    options: type[EngineOptions]
    rules: EngineRules
    restart_targets: tuple[str, ...]
    """Targets a ``restart`` fault may name on this engine (``database``, ``engine_api``); a plan
    naming another is a configuration error, reported before anything runs."""

    def adapter(self) -> EngineAdapter:
        """A fresh adapter (imports the engine library; raises :class:`EngineUnavailable` with an
        install hint when it is missing)."""


def free_port() -> int:
    """A loopback TCP port that is free now (for an engine server the harness starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def import_object(import_path: str, search_dir: Path | None = None) -> Any:
    """Import ``package.module:attribute``, with ``search_dir``'s modules first (see
    :func:`make_importable`)."""
    module_name, _, attr_path = import_path.partition(":")
    if search_dir is not None:
        make_importable(search_dir)
    obj: Any = importlib.import_module(module_name)
    for part in attr_path.split("."):
        obj = getattr(obj, part)
    return obj


_scenario_dirs: set[Path] = set()
"""The directories :func:`make_importable` made importable (the scenarios' folders) in this process."""


SHARED_FOLDER = "_shared"
"""The name of a scenario folder's sibling that holds code and cassettes several scenario folders share:
its modules are importable right after the folder's own (see :func:`make_importable`), and a scenario's
cassette may be in it (``../_shared/cassettes/x.yaml``; see ``docs/scenarios.md``)."""


def shared_folder(directory: Path) -> Path | None:
    """The shared folder of the scenario folder ``directory`` (its sibling :data:`SHARED_FOLDER`), if
    there is one."""
    shared = directory.absolute().parent / SHARED_FOLDER
    return shared if directory.absolute() != shared and shared.is_dir() else None


def make_importable(directory: Path) -> None:
    """Make ``directory``'s modules the ones this process imports, as a worker process does (it starts
    with ``directory`` first on ``sys.path``): put it first on ``sys.path``, and forget every module
    it provides that was imported from another scenario's folder. Two scenario folders of one session
    often hold a module of the same name (each example's ``data_analyst_core.py``); without this the
    first one imported would serve both, so the harness's process (the golden run in process, the
    ``effects`` functions) would use another folder's code and state than the workers.

    The folder's shared folder (:func:`shared_folder`), when it has one, goes right after it, the same
    way: its modules are the ones imported unless the scenario's folder has one of the same name."""
    shared = shared_folder(directory)
    if shared is not None:
        _put_first(shared)
    _put_first(directory)


def _put_first(directory: Path) -> None:
    here = directory.resolve()
    entry = str(directory)
    if entry in sys.path:
        sys.path.remove(entry)
    sys.path.insert(0, entry)
    for name in _provided(here) & set(sys.modules):
        folder = _folder_of(sys.modules[name])
        if folder is not None and folder != here and folder in _scenario_dirs:
            for stale in [n for n in sys.modules if n == name or n.startswith(f"{name}.")]:
                del sys.modules[stale]
    _scenario_dirs.add(here)


def _provided(directory: Path) -> set[str]:
    """The top-level modules and packages in ``directory``."""
    try:
        entries = list(directory.iterdir())
    except OSError:
        return set()
    return {p.stem for p in entries if p.suffix == ".py"} | {
        p.name for p in entries if (p / "__init__.py").is_file()
    }


def _folder_of(module: Any) -> Path | None:
    """The folder a top-level module was imported from (the one holding its file or package)."""
    file = getattr(module, "__file__", None)
    if not file:
        return None
    path = Path(file).resolve()
    return path.parent.parent if path.name == "__init__.py" else path.parent


def iter_exception_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
