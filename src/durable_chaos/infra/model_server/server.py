"""The scripted model server's HTTP layer: a stdlib threading server on 127.0.0.1 in a daemon thread,
routing each POST to the provider dialect of its path (:mod:`.dialects`) and answering every error in the
API's own shape."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from durable_chaos import providers
from durable_chaos.infra.model_server.dialects import (
    MODELS_PATHS,
    HTTPError,
    answer,
    error_payload,
    models_payload,
    parse_request,
    route,
)
from durable_chaos.infra.model_server.script import Script, coerce_script
from durable_chaos.providers.scripted import json_bytes

__all__ = ["DEFAULT_MODELS", "ScriptedServer"]

DEFAULT_MODELS: tuple[str, ...] = ("scripted", "gpt-4o-mini")


class _Httpd(ThreadingHTTPServer):
    """The stdlib server, carrying a back-reference to its :class:`ScriptedServer`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], owner: ScriptedServer) -> None:
        super().__init__(address, _Handler)
        self.owner = owner


class _Handler(BaseHTTPRequestHandler):
    """Routes requests to the owning :class:`ScriptedServer`."""

    protocol_version = "HTTP/1.1"
    server_version = "durable-chaos-scripted/1"

    @property
    def owner(self) -> ScriptedServer:
        return cast(_Httpd, self.server).owner

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silence the default per-request stderr logging."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        body = self._read_body()
        path = urlsplit(self.path).path.rstrip("/") or "/"
        api = route(path) if method == "POST" else None
        try:
            if api is not None:
                self._model(api, path, body)
            elif method == "GET" and path in MODELS_PATHS:
                self._send(200, "application/json", json_bytes(models_payload(self.owner.models)))
            else:
                raise HTTPError(404, error_payload(f"Invalid URL ({method} {self.path})"))
        except HTTPError as err:
            payload = err.payload if api in (None, "openai-chat", "openai-responses") else err.for_api(api)
            self._send(err.status, "application/json", json_bytes(payload))
        except Exception as exc:  # noqa: BLE001 - any bug must still produce a provider-shaped answer
            message = f"scripted server error: {exc!r}"
            self._send(500, "application/json", json_bytes(providers.error_body(api, 500, message)))

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _model(self, api: providers.API, path: str, raw: bytes) -> None:
        request = parse_request(api, raw)
        self.owner.record(request)
        content_type, payload = self.owner.respond_to(api, path, request)
        self._send(200, content_type, payload)

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if content_type.startswith("text/event-stream"):
            self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(payload)


class ScriptedServer:
    """Serve a :class:`Script` over HTTP on 127.0.0.1 in a daemon thread.

    ``with ScriptedServer(script) as server: ... server.base_url ...``
    """

    def __init__(
        self,
        script: Script | dict[str, Any] | str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        models: Sequence[str] = DEFAULT_MODELS,
    ) -> None:
        self.script = coerce_script(script)
        self.host = host
        self.models = tuple(models)
        self._requested_port = port
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._httpd: _Httpd | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> ScriptedServer:
        """Bind and start serving (idempotent)."""
        if self._httpd is None:
            self._httpd = _Httpd((self.host, self._requested_port), self)
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.02},
                name=f"scripted-server:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        httpd, thread = self._httpd, self._thread
        self._httpd, self._thread = None, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is currently serving."""
        return self._httpd is not None

    # addresses

    @property
    def port(self) -> int:
        """The bound port."""
        if self._httpd is None:
            raise RuntimeError("ScriptedServer is not running; call start() or use it as a context manager")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL, e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"{self.url}/v1"

    # request log

    @property
    def requests(self) -> list[dict[str, Any]]:
        """A snapshot of every parsed chat-completions body received, oldest first."""
        with self._lock:
            return list(self._requests)

    def record(self, request: dict[str, Any]) -> None:
        """Append one parsed request body to the log."""
        with self._lock:
            self._requests.append(request)

    def reset(self) -> None:
        """Clear the request log."""
        with self._lock:
            self._requests.clear()

    # responses

    def respond(self, request: dict[str, Any]) -> tuple[str, bytes]:
        """``(content type, body)`` answering a parsed chat-completions request."""
        return answer(self.script, "openai-chat", "/v1/chat/completions", request)

    def respond_to(self, api: providers.API, path: str, request: dict[str, Any]) -> tuple[str, bytes]:
        """``(content type, body)`` answering a parsed request to ``api`` at ``path``."""
        return answer(self.script, api, path, request)
