"""Network faults of a trial: the session's Toxiproxy, one proxy per target per trial, and the routes.

A scenario whose plan has ``network`` faults gets, for that trial, one Toxiproxy proxy per target the
plan names (``durable_chaos.faults.model.NetworkFault``). The fault layer only names targets; where
each target's traffic goes is decided here and by the engine:

- ``model_endpoint``: model requests are answered by the cassette (or, while recording, by the
  scripted server or provider), and each answer is then **relayed through the proxy**: the response
  bytes travel client → proxy → a loopback echo server → proxy → client before the SDK sees them
  (:func:`relay_model_traffic`). So the toxic acts on real TCP carrying the real response: ``latency``
  past the client's read timeout is the SDK's own timeout error, ``down`` or ``reset_peer`` its
  connection error, ``limit_data`` a cut response. The cassette is consulted first, so a request whose
  relay fails is not counted as a delivered model call (the fault layer records it as failed).
- ``database`` and ``engine_api``: the engine says where its connection goes
  (``EngineAdapter.network_targets``), the proxy's upstream is that address, and the worker's
  environment is rewritten to connect through the proxy (``EngineAdapter.proxied_environment``). Runs
  of such a trial happen in worker processes, where the environment can be set per trial.

Every run of the trial (golden included) goes through the same proxies; toxics are only applied when
a fault fires in the faulted run. A toxic is removed after its ``duration``, at its ``until``
boundary, when the run in its process ends, and (kill faults) before a resumed worker starts: the
harness heals the proxies after each killed worker. At the end of the trial its proxies are deleted.

Workers get the proxies in ``DURABLE_CHAOS_NETWORK`` (JSON: Toxiproxy URL, proxy names, listen
addresses), read by :meth:`NetworkHandle.from_env`, and the embedded server's session token in
``DURABLE_CHAOS_TOXIPROXY_TOKEN``: the trial's proxies are created with it, so only the session and its
workers can change them or their toxics.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import socketserver
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from durable_chaos.faults.injectors.network import AppliedToxic, ToxicSpec, apply_toxic, remove_toxic
from durable_chaos.faults.model import NetworkFault
from durable_chaos.faults.transports import is_model_request, module_of, on_every_transport
from durable_chaos.infra.engines.base import EngineAdapter
from durable_chaos.infra.toxiproxy.embedded import ToxiproxyProcess, ToxiproxyStartError
from durable_chaos.infra.toxiproxy.server import ENV_TOKEN as ENV_TOXIPROXY_TOKEN

if TYPE_CHECKING:
    from durable_chaos.infra.toxiproxy.client import ToxiproxyClient

ENV_NETWORK = "DURABLE_CHAOS_NETWORK"
MODEL_ENDPOINT = "model_endpoint"
_HEADER = struct.Struct("!Q")
ECHO_TIMEOUT_SECONDS = 120.0
DEFAULT_READ_TIMEOUT_SECONDS = 600.0


class NetworkUnavailable(Exception):
    """A network fault cannot be set up for this trial (no Toxiproxy, a proxy that failed)."""


class TargetNotOffered(NetworkUnavailable):
    """The engine, as configured, has no connection to the network target a fault names (DBOS on
    SQLite has no database connection): the trial is skipped, saying how to configure one."""


def network_faults(faults: Any) -> list[NetworkFault]:
    return [fault for fault in faults if isinstance(fault, NetworkFault)]


def needs_worker(faults: Any) -> bool:
    """Whether the plan's network faults need runs in worker processes (engine traffic is rerouted
    through the worker's environment; model traffic can be relayed in any process)."""
    return any(fault.target != MODEL_ENDPOINT for fault in network_faults(faults))


# -- the loopback echo server, the upstream of every model_endpoint proxy ------------------------------


class _Echo(socketserver.BaseRequestHandler):
    """Echo length-prefixed frames back until the client closes."""

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(ECHO_TIMEOUT_SECONDS)
        with contextlib.suppress(OSError):
            while True:
                header = _recv_exactly(sock, _HEADER.size)
                if header is None:
                    return
                body = _recv_exactly(sock, _HEADER.unpack(header)[0])
                if body is None:
                    return
                sock.sendall(header + body)


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Echo)
        self.thread = threading.Thread(target=self.serve_forever, name="durable-chaos-echo", daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return f"{host!s}:{port}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


# -- the proxies of one trial, as seen from any process -------------------------------------------------


@dataclass
class NetworkHandle:
    """The proxies of one trial: implements the fault layer's ``NetworkControl``."""

    url: str
    proxies: dict[str, str]
    """Target -> proxy name."""
    listen: dict[str, str]
    """Target -> ``host:port`` the proxy listens on."""
    token: str | None = None
    """The embedded Toxiproxy's session token (None for a real Toxiproxy)."""
    applied: dict[int, AppliedToxic] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.client = _client(self.url, self.token)

    def to_env(self) -> dict[str, str]:
        env = {ENV_NETWORK: json.dumps({"url": self.url, "proxies": self.proxies, "listen": self.listen})}
        if self.token:
            env[ENV_TOXIPROXY_TOKEN] = self.token
        return env

    @classmethod
    def from_env(cls) -> NetworkHandle | None:
        raw = os.environ.get(ENV_NETWORK)
        if not raw:
            return None
        data = json.loads(raw)
        return cls(data["url"], data["proxies"], data["listen"], os.environ.get(ENV_TOXIPROXY_TOKEN) or None)

    def apply(self, index: int, fault: NetworkFault) -> None:
        proxy = self.proxies.get(fault.target)
        if proxy is None:
            raise NetworkUnavailable(f"no proxy for network target {fault.target!r} in this trial")
        self.applied[index] = apply_toxic(self.client, proxy, fault.toxic_spec(index))

    def remove(self, index: int, fault: NetworkFault) -> None:
        applied = self.applied.pop(index, None)
        if applied is None:
            proxy = self.proxies[fault.target]
            applied = AppliedToxic(proxy, fault.toxic_spec(index))
        remove_toxic(self.client, applied, missing_ok=True)

    def heal(self) -> None:
        """Every proxy of the trial enabled and without toxics (after a killed worker left some)."""
        self.applied.clear()
        for proxy in self.proxies.values():
            self.client.enable(proxy)
            for toxic in self.client.toxics(proxy):
                remove_toxic(self.client, AppliedToxic(proxy, _named(toxic.name)), missing_ok=True)

    def address(self, target: str) -> tuple[str, int]:
        host, _, port = self.listen[target].rpartition(":")
        return host, int(port)


def _client(url: str, token: str | None = None) -> ToxiproxyClient:
    """A client of the Toxiproxy at ``url``; imported here, as network faults run (the ``network`` extra)."""
    from durable_chaos.extras import MissingExtra, missing

    if missing("network"):
        raise NetworkUnavailable(str(MissingExtra("network faults", "network")))
    from durable_chaos.infra.toxiproxy.client import ToxiproxyClient

    return ToxiproxyClient(url, token=token)


def _named(name: str) -> ToxicSpec:
    return ToxicSpec("latency", name=name)  # only the name matters for removal


@dataclass
class TrialNetwork:
    """The proxies of one trial, owned by the session process."""

    handle: NetworkHandle
    routes: dict[str, tuple[str, int]]
    """Engine targets -> the proxy address the worker must connect to instead."""

    def worker_environment(self, adapter: EngineAdapter, env: dict[str, str]) -> dict[str, str]:
        """A worker's environment with engine traffic routed through the proxies, and the proxies named."""
        routed = adapter.proxied_environment(env, self.routes) if self.routes else dict(env)
        return {**routed, **self.handle.to_env()}

    def heal(self) -> None:
        self.handle.heal()

    def close(self) -> None:
        for proxy in self.handle.proxies.values():
            with contextlib.suppress(Exception):
                self.handle.client.delete_proxy(proxy)
        self.handle.client.close()


class NetworkSession:
    """The session's Toxiproxy (embedded, or ``TOXIPROXY_URL``) and echo server, started on first use."""

    def __init__(self) -> None:
        self.toxiproxy: ToxiproxyProcess | None = None
        self.echo: EchoServer | None = None
        self.error: str | None = None

    def start(self) -> tuple[str, str]:
        if self.error is not None:
            raise NetworkUnavailable(self.error)
        if self.toxiproxy is None:
            try:
                self.toxiproxy = ToxiproxyProcess.from_env().start()
            except ToxiproxyStartError as exc:
                self.error = f"network faults need a Toxiproxy: {exc}"
                raise NetworkUnavailable(self.error) from exc
            self.echo = EchoServer()
        assert self.toxiproxy.url is not None and self.echo is not None
        return self.toxiproxy.url, self.echo.address

    def trial(self, faults: Any, adapter: EngineAdapter, trial_dir: Path) -> TrialNetwork | None:
        """Proxies for the targets the plan's network faults name (``None`` when it has none)."""
        targets: list[str] = sorted({fault.target for fault in network_faults(faults)})
        if not targets:
            return None
        engine_targets = adapter.network_targets(trial_dir) if targets != [MODEL_ENDPOINT] else {}
        missing = [t for t in targets if t != MODEL_ENDPOINT and t not in engine_targets]
        if missing:
            offered = ", ".join(sorted(engine_targets)) or "none"
            raise TargetNotOffered(
                f"the plan has network faults on {', '.join(missing)}, which engine {adapter.name!r} "
                f"does not offer in this configuration (it offers: {offered}); see docs/network.md"
            )
        url, echo = self.start()
        token = self.toxiproxy.token if self.toxiproxy is not None else None
        client = _client(url, token)
        proxies: dict[str, str] = {}
        listen: dict[str, str] = {}
        try:
            for target in targets:
                name = f"{trial_dir.name}-{target}"
                with contextlib.suppress(Exception):
                    client.delete_proxy(name)
                host, port = (
                    engine_targets.get(target, (None, None)) if target != MODEL_ENDPOINT else (None, None)
                )
                upstream = echo if target == MODEL_ENDPOINT else f"{host}:{port}"
                info = client.create_proxy(name, upstream)
                proxies[target], listen[target] = name, info.listen
        finally:
            client.close()
        handle = NetworkHandle(url, proxies, listen, token)
        routes = {t: handle.address(t) for t in targets if t != MODEL_ENDPOINT}
        return TrialNetwork(handle, routes)

    def close(self) -> None:
        if self.echo is not None:
            self.echo.close()
            self.echo = None
        if self.toxiproxy is not None:
            self.toxiproxy.stop()
            self.toxiproxy = None


# -- model traffic through the proxy ---------------------------------------------------------------------


async def relay(
    address: tuple[str, int], payload: bytes, connect_timeout: float, read_timeout: float
) -> bytes:
    """Send ``payload`` through the proxy at ``address`` to the echo server and return what comes back.
    Raises ``ConnectionError`` (refused, reset, cut short) or ``TimeoutError``."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), connect_timeout)
    try:
        writer.write(_HEADER.pack(len(payload)) + payload)
        await asyncio.wait_for(writer.drain(), read_timeout)
        try:
            header = await asyncio.wait_for(reader.readexactly(_HEADER.size), read_timeout)
            return await asyncio.wait_for(reader.readexactly(_HEADER.unpack(header)[0]), read_timeout)
        except asyncio.IncompleteReadError as exc:
            raise ConnectionResetError(
                f"the connection closed after {len(exc.partial)} of the response's bytes"
            ) from None
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def _timeouts(request: Any) -> tuple[float, float]:
    timeout = request.extensions.get("timeout") or {}
    read = timeout.get("read") or DEFAULT_READ_TIMEOUT_SECONDS
    return float(timeout.get("connect") or read), float(read)


@contextmanager
def relay_model_traffic(handle: NetworkHandle | None) -> Iterator[None]:
    """Relay every model response through the trial's ``model_endpoint`` proxy (no-op without one).
    Enter it after the cassette and before the fault layer (see the module's docs)."""
    if handle is None or MODEL_ENDPOINT not in handle.proxies:
        yield
        return
    address = handle.address(MODEL_ENDPOINT)

    def make(original: Any, module: Any) -> Any:
        async def handle_async_request(self: Any, request: Any) -> Any:
            if not is_model_request(request):
                return await original(self, request)
            response = await original(self, request)
            content = await response.aread()
            http = module_of(request)
            connect_timeout, read_timeout = _timeouts(request)
            try:
                echoed = await relay(address, content, connect_timeout, read_timeout)
            except TimeoutError as exc:
                raise http.ReadTimeout(
                    f"durable-chaos model_endpoint proxy: read timed out ({exc})", request=request
                ) from exc
            except ConnectionRefusedError as exc:
                raise http.ConnectError(
                    f"durable-chaos model_endpoint proxy: {exc}", request=request
                ) from exc
            except (ConnectionError, OSError) as exc:
                raise http.ReadError(f"durable-chaos model_endpoint proxy: {exc}", request=request) from exc
            headers = {
                k: v
                for k, v in response.headers.items()
                if k.lower() not in ("content-length", "content-encoding")
            }
            return http.Response(response.status_code, headers=headers, content=echoed, request=request)

        return handle_async_request

    with on_every_transport(make):
        yield
