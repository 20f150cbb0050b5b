"""An embedded server compatible with Toxiproxy's HTTP API (stdlib and asyncio only).

Run it: ``python -m durable_chaos.infra.toxiproxy.server --host 127.0.0.1 --port 8474`` (``--port 0``
picks a free port). The first line on stdout is ``toxiproxy listening on HOST:PORT``.

It follows Toxiproxy 2.x's ``api.go``: the same routes, status codes (201 on proxy create and populate, 200
on toxic create, 204 on deletes and reset, 400 bad input, 404 missing, 409 duplicates, 405 on a wrong
method, 500 when a listen address cannot be bound), the same JSON error body ``{"error": ..., "status":
...}`` and messages, field names and defaults, headers (``X-Toxiproxy-Request-Id``). The data plane is in
:mod:`.proxy`, the toxics in :mod:`.toxics`. Known differences from the real server are listed in
``docs/network.md``.

Two additions, for a server other processes on the machine can reach:

- **Session token.** Started with ``DURABLE_CHAOS_TOXIPROXY_TOKEN`` in its environment, the server
  protects the proxies created by requests carrying that token in ``X-Durable-Chaos-Token``: only such
  requests can change, delete, replace or reset them or add, change or remove their toxics; others get
  403. Everything else (reading, proxies created without the token) behaves as in Toxiproxy.
- **Loopback listen addresses.** Proxies listen only on loopback addresses (127.0.0.0/8, ::1,
  ``localhost``) unless the server runs with ``--allow-remote-listen`` (or
  ``DURABLE_CHAOS_TOXIPROXY_ALLOW_REMOTE_LISTEN=1``); another address is a 403.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import ipaddress
import itertools
import json
import os
import random
import re
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from durable_chaos.infra.toxiproxy.proxy import Proxy, join_host_port, split_host_port
from durable_chaos.infra.toxiproxy.toxics import TOXICS, ToxicAttributeError, json_key
from durable_chaos.infra.toxiproxy.wire import HttpError, read_request, response, text_error

__all__ = [
    "ENV_ALLOW_REMOTE_LISTEN",
    "ENV_TOKEN",
    "TOKEN_HEADER",
    "VERSION",
    "ApiError",
    "ToxiproxyServer",
    "main",
]

VERSION = "2.12.0"  # the Toxiproxy release whose API this server follows
ENV_TOKEN = "DURABLE_CHAOS_TOXIPROXY_TOKEN"
ENV_ALLOW_REMOTE_LISTEN = "DURABLE_CHAOS_TOXIPROXY_ALLOW_REMOTE_LISTEN"
TOKEN_HEADER = "X-Durable-Chaos-Token"
REQUEST_ID_HEADER = "X-Toxiproxy-Request-Id"


class ApiError(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.status}


class _Raw:
    """A handler's answer sent as is (``/version``'s exact bytes and content type)."""

    def __init__(self, data: bytes, content_type: str) -> None:
        self.data = data
        self.content_type = content_type


def _go_json(value: Any) -> bytes:
    """JSON as Go's ``json.Marshal`` writes it: compact, UTF-8, with ``<``, ``>``, ``&``, U+2028 and
    U+2029 escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text.encode()


class _RequestIds:
    """Request ids as Toxiproxy makes them (``rs/xid``): 12 bytes (seconds, machine, pid, counter) in
    lowercase base32hex, 20 characters."""

    def __init__(self) -> None:
        self.machine = hashlib.md5(socket.gethostname().encode(), usedforsecurity=False).digest()[:3]
        self.counter = itertools.count(random.getrandbits(24))

    def next(self) -> str:
        raw = (
            int(time.time()).to_bytes(4, "big")
            + self.machine
            + (os.getpid() & 0xFFFF).to_bytes(2, "big")
            + (next(self.counter) & 0xFFFFFF).to_bytes(3, "big")
        )
        return base64.b32hexencode(raw).decode().lower().rstrip("=")


def _bad_body(detail: str) -> ApiError:
    return ApiError(f"bad request body: {detail}", 400)


def _missing(field: str) -> ApiError:
    return ApiError(f"missing required field: {field}", 400)


PROXY_NOT_FOUND = ("proxy not found", 404)
PROXY_EXISTS = ("proxy already exists", 409)
INVALID_STREAM = ("stream was invalid, can be either upstream or downstream", 400)
INVALID_TOXIC_TYPE = ("invalid toxic type", 400)
TOXIC_EXISTS = ("toxic already exists", 409)
TOXIC_NOT_FOUND = ("toxic not found", 404)


def _decode(body: bytes, kind: type) -> Any:
    """Decode a JSON body the way Go's decoder does into a struct (object) or slice (array): the first
    JSON value only (what follows it is not read)."""
    if not body.strip():
        raise _bad_body("EOF")
    try:
        value, _ = json.JSONDecoder().raw_decode(body.decode().lstrip(" \t\r\n"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad_body(f"invalid character in JSON: {exc}") from None
    if value is None:
        return kind()
    if not isinstance(value, kind):
        want = "object" if kind is dict else "array"
        raise _bad_body(f"json: cannot unmarshal {type(value).__name__} into a JSON {want}")
    return value


def _field(obj: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = json_key(obj, name)
    if value is None:
        return default
    if isinstance(value, bool) and kind is not bool:
        raise _bad_body(f"json: cannot unmarshal bool into field {name}")
    if not isinstance(value, kind):
        raise _bad_body(f"json: cannot unmarshal {type(value).__name__} into field {name}")
    return value


Handler = Callable[..., Awaitable[tuple[int, Any]]]


def _go_errno(exc: OSError) -> str:
    """An OS error as Go's syscall errors read (``address already in use``)."""
    text = os.strerror(exc.errno) if exc.errno else str(exc)
    return text[:1].lower() + text[1:]


def _is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


class ToxiproxyServer:
    """The API and its proxies, in one asyncio loop.

    ``token``: the session's secret; requests carrying it (``X-Durable-Chaos-Token``) own the proxies
    they create, which other requests cannot change (403). ``allow_remote_listen``: let proxies listen on
    addresses other than loopback."""

    def __init__(self, token: str | None = None, allow_remote_listen: bool = False) -> None:
        self.proxies: dict[str, Proxy] = {}
        self.token = token or None
        self.allow_remote_listen = allow_remote_listen
        self.protected: set[str] = set()
        """Names of the proxies created with the token."""
        self.request_ids = _RequestIds()
        self._lock = asyncio.Lock()  # one API call at a time (Toxiproxy locks its collection likewise)
        self._routes: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
            (re.compile(r"/version"), {"GET": self.version}),
            (re.compile(r"/reset"), {"POST": self.reset}),
            (re.compile(r"/populate"), {"POST": self.populate}),
            (re.compile(r"/proxies"), {"GET": self.proxy_index, "POST": self.proxy_create}),
            (
                re.compile(r"/proxies/(?P<proxy>[^/]+)"),
                {
                    "GET": self.proxy_show,
                    "POST": self.proxy_update,
                    "PATCH": self.proxy_update,
                    "DELETE": self.proxy_delete,
                },
            ),
            (
                re.compile(r"/proxies/(?P<proxy>[^/]+)/toxics"),
                {"GET": self.toxic_index, "POST": self.toxic_create},
            ),
            (
                re.compile(r"/proxies/(?P<proxy>[^/]+)/toxics/(?P<toxic>[^/]+)"),
                {
                    "GET": self.toxic_show,
                    "POST": self.toxic_update,
                    "PATCH": self.toxic_update,
                    "DELETE": self.toxic_delete,
                },
            ),
        ]

    # -- helpers ----------------------------------------------------------------------------------

    def _proxy(self, name: str, owner: bool | None = None, action: str = "") -> Proxy:
        """The proxy named ``name`` (404 if none); with ``owner`` given, 403 when the proxy is the
        session's and the request does not carry the session's token."""
        proxy = self.proxies.get(name)
        if proxy is None:
            raise ApiError(*PROXY_NOT_FOUND)
        if owner is not None:
            self._guard(name, owner, action)
        return proxy

    def _guard(self, name: str, owner: bool, action: str) -> None:
        if name in self.protected and not owner:
            raise ApiError(
                f"proxy {name} belongs to the durable-chaos session: {action} it needs the session's "
                f"token in the {TOKEN_HEADER} header",
                403,
            )

    def _owner(self, headers: dict[str, str]) -> bool:
        """Whether the request carries the session's token (403 if it carries another one)."""
        given = headers.get(TOKEN_HEADER.lower())
        if given is None or self.token is None:
            return False
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            raise ApiError(f"invalid {TOKEN_HEADER}: not this durable-chaos session's token", 403)
        return True

    def _own(self, proxy: Proxy, owner: bool) -> None:
        if owner:
            self.protected.add(proxy.name)
        else:
            self.protected.discard(proxy.name)

    @staticmethod
    async def _resolve(listen: str) -> tuple[str, int]:
        """``listen`` resolved as Go's ``net.ResolveTCPAddr`` does: a host name to its first IPv4
        address (else its first), an empty host kept empty. Raises :class:`ApiError` (500) with Go's
        text, without the ``listen tcp: `` prefix."""
        try:
            host, port = split_host_port(listen)
        except ValueError as exc:
            raise ApiError(str(exc), 500) from None
        if port > 65535:
            raise ApiError(f"address {port}: invalid port", 500)
        if not host:
            return host, port
        try:
            ipaddress.ip_address(host)
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
            except OSError:
                raise ApiError(f"lookup {host}: no such host", 500) from None
            ips = [str(info[4][0]) for info in infos]
            host = next((ip for ip in ips if ":" not in ip), ips[0])
        return host, port

    async def _bind_address(self, listen: str) -> tuple[str, int]:
        """Where to listen for ``listen`` (resolved, see :meth:`_resolve`), refused unless loopback or
        allowed. Raises :class:`ApiError` with Go's ``net.Listen`` text."""
        if not listen:
            return "127.0.0.1", 0  # real Toxiproxy: every interface (see docs/network.md)
        try:
            host, port = await self._resolve(listen)
        except ApiError as exc:
            raise ApiError(f"listen tcp: {exc.message}", exc.status) from None
        host = host or "127.0.0.1"
        if not self.allow_remote_listen and not _is_loopback(host):
            raise ApiError(
                f"listen tcp {join_host_port(host, port)}: refused: not a loopback address (this "
                f"server listens only on loopback unless started with --allow-remote-listen or "
                f"{ENV_ALLOW_REMOTE_LISTEN}=1)",
                403,
            )
        return host, port

    async def _differs(self, proxy: Proxy, listen: str, upstream: str) -> bool:
        """Toxiproxy's ``Differs``: the new ``listen``, resolved, is not the address the proxy has (an
        empty one never is), or the upstream changed. A ``listen`` that does not resolve is a 500."""
        host, port = await self._resolve(listen) if listen else ("", 0)
        return proxy.listen != join_host_port(host, port) or upstream != proxy.upstream

    async def _start(self, proxy: Proxy) -> None:
        if proxy.enabled:
            return
        host, port = await self._bind_address(proxy.listen)
        try:
            await proxy.start(host, port)
        except OSError as exc:
            raise ApiError(f"listen tcp {join_host_port(host, port)}: bind: {_go_errno(exc)}", 500) from None

    # -- handlers ---------------------------------------------------------------------------------
    # Each takes the body and ``owner`` (the request carries the session's token), and the route's names.

    async def version(self, body: bytes, owner: bool) -> tuple[int, Any]:
        return 200, _Raw(f'{{"version": "{VERSION}"}}\n'.encode(), "application/json;charset=utf-8")

    async def reset(self, body: bytes, owner: bool) -> tuple[int, Any]:
        for name, proxy in list(self.proxies.items()):
            if name in self.protected and not owner:
                continue  # the session's proxies are reset by the session only
            await self._start(proxy)
            proxy.reset_toxics()
        return 204, None

    async def proxy_index(self, body: bytes, owner: bool) -> tuple[int, Any]:
        return 200, {name: self.proxies[name].to_json() for name in sorted(self.proxies)}

    async def proxy_create(self, body: bytes, owner: bool) -> tuple[int, Any]:
        data = _decode(body, dict)
        name = _field(data, "name", str, "")
        listen = _field(data, "listen", str, "")
        upstream = _field(data, "upstream", str, "")
        enabled = _field(data, "enabled", bool, True)
        if not name:
            raise _missing("name")
        if not upstream:
            raise _missing("upstream")
        if name in self.proxies:
            raise ApiError(*PROXY_EXISTS)
        proxy = Proxy(name, listen, upstream)
        if enabled:
            await self._start(proxy)
        self.proxies[name] = proxy
        self._own(proxy, owner)
        return 201, proxy.to_json()

    async def populate(self, body: bytes, owner: bool) -> tuple[int, Any]:
        # As Toxiproxy: names and upstreams are checked first (nothing is created if one is missing);
        # then each proxy is created or replaced in turn, and the first failure ends the call, keeping
        # the proxies before it (the answer lists them along with the error).
        done: list[Proxy] = []
        try:
            items = _decode(body, list)
            specs = []
            for i, item in enumerate(items, start=1):
                if not isinstance(item, dict):
                    raise _bad_body(f"json: cannot unmarshal {type(item).__name__} into a proxy")
                name = _field(item, "name", str, "")
                upstream = _field(item, "upstream", str, "")
                if not name:
                    raise _missing(f"name at proxy {i}")
                if not upstream:
                    raise _missing(f"upstream at proxy {i}")
                listen = _field(item, "listen", str, "")
                specs.append((name, listen, upstream, _field(item, "enabled", bool, True)))
            for name, listen, upstream, enabled in specs:
                existing = self.proxies.get(name)
                if existing is not None:
                    if not await self._differs(existing, listen, upstream):
                        done.append(existing)
                        continue
                    self._guard(name, owner, "replacing")
                    existing.stop()
                proxy = Proxy(name, listen, upstream)
                if enabled:
                    await self._start(proxy)
                self.proxies[name] = proxy
                self._own(proxy, owner)
                done.append(proxy)
        except ApiError as exc:
            return exc.status, {**exc.body(), "proxies": [p.to_json() for p in done] or None}
        return 201, {"proxies": [p.to_json() for p in done] or None}

    async def proxy_show(self, body: bytes, owner: bool, proxy: str) -> tuple[int, Any]:
        return 200, self._proxy(proxy).to_json()

    async def proxy_update(self, body: bytes, owner: bool, proxy: str) -> tuple[int, Any]:
        found = self._proxy(proxy, owner, "changing")
        data = _decode(body, dict)
        listen = _field(data, "listen", str, found.listen)
        upstream = _field(data, "upstream", str, found.upstream)
        enabled = _field(data, "enabled", bool, found.enabled)
        if await self._differs(found, listen, upstream):
            found.stop()
            found.listen = listen
            found.upstream = upstream
        if enabled and not found.enabled:
            await self._start(found)
        elif not enabled:
            found.stop()
        return 200, found.to_json()

    async def proxy_delete(self, body: bytes, owner: bool, proxy: str) -> tuple[int, Any]:
        found = self._proxy(proxy, owner, "deleting")
        found.stop()
        del self.proxies[proxy]
        self.protected.discard(proxy)
        return 204, None

    async def toxic_index(self, body: bytes, owner: bool, proxy: str) -> tuple[int, Any]:
        return 200, [t.to_json() for t in self._proxy(proxy).toxics]

    async def toxic_create(self, body: bytes, owner: bool, proxy: str) -> tuple[int, Any]:
        found = self._proxy(proxy, owner, "adding a toxic to")
        data = _decode(body, dict)
        stream = _field(data, "stream", str, "downstream")
        toxicity = _field(data, "toxicity", (int, float), 1.0)
        toxic_type = _field(data, "type", str, "")
        name = _field(data, "name", str, "")
        if stream.lower() not in ("upstream", "downstream"):
            raise ApiError(*INVALID_STREAM)
        if not name:
            name = f"{toxic_type}_{stream}"
        cls = TOXICS.get(toxic_type)
        if cls is None:
            raise ApiError(*INVALID_TOXIC_TYPE)
        if found.find_toxic(name) is not None:
            raise ApiError(*TOXIC_EXISTS)
        attributes = _field(data, "attributes", dict, {})
        try:
            toxic = cls(name, stream, float(toxicity), attributes)
        except ToxicAttributeError as exc:
            raise _bad_body(str(exc)) from None
        found.add_toxic(toxic)
        return 200, toxic.to_json()

    async def toxic_show(self, body: bytes, owner: bool, proxy: str, toxic: str) -> tuple[int, Any]:
        found = self._proxy(proxy).find_toxic(toxic)
        if found is None:
            raise ApiError(*TOXIC_NOT_FOUND)
        return 200, found.to_json()

    async def toxic_update(self, body: bytes, owner: bool, proxy: str, toxic: str) -> tuple[int, Any]:
        owning = self._proxy(proxy, owner, "changing a toxic of")
        found = owning.find_toxic(toxic)
        if found is None:
            raise ApiError(*TOXIC_NOT_FOUND)
        data = _decode(body, dict)
        toxicity = _field(data, "toxicity", (int, float), found.toxicity)
        attributes = _field(data, "attributes", dict, {})
        try:
            found.set_attributes(attributes)
        except ToxicAttributeError as exc:
            raise _bad_body(str(exc)) from None
        found.toxicity = float(toxicity)
        owning.update_toxic(found)
        return 200, found.to_json()

    async def toxic_delete(self, body: bytes, owner: bool, proxy: str, toxic: str) -> tuple[int, Any]:
        owning = self._proxy(proxy, owner, "removing a toxic from")
        found = owning.find_toxic(toxic)
        if found is None:
            raise ApiError(*TOXIC_NOT_FOUND)
        owning.remove_toxic(found)
        return 204, None

    # -- HTTP -------------------------------------------------------------------------------------

    async def dispatch(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
        """Answer one request: the full HTTP/1.1 response bytes (status line, headers, body).

        As Toxiproxy's router (gorilla/mux): an unknown path is a plain 404 and a known path with another
        method a bare 405, both before any middleware; a matched route gets a request id header, then
        browsers are refused (403), then the handler runs."""
        for pattern, methods in self._routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            handler = methods.get(method)
            if handler is None:
                return response(405, b"", None)
            extra = {REQUEST_ID_HEADER: self.request_ids.next()}
            if headers.get("user-agent", "").startswith("Mozilla/"):
                return text_error(403, "User agent not allowed", extra)
            try:
                owner = self._owner(headers)
                async with self._lock:  # a handler awaits (resolving, binding): keep its checks valid
                    status, payload = await handler(body, owner, **match.groupdict())
            except ApiError as exc:
                # Toxiproxy writes its JSON errors through http.Error: text/plain, trailing newline.
                return text_error(exc.status, _go_json(exc.body()).decode(), extra)
            if status == 204:
                return response(204, b"", None, extra=extra)
            if isinstance(payload, _Raw):
                return response(status, payload.data, payload.content_type, extra=extra)
            return response(status, _go_json(payload), "application/json", extra=extra)
        return text_error(404, "404 page not found", {})

    async def handle_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await read_request(reader)
                if request is None:
                    break
                method, path, headers, body, keep_alive = request
                response = await self.dispatch(method, path, headers, body)
                writer.write(response)
                await writer.drain()
                if not keep_alive:
                    break
        except HttpError as exc:
            writer.write(response(exc.status, str(exc).encode(), "text/plain; charset=utf-8", close=True))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def close(self) -> None:
        for proxy in self.proxies.values():
            proxy.stop()


async def serve(
    host: str,
    port: int,
    ready: Callable[[str, int], None] | None = None,
    *,
    token: str | None = None,
    allow_remote_listen: bool = False,
) -> None:
    """Serve until cancelled or SIGTERM/SIGINT."""
    api = ToxiproxyServer(token, allow_remote_listen)
    server = await asyncio.start_server(api.handle_http, host, port)
    bound = server.sockets[0].getsockname()
    if ready is not None:
        ready(bound[0], bound[1])
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        server.close()
        api.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Embedded Toxiproxy-compatible server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8474)
    parser.add_argument(
        "--allow-remote-listen",
        action="store_true",
        default=os.environ.get(ENV_ALLOW_REMOTE_LISTEN, "") not in ("", "0"),
        help=f"let proxies listen on non-loopback addresses (also: {ENV_ALLOW_REMOTE_LISTEN}=1)",
    )
    args = parser.parse_args(argv)
    token = os.environ.pop(ENV_TOKEN, "") or None  # the session's secret; not passed on to children

    def ready(host: str, port: int) -> None:
        print(f"toxiproxy listening on {host}:{port}", flush=True)

    try:
        asyncio.run(
            serve(args.host, args.port, ready, token=token, allow_remote_listen=args.allow_remote_listen)
        )
    except OSError as exc:
        print(f"toxiproxy: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
