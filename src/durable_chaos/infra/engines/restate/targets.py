"""What a Restate target runs as: a service of the worker's endpoint and one of its handlers.

An ``agent:`` target is wrapped in a service of the harness's (``DurableChaosTrial_<trial>``, handler
``run(prompt)``) with the scenario's retry policy; an ``entry:`` target is the user's own handler or
service, its input taken from the scenario's ``args``."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import restate
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from durable_chaos.infra.engines.adapter_base import report_usage
from durable_chaos.infra.engines.base import (
    Target,
    TargetMismatch,
)
from durable_chaos.infra.engines.durability import agent_mismatch
from durable_chaos.infra.engines.restate import private_apis
from durable_chaos.infra.engines.restate.options import RestateOptions
from durable_chaos.infra.engines.stream_events import observe_handlers

HARNESS_SERVICE = "DurableChaosTrial"
HARNESS_HANDLER = "run"


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
    observe_handlers(agent)
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
        report_usage(result)
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
    symbol = private_apis.HANDLER_SYMBOL.resolve()
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
