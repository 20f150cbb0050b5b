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

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys

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
