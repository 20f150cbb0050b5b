"""Processes the harness starts die with the process that started them, however it dies.

Every engine server, warm worker and worker runs in a session of its own (so its whole process group can
be killed at once), which also detaches it from the terminal's Ctrl-C and from pytest's death. On Linux
each is given a parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGKILL)``): when the process that
started it exits, even by SIGKILL, the kernel kills it. Elsewhere this is a no-op and the harness's own
clean-up at exit (and at the next start) is all there is.

The kernel sends the signal when the *thread* that forked the child exits, so long-lived children (the
warm workers) must be started from a long-lived thread: the session's main thread.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import ctypes.util
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child (``preexec_fn``, or right after ``fork``): get SIGKILL when the parent exits. Checks the
    parent afterwards, in case it died between the fork and this call."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent or parent == 1:
        os._exit(1)


def own_session_dying_with_parent() -> None:
    """``preexec_fn`` for a child of its own session that dies with its parent."""
    os.setsid()
    die_with_parent()


class LongLivedSpawner:
    """Starts child processes from one long-lived thread of its own.

    The parent-death signal fires when the *thread* that forked the child exits, so a server started
    from a short-lived thread (a timer that restarts it after a downtime) would be killed when that
    thread ends. Every :meth:`popen` here runs in the spawner's thread, which lives until :meth:`close`.
    """

    def __init__(self, name: str = "durable-chaos-spawner") -> None:
        self._jobs: queue.Queue[tuple[Callable[[], Any], concurrent.futures.Future[Any]] | None] = (
            queue.Queue()
        )
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            call, future = job
            try:
                future.set_result(call())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)

    def popen(self, *args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        """``subprocess.Popen(*args, **kwargs)``, forked from the spawner's thread."""
        if threading.current_thread() is self._thread:
            return subprocess.Popen(*args, **kwargs)
        future: concurrent.futures.Future[subprocess.Popen[bytes]] = concurrent.futures.Future()
        self._jobs.put((lambda: subprocess.Popen(*args, **kwargs), future))
        return future.result()

    def close(self) -> None:
        """End the thread (the children it started then get their parent-death signal)."""
        self._jobs.put(None)
