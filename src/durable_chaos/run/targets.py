"""Loading what a trial runs: its target (agent or entry point) and its comparator.

The one place user code is imported from a scenario's import path: a trial (:func:`load_target`),
``durable-chaos validate`` and every trial's preflight (:func:`import_target`), ``durable-chaos init``
and the warm workers all import a target through it, so a target that cannot be imported gets the same
one-line answer everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from durable_chaos import extras
from durable_chaos.infra.engines import Target
from durable_chaos.infra.engines.base import TargetMismatch, import_object

if TYPE_CHECKING:
    from durable_chaos.judge.evidence import Comparator
    from durable_chaos.scenario.model import Plan, Scenario

PLACEHOLDER_API_KEY = "sk-durable-chaos-replay"
PLACEHOLDER_KEY_VARIABLES = (
    ("OPENAI_API_KEY",),
    ("ANTHROPIC_API_KEY",),
    ("GOOGLE_API_KEY", "GEMINI_API_KEY"),
)
"""Per provider, the variables its SDK reads a key from (the first is set when none is)."""


class ConfigurationError(TargetMismatch):
    """The scenario does not fit its target or its engine; the message is one line per problem."""


class TargetImportError(Exception):
    """The scenario's target cannot be imported; the message says why."""


class TrialSkipped(Exception):
    """The trial cannot run here and is skipped (an optional extra its scenario names is missing); the
    message says why."""


class TrialSetupError(Exception):
    """The trial could not be set up (target, cassette, engine); the message says why."""


def ensure_placeholder_credentials() -> None:
    """Provider SDKs refuse to build a client without a key; replayed traffic needs none (a real key in
    the environment is left alone: replay never sends, and recording scrubs it)."""
    for variables in PLACEHOLDER_KEY_VARIABLES:
        if not any(os.environ.get(v) for v in variables):
            os.environ[variables[0]] = PLACEHOLDER_API_KEY


def import_failure(import_path: str, exc: BaseException) -> str:
    """One line for a target that cannot be imported, naming the extra to install when a missing
    optional library is the cause."""
    line = f"cannot import {import_path!r}: {type(exc).__name__}: {exc}"
    extra = extras.missing_extra_of(exc)
    return f"{line}; {extras.install_hint(extra)}" if extra is not None else line


def import_target(import_path: str, base_dir: Path) -> object:
    """The object at ``import_path`` (``module:attribute``, the module found from ``base_dir``),
    imported as a trial imports it; :class:`TargetImportError` (caused by what the import raised) when
    it cannot be."""
    ensure_placeholder_credentials()
    try:
        return import_object(import_path, base_dir)
    except Exception as exc:  # noqa: BLE001 - reported as one line
        raise TargetImportError(import_failure(import_path, exc)) from exc


def target_path(scenario: Scenario) -> str:
    """The scenario's target: its ``agent``, else its ``entry``."""
    import_path = scenario.agent or scenario.entry
    assert import_path is not None
    return import_path


def load_target(scenario: Scenario, upgraded: bool = False) -> Target:
    """The scenario's target, imported, with its inputs (``upgraded``: the upgrade's N+1 version, which
    only a resume worker imports). A missing extra is a configuration mistake
    (:class:`ConfigurationError`); any other import failure a trial error (:class:`TrialSetupError`)."""
    import_path = scenario.version_path(upgraded)
    try:
        obj = import_target(import_path, scenario.base_dir)
    except TargetImportError as exc:
        cause = exc.__cause__
        assert cause is not None
        if extras.missing_extra_of(cause) is not None:  # an extra to install: the configuration is invalid
            raise ConfigurationError(str(exc)) from cause
        raise TrialSetupError(str(exc)) from cause
    if scenario.agent is not None:
        return Target("agent", obj, import_path, prompt=scenario.prompt)
    return Target("entry", obj, import_path, args=dict(scenario.args))


def load_comparator(scenario: Scenario, plan: Plan) -> Comparator | None:
    """The plan's ``expect.comparator``, imported (``None`` for structural equality)."""
    name = scenario.expect_for(plan).comparator
    if name is None:
        return None
    try:
        comparator = import_object(name, scenario.base_dir)
    except Exception as exc:  # noqa: BLE001 - reported as a trial error
        raise TrialSetupError(f"cannot import comparator {name!r}: {type(exc).__name__}: {exc}") from exc
    if not callable(comparator):
        raise TrialSetupError(f"comparator {name!r} is not callable")
    return comparator  # type: ignore[no-any-return]
