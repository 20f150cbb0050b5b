"""Writing a file so that a reader sees the old one or the whole new one, never half of either.

:func:`write_text_atomic` writes to a temporary file beside the target and renames it over the target
(``os.replace``, atomic on POSIX and Windows within one file system). A process killed mid-write leaves
the previous file (and at most a ``.<name>.*.tmp`` beside it), never a truncated report.

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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()
"""The mode a plain ``open(path, "w")`` would give a new file (``mkstemp`` makes 0600 files)."""


def write_text_atomic(path: Path | str, text: str, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``text`` atomically (parent directories are made). Raises ``OSError`` when
    the file cannot be written; the previous file is then left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding=encoding) as handle:
            handle.write(text)
        os.chmod(temporary, _MODE)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


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
