"""Aborting a trial: a harness error that ends the run at once, without letting the engine retry.

Some failures are the harness's, not the agent's: a model request missing from the cassette will be
missing on every retry. Left to propagate as an ordinary exception, the provider SDK, the engine's
unit retries (Prefect task retries, DBOS step retries, Temporal activity retries) and flow retries
all retry it, each costing its delays and repeating the same error. :func:`abort_trial` ends the run
instead, in a way no engine needs to know about:

* in a worker process, the runner's handler (given to :func:`aborting`) writes the run's outcome and
  ends the process at once;
* in the process that owns the session, :class:`TrialAborted` is raised where the error happened. It
  is a ``BaseException``: provider SDKs and engines retry ``Exception``; they treat anything else as a
  crash and stop.

Either way an ``aborted`` event goes to the trial's history first (``kind``, ``reason``, ``detail``),
and the runner makes the trial an *error* naming it (never a property violation).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn

from durable_chaos import events
from durable_chaos.faults.context import active


class TrialAborted(BaseException):
    """The run was aborted for a harness error (``reason``); not an error of the agent or engine."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Abort:
    """The abort state of the run in progress in this process."""

    end_process: Callable[[str], None] | None = None
    """A worker's handler: write the outcome and end the process (never returns)."""
    reason: str | None = None
    """Set once the run was aborted."""


_lock = threading.Lock()
_current: Abort | None = None


@contextmanager
def aborting(end_process: Callable[[str], None] | None = None) -> Iterator[Abort]:
    """A run may be aborted in this block; the yielded :class:`Abort` says whether it was."""
    global _current
    state = Abort(end_process)
    with _lock:
        previous, _current = _current, state
    try:
        yield state
    finally:
        with _lock:
            _current = previous


def abort_trial(error: Exception, *, kind: str, detail: str) -> NoReturn:
    """End the run in progress for a harness error. Outside a run (no :func:`aborting` block), ``error``
    itself is raised. ``kind`` names the harness error (``cassette_miss``), ``detail`` what the runner
    reports about it."""
    error.__suppress_context__ = True  # whatever was being handled is not the story
    state = _current
    if state is None:
        raise error
    reason = str(error)
    first = False
    with _lock:
        if state.reason is None:
            state.reason, first = reason, True
    injection = active()
    if first and injection is not None:
        injection.emit_engine_event(events.ABORTED, kind=kind, reason=reason, detail=detail)
    if state.end_process is not None:
        state.end_process(reason)
    raise TrialAborted(reason) from error
