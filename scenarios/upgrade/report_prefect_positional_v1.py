"""Version N of a Prefect application whose tasks are cached by a policy of its own, ``by_position``
(the flow run, the task's name and its call number): a retried flow run reuses every result it completed."""

from __future__ import annotations

from prefect_release import BY_POSITION, build

analyst = build(cache_policy=BY_POSITION)
