"""Own a Toxiproxy for a session: the embedded server as a subprocess, or the real one at ``TOXIPROXY_URL``.

::

    with ToxiproxyProcess() as toxiproxy:   # or ToxiproxyProcess.from_env()
        client = ToxiproxyClient(toxiproxy.url)

The embedded server runs as ``python -m durable_chaos.infra.toxiproxy.server --port 0`` in its own
process group, announces its port on its first stdout line, and is up once ``GET /version`` answers.
Stopping it kills the whole group. When ``TOXIPROXY_URL`` is set (``http://host:8474``), that server is
used and nothing is started or stopped.

The embedded server gets a fresh secret (``token``) in its environment: proxies created by a client given
that token (``ToxiproxyClient(url, token=...)``) can only be changed by such clients. Its proxies listen on
loopback addresses only, unless ``allow_remote_listen``. A real Toxiproxy has neither (``token`` is None).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from types import TracebackType
from typing import IO

from durable_chaos.infra.toxiproxy.server import ENV_TOKEN
from durable_chaos.processes import own_session_dying_with_parent

__all__ = ["ENV_URL", "ToxiproxyProcess", "ToxiproxyStartError"]

ENV_URL = "TOXIPROXY_URL"
_READY = re.compile(r"toxiproxy listening on (\S+):(\d+)")


class ToxiproxyStartError(RuntimeError):
    """The embedded server did not start, or the server at TOXIPROXY_URL did not answer."""


def _version(url: str, timeout: float) -> str:
    with urllib.request.urlopen(f"{url}/version", timeout=timeout) as response:
        body = response.read().decode()
    try:
        return str(json.loads(body)["version"])
    except (ValueError, KeyError, TypeError):
        return body.strip()  # Toxiproxy before 2.7 answered plain text


class ToxiproxyProcess:
    """A running Toxiproxy: ``url``, ``host``, ``port``, ``version``; ``embedded`` if we started it."""

    def __init__(
        self,
        url: str | None = None,
        *,
        host: str = "127.0.0.1",
        start_timeout: float = 10.0,
        allow_remote_listen: bool = False,
    ):
        self.url = url.rstrip("/") if url else None
        self.host = host
        self.start_timeout = start_timeout
        self.allow_remote_listen = allow_remote_listen
        self.token: str | None = None
        """The embedded server's secret (None for a real Toxiproxy): give it to the session's clients."""
        self.process: subprocess.Popen[bytes] | None = None
        self.version: str | None = None
        self._stderr: IO[bytes] | None = None

    @classmethod
    def from_env(cls, **kwargs: float | str) -> ToxiproxyProcess:
        return cls(os.environ.get(ENV_URL) or None, **kwargs)  # type: ignore[arg-type]

    @property
    def embedded(self) -> bool:
        return self.process is not None

    @property
    def port(self) -> int:
        assert self.url is not None, "not started"
        return int(self.url.rsplit(":", 1)[1])

    def start(self) -> ToxiproxyProcess:
        if self.url is not None and self.process is None:
            try:
                self.version = _version(self.url, timeout=self.start_timeout)
            except (OSError, urllib.error.URLError) as exc:
                raise ToxiproxyStartError(
                    f"Toxiproxy at {self.url} does not answer GET /version: {exc}"
                ) from exc
            return self
        self._spawn()
        return self

    def _spawn(self) -> None:
        command = [sys.executable, "-m", "durable_chaos.infra.toxiproxy.server"]
        command += ["--host", self.host, "--port", "0"]
        if self.allow_remote_listen:
            command.append("--allow-remote-listen")
        self.token = secrets.token_hex(16)
        env = {**os.environ, ENV_TOKEN: self.token}
        src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        # stderr to a file, not a pipe: nobody drains it during the session, and it explains failures.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=own_session_dying_with_parent,  # own group, and dies with the session
        )
        deadline = time.monotonic() + self.start_timeout
        try:
            host, port = self._read_ready_line(deadline)
            self.url = f"http://{host}:{port}"
            while True:
                try:
                    self.version = _version(self.url, timeout=max(deadline - time.monotonic(), 0.1))
                    return
                except (OSError, urllib.error.URLError) as exc:
                    if time.monotonic() > deadline:
                        raise ToxiproxyStartError(
                            f"embedded Toxiproxy on {self.url} did not answer /version "
                            f"within {self.start_timeout:g}s: {exc}"
                        ) from exc
                    time.sleep(0.02)
        except BaseException:
            self.stop()
            raise

    def _read_ready_line(self, deadline: float) -> tuple[str, int]:
        assert self.process is not None and self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise ToxiproxyStartError(
                    f"embedded Toxiproxy did not announce its port within {self.start_timeout:g}s"
                )
        line = self.process.stdout.readline().decode(errors="replace")
        match = _READY.search(line)
        if match is None:
            self.process.wait(timeout=2)
            err = ""
            if self._stderr is not None:
                self._stderr.seek(0)
                err = self._stderr.read().decode(errors="replace")
            last = (err.strip().splitlines() or [line.strip() or "no output"])[-1]
            raise ToxiproxyStartError(
                f"embedded Toxiproxy exited with code {self.process.returncode} on start: {last}"
            )
        return match.group(1), int(match.group(2))

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=3)
        if process.stdout is not None:
            process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> ToxiproxyProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
