"""The one way durable-chaos patches an attribute: save, replace, restore."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def patched(owner: Any, name: str, replacement: Any) -> Iterator[Any]:
    """Set ``owner.name`` to ``replacement`` for the block and restore the original after; yields the
    original. Used by every injector and every hook."""
    own = isinstance(owner, type) and name in owner.__dict__
    original = owner.__dict__[name] if own else getattr(owner, name)
    setattr(owner, name, replacement)
    try:
        yield original
    finally:
        if own or not isinstance(owner, type):
            setattr(owner, name, original)
        else:
            delattr(owner, name)  # the attribute was inherited: inherit it again
