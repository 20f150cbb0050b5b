"""What the shipped adapters share, written once: :class:`BaseAdapter` (the defaults of the protocol's
methods), :func:`emit` (an engine event into the trial's history), :func:`describe` and
:func:`chosen_options`. An adapter subclasses :class:`BaseAdapter` and overrides what its engine does.

Kept apart from :mod:`.base` (the protocol and its data types), which the registry and the engine
specs import: the target check here needs :mod:`.durability`, which needs the registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from durable_chaos import events
from durable_chaos.faults.context import active
from durable_chaos.infra.engines.base import EngineOptions, RunOutcome, RunRequest, Target, TargetMismatch
from durable_chaos.infra.engines.durability import agent_mismatch

OptionsT = TypeVar("OptionsT", bound=EngineOptions)
T = TypeVar("T")


def chosen_options(options: EngineOptions, model: type[OptionsT]) -> OptionsT:
    """``options`` when it is the engine's options model, else that model's defaults (a request built
    without the scenario's table)."""
    return options if isinstance(options, model) else model()


def describe(exc: BaseException) -> str:
    """An exception in a line: ``Type: message``."""
    return f"{type(exc).__name__}: {exc}"


def emit(event: str, *, t: float | None = None, with_pid: bool = True, **engine: Any) -> None:
    """Record an engine event (one of :mod:`durable_chaos.events`) in the trial's history, with the
    engine's fields as its ``engine`` dict (plus this process's ``pid`` unless ``with_pid`` is false) and,
    when given, ``t`` as its time (an event the engine's own record dates). Nothing happens outside a
    trial (no active injection), and a failure to record never breaks the run."""
    injection = active()
    if injection is None:
        return
    fields: dict[str, Any] = {"engine": {**engine, "pid": os.getpid()} if with_pid else engine}
    if t is not None:
        fields["t"] = t
    with contextlib.suppress(Exception):
        injection.emit_engine_event(event, **fields)


USAGE_FIELDS = ("requests", "tool_calls", "input_tokens", "output_tokens")
"""The fields of pydantic-ai's ``RunUsage`` that ``usage_consistent`` compares."""


def report_usage(result: Any) -> None:
    """Record the usage an agent run's result reports (``result.usage()``): called by the harness's own
    flow, workflow or handler around an ``agent:`` target, after the run returned, never by user code."""
    with contextlib.suppress(Exception):  # a result without usage reports none
        usage = result.usage  # a property in newer pydantic-ai releases, a method in older ones
        if not hasattr(usage, "requests"):
            usage = usage()
        emit(events.RUN_USAGE, usage={name: int(getattr(usage, name, 0) or 0) for name in USAGE_FIELDS})


class BaseAdapter:
    """The defaults of :class:`EngineAdapter` that the shipped adapters share, written once.

    :class:`EngineAdapter` stays a :class:`~typing.Protocol`: it is the contract the registry and the
    harness type against, and a third-party engine may meet it without inheriting anything. This class
    is the convenience an adapter inherits so that it writes only what its engine does differently;
    it is not abstract, because the methods without a sensible default (``start``, ``run``, ...) are
    the protocol's, checked by mypy where an adapter is returned as an :class:`EngineAdapter`.
    """

    name: str

    replays_histories: bool = False
    """Whether :meth:`replay_check` replays recorded histories in the session's process: an upgrade trial
    then imports N+1 there and replays N's histories against it (docs/upgrades.md)."""

    emit = staticmethod(emit)
    """:func:`emit`, for code that holds an adapter."""

    def check_target(self, target: Target) -> None:
        """An agent must be durable for this engine (:func:`~.durability.agent_mismatch`); an entry must
        be what :meth:`entry_mismatch` accepts."""
        if target.kind == "entry":
            problem = self.entry_mismatch(target)
        else:
            problem = agent_mismatch(self.name, target.import_path, target.obj)
        if problem:
            raise TargetMismatch(problem)

    def entry_mismatch(self, target: Target) -> str | None:
        """Why an ``entry:`` target is not this engine's workflow, or ``None`` when it is."""
        return None

    async def replay_check(
        self, target: Target, outcome: RunOutcome, request: RunRequest
    ) -> list[str] | None:
        """No offline replay check (``deterministic_replay`` is then not applicable)."""
        return None

    def stranded(self, trial_dir: Path, outcome: RunOutcome) -> str | None:
        """Nothing to say about a run that did not complete."""
        return None

    def network_targets(self, trial_dir: Path) -> dict[str, tuple[str, int]]:
        """No network targets."""
        return {}

    def proxied_environment(self, env: dict[str, str], routes: dict[str, tuple[str, int]]) -> dict[str, str]:
        """``env`` unchanged (no network target to route)."""
        return dict(env)

    def unit_context(self) -> dict[str, Any]:
        """No unit is known."""
        return {}

    @contextmanager
    def observing(self) -> Iterator[None]:
        """No observation installed for the block."""
        yield


RETRY_INTERVAL_SECONDS = 1.0
"""How often a worker tries its engine again while the engine refuses it at launch (as a supervisor
restarting the process would)."""


@dataclass(frozen=True)
class Refused:
    """The last refusal of a worker that gave up: the error, how many attempts, for how long."""

    error: BaseException
    attempts: int
    waited: float


async def retry_while_refused(
    attempt: Callable[[], Awaitable[T]],
    refused: Callable[[BaseException], bool],
    timeout: float,
    on_retry: Callable[[], None] = lambda: None,
) -> T | Refused:
    """``await attempt()`` again every :data:`RETRY_INTERVAL_SECONDS` for ``timeout`` seconds while
    it fails with an error ``refused`` accepts (the engine unreachable); other errors propagate. The
    attempt's value, or :class:`Refused` once another attempt would pass ``timeout``."""
    started, attempts = time.monotonic(), 0
    while True:
        attempts += 1
        try:
            return await attempt()
        except Exception as exc:
            if not refused(exc):
                raise
            waited = time.monotonic() - started
            if waited + RETRY_INTERVAL_SECONDS > timeout:
                return Refused(exc, attempts, waited)
        on_retry()
        await asyncio.sleep(RETRY_INTERVAL_SECONDS)
