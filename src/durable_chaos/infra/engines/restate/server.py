"""Restate's infrastructure: the server a session runs against, and the service endpoint a worker serves.

* Embedded default (:class:`EmbeddedServer`): the ``restate-server`` binary (see :mod:`.install`) on
  three free loopback ports (ingress, admin, node), with a base directory of its own under the
  session's work directory, in a process group of its own. ``stop()`` SIGKILLs the group (nothing of
  a throwaway server is worth a graceful shutdown) and removes the base directory; for a ``restart``
  fault, ``crash()`` SIGKILLs it keeping the base directory and ``launch()`` starts it again on the
  same ports (the node's advertised address is in its metadata, so the node port must stay too).
* Real infrastructure: ``RESTATE_ADMIN_URL`` and ``RESTATE_INGRESS_URL`` name a running server; the
  harness starts nothing and only checks that both answer. The server must reach the service endpoint
  the workers serve: ``DURABLE_CHAOS_RESTATE_ENDPOINT_HOST`` names the address it should use (default
  ``127.0.0.1``, which suits a server on this machine).
* The service endpoint (:func:`serving`): the trial's worker serves its service in-process with
  hypercorn on the trial's own loopback port, for the server to drive.

The HTTP client the adapter talks to the server with is :mod:`.client`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from durable_chaos.infra.engines.base import EngineUnavailable, ServerRestarts, free_port
from durable_chaos.infra.engines.restate.client import Endpoints
from durable_chaos.infra.engines.restate.install import missing_message, server_binary
from durable_chaos.processes import LongLivedSpawner, own_session_dying_with_parent

ENV_ADMIN_URL = "RESTATE_ADMIN_URL"
ENV_INGRESS_URL = "RESTATE_INGRESS_URL"
ENV_ENDPOINT_HOST = "DURABLE_CHAOS_RESTATE_ENDPOINT_HOST"
STARTUP_TIMEOUT_SECONDS = 60.0


def external_endpoints() -> Endpoints | None:
    """The server named by ``RESTATE_ADMIN_URL``/``RESTATE_INGRESS_URL``; None when neither is set."""
    admin, ingress = os.environ.get(ENV_ADMIN_URL), os.environ.get(ENV_INGRESS_URL)
    if not admin and not ingress:
        return None
    if not (admin and ingress):
        raise EngineUnavailable(
            f"set both {ENV_ADMIN_URL} and {ENV_INGRESS_URL} to use an existing Restate server "
            f"(got {ENV_ADMIN_URL}={admin!r}, {ENV_INGRESS_URL}={ingress!r}), or neither to use the "
            "embedded one"
        )
    endpoints = Endpoints(admin.rstrip("/"), ingress.rstrip("/"))
    if not endpoints.healthy():
        raise EngineUnavailable(
            f"the Restate server at {ENV_ADMIN_URL}={admin} / {ENV_INGRESS_URL}={ingress} does not answer "
            "(GET /health, GET /restate/health). Fix: start it, or unset both to use the embedded server."
        )
    return endpoints


@dataclass
class EmbeddedServer:
    """A throwaway ``restate-server`` on free loopback ports."""

    root: Path
    retry_policy: dict[str, str] = field(default_factory=dict)
    """Server-wide default invocation retry policy (``initial-interval`` -> ``100ms``, ...)."""
    process: subprocess.Popen[bytes] | None = None
    endpoints: Endpoints | None = None
    ports: tuple[int, int, int] = (0, 0, 0)
    """Ingress, admin and node ports (kept across a restart)."""
    spawner: LongLivedSpawner | None = None

    @property
    def log_path(self) -> Path:
        return self.root / "restate-server.log"

    def environment(self, ingress: int, admin: int, node: int) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "RESTATE_INGRESS__BIND_ADDRESS": f"127.0.0.1:{ingress}",
                "RESTATE_ADMIN__BIND_ADDRESS": f"127.0.0.1:{admin}",
                "RESTATE_BIND_ADDRESS": f"127.0.0.1:{node}",
                "RESTATE_ADVERTISED_ADDRESS": f"http://127.0.0.1:{node}",
                "RESTATE_ADMIN__DISABLE_WEB_UI": "true",
                "RESTATE_LOG_FORMAT": "compact",
            }
        )
        for key, value in self.retry_policy.items():
            env[f"RESTATE_DEFAULT_RETRY_POLICY__{key.upper().replace('-', '_')}"] = value
        return env

    def start(self) -> Endpoints:
        """Start the server on free ports with a new base directory; returns where it answers."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.ports = (free_port(), free_port(), free_port())
        return self.launch()

    def launch(self) -> Endpoints:
        """Start the server process on :attr:`ports` with the base directory it has (again after
        :meth:`crash`: same addresses, same data, so every deployment and invocation stays valid) and
        wait until it is healthy. Started from a long-lived thread of its own, so that a restart timer
        thread ending does not take the server with it (parent-death signal)."""
        binary = server_binary()
        if binary is None:
            raise EngineUnavailable(missing_message())
        ingress, admin, node = self.ports
        if self.spawner is None:
            self.spawner = LongLivedSpawner("durable-chaos-restate-server")
        with self.log_path.open("ab") as log:
            self.process = self.spawner.popen(
                [str(binary), "--base-dir", str(self.root / "base"), "--no-logo"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment(ingress, admin, node),
                preexec_fn=own_session_dying_with_parent,
            )
        endpoints = Endpoints(f"http://127.0.0.1:{admin}", f"http://127.0.0.1:{ingress}")
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not endpoints.healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                self.stop()
                raise EngineUnavailable(
                    f"the embedded Restate server ({binary}) did not become healthy within "
                    f"{STARTUP_TIMEOUT_SECONDS:.0f}s; its log {self.log_path}:\n{tail}"
                )
            time.sleep(0.05)
        self.endpoints = endpoints
        return endpoints

    @property
    def address(self) -> str:
        """Where it answers, for messages: ``ingress 127.0.0.1:<port> and admin API 127.0.0.1:<port>``."""
        ingress, admin, _ = self.ports
        return f"ingress 127.0.0.1:{ingress} and admin API 127.0.0.1:{admin}"

    def crash(self) -> None:
        """SIGKILL the server's process group, keeping its base directory (a crash: :meth:`launch`
        starts it again where it was)."""
        process, self.process = self.process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                process.wait(timeout=10)

    def stop(self) -> None:
        self.crash()
        self.endpoints = None
        if self.spawner is not None:
            self.spawner.close()
            self.spawner = None
        shutil.rmtree(self.root / "base", ignore_errors=True)


def engine_api_service(server: EmbeddedServer) -> ServerRestarts:
    """The session's embedded server as a restartable service (``engine_api``): SIGKILLed (a crash: the
    ingress requests and the server's streams to the service endpoints drop) and started again on the
    same ports with the same base directory, so deployments and invocations with their journals
    survive."""
    return ServerRestarts(f"Restate server with {server.address}", server.crash, server.launch)


@asynccontextmanager
async def serving(service: Any, port: int) -> AsyncIterator[None]:
    """Serve the service's endpoint in this process (hypercorn, HTTP/2 cleartext) for the block."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    host = "0.0.0.0" if os.environ.get(ENV_ENDPOINT_HOST) else "127.0.0.1"  # noqa: S104 - opt-in
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.graceful_timeout = 0.1
    config.loglevel = "ERROR"  # hypercorn warns that restate's ASGI app has no lifespan support
    import restate

    stop = asyncio.Event()
    app = restate.app([service])
    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    try:
        await until_listening(port, task)
        yield
    finally:
        stop.set()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(task, 2.0)


async def until_listening(port: int, task: asyncio.Task[Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if task.done():
            task.result()  # raises why hypercorn stopped (e.g. the port is taken)
            raise EngineUnavailable(f"the service endpoint stopped before listening on port {port}")
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise EngineUnavailable(
                f"the service endpoint did not listen on 127.0.0.1:{port} within {timeout}s"
            )
        await asyncio.sleep(0.005)
