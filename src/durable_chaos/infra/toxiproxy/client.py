"""A Toxiproxy client with a timeout on every call and a clear error for every non-2xx answer.

It speaks the same HTTP API as toxiproxy-python (0.1.1, the PyPI release) and keeps its exception
classes, but not its transport. What we found reading toxiproxy-python's source:

- **Unusable: its transport.** ``APIConsumer`` keeps host and port as *class* attributes
  (``Toxiproxy.update_api_consumer`` changes them for every client in the process), calls ``requests``
  with no timeout (a stalled server hangs the test session), and raises only on 400, 404 and 409: a 500
  (a proxy whose listen port is taken) passes silently, and ``Proxy.destroy``/``Toxiproxy.reset`` turn
  any failure into ``False``. ``Proxy.add_toxic`` drops the server's answer and there is no toxic update.
  ``Toxiproxy.create`` lists every proxy first, ``populate`` is emulated client-side (no ``/populate``).
- **Usable: its exceptions and its records.** Our errors subclass its ``NotFound``, ``ProxyExists`` and
  ``InvalidToxic`` so code written against toxiproxy-python catches them; :meth:`ToxiproxyClient.legacy`
  hands out a configured ``toxiproxy.Toxiproxy`` for code that wants its object API (with the global
  host/port caveat above).

So this module makes its own calls with ``requests`` (a dependency of toxiproxy-python), one
``requests.Session`` per client, and returns small frozen records: :class:`ProxyInfo`, :class:`ToxicInfo`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from durable_chaos.infra.toxiproxy.server import TOKEN_HEADER

__all__ = [
    "ProxyInfo",
    "ToxicInfo",
    "ToxiproxyBadRequest",
    "ToxiproxyClient",
    "ToxiproxyConflict",
    "ToxiproxyError",
    "ToxiproxyNotFound",
]

DEFAULT_TIMEOUT = 5.0


class ToxiproxyError(Exception):
    """A Toxiproxy call failed: ``call`` names it, ``status`` is the HTTP status (None: no answer)."""

    def __init__(self, call: str, message: str, status: int | None = None) -> None:
        where = f"HTTP {status}: " if status is not None else ""
        super().__init__(f"Toxiproxy {call} failed: {where}{message}")
        self.call = call
        self.message = message
        self.status = status


class ToxiproxyNotFound(ToxiproxyError, NotFound):
    """404: no such proxy or toxic."""


class ToxiproxyConflict(ToxiproxyError, ProxyExists):
    """409: the proxy or toxic already exists."""


class ToxiproxyBadRequest(ToxiproxyError, InvalidToxic):
    """400: invalid input (missing field, bad stream, unknown toxic type, malformed body)."""


_BY_STATUS: dict[int, type[ToxiproxyError]] = {
    400: ToxiproxyBadRequest,
    404: ToxiproxyNotFound,
    409: ToxiproxyConflict,
}


@dataclass(frozen=True)
class ToxicInfo:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ToxicInfo:
        return cls(
            name=data["name"],
            type=data["type"],
            stream=data["stream"],
            toxicity=float(data["toxicity"]),
            attributes=dict(data.get("attributes") or {}),
        )


@dataclass(frozen=True)
class ProxyInfo:
    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[ToxicInfo, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProxyInfo:
        return cls(
            name=data["name"],
            listen=data["listen"],
            upstream=data["upstream"],
            enabled=bool(data["enabled"]),
            toxics=tuple(ToxicInfo.from_json(t) for t in data.get("toxics") or ()),
        )

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


def _q(name: str) -> str:
    return quote(name, safe="")


class ToxiproxyClient:
    """Control one Toxiproxy server (real or embedded) at ``url``, e.g. ``http://127.0.0.1:8474``.

    ``token``: the embedded server's session secret (``ToxiproxyProcess.token``), sent with every call so
    the proxies this client creates are the session's (no one without the token can change them)."""

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self._headers = {"User-Agent": "durable-chaos"}
        if token:
            self._headers[TOKEN_HEADER] = token

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> ToxiproxyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport --------------------------------------------------------------------------------

    def request(self, call: str, method: str, path: str, body: Any = None) -> Any:
        """One API call: the decoded JSON answer (None for 204); raises :class:`ToxiproxyError`."""
        try:
            response = self._session.request(
                method,
                self.url + path,
                json=body,
                timeout=self.timeout,
                headers=self._headers,
            )
        except requests.Timeout as exc:
            raise ToxiproxyError(call, f"no answer from {self.url} within {self.timeout:g}s ({exc})") from exc
        except requests.RequestException as exc:
            raise ToxiproxyError(call, f"cannot reach {self.url}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise _BY_STATUS.get(response.status_code, ToxiproxyError)(
                call, _error_message(response), response.status_code
            )
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    # -- server -----------------------------------------------------------------------------------

    def version(self) -> str:
        answer = self.request("version", "GET", "/version")
        return str(answer["version"]) if isinstance(answer, dict) else str(answer).strip()

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self.request("reset", "POST", "/reset")

    # -- proxies ----------------------------------------------------------------------------------

    def proxies(self) -> dict[str, ProxyInfo]:
        answer = self.request("list proxies", "GET", "/proxies")
        return {name: ProxyInfo.from_json(data) for name, data in answer.items()}

    def get_proxy(self, name: str) -> ProxyInfo:
        return ProxyInfo.from_json(self.request(f"get proxy {name!r}", "GET", f"/proxies/{_q(name)}"))

    def create_proxy(
        self, name: str, upstream: str, listen: str = "127.0.0.1:0", enabled: bool = True
    ) -> ProxyInfo:
        body = {"name": name, "upstream": upstream, "listen": listen, "enabled": enabled}
        return ProxyInfo.from_json(self.request(f"create proxy {name!r}", "POST", "/proxies", body))

    def populate(self, proxies: list[Mapping[str, Any]]) -> list[ProxyInfo]:
        """Create or replace proxies in one call (``POST /populate``)."""
        answer = self.request("populate", "POST", "/populate", [dict(p) for p in proxies])
        return [ProxyInfo.from_json(p) for p in answer.get("proxies") or ()]

    def update_proxy(self, name: str, **fields: Any) -> ProxyInfo:
        """Change ``listen``, ``upstream`` or ``enabled`` (POST, which every Toxiproxy 2.x accepts)."""
        return ProxyInfo.from_json(
            self.request(f"update proxy {name!r}", "POST", f"/proxies/{_q(name)}", fields)
        )

    def enable(self, name: str) -> ProxyInfo:
        return self.update_proxy(name, enabled=True)

    def disable(self, name: str) -> ProxyInfo:
        """Take the proxy down: it stops listening and closes its connections."""
        return self.update_proxy(name, enabled=False)

    @contextlib.contextmanager
    def down(self, name: str) -> Iterator[None]:
        self.disable(name)
        try:
            yield
        finally:
            self.enable(name)

    def delete_proxy(self, name: str) -> None:
        self.request(f"delete proxy {name!r}", "DELETE", f"/proxies/{_q(name)}")

    # -- toxics -----------------------------------------------------------------------------------

    def toxics(self, proxy: str) -> list[ToxicInfo]:
        answer = self.request(f"list toxics of {proxy!r}", "GET", f"/proxies/{_q(proxy)}/toxics")
        return [ToxicInfo.from_json(t) for t in answer]

    def get_toxic(self, proxy: str, toxic: str) -> ToxicInfo:
        path = f"/proxies/{_q(proxy)}/toxics/{_q(toxic)}"
        return ToxicInfo.from_json(self.request(f"get toxic {toxic!r} of {proxy!r}", "GET", path))

    def add_toxic(
        self,
        proxy: str,
        type: str,
        attributes: Mapping[str, Any] | None = None,
        *,
        stream: str = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> ToxicInfo:
        body: dict[str, Any] = {"type": type, "stream": stream, "toxicity": toxicity}
        body["attributes"] = dict(attributes or {})
        if name:
            body["name"] = name
        label = name or f"{type}_{stream}"
        answer = self.request(
            f"add toxic {label!r} to {proxy!r}", "POST", f"/proxies/{_q(proxy)}/toxics", body
        )
        return ToxicInfo.from_json(answer)

    def update_toxic(
        self,
        proxy: str,
        toxic: str,
        attributes: Mapping[str, Any] | None = None,
        *,
        toxicity: float | None = None,
    ) -> ToxicInfo:
        body: dict[str, Any] = {"attributes": dict(attributes or {})}
        if toxicity is not None:
            body["toxicity"] = toxicity
        path = f"/proxies/{_q(proxy)}/toxics/{_q(toxic)}"
        return ToxicInfo.from_json(self.request(f"update toxic {toxic!r} of {proxy!r}", "POST", path, body))

    def remove_toxic(self, proxy: str, toxic: str) -> None:
        path = f"/proxies/{_q(proxy)}/toxics/{_q(toxic)}"
        self.request(f"remove toxic {toxic!r} from {proxy!r}", "DELETE", path)

    # -- toxiproxy-python -------------------------------------------------------------------------

    def legacy(self) -> Any:
        """A ``toxiproxy.Toxiproxy`` pointed at this server (sets toxiproxy-python's *global* host/port)."""
        from toxiproxy import Toxiproxy

        parts = urlsplit(self.url)
        server = Toxiproxy()
        server.update_api_consumer(parts.hostname or "127.0.0.1", parts.port or 8474)
        return server


def _error_message(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and "error" in data:
        return str(data["error"])
    text = response.text.strip()
    return text or response.reason or "no error message"
