"""Restart faults of a trial: the worker asks, the session stops and starts the server.

A ``restart`` fault (``durable_chaos.faults.model.RestartFault``) fires in the worker running the agent,
at a unit boundary; the infrastructure belongs to the session process. So the session opens, for each
trial whose plan has restart faults, a small loopback TCP service (:class:`TrialRestarts`) whose
address the workers get in ``DURABLE_CHAOS_RESTART``, and its secret in ``DURABLE_CHAOS_RESTART_SECRET``:

1. the worker (:class:`RestartClient`) sends one JSON line ``{"secret", "index", "target", "downtime",
   "role"}``; a request without the service's secret (another process on the machine) is refused and
   stops nothing;
2. the session stops the engine's server for that target (``EngineAdapter.restart_service``) and
   answers ``{"service": ..., "stopped_in": ...}`` once it is down (or ``{"error": ...}``);
3. the worker records a ``restart`` event (``action: stopped``) at its boundary and goes on: the unit
   meets the outage, as it would in production;
4. ``downtime`` seconds later the session starts the server again and records a ``restart`` event
   (``action: started``, ``down_for``), or ``start_failed`` with the error.

A worker killed while the server is down does not stop the clock: the server comes back after its
downtime whoever is running. When the trial ends, a server still down is started at once
(``why: trial_end``), so the next trial finds it up. Stopping or starting failing is recorded and makes
the trial an error (:func:`restart_errors`), never a pass.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets
import socket
import socketserver
import threading
import time
from pathlib import Path
from typing import Any

from durable_chaos.events import RESTART
from durable_chaos.faults.model import RestartFault
from durable_chaos.infra.engines.base import EngineAdapter, RestartableService
from durable_chaos.run.records.history import History

ENV_RESTART = "DURABLE_CHAOS_RESTART"
ENV_RESTART_SECRET = "DURABLE_CHAOS_RESTART_SECRET"
REQUEST_TIMEOUT_SECONDS = 120.0
READ_TIMEOUT_SECONDS = 10.0  # a connection that sends no request line is dropped after this
MAX_REQUEST_BYTES = 4096
REFUSED = "refused: the request does not carry this session's restart secret"


def restart_faults(faults: Any) -> list[RestartFault]:
    return [fault for fault in faults if isinstance(fault, RestartFault)]


class RestartClient:
    """In a worker: asks the session to restart a target (implements the fault layer's RestartControl)."""

    def __init__(self, address: tuple[str, int], secret: str) -> None:
        self.address = address
        self.secret = secret

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> RestartClient | None:
        """The client described by ``env`` (default: this process's environment), or None."""
        env = dict(os.environ) if env is None else env
        raw = env.get(ENV_RESTART)
        if not raw:
            return None
        host, _, port = raw.rpartition(":")
        return cls((host, int(port)), env.get(ENV_RESTART_SECRET, ""))

    def restart(self, index: int, fault: RestartFault, role: str) -> dict[str, Any]:
        request = {
            "secret": self.secret,
            "index": index,
            "target": fault.target,
            "downtime": fault.downtime,
            "role": role,
        }
        with socket.create_connection(self.address, timeout=REQUEST_TIMEOUT_SECONDS) as sock:
            sock.sendall(json.dumps(request).encode() + b"\n")
            answer = json.loads(sock.makefile("rb").readline() or b"{}")
        if "error" in answer or "service" not in answer:
            raise RuntimeError(answer.get("error") or "the session closed the restart request unanswered")
        return {"service": answer["service"], "stopped_in": answer["stopped_in"]}


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        try:
            self.connection.settimeout(READ_TIMEOUT_SECONDS)
            request = json.loads(self.rfile.readline(MAX_REQUEST_BYTES))
            if not isinstance(request, dict) or not self.server.owner.authentic(request.get("secret")):
                raise PermissionError(REFUSED)
            self.connection.settimeout(None)
            answer = self.server.owner.stop(
                int(request["index"]),
                str(request["target"]),
                float(request["downtime"]),
                str(request["role"]),
            )
        except Exception as exc:  # noqa: BLE001 - answered to the worker, which records it
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        with contextlib.suppress(OSError):
            self.wfile.write(json.dumps(answer).encode() + b"\n")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: TrialRestarts


class TrialRestarts:
    """The session's side of one trial's restart faults: its services and the request listener."""

    def __init__(self, services: dict[str, RestartableService], history: History) -> None:
        self.services = services
        self.history = history
        self.lock = threading.Lock()
        self.down: dict[str, tuple[float, threading.Timer, str, int]] = {}
        """Target -> (when it was stopped, the timer that starts it again, the role that asked, the
        fault's index)."""
        self.closed = False
        self.secret = secrets.token_hex(16)
        """Made here, for this trial's service only; handed to its workers in their environment."""
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.owner = self
        self.thread = threading.Thread(target=self.server.serve_forever, name="durable-chaos-restarts")
        self.thread.daemon = True
        self.thread.start()

    @classmethod
    def open(
        cls, faults: Any, adapter: EngineAdapter, trial_dir: Path, history: History
    ) -> TrialRestarts | None:
        """The restart service of a trial (``None`` when its plan has no restart faults). Raises the
        engine's ``RestartUnavailable`` when a target cannot be restarted here."""
        targets: list[str] = sorted({fault.target for fault in restart_faults(faults)})
        if not targets:
            return None
        services = {target: adapter.restart_service(target, trial_dir) for target in targets}
        return cls(services, history)

    def environment(self) -> dict[str, str]:
        host, port = self.server.server_address[:2]
        return {ENV_RESTART: f"{host!s}:{port}", ENV_RESTART_SECRET: self.secret}

    def authentic(self, secret: object) -> bool:
        """Whether a request carries this service's secret (compared in constant time)."""
        return isinstance(secret, str) and hmac.compare_digest(secret.encode(), self.secret.encode())

    def stop(self, index: int, target: str, downtime: float, role: str) -> dict[str, Any]:
        """Stop ``target`` now (waiting first for an earlier restart of it to finish); start it again
        after ``downtime`` seconds."""
        service = self.services.get(target)
        if service is None:
            raise RuntimeError(f"no restartable {target} in this trial")
        self._finish(target, why="before_next_restart", wait=True)
        started = time.monotonic()
        service.stop()
        stopped_at = time.time()
        timer = threading.Timer(downtime, self._start, args=(target, index, role, "downtime"))
        timer.daemon = True
        with self.lock:
            self.down[target] = (stopped_at, timer, role, index)
        timer.start()
        return {"service": service.name, "stopped_in": round(time.monotonic() - started, 3)}

    def _start(self, target: str, index: int, role: str, why: str) -> None:
        with self.lock:
            entry = self.down.pop(target, None)
        if entry is None:
            return
        stopped_at = entry[0]
        service = self.services[target]
        fields: dict[str, Any] = {"index": index, "target": target, "service": service.name, "why": why}
        try:
            service.start()
        except Exception as exc:  # noqa: BLE001 - recorded; the trial is then an error
            self.history.mark(
                RESTART, role, action="start_failed", error=f"{type(exc).__name__}: {exc}", **fields
            )
            return
        self.history.mark(
            RESTART, role, action="started", down_for=round(time.time() - stopped_at, 3), **fields
        )

    def _finish(self, target: str, *, why: str, wait: bool) -> None:
        """A server still down: wait for its timer (``wait``), or cancel it and start the server now."""
        with self.lock:
            entry = self.down.get(target)
        if entry is None:
            return
        _, timer, role, index = entry
        if wait:
            timer.join()
            return
        timer.cancel()
        timer.join()
        self._start(target, index, role, why)

    def close(self) -> None:
        """End of the trial: stop listening; a server still down is started now."""
        if self.closed:
            return
        self.closed = True
        self.server.shutdown()
        self.server.server_close()
        for target in list(self.down):
            self._finish(target, why="trial_end", wait=False)


def restart_errors(events: list[dict[str, Any]]) -> list[str]:
    """Reasons the trial cannot be judged: a restart that could not stop or start its server."""
    errors = []
    for event in events:
        if event["event"] != RESTART or event.get("action") not in ("failed", "start_failed"):
            continue
        what = "stop" if event["action"] == "failed" else "start again"
        errors.append(
            f"restart fault #{int(event.get('index', -1)) + 1} could not {what} the {event.get('target')}: "
            f"{event.get('error')}"
        )
    return errors
