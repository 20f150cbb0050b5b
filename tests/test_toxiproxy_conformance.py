"""Conformance of Toxiproxy servers: the embedded one always, a real one when TOXIPROXY_URL is set.

API semantics (status codes, error bodies, field names, defaults) through raw HTTP and through
:class:`ToxiproxyClient`; toxiproxy-python's own object API; each toxic's observable effect on loopback
TCP servers (an echo server, and a "blob" server that sends a payload and closes). A real Toxiproxy must
run on this machine, since the upstreams listen on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import socketserver
import threading
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from durable_chaos.infra.toxiproxy.client import (
    ProxyInfo,
    ToxiproxyBadRequest,
    ToxiproxyClient,
    ToxiproxyConflict,
    ToxiproxyError,
    ToxiproxyNotFound,
)
from durable_chaos.infra.toxiproxy.embedded import ENV_URL, ToxiproxyProcess

BLOB = bytes(range(256)) * 80  # 20,480 bytes


# -- loopback upstreams ----------------------------------------------------------------------------


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(5)
        with contextlib.suppress(OSError):
            while data := self.request.recv(65536):
                self.request.sendall(data)


class _Blob(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        with contextlib.suppress(OSError):
            self.request.sendall(BLOB)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextlib.contextmanager
def _serve(handler: type[socketserver.BaseRequestHandler]) -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def echo_upstream() -> Iterator[str]:
    with _serve(_Echo) as address:
        yield address


@pytest.fixture(scope="module")
def blob_upstream() -> Iterator[str]:
    with _serve(_Blob) as address:
        yield address


# -- servers under test ----------------------------------------------------------------------------

_TARGETS = ["embedded"] + (["real"] if os.environ.get(ENV_URL) else [])


@pytest.fixture(scope="module", params=_TARGETS)
def server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    process = ToxiproxyProcess() if request.param == "embedded" else ToxiproxyProcess(os.environ[ENV_URL])
    with process:
        assert process.url is not None
        yield process.url


@pytest.fixture
def client(server_url: str) -> Iterator[ToxiproxyClient]:
    with ToxiproxyClient(server_url, timeout=3) as toxiproxy:
        _clean(toxiproxy)
        try:
            yield toxiproxy
        finally:
            _clean(toxiproxy)


def _clean(toxiproxy: ToxiproxyClient) -> None:
    for name in toxiproxy.proxies():
        if name.startswith("conf_"):
            toxiproxy.delete_proxy(name)


def _raw(url: str, method: str, path: str, body: Any = None, data: bytes | None = None) -> requests.Response:
    return requests.request(method, url + path, json=body, data=data, timeout=3)


def _connect(proxy: ProxyInfo, timeout: float = 2.0) -> socket.socket:
    return socket.create_connection((proxy.host, proxy.port), timeout=timeout)


def _recv_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _roundtrip(sock: socket.socket, payload: bytes) -> bytes:
    """Send ``payload`` to an echo (from a thread, so no buffer size can deadlock us) and read it back."""
    sender = threading.Thread(target=sock.sendall, args=(payload,), daemon=True)
    sender.start()
    chunks, received = [], 0
    while received < len(payload):
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        received += len(chunk)
    sender.join(timeout=2)
    return b"".join(chunks)


# -- API: proxies ----------------------------------------------------------------------------------


def test_version_answers(client: ToxiproxyClient) -> None:
    assert client.version()


def test_create_proxy_is_201_with_fields_and_resolved_listen(
    client: ToxiproxyClient, echo_upstream: str
) -> None:
    answer = _raw(
        client.url, "POST", "/proxies", {"name": "conf_a", "upstream": echo_upstream, "listen": "127.0.0.1:0"}
    )
    assert answer.status_code == 201
    body = answer.json()
    assert body["name"] == "conf_a" and body["upstream"] == echo_upstream
    assert body["enabled"] is True and body["toxics"] == []
    host, _, port = body["listen"].rpartition(":")
    assert host == "127.0.0.1" and int(port) > 0
    assert client.get_proxy("conf_a") == ProxyInfo.from_json(body)
    assert "conf_a" in client.proxies()


def test_duplicate_proxy_is_409(client: ToxiproxyClient, echo_upstream: str) -> None:
    client.create_proxy("conf_dup", echo_upstream)
    answer = _raw(client.url, "POST", "/proxies", {"name": "conf_dup", "upstream": echo_upstream})
    assert answer.status_code == 409
    assert answer.json() == {"error": "proxy already exists", "status": 409}
    with pytest.raises(ToxiproxyConflict, match="create proxy 'conf_dup'.*409.*proxy already exists"):
        client.create_proxy("conf_dup", echo_upstream)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"upstream": "127.0.0.1:1"}, "missing required field: name"),
        ({"name": "conf_x"}, "missing required field: upstream"),
    ],
)
def test_missing_proxy_field_is_400(client: ToxiproxyClient, body: dict[str, str], message: str) -> None:
    answer = _raw(client.url, "POST", "/proxies", body)
    assert answer.status_code == 400
    assert answer.json() == {"error": message, "status": 400}


def test_malformed_body_is_400(client: ToxiproxyClient) -> None:
    answer = _raw(client.url, "POST", "/proxies", data=b"{not json")
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("bad request body")


def test_missing_proxy_is_404_everywhere(client: ToxiproxyClient) -> None:
    for method, path in [
        ("GET", "/proxies/conf_none"),
        ("DELETE", "/proxies/conf_none"),
        ("POST", "/proxies/conf_none"),
        ("GET", "/proxies/conf_none/toxics"),
        ("POST", "/proxies/conf_none/toxics"),
    ]:
        answer = _raw(client.url, method, path, {"type": "latency"} if method == "POST" else None)
        assert answer.status_code == 404, (method, path)
        assert answer.json() == {"error": "proxy not found", "status": 404}
    with pytest.raises(ToxiproxyNotFound, match="get proxy 'conf_none'.*404.*proxy not found"):
        client.get_proxy("conf_none")


def test_delete_proxy_is_204_and_stops_listening(client: ToxiproxyClient, echo_upstream: str) -> None:
    proxy = client.create_proxy("conf_del", echo_upstream)
    answer = _raw(client.url, "DELETE", "/proxies/conf_del")
    assert answer.status_code == 204 and answer.content == b""
    with pytest.raises(ConnectionRefusedError):
        _connect(proxy)


def test_listen_address_in_use_raises(client: ToxiproxyClient, echo_upstream: str) -> None:
    first = client.create_proxy("conf_l1", echo_upstream)
    with pytest.raises(ToxiproxyError) as info:
        client.create_proxy("conf_l2", echo_upstream, listen=first.listen)
    assert info.value.status == 500
    assert "conf_l2" not in client.proxies()
    # Toxiproxy's own text (api_test.go), with a host name resolved as Go's net.Listen does.
    taken = _raw(
        client.url,
        "POST",
        "/proxies",
        {"name": "conf_l3", "upstream": echo_upstream, "listen": f"localhost:{first.port}"},
    )
    message = f"listen tcp 127.0.0.1:{first.port}: bind: address already in use"
    assert (taken.status_code, taken.json()) == (500, {"error": message, "status": 500})
    assert taken.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert taken.headers["X-Content-Type-Options"] == "nosniff"
    assert taken.text.endswith("}\n")


def test_disabled_proxy_refuses_and_closes_connections(client: ToxiproxyClient, echo_upstream: str) -> None:
    proxy = client.create_proxy("conf_down", echo_upstream)
    live = _connect(proxy)
    assert _roundtrip(live, b"ping") == b"ping"
    answer = _raw(client.url, "POST", "/proxies/conf_down", {"enabled": False})
    assert answer.status_code == 200 and answer.json()["enabled"] is False
    with contextlib.suppress(ConnectionResetError):
        assert live.recv(10) == b""  # the open connection was closed
    live.close()
    with pytest.raises(ConnectionRefusedError):
        _connect(proxy)
    assert client.enable("conf_down").listen == proxy.listen  # same address again
    with _connect(proxy) as again:
        assert _roundtrip(again, b"pong") == b"pong"


def test_down_context_manager(client: ToxiproxyClient, echo_upstream: str) -> None:
    proxy = client.create_proxy("conf_ctx", echo_upstream)
    with client.down("conf_ctx"):
        assert client.get_proxy("conf_ctx").enabled is False
        with pytest.raises(ConnectionRefusedError):
            _connect(proxy)
    assert client.get_proxy("conf_ctx").enabled is True


def test_create_disabled_proxy(client: ToxiproxyClient, echo_upstream: str) -> None:
    proxy = client.create_proxy("conf_off", echo_upstream, enabled=False)
    assert proxy.enabled is False


def test_populate_creates_then_keeps(client: ToxiproxyClient, echo_upstream: str, blob_upstream: str) -> None:
    specs = [
        {"name": "conf_p1", "upstream": echo_upstream, "listen": "127.0.0.1:0"},
        {"name": "conf_p2", "upstream": blob_upstream, "listen": "127.0.0.1:0", "enabled": False},
    ]
    answer = _raw(client.url, "POST", "/populate", specs)
    assert answer.status_code == 201
    first = answer.json()["proxies"]
    assert [p["name"] for p in first] == ["conf_p1", "conf_p2"]
    assert [p["enabled"] for p in first] == [True, False]
    # Same name, upstream and listen address: untouched.
    again = client.populate([{"name": "conf_p1", "upstream": echo_upstream, "listen": first[0]["listen"]}])
    assert again[0].listen == first[0]["listen"]
    bad = _raw(client.url, "POST", "/populate", [{"name": "conf_p3"}])
    assert bad.status_code == 400
    assert bad.json()["error"] == "missing required field: upstream at proxy 1"


def test_populate_keeps_the_proxies_before_a_bad_one_then_fails(
    client: ToxiproxyClient, echo_upstream: str
) -> None:
    specs = [
        {"name": "conf_q1", "upstream": echo_upstream, "listen": "127.0.0.1:0"},
        {"name": "conf_q2", "upstream": echo_upstream, "listen": "local373"},
        {"name": "conf_q3", "upstream": echo_upstream, "listen": "127.0.0.1:0"},
    ]
    answer = _raw(client.url, "POST", "/populate", specs)
    assert answer.status_code == 500
    body = answer.json()
    assert body["error"] == "listen tcp: address local373: missing port in address"
    assert body["status"] == 500
    assert [p["name"] for p in body["proxies"]] == ["conf_q1"]
    names = set(client.proxies())
    assert "conf_q1" in names and not names & {"conf_q2", "conf_q3"}
    with _connect(client.get_proxy("conf_q1")) as sock:
        assert _roundtrip(sock, b"kept") == b"kept"
    # The first proxy failing creates nothing; an empty list creates nothing and lists null.
    first_bad = _raw(
        client.url,
        "POST",
        "/populate",
        [{"name": "conf_q4", "upstream": echo_upstream, "listen": "local373"}],
    )
    assert first_bad.json()["proxies"] is None and "conf_q4" not in client.proxies()
    empty = _raw(client.url, "POST", "/populate", [])
    assert (empty.status_code, empty.json()) == (201, {"proxies": None})


def test_reset_enables_proxies_and_removes_toxics(client: ToxiproxyClient, echo_upstream: str) -> None:
    client.create_proxy("conf_reset", echo_upstream)
    client.add_toxic("conf_reset", "latency", {"latency": 10})
    client.disable("conf_reset")
    answer = _raw(client.url, "POST", "/reset")
    assert answer.status_code == 204
    after = client.get_proxy("conf_reset")
    assert after.enabled is True and after.toxics == ()


def test_unknown_route_and_wrong_method(client: ToxiproxyClient) -> None:
    missing = _raw(client.url, "GET", "/nothing")
    assert (missing.status_code, missing.text) == (404, "404 page not found\n")
    assert missing.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert _raw(client.url, "PUT", "/proxies").status_code == 405
    # The router answers these before its middleware: no request id, and browsers are not singled out.
    assert "X-Toxiproxy-Request-Id" not in missing.headers
    browser = requests.get(client.url + "/nothing", headers={"User-Agent": "Mozilla/5.0"}, timeout=3)
    assert browser.status_code == 404


def test_browsers_are_refused(client: ToxiproxyClient) -> None:
    answer = requests.get(client.url + "/proxies", headers={"User-Agent": "Mozilla/5.0 (X11)"}, timeout=3)
    assert (answer.status_code, answer.text) == (403, "User agent not allowed\n")
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_version_bytes_and_content_type(client: ToxiproxyClient) -> None:
    answer = _raw(client.url, "GET", "/version")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json;charset=utf-8"
    assert re.fullmatch(rb'\{"version": "[^"]+"\}\n', answer.content), answer.content


def test_every_routed_answer_has_a_request_id(client: ToxiproxyClient, echo_upstream: str) -> None:
    ids = set()
    for method, path, body in [
        ("GET", "/version", None),
        ("GET", "/proxies", None),
        ("POST", "/proxies", {"name": "conf_rid", "upstream": echo_upstream}),
        ("GET", "/proxies/conf_none", None),  # an error answer too
        ("DELETE", "/proxies/conf_rid", None),  # and a 204
    ]:
        answer = _raw(client.url, method, path, body)
        request_id = answer.headers.get("X-Toxiproxy-Request-Id", "")
        # rs/xid, as Toxiproxy's hlog.RequestIDHandler makes them: 20 characters of base32hex.
        assert re.fullmatch(r"[0-9a-v]{20}", request_id), (method, path, answer.headers)
        ids.add(request_id)
    assert len(ids) == 5


def test_json_is_written_as_go_writes_it(client: ToxiproxyClient, echo_upstream: str) -> None:
    client.create_proxy("conf_json", echo_upstream)
    answer = _raw(client.url, "POST", "/proxies/conf_json/toxics", {"type": "latency", "name": "a<b&c"})
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.content == (
        b'{"attributes":{"latency":0,"jitter":0},"name":"a\\u003cb\\u0026c","type":"latency",'
        b'"stream":"downstream","toxicity":1}'
    )
    third = _raw(client.url, "POST", "/proxies/conf_json/toxics/a<b&c", {"toxicity": 1 / 3})
    assert b'"toxicity":0.33333334' in third.content  # a float32


def test_noop_toxic_passes_bytes(client: ToxiproxyClient, echo_upstream: str) -> None:
    proxy = client.create_proxy("conf_noop", echo_upstream)
    toxic = client.add_toxic("conf_noop", "noop", name="foobar")
    assert (toxic.name, toxic.type, toxic.stream, toxic.toxicity) == ("foobar", "noop", "downstream", 1.0)
    assert toxic.attributes == {}
    payload = bytes(range(256)) * 400
    with _connect(proxy) as sock:
        assert _roundtrip(sock, payload) == payload


# -- API: toxics -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toxic_type", "fields"),
    [
        ("latency", {"latency", "jitter"}),
        ("bandwidth", {"rate"}),
        ("slow_close", {"delay"}),
        ("timeout", {"timeout"}),
        ("reset_peer", {"timeout"}),
        ("slicer", {"average_size", "size_variation", "delay"}),
        ("limit_data", {"bytes"}),
        ("noop", set()),
    ],
)
def test_toxic_defaults(
    client: ToxiproxyClient, echo_upstream: str, toxic_type: str, fields: set[str]
) -> None:
    client.create_proxy("conf_tx", echo_upstream)
    answer = _raw(client.url, "POST", "/proxies/conf_tx/toxics", {"type": toxic_type})
    assert answer.status_code == 200
    body = answer.json()
    assert body["name"] == f"{toxic_type}_downstream"
    assert body["stream"] == "downstream" and body["toxicity"] == 1.0 and body["type"] == toxic_type
    assert body["attributes"] == dict.fromkeys(fields, 0)


def test_toxic_crud(client: ToxiproxyClient, echo_upstream: str) -> None:
    client.create_proxy("conf_crud", echo_upstream)
    down = client.add_toxic("conf_crud", "latency", {"latency": 50})
    up = client.add_toxic(
        "conf_crud", "latency", {"latency": 20, "jitter": 5}, stream="upstream", toxicity=0.5
    )
    assert (down.name, up.name) == ("latency_downstream", "latency_upstream")
    assert up.attributes == {"latency": 20, "jitter": 5} and up.toxicity == 0.5
    # Listed upstream chain first, then downstream.
    assert [t.name for t in client.toxics("conf_crud")] == ["latency_upstream", "latency_downstream"]
    assert client.get_proxy("conf_crud").toxics == tuple(client.toxics("conf_crud"))
    assert client.get_toxic("conf_crud", "latency_upstream") == up
    # Update merges attributes and keeps toxicity unless given.
    updated = client.update_toxic("conf_crud", "latency_upstream", {"jitter": 1})
    assert updated.attributes == {"latency": 20, "jitter": 1} and updated.toxicity == 0.5
    assert client.update_toxic("conf_crud", "latency_upstream", toxicity=1.0).toxicity == 1.0
    answer = _raw(client.url, "DELETE", "/proxies/conf_crud/toxics/latency_upstream")
    assert answer.status_code == 204 and answer.content == b""
    assert [t.name for t in client.toxics("conf_crud")] == ["latency_downstream"]


def test_toxic_errors(client: ToxiproxyClient, echo_upstream: str) -> None:
    client.create_proxy("conf_terr", echo_upstream)
    client.add_toxic("conf_terr", "latency", name="slow")
    url = client.url + "/proxies/conf_terr/toxics"
    dup = requests.post(url, json={"type": "timeout", "name": "slow"}, timeout=3)
    assert (dup.status_code, dup.json()) == (409, {"error": "toxic already exists", "status": 409})
    bad_type = requests.post(url, json={"type": "nope"}, timeout=3)
    assert (bad_type.status_code, bad_type.json()) == (400, {"error": "invalid toxic type", "status": 400})
    bad_stream = requests.post(url, json={"type": "latency", "stream": "sideways"}, timeout=3)
    assert bad_stream.status_code == 400
    assert bad_stream.json()["error"] == "stream was invalid, can be either upstream or downstream"
    bad_attr = requests.post(
        url, json={"type": "latency", "name": "x", "attributes": {"latency": "a"}}, timeout=3
    )
    assert bad_attr.status_code == 400 and bad_attr.json()["error"].startswith("bad request body")
    for method in ("GET", "POST", "DELETE"):
        missing = _raw(client.url, method, "/proxies/conf_terr/toxics/none", {} if method == "POST" else None)
        assert (missing.status_code, missing.json()) == (404, {"error": "toxic not found", "status": 404})
    with pytest.raises(ToxiproxyConflict, match="add toxic 'slow' to 'conf_terr'"):
        client.add_toxic("conf_terr", "latency", name="slow")
    with pytest.raises(ToxiproxyBadRequest, match="invalid toxic type"):
        client.add_toxic("conf_terr", "nope")
    with pytest.raises(ToxiproxyNotFound, match="remove toxic 'none'.*toxic not found"):
        client.remove_toxic("conf_terr", "none")


def test_toxiproxy_python_object_api(client: ToxiproxyClient, echo_upstream: str) -> None:
    from toxiproxy.exceptions import NotFound, ProxyExists

    legacy = client.legacy()
    proxy = legacy.create(upstream=echo_upstream, name="conf_legacy")
    assert proxy.listen.startswith("127.0.0.1:") and proxy.enabled is True
    with pytest.raises(ProxyExists):
        legacy.create(upstream=echo_upstream, name="conf_legacy")
    proxy.add_toxic(type="latency", attributes={"latency": 10})
    toxics = proxy.toxics()
    assert list(toxics) == ["latency_downstream"] and toxics["latency_downstream"].attributes["latency"] == 10
    assert proxy.destroy_toxic("latency_downstream") is True
    with proxy.down():
        assert legacy.get_proxy("conf_legacy").enabled is False
    assert legacy.get_proxy("conf_legacy").enabled is True
    with pytest.raises(NotFound):
        client.get_proxy("conf_nothing")  # our errors are toxiproxy-python's too
    assert proxy.destroy() is True


def test_unreachable_server_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (
        ToxiproxyClient(f"http://127.0.0.1:{port}", timeout=1) as dead,
        pytest.raises(ToxiproxyError) as info,
    ):
        dead.version()
    assert info.value.status is None and "version" in str(info.value) and "cannot reach" in str(info.value)


def test_stalled_server_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts (in the backlog), never answers
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with ToxiproxyClient(url, timeout=0.3) as stalled, pytest.raises(ToxiproxyError, match="within 0.3s"):
            stalled.proxies()


# -- toxics: observable effects --------------------------------------------------------------------


def test_plain_proxy_passes_bytes(client: ToxiproxyClient, echo_upstream: str) -> None:
    proxy = client.create_proxy("conf_pass", echo_upstream)
    payload = os.urandom(200_000)
    with _connect(proxy) as sock:
        assert _roundtrip(sock, payload) == payload


def test_unreachable_upstream_closes_the_client(client: ToxiproxyClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
    proxy = client.create_proxy("conf_dead", dead)
    with _connect(proxy) as conn, contextlib.suppress(ConnectionResetError):
        assert conn.recv(10) == b""


def test_toxic_path_keeps_large_payloads_intact(client: ToxiproxyClient, echo_upstream: str) -> None:
    proxy = client.create_proxy("conf_big", echo_upstream)
    client.add_toxic("conf_big", "latency", {"latency": 5, "jitter": 2}, stream="upstream")
    client.add_toxic("conf_big", "latency", {"latency": 5}, stream="downstream")
    client.add_toxic("conf_big", "slicer", {"average_size": 50_000, "size_variation": 1000})
    payload = os.urandom(1_000_000)
    with _connect(proxy) as sock:
        assert _roundtrip(sock, payload) == payload


@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_latency_delays(client: ToxiproxyClient, echo_upstream: str, stream: str) -> None:
    proxy = client.create_proxy("conf_lat", echo_upstream)
    client.add_toxic("conf_lat", "latency", {"latency": 150}, stream=stream)
    with _connect(proxy) as sock:
        start = time.monotonic()
        assert _roundtrip(sock, b"hello") == b"hello"
        assert 0.14 <= time.monotonic() - start < 1.5  # the upper bound: generous for a loaded CI machine


def test_latency_applies_to_open_connections_and_lifts(client: ToxiproxyClient, echo_upstream: str) -> None:
    proxy = client.create_proxy("conf_live", echo_upstream)
    with _connect(proxy) as sock:
        assert _roundtrip(sock, b"a") == b"a"
        client.add_toxic("conf_live", "latency", {"latency": 600})
        start = time.monotonic()
        assert _roundtrip(sock, b"b") == b"b"
        assert time.monotonic() - start >= 0.59
        client.remove_toxic("conf_live", "latency_downstream")
        start = time.monotonic()
        assert _roundtrip(sock, b"c") == b"c"
        assert time.monotonic() - start < 0.4  # lifted: well under the 0.6 s it added


def test_toxicity_zero_never_applies(client: ToxiproxyClient, echo_upstream: str) -> None:
    proxy = client.create_proxy("conf_tox0", echo_upstream)
    client.add_toxic("conf_tox0", "latency", {"latency": 2000}, toxicity=0.0)
    with _connect(proxy) as sock:
        start = time.monotonic()
        assert _roundtrip(sock, b"x") == b"x"
        assert time.monotonic() - start < 1.0  # never the 2 s it would add


def test_timeout_stalls_then_closes(client: ToxiproxyClient, echo_upstream: str) -> None:
    proxy = client.create_proxy("conf_to", echo_upstream)
    client.add_toxic("conf_to", "timeout", {"timeout": 200})
    with _connect(proxy) as sock:
        start = time.monotonic()
        sock.sendall(b"lost")
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(10) == b""  # no data, then closed
        assert 0.15 <= time.monotonic() - start < 2.0


def test_timeout_zero_stalls_until_removed_which_closes(client: ToxiproxyClient, echo_upstream: str) -> None:
    proxy = client.create_proxy("conf_to0", echo_upstream)
    client.add_toxic("conf_to0", "timeout", {"timeout": 0})
    with _connect(proxy, timeout=0.3) as sock:
        sock.sendall(b"lost")
        with pytest.raises(socket.timeout):
            sock.recv(10)
        client.remove_toxic("conf_to0", "timeout_downstream")
        sock.settimeout(2)
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(10) == b""


def test_reset_peer_resets(client: ToxiproxyClient, echo_upstream: str) -> None:
    proxy = client.create_proxy("conf_rst", echo_upstream)
    client.add_toxic("conf_rst", "reset_peer", {"timeout": 0})
    with _connect(proxy) as sock:
        sock.sendall(b"boom")
        with pytest.raises(ConnectionResetError):
            sock.recv(10)
            sock.recv(10)


def test_limit_data_cuts_after_n_bytes(client: ToxiproxyClient, blob_upstream: str) -> None:
    proxy = client.create_proxy("conf_lim", blob_upstream)
    client.add_toxic("conf_lim", "limit_data", {"bytes": 1000})
    with _connect(proxy) as sock:
        assert _recv_all(sock) == BLOB[:1000]


def test_slicer_delivers_every_byte(client: ToxiproxyClient, blob_upstream: str) -> None:
    proxy = client.create_proxy("conf_slice", blob_upstream)
    client.add_toxic("conf_slice", "slicer", {"average_size": 100, "size_variation": 50, "delay": 20})
    with _connect(proxy) as sock:
        assert _recv_all(sock) == BLOB


def test_bandwidth_slows(client: ToxiproxyClient, blob_upstream: str) -> None:
    proxy = client.create_proxy("conf_bw", blob_upstream)
    client.add_toxic("conf_bw", "bandwidth", {"rate": 100})  # 100 KB/s: 20 KB in ~0.2 s
    start = time.monotonic()
    with _connect(proxy) as sock:
        assert _recv_all(sock) == BLOB
    assert 0.15 <= time.monotonic() - start < 2.0


def test_slow_close_delays_the_close(client: ToxiproxyClient, blob_upstream: str) -> None:
    proxy = client.create_proxy("conf_sc", blob_upstream)
    client.add_toxic("conf_sc", "slow_close", {"delay": 300})
    start = time.monotonic()
    with _connect(proxy) as sock:
        assert _recv_all(sock) == BLOB
    assert 0.28 <= time.monotonic() - start < 2.0


def test_field_names_match_case_insensitively(client: ToxiproxyClient, echo_upstream: str) -> None:
    # Go's JSON decoder matches struct fields case-insensitively.
    answer = _raw(client.url, "POST", "/proxies", {"Name": "conf_case", "UPSTREAM": echo_upstream})
    assert answer.status_code == 201 and answer.json()["name"] == "conf_case"
    toxic = _raw(
        client.url, "POST", "/proxies/conf_case/toxics", {"Type": "latency", "Attributes": {"Latency": 7}}
    )
    assert toxic.json()["attributes"] == {"latency": 7, "jitter": 0}


def test_populate_compares_the_resolved_listen_address(client: ToxiproxyClient, echo_upstream: str) -> None:
    # Toxiproxy's Differs: the new listen address, resolved, against the bound one.
    first = client.create_proxy("conf_res", echo_upstream)
    client.add_toxic("conf_res", "latency", name="kept")
    same = client.populate(
        [{"name": "conf_res", "upstream": echo_upstream, "listen": f"localhost:{first.port}"}]
    )
    assert same[0].listen == first.listen and [t.name for t in same[0].toxics] == ["kept"]
    moved = client.populate([{"name": "conf_res", "upstream": echo_upstream, "listen": "127.0.0.1:0"}])
    assert moved[0].listen != first.listen and moved[0].toxics == ()  # replaced: a new proxy
    again = client.populate([{"name": "conf_res", "upstream": echo_upstream}])
    assert again[0].listen != moved[0].listen  # no listen never equals a bound address
    kept = client.update_proxy("conf_res", listen=f"localhost:{again[0].port}")
    assert kept.listen == again[0].listen


def test_concurrent_creates_of_one_name_make_one_proxy(client: ToxiproxyClient, echo_upstream: str) -> None:
    body = {"name": "conf_race", "upstream": echo_upstream, "listen": "localhost:0"}  # resolving awaits
    statuses: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: statuses.append(_raw(client.url, "POST", "/proxies", body).status_code)
        )
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(statuses) == [201] + [409] * 5


def test_only_the_first_json_value_of_a_body_is_read(client: ToxiproxyClient, echo_upstream: str) -> None:
    body = b'{"name": "conf_first", "upstream": "%s"} trailing' % echo_upstream.encode()
    answer = _raw(client.url, "POST", "/proxies", data=body)
    assert answer.status_code == 201 and answer.json()["name"] == "conf_first"


def test_a_malformed_request_line_is_400_and_the_connection_closes(server_url: str) -> None:
    address = urllib.parse.urlsplit(server_url)
    with socket.create_connection((address.hostname, address.port), timeout=5) as sock:
        sock.sendall(b"NOT-HTTP\r\n\r\n")
        answer = _recv_all(sock)
    assert answer.startswith(b"HTTP/1.1 400 ")
