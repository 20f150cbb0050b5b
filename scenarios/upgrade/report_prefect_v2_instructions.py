"""Version N+1 of ``report_prefect_v1`` that changes the agent's instructions. KNOWN-BAD on Prefect: the
re-run flow run asks the first model request again with N+1's instructions (a new cache key), and the
tool call it answers is a new task run too: ``load_dataset`` (side-effecting) runs a second time."""

from __future__ import annotations

from data_analyst_core import INSTRUCTIONS
from prefect_release import build

analyst = build(instructions=f"{INSTRUCTIONS} Round every figure to one decimal.")
