"""The data analyst on Restate (``../restate/data_analyst_restate.py``), for restarts of the Restate
server."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "restate"))

from data_analyst_restate import analyze  # noqa: E402

__all__ = ["analyze"]
