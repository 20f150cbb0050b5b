"""The injection context shared by all injectors of one process.

Injectors (HTTP transport, tool body, process kill) consult the *active* :class:`Injection`. It
names the unit being attempted, asks the armed plan whether a fault fires at this boundary, and
reports every step to an :class:`Observer` (the harness's history and ledger). Nothing here knows
about engines or pytest.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Hashable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from durable_chaos import events
from durable_chaos.faults.model import (
    Fault,
    KillFault,
    LatencyFault,
    NetworkFault,
    Phase,
    RestartFault,
    fires_at_launch,
)
from durable_chaos.faults.plan import ArmedPlan, strikes
from durable_chaos.faults.units import UnitRef, UnitTracker


class Observer(Protocol):
    """Where injectors report what happened (implemented by the harness)."""

    def event(self, record: dict[str, Any]) -> None:
        """Append one history event (flushed before the injector acts)."""

    def model_exchange(self, record: dict[str, Any]) -> None:
        """Append one model exchange to the call ledger."""

    def unit_context(self) -> dict[str, Any]:
        """Engine identifiers of the durable unit running now (task run id, step id, ...)."""


class NetworkControl(Protocol):
    """Applies and removes network faults on the proxy of their target (implemented by the harness,
    which knows where each target's traffic goes; the fault layer only names targets)."""

    def apply(self, index: int, fault: NetworkFault) -> None:
        """Put fault #``index``'s toxic on its target's proxy (or take the proxy down)."""

    def remove(self, index: int, fault: NetworkFault) -> None:
        """Undo :meth:`apply` (a toxic already gone is fine)."""


class RestartControl(Protocol):
    """Restarts the engine's infrastructure (implemented by the harness: the worker asks the process
    that owns the infrastructure, which stops it now and starts it again after the fault's downtime)."""

    def restart(self, index: int, fault: RestartFault, role: str) -> dict[str, Any]:
        """Stop fault #``index``'s target and return once it is down (what was stopped, for the history);
        the owner starts it again ``fault.downtime`` seconds later. Raises ``RuntimeError`` if it could
        not be stopped."""


class FaultInjected(Exception):
    """Marker base for errors raised by injectors (for messages only, never caught by engines)."""


@dataclass
class Attempt:
    """One attempt of one unit, as seen by an injector."""

    injection: Injection
    unit: UnitRef
    attempt: int
    fired: list[dict[str, Any]] = field(default_factory=list)

    def strike(
        self,
        phase: Phase,
        *,
        streaming: bool = False,
        where: Callable[[Fault], bool] | None = None,
        **noted: Any,
    ) -> Fault | None:
        """The fault that fires at this phase, recorded in the history before it acts. ``where``: only
        faults it accepts may fire here; ``noted``: extra fields of the recorded fault (e.g.
        ``outside_unit``)."""
        plan, tracker = self.injection.plan, self.injection.tracker
        self.injection.lift_network(self, phase)
        chosen = plan.select(
            tracker,
            self.unit,
            self.attempt,
            phase,
            streaming=streaming,
            where=where,
            resumed=self.injection.resumed,
        )
        if chosen is None:
            return None
        index, fault = chosen
        record = {"index": index, "kind": fault.kind, "phase": phase, **noted}
        self.fired.append(record)
        self.injection.emit(events.FAULT, self, fault=record)
        act = ACTS_BESIDE_THE_UNIT.get(type(fault))
        if act is not None:
            act(self.injection, index, fault, self)
            return None  # the fault acts on the network or the engine's servers; the unit goes ahead
        return fault

    def finish(self, event: str, **fields: Any) -> None:
        self.injection.emit(event, self, **fields)


@dataclass
class Injection:
    """The armed plan, unit tracker and observer of the run in progress in this process."""

    plan: ArmedPlan
    tracker: UnitTracker
    observer: Observer
    role: str = "faulted"
    allow_kill: bool = False
    """Kills are only allowed in worker processes, never in the process that owns the session."""
    network: NetworkControl | None = None
    """Where network faults go; ``None`` when the trial has none (one firing then is a harness bug)."""
    applied: dict[int, NetworkFault] = field(default_factory=dict)
    """Network faults applied by this process and not yet removed, by plan index."""
    timers: dict[int, threading.Timer] = field(default_factory=dict)
    resumed: bool = False
    """This process resumes a killed run (faults ``during: recovery`` fire only here)."""
    restarts: RestartControl | None = None
    """Where restart faults go; ``None`` when the trial has none (one firing then is a harness bug)."""
    interrupted_tools: dict[str, bool] = field(default_factory=dict)
    """Tool calls (by fingerprint) whose last attempt failed inside the durable unit their body opened,
    with whether that attempt's body ran. An engine that retries such a unit by running the caller again
    (replaying up to it) calls the tool again with the same call: that call is the unit's next attempt."""

    def restart(self, index: int, fault: RestartFault, attempt: Attempt) -> None:
        """Have the fault's target stopped (started again after its downtime by its owner), recorded as
        a ``restart`` event (``action`` stopped, or failed with ``error``) once it is down."""
        if self.restarts is None:
            raise RuntimeError("durable-chaos: a restart fault fired but the trial set up no restarts")
        fields = {"index": index, "target": fault.target, "downtime": fault.downtime, "during": fault.during}
        try:
            done = self.restarts.restart(index, fault, self.role)
        except Exception as exc:  # noqa: BLE001 - recorded; the trial is then an error, never a pass
            self.emit(
                events.RESTART, attempt, action="failed", error=f"{type(exc).__name__}: {exc}", **fields
            )
            return
        self.emit(events.RESTART, attempt, action="stopped", **fields, **done)

    def launch(self, engine: str) -> None:
        """A worker resuming a killed run is about to launch the engine (which then recovers the run):
        fire the plan's faults ``during: launch`` that have not fired yet, recorded at a ``launch``
        pseudo-unit (no durable unit runs yet). The server is down when this returns."""
        if not self.resumed:
            return
        attempt = Attempt(self, launch_unit(engine), 1)
        for index, fault in enumerate(self.plan.faults):
            if not isinstance(fault, RestartFault) or not fires_at_launch(fault):
                continue
            if self.plan.fired[index] >= fault.at.times:
                continue
            self.plan.fired[index] += 1
            record = {"index": index, "kind": fault.kind, "phase": "launch"}
            self.emit(events.FAULT, attempt, fault=record)
            self.restart(index, fault, attempt)

    def apply_network(self, index: int, fault: NetworkFault, attempt: Attempt) -> None:
        """Apply a network fault that fired, and arrange its removal (``duration`` or ``until``).
        Recorded as a ``network`` event (``action`` applied/removed, ``index``, ``target``)."""
        if self.network is None:
            raise RuntimeError("durable-chaos: a network fault fired but the trial set up no proxies")
        self.network.apply(index, fault)
        self.applied[index] = fault
        self.emit(
            events.NETWORK, attempt, action="applied", index=index, target=fault.target, toxic=fault.toxic
        )
        if fault.duration is not None:
            timer = threading.Timer(fault.duration, self.remove_network, args=(index, "duration"))
            timer.daemon = True
            self.timers[index] = timer
            timer.start()

    def remove_network(self, index: int, why: str, attempt: Attempt | None = None) -> None:
        """Remove network fault #``index`` if this process still has it applied."""
        with _lock:
            fault = self.applied.pop(index, None)
            timer = self.timers.pop(index, None)
        if timer is not None and timer is not threading.current_thread():
            timer.cancel()
        if fault is None or self.network is None:
            return
        self.network.remove(index, fault)
        fields = {"action": "removed", "index": index, "target": fault.target, "why": why}
        if attempt is not None:
            self.emit(events.NETWORK, attempt, **fields)
        else:
            self.emit_engine_event(events.NETWORK, **fields)

    def lift_network(self, attempt: Attempt, phase: Phase) -> None:
        """Remove the applied network faults whose ``until`` boundary is this one."""
        for index, fault in list(self.applied.items()):
            until = fault.until
            if (
                until is not None
                and until.phase == phase
                and strikes(until, self.tracker, attempt.unit, attempt.attempt)
            ):
                self.remove_network(index, "until", attempt)

    def close_network(self) -> None:
        """The run in this process ended: remove what it still has applied."""
        for index in list(self.applied):
            self.remove_network(index, "run_end")

    def begin(self, kind: str, name: str, fp: str, **fields: Any) -> Attempt:
        unit, number = self.tracker.observe(kind, name, fp)
        attempt = Attempt(self, unit, number)
        self.emit(events.INVOKE, attempt, **fields)
        return attempt

    def emit_engine_event(self, event: str, **fields: Any) -> None:
        """Record an engine-level event (a cache key computed, a unit checkpointed)."""
        record = {"t": time.time(), "pid": os.getpid(), "role": self.role, "event": event, **fields}
        self.observer.event(record)

    def emit(self, event: str, attempt: Attempt, **fields: Any) -> None:
        record = {
            "t": time.time(),
            "pid": os.getpid(),
            "role": self.role,
            "event": event,
            "unit": attempt.unit.as_dict(),
            "attempt": attempt.attempt,
            "engine": self.observer.unit_context(),
            **fields,
        }
        self.observer.event(record)


def launch_unit(engine: str) -> UnitRef:
    """The pseudo-unit faults ``during: launch`` are recorded at: the engine's launch in a resumed worker."""
    return UnitRef("launch", f"{engine} launch", 1, "launch")


_lock = threading.Lock()
_active: Injection | None = None
_replays: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "durable_chaos_replays", default=None
)


@contextmanager
def replay_watch() -> Iterator[list[str]]:
    """Collect, for the block (one tool call), the durable steps the engine answered from its journal
    instead of running them: a tool whose side effect sits in a journaled step did not run it again."""
    replays: list[str] = []
    token = _replays.set(replays)
    try:
        yield replays
    finally:
        _replays.reset(token)


def note_replay(name: str) -> None:
    """Called by engine adapters when a step's recorded result is replayed in the current context."""
    replays = _replays.get()
    if replays is not None:
        replays.append(name)


UnitListener = Callable[[Hashable], AbstractContextManager[None]]
_unit_listener: contextvars.ContextVar[UnitListener | None] = contextvars.ContextVar(
    "durable_chaos_unit_listener", default=None
)


@contextmanager
def unit_body(key: Hashable) -> Iterator[None]:
    """Engine adapters run each attempt of a durable unit's body inside this block (a DBOS step, a
    Restate ``ctx.run`` action): ``key`` names the unit, the same for every attempt of it. An injector
    that waits for the durable unit beneath a call it saw outside any unit (a tool called in workflow
    code whose body opens a step) is told here, and may fail this attempt from inside the unit, where the
    engine's own retry sees it. Units opened inside the block do not reach the listener."""
    listener = _unit_listener.get()
    if listener is None:
        yield
        return
    token = _unit_listener.set(None)
    try:
        with listener(key):
            yield
    finally:
        _unit_listener.reset(token)


def current_unit_listener() -> UnitListener | None:
    """The listener :func:`unit_body` would tell in this context now. An engine that runs a unit's body
    later and elsewhere (a closure scheduled for another task, a thread with a copied context) captures
    it where the unit is opened and runs the body under it with :func:`listening_for_units`, so the unit
    reaches the tool call that opened it and no other."""
    return _unit_listener.get()


@contextmanager
def listening_for_units(listener: UnitListener | None) -> Iterator[None]:
    """Hand the durable units opened in the block (see :func:`unit_body`) to ``listener``; ``None``
    hands them to nobody."""
    token = _unit_listener.set(listener)
    try:
        yield
    finally:
        _unit_listener.reset(token)


def active() -> Injection | None:
    """The injection context of the run in progress in this process, if any."""
    return _active


@contextmanager
def activated(injection: Injection) -> Iterator[Injection]:
    """Make ``injection`` the active context for the duration of the block."""
    global _active
    with _lock:
        previous, _active = _active, injection
    try:
        yield injection
    finally:
        with _lock:
            _active = previous


ACTS_BESIDE_THE_UNIT: dict[type[Fault], Callable[[Injection, int, Any, Attempt], None]] = {
    NetworkFault: Injection.apply_network,  # the network acts on the traffic
    RestartFault: Injection.restart,  # the server is down; the unit meets the outage
}
"""Fault kinds that act on something beside the unit they strike (the network, the engine's servers),
with what acting means: the unit itself then goes ahead, and no injector sees them."""


async def _slow_down(fault: LatencyFault) -> bool:
    await asyncio.sleep(fault.seconds)
    return True


async def _kill(fault: KillFault) -> bool:
    kill_worker()
    return False


COMMON: dict[type[Fault], Callable[[Any], Awaitable[bool]]] = {LatencyFault: _slow_down, KillFault: _kill}
"""Fault kinds that act the same at every injection point; True: the fault is fully handled (the
injector goes on as if nothing fired)."""


async def apply_common(fault: Fault) -> bool:
    """Apply faults that act the same at every injection point. True if the fault is fully handled."""
    act = COMMON.get(type(fault))
    return False if act is None else await act(fault)


def kill_worker() -> None:
    """SIGKILL this worker process for a kill fault that fired (refused outside a worker process)."""
    injection = active()
    if injection is None or not injection.allow_kill:
        raise RuntimeError("durable-chaos: a kill fault fired outside a worker process; refusing to kill")
    kill_this_process()


def kill_this_process() -> None:
    """SIGKILL this process at once: no cleanup, no flush beyond what the history already fsynced."""
    os.kill(os.getpid(), signal.SIGKILL)
