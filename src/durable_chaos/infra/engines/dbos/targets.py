"""The DBOS workflow a target runs as: the harness workflow ``durable_chaos_trial`` around an agent
(registered under that stable name in every worker, before ``DBOS.launch()``, so a worker started after
a SIGKILL can recover it), or the user's own workflow function."""

from __future__ import annotations

import pickle
from typing import Any

from durable_chaos.infra.engines.adapter_base import report_usage
from durable_chaos.infra.engines.base import (
    EngineUnavailable,
    Target,
)
from durable_chaos.infra.engines.stream_events import observe_handlers

TRIAL_WORKFLOW_NAME = "durable_chaos_trial"


_trial_target: Target | None = None
_trial_workflow: Any = None


def entry_workflow(target: Target) -> Any:
    """The workflow a trial runs: the harness workflow around an agent, or the user's own workflow."""
    global _trial_target
    if target.kind == "entry":
        return target.obj
    if target.kind != "agent":
        raise EngineUnavailable(f"unknown target kind {target.kind!r}")
    _trial_target = target
    observe_handlers(target.obj)
    return trial_workflow()


def trial_workflow() -> Any:
    """Register ``durable_chaos_trial`` once per process, under a stable name."""
    global _trial_workflow
    if _trial_workflow is None:
        from dbos import DBOS

        @DBOS.workflow(name=TRIAL_WORKFLOW_NAME)
        async def durable_chaos_trial(prompt: str | None) -> Any:
            if _trial_target is None:
                raise RuntimeError("durable_chaos_trial ran with no agent target registered in this process")
            result = await _trial_target.obj.run(prompt)
            report_usage(result)
            return storable(result.output)

        _trial_workflow = durable_chaos_trial
    return _trial_workflow


def workflow_arguments(target: Target) -> dict[str, Any]:
    return {"prompt": target.prompt} if target.kind == "agent" else dict(target.args)


def storable(output: Any) -> Any:
    """The output as DBOS will journal it (pickle): as is if it pickles, else its JSON form."""
    try:
        pickle.dumps(output)
        return output
    except Exception:  # noqa: BLE001 - e.g. a pydantic model class defined inside a function
        dump = getattr(output, "model_dump", None)
        if callable(dump):
            return dump(mode="json")
        raise
