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

Observation (:mod:`.observe`, hooks in :mod:`.private_apis`): each ``ctx.run`` entry is numbered by its
position among the invocation's ``ctx.run`` entries; the adapter records an ``identity`` event for every
entry the handler reaches (its name: ``Model call``, ``Calling <tool>``), a ``replay`` when Restate
answers it from the journal, a ``checkpoint`` when the server acknowledged its result, and an
``identity`` event with ``recorded`` when Restate refuses the entry because the journal holds another one
there (a journal mismatch). Each attempt of a ``ctx.run`` action runs inside
:func:`~durable_chaos.faults.context.unit_body`, keyed by (invocation id, position), under the unit
listener captured where ``ctx.run`` was called (the SDK runs the action later, from another task, and a
sync action in an executor thread): a tool called in handler code whose body opens the entry gets its
``tool_error`` there, where Restate retries it (by retrying the invocation; restate-sdk has no in-process
retry of a ``ctx.run``).

``resume_mode="new_run"`` (a user who starts over after a crash) kills the interrupted invocation
through the admin API and starts a fresh one with a new idempotency key.

The package, by concern: :mod:`.spec`, :mod:`.options`, :mod:`.rules`, :mod:`.private_apis` (every private
API of restate-sdk used, checked at start), :mod:`.install` (the server binary), :mod:`.server` (the
embedded ``restate-server`` and the worker's service endpoint), :mod:`.client` (the admin and ingress
REST client), :mod:`.targets` (what a target runs as), :mod:`.adapter` (this module: running and
resuming), :mod:`.observe` (the journal as the handler sees it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from durable_chaos import events
from durable_chaos.infra.engines.adapter_base import BaseAdapter, chosen_options, emit
from durable_chaos.infra.engines.base import (
    EngineOptions,
    EngineUnavailable,
    RestartableService,
    RestartUnavailable,
    RunOutcome,
    RunRequest,
    Target,
    free_port,
    refuse_other_targets,
)
from durable_chaos.infra.engines.restate import private_apis
from durable_chaos.infra.engines.restate.client import (
    Call,
    decode,
    failure_text,
    find_invocation,
    invocation_status,
    invoke,
    journal,
    kill_invocation,
    register,
    retry_now,
)
from durable_chaos.infra.engines.restate.observe import current_unit, observe_journal, set_root_target
from durable_chaos.infra.engines.restate.options import RestateOptions
from durable_chaos.infra.engines.restate.server import (
    ENV_ADMIN_URL,
    ENV_ENDPOINT_HOST,
    ENV_INGRESS_URL,
    EmbeddedServer,
    Endpoints,
    engine_api_service,
    external_endpoints,
    serving,
)
from durable_chaos.infra.engines.restate.targets import HARNESS_SERVICE, resolve_target
from durable_chaos.patching import Hook

ENV_ADMIN = "DURABLE_CHAOS_RESTATE_ADMIN"
ENV_INGRESS = "DURABLE_CHAOS_RESTATE_INGRESS"
ENV_ENDPOINT_PORT = "DURABLE_CHAOS_RESTATE_ENDPOINT_PORT"
PORT_FILE = "restate-endpoint-port"


STRANDED_READ_ATTEMPTS = 10


def _installed(*modules: str) -> tuple[str, ...]:
    return tuple(m for m in modules if importlib.util.find_spec(m.partition(".")[0]) is not None)


PROVIDER_MODULES = _installed("pydantic_ai.models.openai", "openai.resources.chat")
"""Provider SDK modules a warm worker imports too: building an agent imports them lazily (~0.5 s),
and every resume worker builds the target's agent again."""


# ---------------------------------------------------------------------------------------- adapter


class RestateAdapter(BaseAdapter):
    """Runs targets as invocations of Restate services served by the worker process."""

    name = "restate"
    runs_in_process = False
    preload_modules = (
        "durable_chaos.infra.engines.restate.adapter",
        "restate.ext.pydantic",
        "hypercorn.asyncio",
        "restate.server",
        *PROVIDER_MODULES,
        "durable_chaos.infra.engines.warmup",  # process caches (platform, usage serializers)
    )

    def __init__(self) -> None:
        self.server: EmbeddedServer | None = None
        self.endpoints: Endpoints | None = None
        self.ports: dict[Path, int] = {}

    def hooks(self) -> list[Hook]:
        return list(private_apis.ALL)

    def harness_changes(self, options: EngineOptions) -> list[str]:
        chosen = chosen_options(options, RestateOptions)
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

    # ``network_targets``: the default (none yet: the ingress and admin API could be ``engine_api``, not
    # routed), so ``proxied_environment`` leaves the environment as it is.

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
        options = chosen_options(request.options, RestateOptions)
        port = int(os.environ.get(ENV_ENDPOINT_PORT) or self.endpoint_port(request.workdir))
        old_port = port
        # An upgrade deployed as a new deployment at another address (docs/upgrades.md).
        redeployed = request.version == "N+1" and options.upgrade_endpoint == "new_address"
        if redeployed or request.warm_up:
            # A warm resume's warm-up serves at an address of its own: the faulted invocation, pinned to
            # the trial's deployment, is retried there only once the resume serves it.
            port = free_port()
        wait = options.recovery_timeout
        if request.version == "N+1" and request.upgrade_wait is not None and request.resume:
            wait = request.upgrade_wait
        service_name = (
            f"{HARNESS_SERVICE}_{hashlib.sha1(str(request.workdir.resolve()).encode()).hexdigest()[:8]}"
            + ("_warm_up" if request.warm_up else "")
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
            emit(events.RUN_IDS, **ids)
        set_root_target((call.service, call.handler))
        host = os.environ.get(ENV_ENDPOINT_HOST, "127.0.0.1")
        uri = f"http://{host}:{port}"
        async with serving(resolved.service, port):
            if not request.resume or fresh or redeployed:
                deployment = await asyncio.to_thread(register, self.endpoints, uri)
                ids["deployment_id"] = deployment
            if request.resume and not fresh:
                ids["retried_at_once"] = await asyncio.to_thread(retry_now, self.endpoints, call)
            ids["endpoint"] = uri
            status, headers, body = await invoke(self.endpoints, call, wait)
        invocation_id = headers.get("x-restate-id") or await asyncio.to_thread(
            find_invocation, self.endpoints, call
        )
        ids["invocation_id"] = invocation_id
        if invocation_id:
            with contextlib.suppress(Exception):
                ids["journal"] = await asyncio.to_thread(journal, self.endpoints, invocation_id)
        if status is None and redeployed and request.resume:
            old = f"http://{host}:{old_port}"
            return RunOutcome(request.role, False, error=upgrade_stranded(old, uri, body), engine_ids=ids)
        if status is None and request.version == "N+1" and request.resume and "RT0016" in body:
            return RunOutcome(request.role, False, error=upgrade_journal_mismatch(uri, body), engine_ids=ids)
        if status is None:
            return RunOutcome(request.role, False, error=body, engine_ids=ids)
        if status >= 400:
            return RunOutcome(request.role, False, error=failure_text(status, body), engine_ids=ids)
        return RunOutcome(request.role, True, output=decode(body), engine_ids=ids)

    def unit_context(self) -> dict[str, Any]:
        unit = current_unit()
        return {**unit, "pid": os.getpid()} if unit else {}

    @contextmanager
    def observing(self) -> Iterator[None]:
        with observe_journal():
            yield

    # ``replay_check``: the default (none): Restate has no offline replayer; its check is the live replay
    # after a crash.


def upgrade_journal_mismatch(uri: str, refused: str) -> str:
    """Why N+1 served at N's address cannot resume the invocation N started (docs/upgrades.md)."""
    return (
        f"UpgradeJournalMismatch: N+1, served where N's deployment was ({uri}), replays the journal N wrote "
        f"and its code asks for another journaled step where N's journal holds one ({refused}). The same "
        "address makes Restate retry the invocation on N+1's code, which must produce N's journal entries in "
        "N's order; a ctx.run added, removed or moved before what N journaled breaks that (RT0016), and "
        "Restate backs off forever. Deploy such a change as a new deployment at a new address and keep N's "
        "serving until its invocations finish, or put the new step after everything N journaled"
    )


def upgrade_stranded(old: str, new: str, waited: str) -> str:
    """Why an invocation N started never reaches N+1 deployed at another address (docs/upgrades.md)."""
    return (
        f"UpgradeStranded: the invocation stays on the deployment that started it ({old}, gone with N's "
        f"worker); N+1 was registered as a new deployment at {new} and never receives it ({waited}). Restate "
        "pins an invocation to its deployment (deployments are immutable): keep N's deployment serving until "
        "its invocations finish, or move them to the new one (restate-server 1.6+: --deployment latest)"
    )
