"""A trial's deadline: the whole trial, in-process runs and workers alike, is stopped after it."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from durable_chaos import jsonl

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
