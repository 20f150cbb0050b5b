"""Reading a scenario file safely: only regular files, at most a size limit, as UTF-8.

A FIFO, device or socket is refused without being opened (nothing hangs); a file over
:data:`~durable_chaos.scenario.files.limits.MAX_FILE_BYTES` is refused before it is read in full.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from durable_chaos.scenario.errors import ScenarioError
from durable_chaos.scenario.files.limits import MAX_FILE_BYTES


def read_limited(path: Path, limit: int) -> bytes:
    """At most ``limit`` bytes of a regular file; anything else is refused without being opened.

    ``stat`` first (a FIFO, device or socket is never opened, so nothing hangs), then open with
    ``O_NONBLOCK`` and check again on the descriptor, in case the path changed in between.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise ScenarioError(path, "broken symbolic link (its target does not exist)") from None
        raise ScenarioError(path, "file not found") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ScenarioError(path, "symbolic link loop; cannot read the file") from None
        raise ScenarioError(path, f"cannot read file: {exc.strerror or exc}") from None
    _check_regular(path, info.st_mode)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise ScenarioError(path, f"cannot read file: {exc.strerror or exc}") from None
    try:
        _check_regular(path, os.fstat(fd).st_mode)
        chunks: list[bytes] = []
        size = 0
        while size < limit:
            chunk = os.read(fd, min(65536, limit - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise ScenarioError(path, f"cannot read file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _check_regular(path: Path, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise ScenarioError(path, "is a directory, not a scenario file")
    kinds = {
        stat.S_ISFIFO: "a named pipe (FIFO)",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    kind = next((name for test, name in kinds.items() if test(mode)), "not a regular file")
    raise ScenarioError(path, f"is {kind}, not a regular file; scenario files are regular files")


def read_text(path: Path) -> str:
    """The file's text, decoded as UTF-8 (a BOM is dropped); files over the size limit are refused."""
    raw = read_limited(path, MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError(
            path, f"file is larger than {MAX_FILE_BYTES // 1024} KiB; a scenario file is a few KiB at most"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = raw[exc.start : exc.start + 1].hex()
        raise ScenarioError(
            path, f"file is not valid UTF-8 (byte 0x{byte} at column {column})", line=line
        ) from None
