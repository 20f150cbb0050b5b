"""Process-wide caches a warm worker (the zygote, :mod:`durable_chaos.run.zygote`) fills before it forks,
so that each forked worker does not pay for them on its run's critical path: after a kill, the resume
worker's time to recover. Nothing of the user's agent runs here, and nothing here is the engine's state:
these are the caches every process of the user's would fill on its first run too.

- ``platform.platform()`` and ``platform.uname().processor``: the OpenAI client sends the platform in its
  headers and, on the first request of each client, computes it, which on Linux runs ``uname -p`` in a
  subprocess (a fork and an exec: 10-40 ms here); the platform module caches the answers.
- pydantic-ai's usage serializers (``RunUsage``, ``RequestUsage``): built on first use (a pydantic schema
  per type, cached per process), which is when a run's first model response is recorded or sent to the
  engine.

An optimisation only: when a name moves, nothing is warmed and nothing else changes.
"""

from __future__ import annotations

import contextlib
import platform


def warm() -> None:
    with contextlib.suppress(Exception):
        platform.platform()
        _ = platform.uname().processor
    with contextlib.suppress(Exception):
        from pydantic_ai.usage import RequestUsage, RunUsage

        for usage_type in (RunUsage, RequestUsage):
            _ = usage_type.__pydantic_serializer__


warm()
