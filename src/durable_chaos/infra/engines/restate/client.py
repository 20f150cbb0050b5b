"""The Restate REST client: the admin API (deployments, invocations, SQL introspection) and the
ingress (invoking a handler, attaching to a workflow), over the standard library's ``urllib`` on
purpose: the provider SDKs send through ``httpx2``, which the cassette and the fault injectors patch;
the engine's own traffic must not go through them."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from durable_chaos.infra.engines.base import (
    EngineUnavailable,
    RunRequest,
)
from durable_chaos.infra.engines.restate.options import RestateOptions
from durable_chaos.infra.engines.restate.targets import Resolved

STATUS_POLL_SECONDS = 0.25


OUTAGE_RETRY_SECONDS = 0.2
JOURNAL_MISMATCH = frozenset({"RT0016", "570", 570})
"""How ``sys_invocation.last_failure_error_code`` names a replay that does not match the journal
(restate-server 1.7 reports the server code RT0016; the SDK raises it as error 570)."""


class RestateHTTPError(Exception):
    """The server answered with an error status."""

    def __init__(self, status: int, body: str, url: str) -> None:
        super().__init__(f"{url}: HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


def http_json(
    method: str,
    url: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> Any:
    """One JSON request (blocking); the decoded answer (``None`` for an empty body)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("accept", "application/json")
    if data is not None:
        request.add_header("content-type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - our own server
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raise RestateHTTPError(exc.code, exc.read().decode(errors="replace"), url) from None
    return json.loads(raw) if raw.strip() else None


@dataclass
class Endpoints:
    """Where a Restate server answers."""

    admin_url: str
    ingress_url: str

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Rows of the admin API's SQL introspection (``sys_invocation``, ``sys_journal``, ...)."""
        answer = http_json("POST", f"{self.admin_url}/query", {"query": sql})
        return list((answer or {}).get("rows") or [])

    def healthy(self) -> bool:
        """Admin and ingress answer, and the partitions serve queries (right after start they may not)."""
        try:
            http_json("GET", f"{self.admin_url}/health", timeout=2.0)
            http_json("GET", f"{self.ingress_url}/restate/health", timeout=2.0)
            self.query("SELECT id FROM sys_invocation LIMIT 1")
        except (OSError, RestateHTTPError, ValueError):
            return False
        return True


@dataclass(frozen=True)
class Call:
    """One invocation through the ingress."""

    service: str
    handler: str
    kind: str
    key: str | None
    idempotency_key: str | None
    body: Any

    @classmethod
    def of(cls, resolved: Resolved, request: RunRequest, options: RestateOptions) -> Call:
        key = None if resolved.kind == "service" else (options.key or request.run_id)
        idempotency = None if resolved.kind == "workflow" else request.run_id
        return cls(
            resolved.service.name, resolved.handler.name, resolved.kind, key, idempotency, resolved.input
        )

    def fresh(self, token: str) -> Call:
        if self.kind == "workflow":
            return Call(self.service, self.handler, self.kind, token, None, self.body)
        return Call(self.service, self.handler, self.kind, self.key, token, self.body)

    def path(self) -> str:
        parts = [self.service, *([self.key] if self.key is not None else []), self.handler]
        return "/".join(urllib.parse.quote(p, safe="") for p in parts)

    def ids(self) -> dict[str, Any]:
        ids = {"service": self.service, "handler": self.handler, "idempotency_key": self.idempotency_key}
        if self.key is not None:
            ids["key"] = self.key
        return ids

    def where(self) -> str:
        """SQL condition on ``sys_invocation`` selecting this call's invocation."""
        condition = f"target_service_name = {sql(self.service)} AND target_handler_name = {sql(self.handler)}"
        if self.idempotency_key is not None:
            condition += f" AND idempotency_key = {sql(self.idempotency_key)}"
        if self.key is not None:
            condition += f" AND target_service_key = {sql(self.key)}"
        return condition


def sql(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


async def invoke(endpoints: Endpoints, call: Call, timeout: float) -> tuple[int | None, dict[str, str], str]:
    """Send the call (or attach to it) and wait for its answer. Returns ``(status, headers, body)``;
    ``status`` is None when the invocation is paused or the wait timed out (``body`` says which).

    The blocking request runs on a daemon thread so that giving up never waits for it."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[tuple[int, dict[str, str], str]] = loop.create_future()

    def settle(outcome: tuple[int, dict[str, str], str] | BaseException) -> None:
        if answer.done():
            return
        if isinstance(outcome, BaseException):
            answer.set_exception(outcome)
        else:
            answer.set_result(outcome)

    def send() -> None:
        outcome: tuple[int, dict[str, str], str] | BaseException
        while True:
            try:
                outcome = ingress_request(endpoints, call, max(deadline - time.monotonic(), 0.1))
            except (ConnectionError, urllib.error.URLError, http.client.HTTPException) as exc:
                # The server went away (restarted) under the open request, or is not back yet: send it
                # again (the idempotency key, or a workflow's attach, joins the same invocation) until
                # the deadline, which the loop below enforces.
                last_outage[0] = f"{type(exc).__name__}: {exc}"
                if time.monotonic() >= deadline or answer.done():
                    return  # the loop below gives up at the deadline, naming the outage
                time.sleep(OUTAGE_RETRY_SECONDS)
                continue
            except BaseException as exc:  # noqa: BLE001 - handed to the loop
                outcome = exc
            break
        loop.call_soon_threadsafe(settle, outcome)

    deadline = time.monotonic() + timeout
    last_outage: list[str | None] = [None]
    threading.Thread(target=send, name="restate-ingress", daemon=True).start()
    while True:
        try:
            return await asyncio.wait_for(asyncio.shield(answer), STATUS_POLL_SECONDS)
        except TimeoutError:
            pass
        except OSError as exc:
            return (
                None,
                {},
                f"the Restate ingress {endpoints.ingress_url} failed: {type(exc).__name__}: {exc}",
            )
        status = await asyncio.to_thread(invocation_status, endpoints, call)
        if status is not None and status.get("last_failure_error_code") in JOURNAL_MISMATCH:
            # Deterministic: Restate would retry it until its retry policy gives up. Stop it now.
            await asyncio.to_thread(kill_invocation, endpoints, call)
            return (
                None,
                {},
                (
                    f"Restate refused to replay invocation {status.get('id')}: journal mismatch (RT0016) "
                    f"at {status.get('last_failure_related_command_name') or 'an entry'}: "
                    f"{status.get('last_failure')}. Restate retries such an invocation until its retry "
                    "policy gives up; the harness killed it."
                ),
            )
        if status is not None and status.get("status") == "paused":
            return (
                None,
                {},
                (
                    f"Restate paused invocation {status.get('id')} after {status.get('retry_count')} "
                    f"attempt(s) (its retry policy ran out); last failure: {status.get('last_failure')}"
                ),
            )
        if time.monotonic() > deadline:
            return (
                None,
                {},
                (
                    f"RecoveryTimeout: invocation of {call.service}/{call.handler} did not finish within "
                    f"{timeout:.0f}s (status: "
                    + (
                        f"{status})"
                        if status is not None or last_outage[0] is None
                        else f"unreadable, the server is unreachable: {last_outage[0]})"
                    )
                ),
            )


def ingress_request(endpoints: Endpoints, call: Call, timeout: float) -> tuple[int, dict[str, str], str]:
    """POST the call; for a workflow whose run already started, attach to it instead."""
    headers = {"content-type": "application/json", "accept": "application/json"}
    if call.idempotency_key is not None:
        headers["idempotency-key"] = call.idempotency_key
    data = json.dumps(call.body).encode()
    answer = raw_request("POST", f"{endpoints.ingress_url}/{call.path()}", data, headers, timeout)
    if call.kind == "workflow" and answer[0] == 409:
        attach = f"{endpoints.ingress_url}/restate/workflow/{call.service}/{call.key}/attach"
        answer = raw_request("GET", attach, None, {"accept": "application/json"}, timeout)
    return answer


def raw_request(
    method: str, url: str, data: bytes | None, headers: dict[str, str], timeout: float
) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - our own server
            return (
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                response.read().decode(),
            )
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read().decode(errors="replace")


def invocation_status(endpoints: Endpoints, call: Call) -> dict[str, Any] | None:
    try:
        rows = endpoints.query(
            "SELECT id, status, retry_count, last_failure, last_failure_error_code, "
            f"last_failure_related_command_name FROM sys_invocation WHERE {call.where()} "
            "ORDER BY created_at DESC LIMIT 1"
        )
    except (OSError, RestateHTTPError, ValueError):
        return None
    return rows[0] if rows else None


def find_invocation(endpoints: Endpoints, call: Call) -> str | None:
    status = invocation_status(endpoints, call)
    return None if status is None else str(status["id"])


def retry_now(endpoints: Endpoints, call: Call) -> bool:
    """Ask Restate to retry the interrupted invocation now that the endpoint serves again, instead of at
    the end of its current backoff interval (``PATCH /invocations/{id}/resume`` triggers the retry of a
    backing-off invocation at once). True when it was backing off and the retry was triggered."""
    status = invocation_status(endpoints, call)
    if status is None or status.get("status") != "backing-off":
        return False
    try:
        http_json("PATCH", f"{endpoints.admin_url}/invocations/{status['id']}/resume")
    except (RestateHTTPError, OSError):
        return False
    return True


def kill_invocation(endpoints: Endpoints, call: Call) -> str | None:
    """Kill the interrupted invocation (``resume_mode: new_run``); its id, if there was one."""
    invocation = find_invocation(endpoints, call)
    if invocation is not None:
        with contextlib.suppress(RestateHTTPError):
            http_json("PATCH", f"{endpoints.admin_url}/invocations/{invocation}/kill")
    return invocation


def register(endpoints: Endpoints, uri: str) -> str | None:
    """Register (or re-register) the deployment at ``uri``; its id."""
    try:
        answer = http_json("POST", f"{endpoints.admin_url}/deployments", {"uri": uri, "force": True})
    except RestateHTTPError as exc:
        raise EngineUnavailable(f"Restate could not register the service endpoint {uri}: {exc}") from exc
    return None if not isinstance(answer, dict) else answer.get("id")


def journal(endpoints: Endpoints, invocation_id: str) -> list[dict[str, Any]]:
    """The invocation's journal (admin SQL introspection): index, entry type, name."""
    rows = endpoints.query(
        f"SELECT index, entry_type, name FROM sys_journal WHERE id = {sql(invocation_id)} ORDER BY index"
    )
    return [{"index": r.get("index"), "entry_type": r.get("entry_type"), "name": r.get("name")} for r in rows]


def decode(body: str) -> Any:
    try:
        return json.loads(body) if body.strip() else None
    except ValueError:
        return body


def failure_text(status: int, body: str) -> str:
    parsed = decode(body)
    if isinstance(parsed, dict) and parsed.get("message"):
        code = parsed.get("code", status)
        return f"TerminalError ({code}): {parsed['message']}"
    return f"HTTP {status}: {body[:500]}"
