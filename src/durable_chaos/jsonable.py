"""An agent output in a structural, comparable JSON form.

The checkers compare outputs in this form, and a worker process writes its run's output in it (the
lowest floor: it imports nothing of the package).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def jsonable(value: Any) -> Any:
    """A structural, comparable form of an agent output."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
