"""The Prefect flow a target runs as: a harness flow around an agent (``retries=flow_retries``, so a
retry re-runs the same flow run), or the user's own entry flow with its retries replaced."""

from __future__ import annotations

from typing import Any

from durable_chaos.infra.engines.adapter_base import report_usage
from durable_chaos.infra.engines.base import (
    Target,
    TargetMismatch,
)
from durable_chaos.infra.engines.prefect.observe import next_epoch
from durable_chaos.infra.engines.stream_events import observe_handlers


def flow_parameters(target: Target) -> dict[str, Any]:
    return {"prompt": target.prompt} if target.kind == "agent" else dict(target.args)


def trial_flow(target: Target, retries: int) -> Any:
    """The flow a trial runs: a harness flow around an agent, or the user's own entry flow."""
    from prefect import Flow, flow

    if target.kind == "entry":
        entry = target.obj
        if not isinstance(entry, Flow):
            raise TargetMismatch(f"entry {target.import_path} is not a Prefect @flow")
        return entry.with_options(retries=retries, retry_delay_seconds=0)

    agent = target.obj
    observe_handlers(agent)

    @flow(
        name=f"durable-chaos {getattr(agent, 'name', None) or 'agent'}",
        retries=retries,
        retry_delay_seconds=0,
        validate_parameters=False,
        persist_result=False,
    )
    async def durable_chaos_trial(prompt: str) -> Any:
        next_epoch()
        result = await agent.run(prompt)
        report_usage(result)
        return result.output

    return durable_chaos_trial
