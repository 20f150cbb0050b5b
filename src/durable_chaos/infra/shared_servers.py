"""Engine servers shared by every process of one test session (the xdist workers of ``pytest -n N``, and
the sessions those start, e.g. the pytester sessions of a test suite).

The process that owns the session (the xdist controller) makes a directory and names it, with its own
pid, in :data:`ENV_DIR` and :data:`ENV_OWNER` (:func:`open_shared`); the workers it spawns inherit
both. The first session that needs an engine's server starts it under a file lock and writes its
address to ``<dir>/<key>.json``; the others, waiting on the lock, read the address and attach
(:func:`attach_or_start`). The server runs under a watchdog (``python -m
durable_chaos.infra.shared_servers OWNER_PID -- command...``) in a process group of its own: it does not
die with the worker that started it (xdist ends workers one by one), it dies when the owner does, however
the owner dies, and the owner stops every shared server at the session's end (:func:`close_shared`).

Sharing a server never shares runs: what an engine keys by the trial (flow names, task queues, workflow
ids, result storage) is derived from the trial directory, which is unique per session. A trial that
restarts the server is the engine's to put on a server of its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ENV_DIR = "DURABLE_CHAOS_SHARED_SERVERS"
"""The directory where a session's shared servers leave their addresses."""
ENV_OWNER = "DURABLE_CHAOS_SHARED_SERVERS_OWNER"
"""The pid of the process that owns them: they die with it."""
ENV_SWITCH = "DURABLE_CHAOS_SHARE_SERVERS"
"""``0``: every session starts its own servers, as without xdist (to compare, or to isolate a problem)."""
WATCH_INTERVAL_SECONDS = 0.5
STOP_TIMEOUT_SECONDS = 10.0
ATTACH_PATIENCE_SECONDS = 30.0


@dataclass(frozen=True)
class SharedServer:
    """A server of the session: its address (what the engine's clients are pointed at) and the id of its
    process group (the watchdog's)."""

    key: str
    address: str
    pgid: int
    started_here: bool = False


def shared_dir(env: dict[str, str] | None = None) -> Path | None:
    """The session's shared-server directory, or None when servers are not shared here (no owner, or an
    owner that is gone)."""
    env = dict(os.environ) if env is None else env
    raw, owner = env.get(ENV_DIR), env.get(ENV_OWNER, "")
    if not raw or not owner.isdigit() or not alive(int(owner)):
        return None
    path = Path(raw)
    return path if path.is_dir() else None


def open_shared(temp: Path | None = None) -> Path | None:
    """Called by the process that owns a session: make the directory and name it (and this process as
    owner) in the environment its children inherit. None when an outer session already shares its
    servers (its owner stays the owner)."""
    if shared_dir() is not None or os.environ.get(ENV_SWITCH, "1") == "0":
        return None
    path = Path(tempfile.mkdtemp(prefix="durable-chaos-shared-", dir=temp))
    # As in a session's temp root: the next session removes the directory of an owner that died.
    (path / "owner.pid").write_text(str(os.getpid()))
    os.environ[ENV_DIR] = str(path)
    os.environ[ENV_OWNER] = str(os.getpid())
    return path


def close_shared(path: Path) -> list[str]:
    """At the owner's end: stop every server of the directory and remove it; returns the keys stopped."""
    stopped = []
    for record in sorted(path.glob("*.json")):
        server = read_record(record)
        if server is not None:
            stop_group(server.pgid)
            stopped.append(server.key)
    shutil.rmtree(path, ignore_errors=True)
    if os.environ.get(ENV_DIR) == str(path):
        os.environ.pop(ENV_DIR, None)
        os.environ.pop(ENV_OWNER, None)
    return stopped


def attach_or_start(
    key: str, start: Callable[[Path, int], tuple[str, int]], healthy: Callable[[str], bool]
) -> SharedServer | None:
    """The session's server ``key``: the one a process of the session started (when it still answers,
    by ``healthy(address)``), else one started now by ``start(home, owner_pid)``, which launches it under
    :func:`watched` and returns ``(address, pgid)``. None when servers are not shared here."""
    root = shared_dir()
    if root is None:
        return None
    owner = int(os.environ[ENV_OWNER])
    record = root / f"{key}.json"
    with locked(root / f"{key}.lock"):
        current = read_record(record)
        if current is not None and answering(current, healthy):
            return current
        if current is not None:
            stop_group(current.pgid)
        address, pgid = start(root / key, owner)
        server = SharedServer(key, address, pgid, started_here=True)
        record.write_text(json.dumps({"key": key, "address": address, "pgid": pgid}))
        return server


def answering(server: SharedServer, healthy: Callable[[str], bool]) -> bool:
    """Whether a recorded server still serves: its process group lives and it answers within
    :data:`ATTACH_PATIENCE_SECONDS` (a loaded machine answers slowly; replacing a live server would pull it
    from under the sessions using it)."""
    deadline = time.monotonic() + ATTACH_PATIENCE_SECONDS
    while alive(server.pgid):
        if healthy(server.address):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return False


def watched(command: list[str], owner: int) -> list[str]:
    """``command`` run under the watchdog of this module: started with ``start_new_session=True``, its
    process group holds the watchdog and the server, and ends when ``owner`` exits."""
    return [sys.executable, "-m", "durable_chaos.infra.shared_servers", str(owner), "--", *command]


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_record(path: Path) -> SharedServer | None:
    try:
        data = json.loads(path.read_text())
        return SharedServer(str(data["key"]), str(data["address"]), int(data["pgid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(pgid: int, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM to a process group, SIGKILL to what is left after ``timeout``."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            os.killpg(pgid, 0)  # raises ProcessLookupError once the group is empty
            time.sleep(0.05)
        os.killpg(pgid, signal.SIGKILL)


def watch(owner: int, command: list[str]) -> int:
    """The watchdog: run ``command`` in this process group; when ``owner`` exits (or the command does),
    end the whole group."""
    child = subprocess.Popen(command)  # noqa: S603 - the harness's own server command
    signal.signal(signal.SIGTERM, lambda *_: _end_group(child))
    while child.poll() is None:
        if not alive(owner):
            _end_group(child)
        time.sleep(WATCH_INTERVAL_SECONDS)
    return child.returncode or 0


def _end_group(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        child.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=STOP_TIMEOUT_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        child.kill()
    os._exit(0)


if __name__ == "__main__":  # pragma: no cover - the watchdog process, see watch()
    owner_pid, _, server_command = sys.argv[1], sys.argv[2], sys.argv[3:]
    sys.exit(watch(int(owner_pid), server_command))
