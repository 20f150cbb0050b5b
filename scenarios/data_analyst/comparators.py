"""Output comparators for ``expect.comparator``: ``(golden, faulted) -> bool | (bool, reason)`` on the
jsonable outputs of the golden and the faulted run."""

from __future__ import annotations

from typing import Any

VOLATILE = ("generated_at",)


def same_report(golden: dict[str, Any], faulted: dict[str, Any]) -> tuple[bool, str]:
    """The same report apart from when it was generated."""
    a = {k: v for k, v in golden.items() if k not in VOLATILE}
    b = {k: v for k, v in faulted.items() if k not in VOLATILE}
    differing = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    if not differing:
        return True, "equal apart from generated_at"
    key = differing[0]
    return False, f"{key!r} differs (golden {a.get(key)!r} vs faulted {b.get(key)!r})"
