"""Files replaced whole or not at all, and a lock for read-modify-write across processes.

:func:`atomic_write_bytes` writes a temporary file in the target's own directory, fsyncs it and
renames it over the target (``os.replace``, atomic on POSIX), then fsyncs the directory: a full disk,
an error or a SIGKILL during the write leaves the previous file as it was (and at worst a temporary
``.NAME.*.tmp`` file, which :func:`remove_stale_temporaries` clears under the lock).

:func:`locked` holds an exclusive ``flock`` on the target's directory (no lock file is left next to
the user's files), so two processes or sessions that each re-read, merge and write one file take
turns instead of losing each other's changes.

:func:`interrupts_deferred` holds back Ctrl-C (SIGINT) for a short critical section, such as writing
the session's reports: a SIGINT is recorded instead of raising ``KeyboardInterrupt``, so the section
completes, and the caller learns whether one arrived.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

try:  # POSIX; elsewhere writes stay atomic but are not serialised
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "interrupts_deferred",
    "locked",
    "remove_stale_temporaries",
]


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}."


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` whole, or raise and leave ``path`` as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=_temporary_prefix(path), suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(OSError):  # keep the file's mode when it had one
            os.chmod(temporary, path.stat().st_mode & 0o7777 if path.exists() else 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)


def atomic_write_text(path: Path, text: str, encoding: str = "utf-8") -> None:
    """:func:`atomic_write_bytes` of ``text`` encoded."""
    atomic_write_bytes(path, text.encode(encoding))


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock for ``path`` (a ``flock`` on its directory) for the block; other
    holders in this or another process wait."""
    directory = Path(path).parent
    directory.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def remove_stale_temporaries(path: Path) -> None:
    """Delete temporary files an interrupted :func:`atomic_write_bytes` of ``path`` left behind; call
    it while holding :func:`locked` (no writer of ``path`` is then mid-write)."""
    path = Path(path)
    with contextlib.suppress(OSError):
        for leftover in path.parent.glob(f"{_glob_escape(_temporary_prefix(path))}*.tmp"):
            with contextlib.suppress(OSError):
                leftover.unlink()


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


class Deferred:
    """What :func:`interrupts_deferred` saw: ``interrupted`` is True when a SIGINT arrived."""

    interrupted = False


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[Deferred]:
    """Run the block with SIGINT recorded instead of raising ``KeyboardInterrupt``. Off the main thread
    (where Python delivers no signal) the block runs as is."""
    seen = Deferred()
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return

    def record(signum: int, frame: object) -> None:
        seen.interrupted = True

    previous = signal.signal(signal.SIGINT, record)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)
