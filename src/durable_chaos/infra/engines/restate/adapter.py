"""Restate adapter.

Restate is a server that drives *service endpoints*: it journals every step of an invocation and,
when the endpoint crashes, retries the invocation against the endpoint, which replays the journal
(completed ``ctx.run`` entries answer from it without running) and carries on. The harness mirrors
production's process split:

* the **server** belongs to the session (:mod:`.server`: the embedded ``restate-server``, or an
  existing one by URL);
* the **service endpoint** lives in the trial's worker process: ``run`` serves it in-process with
  ``hypercorn.asyncio.serve`` on the trial's own loopback port (chosen once per trial by
  ``worker_environment``, so every worker of the trial serves the same deployment URI), registers it
  with the admin API (``force: true``), invokes the handler through the ingress with the run's id as
  idempotency key and waits for the answer, which the ingress holds open across crashes;
* a **kill** SIGKILLs that worker at a boundary, endpoint and ingress client together. Restate sees the
  broken stream and retries by its invocation retry policy; the resume worker (forked warm) serves the
  endpoint on the same port again, and sends the same request with the same idempotency key, which
  attaches to the running invocation instead of starting another one. The retry reaches the new
  endpoint, the journal replays, and the invocation completes.

Targets:

* ``agent: module:attr``: a :class:`restate.ext.pydantic.RestateAgent`. The harness wraps it in a
  service of its own (``DurableChaosTrial_<trial>``, handler ``run(prompt)``), with the scenario's
  retry policy (:class:`.options.RestateOptions`).
* ``entry: module:attr``: the user's own handler (a function decorated with ``@service.handler()`` or
  ``@object.handler()`` / ``@workflow.main()``) or a service with one handler (else
  ``restate.handler`` names it). ``args`` are the handler's input: the single value when there is one
  argument and the input is not a model, else the object. Virtual objects and workflows get the key
  ``restate.key`` (default: the run's id).

Observation (hooks in :mod:`.hooks`): each ``ctx.run`` entry is numbered by its position among the
invocation's ``ctx.run`` entries; the adapter records an ``identity`` event for every entry the
handler reaches (its name: ``Model call``, ``Calling <tool>``), a ``replay`` when Restate answers it
from the journal, a ``checkpoint`` when the server acknowledged its result, and an ``identity`` event
with ``recorded`` when Restate refuses the entry because the journal holds another one there
(a journal mismatch). Each attempt of a ``ctx.run`` action runs inside
:func:`~durable_chaos.faults.context.unit_body`, keyed by (invocation id, position), under the unit
listener captured where ``ctx.run`` was called (the SDK runs the action later, from another task, and a
sync action in an executor thread): a tool called in handler code whose body opens the entry gets its
``tool_error`` there, where Restate retries it (by retrying the invocation; restate-sdk has no
in-process retry of a ``ctx.run``).

``resume_mode="new_run"`` (a user who starts over after a crash) kills the interrupted invocation
through the admin API and starts a fresh one with a new idempotency key.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import http.client
import importlib.util
import inspect
import json
import logging
import os
import re
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import restate
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from durable_chaos.faults.context import (
    UnitListener,
    active,
    current_unit_listener,
    listening_for_units,
    note_replay,
    unit_body,
)
from durable_chaos.infra.engines.base import (
    EngineOptions,
    EngineUnavailable,
    RestartableService,
    RestartUnavailable,
    RunOutcome,
    RunRequest,
    Target,
    TargetMismatch,
    free_port,
    refuse_other_targets,
)
from durable_chaos.infra.engines.durability import agent_mismatch
from durable_chaos.infra.engines.restate import private_apis as hooks
from durable_chaos.infra.engines.restate.options import RestateOptions
from durable_chaos.infra.engines.restate.server import (
    ENV_ADMIN_URL,
    ENV_ENDPOINT_HOST,
    ENV_INGRESS_URL,
    EmbeddedServer,
    Endpoints,
    RestateHTTPError,
    engine_api_service,
    external_endpoints,
    http_json,
)
from durable_chaos.patching import Hook

ENV_ADMIN = "DURABLE_CHAOS_RESTATE_ADMIN"
ENV_INGRESS = "DURABLE_CHAOS_RESTATE_INGRESS"
ENV_ENDPOINT_PORT = "DURABLE_CHAOS_RESTATE_ENDPOINT_PORT"
PORT_FILE = "restate-endpoint-port"
HARNESS_SERVICE = "DurableChaosTrial"
HARNESS_HANDLER = "run"
STATUS_POLL_SECONDS = 0.25
STRANDED_READ_ATTEMPTS = 10
OUTAGE_RETRY_SECONDS = 0.2
JOURNAL_MISMATCH = frozenset({"RT0016", "570", 570})
"""How ``sys_invocation.last_failure_error_code`` names a replay that does not match the journal
(restate-server 1.7 reports the server code RT0016; the SDK raises it as error 570)."""

log = logging.getLogger(__name__)


def _installed(*modules: str) -> tuple[str, ...]:
    return tuple(m for m in modules if importlib.util.find_spec(m.partition(".")[0]) is not None)


PROVIDER_MODULES = _installed("pydantic_ai.models.openai", "openai.resources.chat")
"""Provider SDK modules a warm worker imports too: building an agent imports them lazily (~0.5 s),
and every resume worker builds the target's agent again."""


# ---------------------------------------------------------------------------------------- adapter


class RestateAdapter:
    """Runs targets as invocations of Restate services served by the worker process."""

    name = "restate"
    runs_in_process = False
    preload_modules = (
        "durable_chaos.infra.engines.restate.adapter",
        "restate.ext.pydantic",
        "hypercorn.asyncio",
        "restate.server",
        *PROVIDER_MODULES,
    )

    def __init__(self) -> None:
        self.server: EmbeddedServer | None = None
        self.endpoints: Endpoints | None = None
        self.ports: dict[Path, int] = {}

    def hooks(self) -> list[Hook]:
        return list(hooks.ALL)

    def harness_changes(self, options: EngineOptions) -> list[str]:
        chosen = options if isinstance(options, RestateOptions) else RestateOptions()
        policy = ", ".join(f"{k} {v}" for k, v in chosen.retry_policy_config().items())
        changes = [f"invocation retry policy ({policy}) on the harness's service around an agent target"]
        if self.server is not None:
            server = ", ".join(f"{k} {v}" for k, v in RestateOptions().retry_policy_config().items())
            changes.append(
                f"the embedded server's default retry policy ({server}) applies to entry services that "
                "declare none"
            )
        return changes

    # session (harness process)

    def start(self, workdir: Path) -> None:
        external = external_endpoints()
        if external is not None:
            self.endpoints = external
            return
        self.server = EmbeddedServer(workdir / "restate", RestateOptions().retry_policy_config())
        self.endpoints = self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.server = None
        self.endpoints = None

    def worker_environment(self, trial_dir: Path) -> dict[str, str]:
        if self.endpoints is None:
            raise EngineUnavailable("the Restate engine was not started (RestateAdapter.start)")
        return {
            ENV_ADMIN: self.endpoints.admin_url,
            ENV_INGRESS: self.endpoints.ingress_url,
            ENV_ENDPOINT_PORT: str(self.endpoint_port(trial_dir)),
        }

    def endpoint_port(self, trial_dir: Path) -> int:
        """The trial's service endpoint port: one per trial, the same for every worker of it."""
        key = trial_dir.resolve()
        if key not in self.ports:
            path = key / PORT_FILE
            if path.exists():
                self.ports[key] = int(path.read_text())
            else:
                self.ports[key] = free_port()
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(str(self.ports[key]))
        return self.ports[key]

    # worker process

    def restart_service(self, target: str, trial_dir: Path) -> RestartableService:
        """``engine_api``: the embedded server the harness started for the session (not a server given
        with ``RESTATE_ADMIN_URL``/``RESTATE_INGRESS_URL``, which is not the harness's to restart)."""
        refuse_other_targets("restate", target, "engine_api")
        if self.server is None:
            raise RestartUnavailable(
                f"{ENV_ADMIN_URL} and {ENV_INGRESS_URL} point at a Restate server the harness did not start, "
                f"which is not its to restart; unset both to let the harness start (and restart) its own"
            )
        return engine_api_service(self.server)

    def stranded(self, trial_dir: Path, outcome: RunOutcome) -> str | None:
        """The invocation of a run that did not complete, if the server still holds it unfinished (its
        service endpoint is gone with the worker), or how it ended after the run gave up on it."""
        ids = outcome.engine_ids
        if self.endpoints is None or not ids.get("service") or not ids.get("handler"):
            return None
        call = Call(
            str(ids["service"]), str(ids["handler"]), "", ids.get("key"), ids.get("idempotency_key"), None
        )
        status = invocation_status(self.endpoints, call)
        for _ in range(STRANDED_READ_ATTEMPTS):  # the server is back, but its partitions may still settle
            if status is not None:
                break
            time.sleep(0.5)
            status = invocation_status(self.endpoints, call)
        invocation = ids.get("invocation_id") or (status or {}).get("id") or "?"
        what = f"invocation {invocation} of {call.service}/{call.handler}"
        if status is None:
            return f"{what}: after the run, its status is unreadable (no row in sys_invocation)"
        state = str(status.get("status"))
        if state == "completed":
            return f"{what} finished after the run gave up on it (status completed)"
        return (
            f"{what} is still {state} after the run ended: stranded until a service endpoint serves "
            f"{ids.get('endpoint') or 'its deployment'} again (Restate retries it by its retry policy "
            "meanwhile, then pauses or kills it)"
        )

    def network_targets(self, trial_dir: Path) -> dict[str, tuple[str, int]]:
        """No network targets yet: the ingress and admin API could be ``engine_api`` (not routed)."""
        return {}

    def proxied_environment(self, env: dict[str, str], routes: dict[str, tuple[str, int]]) -> dict[str, str]:
        return dict(env)

    def attach(self) -> None:
        admin, ingress = os.environ.get(ENV_ADMIN), os.environ.get(ENV_INGRESS)
        if not admin or not ingress or not os.environ.get(ENV_ENDPOINT_PORT):
            raise EngineUnavailable(
                f"{ENV_ADMIN}, {ENV_INGRESS} and {ENV_ENDPOINT_PORT} must be set in this worker; the harness "
                "exports them from RestateAdapter.worker_environment(trial_dir)."
            )
        self.endpoints = Endpoints(admin, ingress)

    def check_target(self, target: Target) -> None:
        resolve_target(target, RestateOptions(), "check")

    async def run(self, target: Target, request: RunRequest) -> RunOutcome:
        if self.endpoints is None:
            self.attach()
        assert self.endpoints is not None
        options = request.options if isinstance(request.options, RestateOptions) else RestateOptions()
        port = int(os.environ.get(ENV_ENDPOINT_PORT) or self.endpoint_port(request.workdir))
        service_name = (
            f"{HARNESS_SERVICE}_{hashlib.sha1(str(request.workdir.resolve()).encode()).hexdigest()[:8]}"
        )
        resolved = resolve_target(target, options, service_name)
        call = Call.of(resolved, request, options)
        fresh = request.resume and request.resume_mode == "new_run"
        ids: dict[str, Any] = call.ids()
        if fresh:
            abandoned = await asyncio.to_thread(kill_invocation, self.endpoints, call)
            call = call.fresh(f"{request.run_id}-fresh-{os.getpid()}")
            ids = {**call.ids(), "abandoned_invocation_id": abandoned}
        if request.resumable and not request.resume:
            emit("run_ids", **ids)
        global _root_target
        _root_target = (call.service, call.handler)
        host = os.environ.get(ENV_ENDPOINT_HOST, "127.0.0.1")
        uri = f"http://{host}:{port}"
        async with serving(resolved.service, port):
            if not request.resume or fresh:
                deployment = await asyncio.to_thread(register, self.endpoints, uri)
                ids["deployment_id"] = deployment
            else:
                ids["retried_at_once"] = await asyncio.to_thread(retry_now, self.endpoints, call)
            ids["endpoint"] = uri
            status, headers, body = await invoke(self.endpoints, call, options.recovery_timeout)
        invocation_id = headers.get("x-restate-id") or await asyncio.to_thread(
            find_invocation, self.endpoints, call
        )
        ids["invocation_id"] = invocation_id
        if invocation_id:
            with contextlib.suppress(Exception):
                ids["journal"] = await asyncio.to_thread(journal, self.endpoints, invocation_id)
        if status is None:
            return RunOutcome(request.role, False, error=body, engine_ids=ids)
        if status >= 400:
            return RunOutcome(request.role, False, error=failure_text(status, body), engine_ids=ids)
        return RunOutcome(request.role, True, output=decode(body), engine_ids=ids)

    def unit_context(self) -> dict[str, Any]:
        unit = _unit.get()
        return {**unit, "pid": os.getpid()} if unit else {}

    @contextmanager
    def observing(self) -> Iterator[None]:
        with observe_journal():
            yield

    async def replay_check(
        self, target: Target, outcome: RunOutcome, request: RunRequest
    ) -> list[str] | None:
        return None  # Restate has no offline replayer: its check is the live replay after a crash


# ---------------------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Resolved:
    """What a target runs as: a service of the endpoint and one of its handlers."""

    service: Any
    handler: Any
    kind: str  # "service" | "object" | "workflow"
    input: Any


def resolve_target(target: Target, options: RestateOptions, service_name: str) -> Resolved:
    """The service and handler a target runs; :class:`TargetMismatch` when it is not a Restate target."""
    from restate.ext.pydantic import RestateAgent

    if target.kind == "agent":
        problem = agent_mismatch("restate", target.import_path, target.obj)
        if problem is None and not isinstance(target.obj, RestateAgent):
            problem = (
                f"agent {target.import_path} has Restate durability only inside: make it the RestateAgent"
            )
        if problem is not None:
            raise TargetMismatch(
                f"{problem} (Restate: RestateAgent(agent, auto_wrap_tools=True) journals its model requests "
                "and tools; or give a Restate handler as the scenario's entry)"
            )
        service = harness_service(target.obj, service_name, options)
        return Resolved(service, service.handlers[HARNESS_HANDLER], "service", target.prompt or "")
    if target.kind != "entry":
        raise TargetMismatch(f"unknown target kind {target.kind!r}")
    service, handler = entry_service(target, options)
    kind = {"service": "service", "object": "object", "workflow": "workflow"}[service.service_tag.kind]
    return Resolved(service, handler, kind, handler_input(handler, target.args))


def harness_service(agent: Any, name: str, options: RestateOptions) -> Any:
    """The service the harness wraps around an ``agent:`` target, with the scenario's retry policy."""
    policy = restate.InvocationRetryPolicy(
        initial_interval=timedelta(seconds=options.retry_initial_interval),
        exponentiation_factor=options.retry_factor,
        max_interval=timedelta(seconds=options.retry_max_interval),
        max_attempts=options.retry_max_attempts,
        on_max_attempts=options.on_max_attempts,
    )
    service = restate.Service(name, invocation_retry_policy=policy)

    @service.handler(name=HARNESS_HANDLER)
    async def run(ctx: restate.Context, prompt: str) -> Any:
        result = await agent.run(prompt)
        return to_jsonable_python(result.output)

    return service


def entry_service(target: Target, options: RestateOptions) -> tuple[Any, Any]:
    obj = target.obj
    services = (restate.Service, restate.VirtualObject, restate.Workflow)
    if isinstance(obj, services):
        handlers = dict(obj.handlers)
        if options.handler is not None:
            if options.handler not in handlers:
                raise TargetMismatch(
                    f"{target.import_path} has no handler {options.handler!r} (it has {', '.join(handlers)})"
                )
            return obj, handlers[options.handler]
        if obj.service_tag.kind == "workflow":
            main = [h for h in handlers.values() if h.kind == "workflow"]
            if len(main) == 1:
                return obj, main[0]
        if len(handlers) != 1:
            raise TargetMismatch(
                f"{target.import_path} has {len(handlers)} handlers ({', '.join(handlers)}): name the one "
                "to run with `restate: {handler: <name>}` in the scenario, or make the entry that handler"
            )
        return obj, next(iter(handlers.values()))
    symbol = hooks.HANDLER_SYMBOL.resolve()
    handler = vars(obj).get(symbol) if hasattr(obj, "__dict__") else None
    if handler is None:
        raise TargetMismatch(
            f"{target.import_path} is neither a Restate service nor a handler (a function decorated with "
            "@service.handler()): Restate runs only those"
        )
    module = sys.modules.get(getattr(obj, "__module__", ""), None)
    for value in vars(module).values() if module is not None else ():
        if isinstance(value, services) and any(h is handler for h in value.handlers.values()):
            return value, handler
    raise TargetMismatch(
        f"the service of handler {target.import_path} ({handler.service_tag.name}) is not a module-level "
        f"object of {getattr(obj, '__module__', '?')}: give the service as the entry"
    )


def handler_input(handler: Any, args: dict[str, Any]) -> Any:
    """The handler's input from the scenario's ``args``."""
    if handler.arity < 2:
        return None
    io = handler.handler_io
    annotation = io.input_type.annotation if io.input_type is not None else None
    structured = isinstance(annotation, type) and (
        issubclass(annotation, (BaseModel, dict)) or hasattr(annotation, "__dataclass_fields__")
    )
    if len(args) == 1 and not structured:
        return next(iter(args.values()))
    return to_jsonable_python(args)


# ------------------------------------------------------------------------------------- invocation


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


# ---------------------------------------------------------------------------------------- serving


@asynccontextmanager
async def serving(service: Any, port: int) -> AsyncIterator[None]:
    """Serve the service's endpoint in this process (hypercorn, HTTP/2 cleartext) for the block."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    host = "0.0.0.0" if os.environ.get(ENV_ENDPOINT_HOST) else "127.0.0.1"  # noqa: S104 - opt-in
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.graceful_timeout = 0.1
    config.loglevel = "ERROR"  # hypercorn warns that restate's ASGI app has no lifespan support
    stop = asyncio.Event()
    app = restate.app([service])
    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    try:
        await until_listening(port, task)
        yield
    finally:
        stop.set()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(task, 2.0)


async def until_listening(port: int, task: asyncio.Task[Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if task.done():
            task.result()  # raises why hypercorn stopped (e.g. the port is taken)
            raise EngineUnavailable(f"the service endpoint stopped before listening on port {port}")
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise EngineUnavailable(
                f"the service endpoint did not listen on 127.0.0.1:{port} within {timeout}s"
            )
        await asyncio.sleep(0.005)


# ------------------------------------------------------------------------------------ observation


@dataclass
class Entry:
    position: int
    name: str
    replayed: bool
    checkpointed: bool = False
    listener: UnitListener | None = None
    """Who hears of the entry's action (:func:`~durable_chaos.faults.context.unit_body`), captured
    where ``ctx.run`` was called: the SDK runs the action later, in another task or thread."""


@dataclass
class InvocationState:
    """What the adapter knows about one attempt of one invocation (one ``VMWrapper``)."""

    invocation_id: str | None
    scope: str
    count: int = 0
    runs: dict[int, Entry] = field(default_factory=dict)


_root_target: tuple[str, str] | None = None
"""The service and handler of the run's own invocation (scope ""); other invocations are scoped by name."""
_states: weakref.WeakKeyDictionary[Any, InvocationState] = weakref.WeakKeyDictionary()
_executions: dict[tuple[str | None, int], int] = {}
_unit: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "durable_chaos_restate_unit", default=None
)


def state_of(vm: Any) -> InvocationState:
    state = _states.get(vm)
    if state is None:
        invocation_id, scope = None, ""
        with contextlib.suppress(Exception):
            from restate.server_context import current_context

            ctx: Any = current_context()
            if ctx is not None:
                invocation_id = ctx.request().id
                target = (ctx.handler.service_tag.name, ctx.handler.name)
                if _root_target is not None and target != _root_target:
                    scope = "/".join(target)
        state = InvocationState(invocation_id, scope)
        _states[vm] = state
    return state


def engine_fields(state: InvocationState, entry: Entry) -> dict[str, Any]:
    return {
        "scope": state.scope,
        "invocation_id": state.invocation_id,
        "position": entry.position,
        "entry_name": entry.name,
    }


MISMATCH = re.compile(r"mismatch", re.IGNORECASE)


def recorded_name(message: str) -> str:
    """What the journal holds at a refused position, from the SDK's journal-mismatch message
    ("Difference: name: <recorded> != <now>"), else the message's first line."""
    match = re.search(r"name:\s*(?P<recorded>.+?)\s*!=\s*(?P<now>.+)", message)
    if match:
        return match.group("recorded").strip()
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[0][:200] if lines else "(another entry)"


@contextmanager
def observe_journal() -> Iterator[None]:
    """Install the journal observation hooks (each only when it checks out) for the block."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(hooks.SYS_RUN.patch(wrap_sys_run))
        stack.enter_context(hooks.TAKE_NOTIFICATION.patch(wrap_take_notification))
        stack.enter_context(hooks.CREATE_RUN_COROUTINE.patch(wrap_create_run_coroutine))
        yield


def wrap_sys_run(original: Any) -> Any:
    def sys_run(self: Any, name: str) -> Any:
        state = state_of(self)
        position = state.count + 1
        state.count = position
        try:
            run = original(self, name)
        except Exception as exc:
            message = str(exc)
            if MISMATCH.search(message):
                entry = Entry(position, name, replayed=False)
                recorded = recorded_name(message)
                emit(
                    "identity",
                    **engine_fields(state, entry),
                    identity=name,
                    recorded=recorded,
                    error=message[:1000],
                )
            raise
        entry = Entry(position, name, bool(run.replayed), listener=current_unit_listener())
        state.runs[run.handle] = entry
        emit("identity", **engine_fields(state, entry), identity=name)
        if entry.replayed:
            note_replay(name)
            emit("replay", **engine_fields(state, entry))
        return run

    return sys_run


def wrap_take_notification(original: Any) -> Any:
    from restate.vm import Failure, NotReady, Suspended

    def take_notification(self: Any, handle: int) -> Any:
        result = original(self, handle)
        state = _states.get(self)
        entry = state.runs.get(handle) if state is not None else None
        if (
            entry is not None
            and not entry.replayed
            and not entry.checkpointed
            and not isinstance(result, (NotReady, Suspended, Exception))
        ):
            entry.checkpointed = True
            assert state is not None
            emit("checkpoint", **engine_fields(state, entry), error=isinstance(result, Failure))
        return result

    return take_notification


def wrap_create_run_coroutine(original: Any) -> Any:
    async def create_run_coroutine(self: Any, handle: int, action: Any, serde: Any, max_attempts: Any = None,
                                   *args: Any, **kwargs: Any) -> Any:  # fmt: skip
        state = _states.get(self.vm)
        entry = state.runs.get(handle) if state is not None else None
        token = None
        if state is not None and entry is not None:
            counter = (state.invocation_id, entry.position)
            _executions[counter] = _executions.get(counter, 0) + 1
            unit: dict[str, Any] = {**engine_fields(state, entry), "run_attempt": _executions[counter]}
            if max_attempts is not None:
                unit["max_attempts"] = int(max_attempts)
            token = _unit.set(unit)
            action = unit_action(action, (state.invocation_id, entry.position), entry.listener)
        try:
            return await original(self, handle, action, serde, max_attempts, *args, **kwargs)
        finally:
            if token is not None:
                _unit.reset(token)

    return create_run_coroutine


def unit_action(action: Any, key: tuple[str | None, int], listener: UnitListener | None) -> Any:
    """``action`` (async, or sync for the SDK's executor) running each attempt inside
    :func:`~durable_chaos.faults.context.unit_body`, keyed by (invocation id, journal position), under
    the listener of the code that called ``ctx.run`` (not of whichever task happens to run it)."""
    if inspect.iscoroutinefunction(action):

        async def async_action() -> Any:
            with listening_for_units(listener), unit_body(key):
                return await action()

        return async_action

    def sync_action() -> Any:
        with listening_for_units(listener), unit_body(key):
            return action()

    return sync_action


def emit(event: str, **engine: Any) -> None:
    injection = active()
    if injection is None:
        return
    with contextlib.suppress(Exception):
        injection.emit_engine_event(event, engine={**engine, "pid": os.getpid()})
