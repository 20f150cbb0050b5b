"""The optional features of durable-chaos: which extra installs each, and which modules it brings.

Every optional library is imported only where its feature runs. Before a feature runs, the harness
checks here whether its extra is installed (``importlib.util.find_spec``: nothing is imported), so a
scenario that needs a missing extra is a configuration error naming the extra to install (exit 2),
never a traceback. Engines say the same through their spec's ``extra`` and ``modules``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable

EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "prefect": ("prefect",),
    "dbos": ("dbos",),
    "temporal": ("temporalio",),
    "restate": ("restate", "hypercorn"),
    "network": ("toxiproxy", "requests"),
    "providers": ("anthropic", "google.genai"),
    "mcp": ("mcp", "fastmcp"),
    "hypothesis": ("hypothesis",),
    "adk": ("adk_fluent", "google.adk"),
}
"""Each extra (``pip install 'durable-chaos[<extra>]'``) and the modules it installs that the harness
or a user's agent imports."""


def model_problem(model: str) -> str | None:
    """Why a model given as ``provider:name`` (``anthropic:claude-haiku-4-5``) cannot run here (its
    provider's SDK is not installed), or None."""
    provider = model.partition(":")[0].rpartition("/")[2] if ":" in model else ""
    if provider == "anthropic":
        return problem(f"the agent's model {model!r}", "providers", ["anthropic"])
    if provider.startswith(("google", "gemini")):
        return problem(f"the agent's model {model!r}", "providers", ["google.genai"])
    return None


def skip_reason(needed: Iterable[str]) -> str | None:
    """Why a scenario that is skipped without some extras (``skip_without_extras``) cannot run here, or
    None when every one of them is installed."""
    lines = [problem("needs the extra", extra) for extra in needed]
    found = [line.partition(": ")[2] for line in lines if line is not None]
    return f"an optional extra is missing: {'; '.join(found)}" if found else None


def install_hint(extra: str) -> str:
    return f"install it with: pip install 'durable-chaos[{extra}]'"


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module half-imported
        return False


def missing(extra: str, modules: Iterable[str] | None = None) -> list[str]:
    """The modules of ``extra`` (or those of its ``modules`` the feature needs) that are not installed."""
    return [module for module in modules or EXTRA_MODULES[extra] if not installed(module)]


def problem(feature: str, extra: str, modules: Iterable[str] | None = None) -> str | None:
    """One line saying that ``feature`` needs ``extra``, which is not installed; None when it is."""
    absent = missing(extra, modules)
    if not absent:
        return None
    return f"{feature}: needs {', '.join(absent)}, which is not installed; {install_hint(extra)}"


def extra_of(module: str) -> str | None:
    """The extra that installs ``module`` (a dotted name; its package counts), or None."""
    for extra, modules in EXTRA_MODULES.items():
        for known in modules:
            if module == known or module.startswith(known + ".") or known.startswith(module + "."):
                return extra
    return None


def missing_extra_of(exc: BaseException) -> str | None:
    """The extra whose absence caused ``exc`` (an ImportError, or one raised from it), or None.

    Libraries often re-raise a missing module as an ImportError of their own (pydantic-ai's
    "Please install ``anthropic``..."), so the chain of causes is followed."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ModuleNotFoundError) and current.name:
            extra = extra_of(current.name)
            if extra is not None and missing(extra):
                return extra
        current = current.__cause__ or current.__context__
    return None


class MissingExtra(ImportError):
    """A feature was used whose extra is not installed; the message names the extra."""

    def __init__(self, feature: str, extra: str) -> None:
        super().__init__(
            problem(feature, extra) or f"{feature}: needs the {extra!r} extra; {install_hint(extra)}"
        )
        self.extra = extra


def require(feature: str, extra: str) -> None:
    """Raise :class:`MissingExtra` when ``extra`` is not installed."""
    if missing(extra):
        raise MissingExtra(feature, extra)
