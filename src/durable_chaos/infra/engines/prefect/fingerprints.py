"""What a Prefect task attempt's cache key is made of, for the judge: the fingerprint of its inputs and of
its result under pydantic-ai's own input hashing (the part of its default cache policy that hashes inputs,
per-run fields such as timestamps left out), and the key each part of the task's own cache policy gives.

A task restored from the cache runs nothing, so no model request or tool call says what it answered:
these fingerprints do. ``no_stale_replay`` compares the inputs a restored result was computed for with
the inputs N+1 gives that unit; ``stable_cache_keys`` names the part of the policy whose key changed.
"""

from __future__ import annotations

from typing import Any


def _inputs_policy() -> Any:
    """The input-hashing part of pydantic-ai's default Prefect cache policy, or ``None``."""
    try:
        from pydantic_ai.durable_exec.prefect import DEFAULT_PYDANTIC_AI_CACHE_POLICY
    except ImportError:  # a pydantic-ai without the Prefect integration's public policy
        return None
    parts = getattr(DEFAULT_PYDANTIC_AI_CACHE_POLICY, "policies", None) or [DEFAULT_PYDANTIC_AI_CACHE_POLICY]
    return parts[0]


def fingerprint(task_ctx: Any, values: dict[str, Any]) -> str | None:
    """``values`` hashed as pydantic-ai hashes a task's inputs (``None`` when they cannot be hashed)."""
    policy = _inputs_policy()
    if policy is None or not values:
        return None
    try:
        return policy.compute_key(task_ctx=task_ctx, inputs=dict(values), flow_parameters={})  # type: ignore[no-any-return]
    except Exception:  # noqa: BLE001 - an unhashable value has no fingerprint
        return None


_WHAT = {
    "Inputs": "the task's inputs",
    "PrefectAgentInputs": "the task's inputs",
    "TaskSource": "the task's source",
    "RunId": "the flow run id",
    "FlowParameters": "the flow's parameters",
}
"""What Prefect's own policies (and pydantic-ai's) key on."""


def policy_name(policy: Any) -> str:
    """A part of a cache policy as verdicts name it: ``the task's source (TaskSource)``, ``the flow run id
    (RunId)``, ``cache_key_fn by_position`` (``CachePolicy.from_cache_key_fn``), or its class's name."""
    fn = getattr(policy, "cache_key_fn", None)
    if fn is not None:
        return f"cache_key_fn {getattr(fn, '__name__', repr(fn))}"
    name = type(policy).__name__
    return f"{_WHAT[name]} ({name})" if name in _WHAT else name


def _pure(part: Any) -> bool:
    """A part whose key can be computed again without running the application's code: Prefect's and
    pydantic-ai's own policies (a ``cache_key_fn`` runs user code, which may count its calls)."""
    module = type(part).__module__
    own = module == "prefect.cache_policies" or module.startswith("pydantic_ai.")
    return own and getattr(part, "cache_key_fn", None) is None


def key_components(
    task: Any, task_ctx: Any, inputs: dict[str, Any], flow_parameters: dict[str, Any], key: str | None
) -> dict[str, str]:
    """The key each part of the task's cache policy computes: a compound policy's parts computed again
    one by one when each of them is Prefect's or pydantic-ai's own (nothing of the application runs
    twice); a single policy is its ``key``; otherwise nothing."""
    policy = getattr(task, "cache_policy", None)
    if policy is None or task_ctx is None:
        return {}
    parts = list(getattr(policy, "policies", None) or [])
    if not parts:
        return {policy_name(policy): str(key)}
    if not all(_pure(part) for part in parts):
        return {}
    components: dict[str, str] = {}
    for part in parts:
        try:
            part_key = part.compute_key(
                task_ctx=task_ctx, inputs=dict(inputs), flow_parameters=flow_parameters
            )
        except Exception:  # noqa: BLE001 - a part that cannot compute its key says so
            part_key = None
        components[policy_name(part)] = str(part_key)
    return components
