"""The data analyst on Temporal (``../temporal/data_analyst_temporal.py``), for restarts of the Temporal
dev server."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "temporal"))

from data_analyst_temporal import analyst  # noqa: E402

__all__ = ["analyst"]
