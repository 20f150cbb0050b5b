"""The embedded Toxiproxy as a service other processes on the machine can reach: the session's proxies
and toxics are changed only with the session's token, proxies listen only on loopback unless allowed,
and everything else behaves as in Toxiproxy (other clients keep the full API for their own proxies).

Every "other process" here is a real subprocess speaking plain HTTP to the server.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import TypeAdapter

from durable_chaos.faults.model import Fault, NetworkFault
from durable_chaos.infra.toxiproxy.client import ProxyInfo, ToxiproxyClient, ToxiproxyError
from durable_chaos.infra.toxiproxy.embedded import ToxiproxyProcess
from durable_chaos.run.fault_services.network import ENV_TOXIPROXY_TOKEN, NetworkHandle, NetworkSession

# Runs in another process: each request is [method, path, body, headers]; prints [status, body] per line.
_OTHER_PROCESS = """
import json, sys, requests
url = sys.argv[1]
for method, path, body, headers in json.loads(sys.stdin.read()):
    answer = requests.request(method, url + path, json=body, headers=headers, timeout=5)
    try:
        payload = answer.json()
    except ValueError:
        payload = answer.text
    print(json.dumps([answer.status_code, payload]))
"""


def other_process(url: str, requests_: list[tuple[str, str, Any, dict[str, str]]]) -> list[list[Any]]:
    done = subprocess.run(
        [sys.executable, "-c", _OTHER_PROCESS, url],
        input=json.dumps(requests_),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(5)
        with contextlib.suppress(OSError):
            while data := self.request.recv(65536):
                self.request.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture(scope="module")
def echo() -> Iterator[str]:
    server = _EchoServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _connect(host: str, port: int) -> socket.socket:
    return socket.create_connection((host, port), timeout=5)


def _roundtrip(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


@pytest.fixture(scope="module")
def server() -> Iterator[ToxiproxyProcess]:
    with ToxiproxyProcess() as process:
        yield process


@pytest.fixture
def session_client(server: ToxiproxyProcess) -> Iterator[ToxiproxyClient]:
    assert server.url is not None and server.token
    with ToxiproxyClient(server.url, token=server.token) as client:
        yield client
        for name in client.proxies():
            client.delete_proxy(name)


def _timed_roundtrip(proxy: ProxyInfo) -> float:
    with _connect(proxy.host, proxy.port) as sock:
        started = time.monotonic()
        assert _roundtrip(sock, b"ping") == b"ping"
        return time.monotonic() - started


def test_another_process_cannot_change_the_sessions_proxies_or_toxics(
    server: ToxiproxyProcess, session_client: ToxiproxyClient, echo: str
) -> None:
    assert server.url is not None
    proxy = session_client.create_proxy("sess_db", echo)
    session_client.add_toxic("sess_db", "latency", {"latency": 300}, name="slow")
    attempts = [
        ("DELETE", "/proxies/sess_db/toxics/slow", None),
        ("PATCH", "/proxies/sess_db/toxics/slow", {"attributes": {"latency": 0}}),
        ("POST", "/proxies/sess_db/toxics", {"type": "reset_peer"}),
        ("POST", "/proxies/sess_db", {"enabled": False}),
        ("PATCH", "/proxies/sess_db", {"upstream": "127.0.0.1:1"}),
        ("DELETE", "/proxies/sess_db", None),
        ("POST", "/populate", [{"name": "sess_db", "upstream": "127.0.0.1:1"}]),
    ]
    guessed = {"X-Durable-Chaos-Token": "0" * 32}
    answers = other_process(
        server.url,
        [(m, p, b, {}) for m, p, b in attempts]  # no token
        + [(m, p, b, guessed) for m, p, b in attempts]  # a guessed one
        + [("POST", "/reset", None, {}), ("GET", "/proxies", None, {})],
    )
    refused, reset, listed = answers[:-2], answers[-2], answers[-1]
    assert [status for status, _ in refused] == [403] * 2 * len(attempts), answers
    for _, body in refused:
        assert body["status"] == 403
        assert "durable-chaos session" in body["error"] and "X-Durable-Chaos-Token" in body["error"]
    assert refused[-1][1]["error"] == "invalid X-Durable-Chaos-Token: not this durable-chaos session's token"
    assert reset == [204, ""]  # a reset from elsewhere resets that client's proxies, not the session's
    after = session_client.get_proxy("sess_db")
    assert after.enabled and after.upstream == echo and after.listen == proxy.listen
    assert [(t.name, t.attributes["latency"]) for t in after.toxics] == [("slow", 300)]
    assert _timed_roundtrip(proxy) >= 0.25  # the toxic still acts
    assert listed[0] == 200 and "sess_db" in listed[1]  # reading is open to all, as in Toxiproxy
    session_client.remove_toxic("sess_db", "slow")
    assert _timed_roundtrip(proxy) < 0.25


def test_other_clients_keep_the_whole_api_for_their_own_proxies(
    server: ToxiproxyProcess, session_client: ToxiproxyClient, echo: str
) -> None:
    assert server.url is not None
    session_client.create_proxy("sess_own", echo)
    session_client.add_toxic("sess_own", "latency", {"latency": 10}, name="mine")
    calls = [
        ("POST", "/proxies", {"name": "theirs", "upstream": echo, "listen": "127.0.0.1:0"}, {}),
        ("POST", "/proxies/theirs/toxics", {"type": "latency", "attributes": {"latency": 5}}, {}),
        ("PATCH", "/proxies/theirs/toxics/latency_downstream", {"attributes": {"latency": 6}}, {}),
        ("POST", "/proxies/theirs", {"enabled": False}, {}),
        ("POST", "/reset", None, {}),
        ("GET", "/proxies/theirs", None, {}),
        ("DELETE", "/proxies/theirs", None, {}),
    ]
    answers = other_process(server.url, calls)
    assert [status for status, _ in answers] == [201, 200, 200, 200, 204, 200, 204]
    assert answers[5][1]["enabled"] is True and answers[5][1]["toxics"] == []  # their reset worked
    assert [t.name for t in session_client.toxics("sess_own")] == ["mine"]
    # The session's reset covers every proxy.
    session_client.reset()
    assert session_client.toxics("sess_own") == []


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0"])
def test_another_process_cannot_open_a_listener_beyond_loopback(
    server: ToxiproxyProcess, session_client: ToxiproxyClient, echo: str, listen: str
) -> None:
    assert server.url is not None
    host = listen.rpartition(":")[0].strip("[]")
    shown = f"[{host}]:0" if ":" in host else f"{host}:0"
    answers = other_process(
        server.url,
        [
            ("POST", "/proxies", {"name": "relay", "upstream": echo, "listen": listen}, {}),
            ("POST", "/proxies", {"name": "relay2", "upstream": echo}, {}),
            ("PATCH", "/proxies/relay2", {"listen": listen}, {}),
            (
                "POST",
                "/populate",
                [
                    {"name": "relay3", "upstream": echo},
                    {"name": "relay4", "upstream": echo, "listen": listen},
                ],
                {},
            ),
        ],
    )
    statuses = [status for status, _ in answers]
    assert statuses == [403, 201, 403, 403], answers
    message = answers[0][1]["error"]
    assert message.startswith(f"listen tcp {shown}: refused: not a loopback address")
    assert "--allow-remote-listen" in message
    assert [p["name"] for p in answers[3][1]["proxies"]] == ["relay3"]  # as Toxiproxy: kept, then error
    proxies = session_client.proxies()
    assert "relay" not in proxies and "relay4" not in proxies
    assert proxies["relay2"].enabled is False  # stopped to move, then refused: down, as in Toxiproxy
    for info in proxies.values():
        if info.enabled:
            assert info.host.startswith("127.") or info.host == "::1", info


def test_loopback_addresses_are_allowed(session_client: ToxiproxyClient, echo: str) -> None:
    for name, listen in [("lo_a", "localhost:0"), ("lo_b", "127.0.0.2:0"), ("lo_c", "127.0.0.1:0")]:
        info = session_client.create_proxy(name, echo, listen=listen)
        assert info.host.startswith("127."), info
        with _connect(info.host, info.port) as sock:
            assert _roundtrip(sock, b"lo") == b"lo"


def test_remote_listen_when_asked(echo: str) -> None:
    with ToxiproxyProcess(allow_remote_listen=True) as process:
        assert process.url is not None
        with ToxiproxyClient(process.url, token=process.token) as client:
            info = client.create_proxy("anywhere", echo, listen="0.0.0.0:0")
            assert info.host == "0.0.0.0"
            with _connect("127.0.0.1", info.port) as sock:
                assert _roundtrip(sock, b"far") == b"far"


def test_a_trials_toxics_are_the_sessions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fault = TypeAdapter(Fault).validate_python(
        {"kind": "network", "target": "model_endpoint", "toxic": "latency", "attributes": {"latency": 50}}
    )
    assert isinstance(fault, NetworkFault)
    network = NetworkSession()
    try:
        trial = network.trial([fault], adapter=None, trial_dir=tmp_path / "t1")  # type: ignore[arg-type]
        assert trial is not None
        trial.handle.apply(0, fault)
        proxy = trial.handle.proxies["model_endpoint"]
        toxic = fault.toxic_spec(0).toxic_name
        (removal,) = other_process(
            trial.handle.url, [("DELETE", f"/proxies/{proxy}/toxics/{toxic}", None, {})]
        )
        assert removal[0] == 403
        assert [t.name for t in trial.handle.client.toxics(proxy)] == [toxic]
        # A worker gets the token in its environment and can remove it.
        env = trial.handle.to_env()
        assert env[ENV_TOXIPROXY_TOKEN] == network.toxiproxy.token  # type: ignore[union-attr]
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        worker = NetworkHandle.from_env()
        assert worker is not None
        worker.remove(0, fault)
        assert trial.handle.client.toxics(proxy) == []
        trial.close()
        with pytest.raises(ToxiproxyError, match="404"):
            trial.handle.client.get_proxy(proxy)  # deleted at the trial's end
    finally:
        network.close()
    with pytest.raises(requests.RequestException):
        requests.get(trial.handle.url + "/version", timeout=1)
