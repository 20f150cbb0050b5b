"""What a Temporal trial's worker (and replayer) registers for a target, and how the workflow starts.

* agents run in the harness workflow ``durable_chaos_trial`` (:mod:`.workflow`); their activities are
  registered with pydantic-ai's ``AgentPlugin``;
* ``entry:`` targets are ``@workflow.defn`` classes: every workflow class and ``@activity.defn`` function
  of their module (plus ``TemporalOptions.activities``), and the agents of ``__pydantic_ai_agents__``.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass, field
from typing import Any

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from durable_chaos.infra.engines.base import (
    Target,
    TargetMismatch,
    import_object,
)
from durable_chaos.infra.engines.temporal.options import TemporalOptions
from durable_chaos.infra.engines.temporal.workflow import TRIAL_WORKFLOW_NAME, DurableChaosTrial


def is_workflow_class(obj: Any) -> bool:
    return inspect.isclass(obj) and hasattr(obj, "__temporal_workflow_definition")


def is_activity(obj: Any) -> bool:
    return callable(obj) and hasattr(obj, "__temporal_activity_definition")


def workflow_name(cls: type) -> str:
    return str(cls.__temporal_workflow_definition.name)  # type: ignore[attr-defined]


@dataclass
class Registrations:
    """What a trial's worker (and replayer) registers, and how the workflow is started."""

    workflows: list[type]
    activities: list[Any]
    plugins: list[Any]
    passthrough: tuple[str, ...]
    workflow: Any  # the workflow's run method (entry) or its name (agent)
    args: list[Any] = field(default_factory=list)
    agent: Any = None


def registrations(target: Target, options: TemporalOptions) -> Registrations:
    from pydantic_ai.durable_exec.temporal import AgentPlugin

    if target.kind == "agent":
        agent_module = target.import_path.partition(":")[0].split(".")[0]
        return Registrations(
            workflows=[DurableChaosTrial],
            activities=[],
            plugins=[AgentPlugin(target.obj)],
            passthrough=("durable_chaos", agent_module),
            workflow=TRIAL_WORKFLOW_NAME,
            args=[target.prompt],
            agent=target.obj,
        )
    cls = target.obj
    module = sys.modules[cls.__module__]
    workflows = [cls]
    agents = {id(agent) for agent in getattr(cls, "__pydantic_ai_agents__", None) or ()}
    for obj in vars(module).values():
        if not is_workflow_class(obj) or obj is cls or obj.__module__ != module.__name__:
            continue
        # pydantic-ai before 2.6x registers a shared agent's activities once per workflow class that
        # lists it (``__pydantic_ai_agents__``): a second class with the same agent would register them
        # twice ("More than one activity named ..."). Its child workflows are other classes.
        theirs = {id(agent) for agent in getattr(obj, "__pydantic_ai_agents__", None) or ()}
        if theirs & agents:
            continue
        agents |= theirs
        workflows.append(obj)
    activities = [obj for obj in vars(module).values() if is_activity(obj)]

    for path in options.activities:
        activities.append(import_object(path))
    run_fn = cls.__temporal_workflow_definition.run_fn
    parameters = [p for p in inspect.signature(run_fn).parameters.values()][1:]
    unknown = set(target.args) - {p.name for p in parameters}
    if unknown:
        raise TargetMismatch(
            f"{target.import_path}.run takes {', '.join(p.name for p in parameters) or 'no arguments'}; "
            f"the scenario's args name {', '.join(sorted(unknown))}"
        )
    args = [target.args[p.name] for p in parameters if p.name in target.args]
    return Registrations(
        workflows=workflows,
        activities=list(dict.fromkeys(activities)),
        plugins=[],
        passthrough=("durable_chaos",),
        workflow=run_fn,
        args=args,
    )


def sandbox(passthrough: tuple[str, ...]) -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*passthrough)
    )
