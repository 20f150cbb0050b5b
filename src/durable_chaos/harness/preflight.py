"""Configuration mistakes caught before a trial runs, each as one line.

A scenario can be well-formed and still not fit its target: an engine that is not installed, an agent
made durable for another engine (or for none), a fault selector naming a tool or model the agent does
not have, a ``side_effecting_tools`` entry naming no tool. Running such a trial would report a
misleading violation; instead the trial's verdict is ``invalid`` (exit 2) with the problem, and
``durable-chaos validate`` reports the same lines.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from durable_chaos import extras
from durable_chaos.fixtures.engines import engine_spec, install_hint, missing_modules
from durable_chaos.fixtures.engines.base import TargetMismatch, import_object
from durable_chaos.fixtures.engines.durability import agent_mismatch
from durable_chaos.fixtures.introspect import TargetInfo, describe
from durable_chaos.harness.scenario import Scenario


class ConfigurationError(TargetMismatch):
    """The scenario does not fit its target or its engine; the message is one line per problem."""


class TargetImportError(Exception):
    """The scenario's target cannot be imported; the message says why."""


def engine_problem(engine: str) -> str | None:
    """Why ``engine`` cannot run here (not installed), or None."""
    spec = engine_spec(engine)
    missing = missing_modules(spec)
    if missing:
        return f"engine {engine!r} needs {', '.join(missing)}, which is not installed: {install_hint(spec)}"
    return None


def restart_problems(scenario: Scenario, engine: str) -> list[str]:
    """``restart`` faults naming a target the engine cannot restart."""
    offered = engine_spec(engine).restart_targets
    found = []
    for plan in scenario.plans:
        for index, fault in enumerate(plan.faults, 1):
            if fault.kind == "restart" and fault.target not in offered:
                found.append(
                    f"plan {plan.name!r} fault #{index} restarts the {fault.target}, which engine {engine!r} "
                    f"cannot restart (it can restart: {', '.join(offered) or 'nothing yet'}); see "
                    "docs/network.md"
                )
    return found


def extra_problems(scenario: Scenario) -> list[str]:
    """Features of the scenario whose extra is not installed: network faults (``network``), an
    ``explore:`` table (``hypothesis``)."""
    found = []
    networked = [plan.name for plan in scenario.plans if any(f.kind == "network" for f in plan.faults)]
    if networked:
        plans = ("plans " if len(networked) > 1 else "plan ") + ", ".join(repr(name) for name in networked)
        found.append(extras.problem(f"the network faults of {plans}", "network"))
    if scenario.explore is not None:
        found.append(extras.problem("the 'explore' table (Hypothesis makes its plans)", "hypothesis"))
    return [line for line in found if line is not None]


def _matches(pattern: str, names: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for name in names)


def target_problems(scenario: Scenario, info: TargetInfo) -> list[str]:
    """Selectors and ``side_effecting_tools`` entries that name nothing the agent has."""
    if not info.agent:
        return []
    problems: list[str] = []
    tools = info.tool_names
    # An MCP server's tools are only known once it runs, so names are checked against function tools
    # only when the agent has no MCP server.
    tools_known = not info.mcp_servers
    have = f"its tools: {', '.join(tools) or 'none'}"
    for entry in scenario.side_effecting_tools:
        tool = info.tool(entry.name)
        if tool is None:
            if tools_known:
                problems.append(
                    f"side_effecting_tools names {entry.name!r}, which is no tool of agent "
                    f"{info.import_path} ({have})"
                )
            continue
        argument = entry.key_spec()
        if isinstance(argument, dict) and tool.parameters and argument["argument"] not in tool.parameters:
            problems.append(
                f"side_effecting_tools: tool {entry.name!r} has no argument {argument['argument']!r} to use "
                f"as its idempotency key (its arguments: {', '.join(tool.parameters)})"
            )
    for plan in scenario.plans:
        for index, fault in enumerate(plan.faults, 1):
            at = fault.at
            if at.name == "*":
                continue
            where = f"plan {plan.name!r} fault #{index} selects {at.kind} {at.name!r}"
            model = [info.model] if info.model else []
            if at.kind == "tool_call" and tools_known and not _matches(at.name, tools):
                problems.append(f"{where}, which matches no tool of agent {info.import_path} ({have})")
            elif at.kind == "model_request" and model and not _matches(at.name, model):
                problems.append(f"{where}, but the agent's model is {info.model!r}")
            elif at.kind == "any" and tools_known and model and not _matches(at.name, [*tools, *model]):
                problems.append(
                    f"{where}, which matches neither the model {info.model!r} nor a tool ({have})"
                )
    return problems


def import_target(scenario: Scenario) -> object:
    """The scenario's target object, imported as a trial imports it."""
    from durable_chaos.harness.runner import ensure_placeholder_credentials

    ensure_placeholder_credentials()
    import_path = scenario.agent or scenario.entry
    assert import_path is not None
    try:
        return import_object(import_path, scenario.base_dir)
    except Exception as exc:  # noqa: BLE001 - reported as one line
        raise TargetImportError(import_failure(import_path, exc)) from exc


def import_failure(import_path: str, exc: BaseException) -> str:
    """One line for a target that cannot be imported, naming the extra to install when a missing
    optional library is the cause."""
    line = f"cannot import {import_path!r}: {type(exc).__name__}: {exc}"
    extra = extras.missing_extra_of(exc)
    return f"{line}; {extras.install_hint(extra)}" if extra is not None else line


def problems(scenario: Scenario, engines: Iterable[str], target: object | None) -> list[str]:
    """Every configuration mistake of ``scenario`` on ``engines`` (``target``: the imported target,
    or None to check the engines only)."""
    found: list[str] = []
    for engine in engines:
        problem = engine_problem(engine)
        if problem is not None:
            found.append(problem)
        found.extend(restart_problems(scenario, engine))
    found.extend(extra_problems(scenario))
    if target is None:
        return found
    if scenario.agent is not None:
        for engine in engines:
            mismatch = agent_mismatch(engine, scenario.agent, target)
            if mismatch is not None:
                found.append(mismatch)
                break
    info = describe(scenario.agent or scenario.entry or "", target)
    model = extras.model_problem(info.model_spec or "")
    if model is not None:
        found.append(model)
    found.extend(target_problems(scenario, info))
    return found


def check(scenario: Scenario, engine: str, target: object) -> None:
    """Raise :class:`ConfigurationError` with every mistake of this trial, ``; ``-joined on one line."""
    found = problems(scenario, [engine], target)
    if found:
        raise ConfigurationError("; ".join(found))
