"""Prefect's infrastructure: the embedded API server a session owns (a uvicorn subprocess on a loopback
port, with its own PREFECT_HOME and SQLite database, started from the migrated template of
:mod:`.database`), its restarts, the settings every Prefect process of a session shares, and the
flush of a process's client services before the server goes away."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from durable_chaos.infra import shared_servers
from durable_chaos.infra.engines.base import (
    EngineUnavailable,
    ServerRestarts,
    free_port,
)
from durable_chaos.infra.engines.prefect import database, private_apis
from durable_chaos.processes import LongLivedSpawner, own_session_dying_with_parent

STARTUP_TIMEOUT_SECONDS = 90.0


def base_environment(home: Path) -> dict[str, str]:
    """Settings every Prefect process of a session shares."""
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        "PREFECT_LOGGING_TO_API_ENABLED": "false",
        # The session checked its server's version once, at start: no /admin/version per client.
        "PREFECT_CLIENT_SERVER_VERSION_CHECK_ENABLED": "false",
    }


class PrefectServer:
    """A Prefect API server in a subprocess of its own session (so it and its children die together)."""

    def __init__(self, home: Path, owner: int | None = None) -> None:
        self.home = home
        self.owner = owner
        """A shared server (:mod:`durable_chaos.infra.shared_servers`): the pid it dies with, under a
        watchdog, instead of the process that starts it."""
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.port = 0
        self.spawner: LongLivedSpawner | None = None
        """Starts the server from a thread that lives as long as this object: a restart fault's timer
        thread ends at once, and the server must not die with it (``PR_SET_PDEATHSIG``)."""

    @property
    def database(self) -> Path:
        return self.home / "prefect.db"

    def start(self) -> str:
        """Start the server on a new database: a copy of the migrated template when the cache has one
        for this Prefect version (see :mod:`.database`), else one the server migrates, which then
        becomes the template."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        seeded = database.seed(self.database)
        try:
            self.launch()
        except EngineUnavailable:
            if not seeded:
                raise
            database.forget()  # a template this server cannot start from: start from nothing once
            self.database.unlink(missing_ok=True)
            seeded = False
            self.launch()
        if not seeded:
            database.save(self.database)
        return self.url

    def launch(self) -> None:
        """Start the server process on :attr:`port` (again, after :meth:`stop`: same database, same URL)
        and wait until it answers."""
        port = self.port
        env = {
            **os.environ,
            **base_environment(self.home),
            "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{self.database}",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
        }
        env.pop("PREFECT_API_URL", None)
        env.pop("COVERAGE_PROCESS_CONFIG", None)  # the engine's own server is not ours to measure
        log = (self.home / "server.log").open("ab")
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "prefect.server.api.server:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "error",
            "--lifespan",
            "on",
        ]
        if self.owner is not None:
            self.process = subprocess.Popen(  # noqa: S603 - its own group, ended by the watchdog
                shared_servers.watched(command, self.owner),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        else:
            if self.spawner is None:
                self.spawner = LongLivedSpawner("durable-chaos-prefect-server")
            self.process = self.spawner.popen(
                command,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=own_session_dying_with_parent,
            )
        log.close()
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                code = self.process.returncode
                tail = (self.home / "server.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise EngineUnavailable(
                    f"the Prefect API server exited with code {code} while starting.\n{tail}\n"
                    "Fix: install durable-chaos[prefect] (it pins fastapi<0.155 for prefect<3.9), "
                    "or point PREFECT_API_URL at a running Prefect server."
                )
            if healthy(self.url):
                return
            time.sleep(0.2)
        self.stop()
        raise EngineUnavailable(
            f"the Prefect API server did not answer {self.url}/health within "
            f"{STARTUP_TIMEOUT_SECONDS:.0f}s; see {self.home / 'server.log'}. "
            "Fix: check that nothing blocks loopback ports, or set PREFECT_API_URL."
        )

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, 15)
            process.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 9)
            process.wait(timeout=10)

    def close(self) -> None:
        self.stop()
        if self.spawner is not None:
            self.spawner.close()
            self.spawner = None


def engine_api_service(server: PrefectServer) -> ServerRestarts:
    """The session's Prefect API server as a restartable service (SIGTERM to its process group; started
    again on the same port with the same SQLite database)."""
    return ServerRestarts(f"Prefect API server on 127.0.0.1:{server.port}", server.stop, server.launch)


DRAIN_TIMEOUT_SECONDS = 10.0


def drain_client_services(timeout: float = DRAIN_TIMEOUT_SECONDS) -> None:
    """Flush this process's Prefect client services (events, API logs) while the session's server is
    still up, and stop them; a later run starts fresh ones. Without this they retry, at interpreter
    exit, against a server that is gone: a session that never ends."""
    for hook in (private_apis.DRAIN_EVENTS, private_apis.DRAIN_LOGS):
        try:
            hook.resolve()(timeout=timeout, at_exit=False)
        except Exception:  # noqa: BLE001 - a broken hook only costs the flush
            continue


def server_version(api_url: str) -> str | None:
    """The Prefect version a server reports at ``/admin/version``, or None when it reports none."""
    import json

    try:
        with urllib.request.urlopen(f"{api_url}/admin/version", timeout=5) as response:
            version = json.loads(response.read())
    except (OSError, ValueError):
        return None
    if not isinstance(version, str) or not version[:1].isdigit():
        return None
    return version


def healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False
