"""HTTP/1.1 framing for the embedded Toxiproxy server: reading a request, writing a response the way
Go's ``net/http`` does (status line, ``Date``, ``Content-Length``, ``http.Error``'s text bodies).

The API itself (routes, validation, errors as in Toxiproxy's ``api.go``) is in :mod:`.server`.
"""

from __future__ import annotations

import asyncio
import email.utils
import urllib.parse

REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    500: "Internal Server Error",
}
MAX_BODY = 1024 * 1024


class HttpError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def response(
    status: int,
    body: bytes,
    content_type: str | None,
    close: bool = False,
    extra: dict[str, str] | None = None,
) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    lines += [f"{name}: {value}" for name, value in (extra or {}).items()]
    lines.append(f"Date: {email.utils.formatdate(usegmt=True)}")
    if status != 204:
        lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def text_error(status: int, message: str, extra: dict[str, str]) -> bytes:
    """What Go's ``http.Error`` writes: the message and a newline, as text/plain, not to be sniffed."""
    headers = {**extra, "X-Content-Type-Options": "nosniff"}
    return response(status, message.encode() + b"\n", "text/plain; charset=utf-8", extra=headers)


async def read_request(
    reader: asyncio.StreamReader,
) -> tuple[str, str, dict[str, str], bytes, bool] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise HttpError("malformed request") from None
        return None
    except asyncio.LimitOverrunError:
        raise HttpError("request headers too large", 413) from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise HttpError("malformed request line")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise HttpError("malformed header")
        headers[key.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            body += await reader.readexactly(size)
            await reader.readexactly(2)
            if len(body) > MAX_BODY:
                raise HttpError("request body too large", 413)
    else:
        length = int(headers.get("content-length", "0") or "0")
        if length > MAX_BODY:
            raise HttpError("request body too large", 413)
        body = await reader.readexactly(length) if length else b""
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" and (version == "HTTP/1.1" or connection == "keep-alive")
    path = urllib.parse.unquote(target.split("?", 1)[0])  # routes match the decoded path, as in Go
    return method, path, headers, body, keep_alive
