"""Version N+1 of ``report_prefect_positional_v1`` that changes the agent's instructions. KNOWN-BAD: the
cache key ignores the inputs, so the re-run flow run restores the answer N got to the first model request
(asked with N's instructions) where N+1 asks with its own: a stale replay."""

from __future__ import annotations

from data_analyst_core import INSTRUCTIONS
from prefect_release import BY_POSITION, build

analyst = build(instructions=f"{INSTRUCTIONS} Round every figure to one decimal.", cache_policy=BY_POSITION)
