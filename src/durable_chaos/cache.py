"""The cache directory durable-chaos keeps across sessions on a machine.

``$DURABLE_CHAOS_CACHE_DIR``, else ``$XDG_CACHE_HOME/durable-chaos``, else ``~/.cache/durable-chaos``.
What lives there can always be made again (the Restate server binary, a migrated Prefect database):
deleting it costs time, never correctness.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_CACHE = "DURABLE_CHAOS_CACHE_DIR"


def cache_root() -> Path:
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "durable-chaos"
