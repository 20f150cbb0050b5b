"""Keep a trial's in-process code from ending the pytest session with ``os._exit``.

An agent or tool that calls ``os._exit(n)`` ends the process it runs in. In a worker process that is
the worker's death, which the trial judges like any other. In a trial that runs in the harness's own
process (an engine that runs the agent in process), it would end the pytest session: no report, and
pytest's exit status would be the agent's ``n`` (0 reads as green). While a trial runs,
:func:`exits_stopped` replaces ``os._exit`` *in this process only* (a forked child still exits for
real) with one that records the call and raises :class:`ProcessExitCalled`; the runner then makes the
trial an error, whatever the engine did with the exception. Nothing of the agent's behaviour is judged
differently: the run it would have had ends at that call either way, and the trial says so.

``os.kill(os.getpid(), SIGKILL)`` or a crash of the interpreter cannot be caught: then the provisional
report written at the session's start (``incomplete``, exit status 3) is what stays.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from durable_chaos.patching import patched


class ProcessExitCalled(BaseException):
    """In-process trial code called ``os._exit``; a BaseException, as the call is no error to catch."""

    def __init__(self, status: int) -> None:
        super().__init__(f"os._exit({status})")
        self.status = status


@contextmanager
def exits_stopped() -> Iterator[list[int]]:
    """For the block, ``os._exit`` called in this process raises :class:`ProcessExitCalled`; yields the
    list of the statuses it was called with (empty when it was not called)."""
    calls: list[int] = []
    owner = os.getpid()
    real = os._exit

    def stopped(status: int) -> None:
        if os.getpid() != owner:  # a forked child: its exit is its own
            real(status)
        calls.append(status)
        raise ProcessExitCalled(status)

    with patched(os, "_exit", stopped):
        yield calls


def exit_reason(statuses: list[int]) -> str:
    """The trial error's reason when in-process code called ``os._exit``."""
    return (
        f"the target called os._exit({statuses[0]}) in the trial's in-process run: it would have ended "
        "the pytest session (the harness's own process), so durable-chaos stopped it there with an "
        "exception; nothing about the run can be judged (call it only in a worker process, or raise)"
    )
