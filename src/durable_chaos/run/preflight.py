"""Configuration mistakes caught before a trial runs, each as one line.

A scenario can be well-formed and still not fit its target: a target or comparator that cannot be
imported, an engine that is not installed, an agent made durable for another engine (or for none), a
fault selector naming a tool or model the agent does not have, a ``side_effecting_tools`` entry naming
no tool, a cassette to replay that does not exist. Running such a trial would report a misleading
violation or a harness failure; instead :func:`configuration_problems` finds them, and both
``durable-chaos validate`` and a trial (verdict ``invalid``) report its lines: one class of mistakes,
exit 2 everywhere, each as ``path:line: field: message``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

from durable_chaos import extras
from durable_chaos.infra.engines import engine_spec, install_hint, missing_modules
from durable_chaos.infra.engines.base import import_object
from durable_chaos.infra.engines.durability import agent_mismatch
from durable_chaos.infra.introspect import TargetInfo, describe
from durable_chaos.run.targets import ConfigurationError, TargetImportError, import_target, target_path
from durable_chaos.scenario.model import Expect, Scenario

Loc = tuple[int | str, ...]


@dataclass(frozen=True)
class Problem:
    """One mistake and the field of the scenario it is about (``()``: the file as a whole)."""

    loc: Loc
    message: str

    def located(self, scenario: Scenario) -> str:
        """``path:line: field: message`` (just the message for a scenario built in Python)."""
        if scenario.path is None:
            return self.message
        line = scenario.line_of(self.loc)
        field = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in self.loc)
        where = f"{scenario.path}:{line}" if line else str(scenario.path)
        return f"{where}: {field.lstrip('.')}: {self.message}" if field else f"{where}: {self.message}"


def engine_problem(engine: str) -> str | None:
    """Why ``engine`` cannot run here (not installed), or None."""
    spec = engine_spec(engine)
    missing = missing_modules(spec)
    if missing:
        return f"engine {engine!r} needs {', '.join(missing)}, which is not installed: {install_hint(spec)}"
    return None


def restart_problems(scenario: Scenario, engine: str) -> list[Problem]:
    """``restart`` faults naming a target the engine cannot restart."""
    offered = engine_spec(engine).restart_targets
    found = []
    for number, plan in enumerate(scenario.plans):
        for index, fault in enumerate(plan.faults, 1):
            if fault.kind == "restart" and fault.target not in offered:
                found.append(
                    Problem(
                        ("plans", number, "faults", index - 1, "target"),
                        f"plan {plan.name!r} fault #{index} restarts the {fault.target}, which engine "
                        f"{engine!r} cannot restart (it can restart: {', '.join(offered) or 'nothing yet'}); "
                        "see docs/network.md",
                    )
                )
    return found


def extra_problems(scenario: Scenario) -> list[Problem]:
    """Features of the scenario whose extra is not installed: network faults (``network``), an
    ``explore:`` table (``hypothesis``)."""
    found: list[tuple[Loc, str | None]] = []
    networked = [n for n, plan in enumerate(scenario.plans) if any(f.kind == "network" for f in plan.faults)]
    if networked:
        names = [repr(scenario.plans[n].name) for n in networked]
        plans = ("plans " if len(names) > 1 else "plan ") + ", ".join(names)
        found.append((("plans", networked[0]), extras.problem(f"the network faults of {plans}", "network")))
    if scenario.explore is not None:
        found.append(
            (("explore",), extras.problem("the 'explore' table (Hypothesis makes its plans)", "hypothesis"))
        )
    return [Problem(loc, line) for loc, line in found if line is not None]


def _matches(pattern: str, names: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for name in names)


def target_problems(scenario: Scenario, info: TargetInfo) -> list[Problem]:
    """Selectors and ``side_effecting_tools`` entries that name nothing the agent has."""
    if not info.agent:
        return []
    problems: list[Problem] = []
    tools = info.tool_names
    # An MCP server's tools are only known once it runs, so names are checked against function tools
    # only when the agent has no MCP server.
    tools_known = not info.mcp_servers
    have = f"its tools: {', '.join(tools) or 'none'}"
    for position, entry in enumerate(scenario.side_effecting_tools):
        loc: Loc = ("side_effecting_tools", position)
        tool = info.tool(entry.name)
        if tool is None:
            if tools_known:
                problems.append(
                    Problem(
                        loc,
                        f"side_effecting_tools names {entry.name!r}, which is no tool of agent "
                        f"{info.import_path} ({have})",
                    )
                )
            continue
        argument = entry.key_spec()
        if isinstance(argument, dict) and tool.parameters and argument["argument"] not in tool.parameters:
            problems.append(
                Problem(
                    loc,
                    f"side_effecting_tools: tool {entry.name!r} has no argument {argument['argument']!r} to "
                    f"use as its idempotency key (its arguments: {', '.join(tool.parameters)})",
                )
            )
    for number, plan in enumerate(scenario.plans):
        for index, fault in enumerate(plan.faults, 1):
            at = fault.at
            if at.name == "*":
                continue
            loc = ("plans", number, "faults", index - 1, "at", "name")
            where = f"plan {plan.name!r} fault #{index} selects {at.kind} {at.name!r}"
            model = [info.model] if info.model else []
            if at.kind == "tool_call" and tools_known and not _matches(at.name, tools):
                problems.append(
                    Problem(loc, f"{where}, which matches no tool of agent {info.import_path} ({have})")
                )
            elif at.kind == "model_request" and model and not _matches(at.name, model):
                problems.append(Problem(loc, f"{where}, but the agent's model is {info.model!r}"))
            elif at.kind == "any" and tools_known and model and not _matches(at.name, [*tools, *model]):
                problems.append(
                    Problem(
                        loc, f"{where}, which matches neither the model {info.model!r} nor a tool ({have})"
                    )
                )
    return problems


def comparator_problems(scenario: Scenario) -> list[Problem]:
    """``expect.comparator`` entries (the scenario's, each plan's) that cannot be imported or called."""
    found = []
    expects: list[tuple[Loc, Expect]] = [(("expect",), scenario.expect)]
    expects += [
        (("plans", n, "expect"), p.expect) for n, p in enumerate(scenario.plans) if p.expect is not None
    ]
    for loc, expect in expects:
        name = expect.comparator
        if name is None:
            continue
        try:
            comparator = import_object(name, scenario.base_dir)
        except Exception as exc:  # noqa: BLE001 - reported as one line
            found.append(
                Problem(
                    (*loc, "comparator"), f"cannot import comparator {name!r}: {type(exc).__name__}: {exc}"
                )
            )
            continue
        if not callable(comparator):
            found.append(Problem((*loc, "comparator"), f"comparator {name!r} is not callable"))
    return found


def cassette_problem(scenario: Scenario, record: bool) -> Problem | None:
    """The cassette to replay does not exist (not a problem while recording, which writes it)."""
    if record or scenario.cassette is None:
        return None
    path = scenario.resolve(scenario.cassette)
    if path.exists():
        return None
    source = scenario.path if scenario.path is not None else scenario.name
    if scenario.model_server is not None:
        how = "the scenario's model_server script answers in place of the provider, so no API key is needed"
    else:
        how = "the requests go to the real model provider: set its API key (e.g. OPENAI_API_KEY) first"
    return Problem(
        ("cassette",),
        f"{path} does not exist, so there is no model traffic to replay: record it with "
        f"`pytest --chaos --chaos-record {source}` ({how})",
    )


def _problems(scenario: Scenario, engines: Iterable[str], target: object | None) -> list[Problem]:
    found: list[Problem] = []
    for engine in engines:
        problem = engine_problem(engine)
        if problem is not None:
            found.append(Problem(("engines",), problem))
        found.extend(restart_problems(scenario, engine))
    found.extend(extra_problems(scenario))
    if target is None:
        return found
    if scenario.agent is not None:
        for engine in engines:
            mismatch = agent_mismatch(engine, scenario.agent, target)
            if mismatch is not None:
                found.append(Problem(("agent",), mismatch))
                break
    info = describe(scenario.agent or scenario.entry or "", target)
    model = extras.model_problem(info.model_spec or "")
    if model is not None:
        found.append(Problem(("agent",) if scenario.agent is not None else (), model))
    found.extend(target_problems(scenario, info))
    return found


def problems(scenario: Scenario, engines: Iterable[str], target: object | None) -> list[str]:
    """Every configuration mistake of ``scenario`` on ``engines`` that its engines and target show
    (``target``: the imported target, or None to check the engines only), one message each."""
    return [problem.message for problem in _problems(scenario, engines, target)]


def configuration_problems(scenario: Scenario, engines: Iterable[str], *, record: bool = False) -> list[str]:
    """Every configuration mistake of ``scenario`` on ``engines``, each one line ``path:line: field:
    message``: the target imported (as a trial imports it) and checked against the file, the engines,
    the comparators, and (unless ``record``) the cassette to replay. ``durable-chaos validate`` and every
    trial call this, so a mistake gets the same answer (exit 2) from both."""
    engines = list(engines)
    if skipped(scenario) is not None:
        return []  # nothing to check: the trials are skipped, saying why
    try:
        target: object | None = import_target(target_path(scenario), scenario.base_dir)
        failed: list[Problem] = []
    except TargetImportError as exc:
        target = None
        failed = [Problem(("agent" if scenario.agent is not None else "entry",), str(exc))]
    # A missing engine or extra first: it explains why the target could not be imported.
    found = [*_problems(scenario, engines, target), *failed]
    found.extend(comparator_problems(scenario))
    cassette = cassette_problem(scenario, record)
    if cassette is not None:
        found.append(cassette)
    return [problem.located(scenario) for problem in found]


def skipped(scenario: Scenario) -> str | None:
    """Why the scenario's trials are skipped here (an extra of its ``skip_without_extras`` is not
    installed), or None."""
    return extras.skip_reason(scenario.skip_without_extras)


def check(scenario: Scenario, engine: str, *, record: bool = False) -> None:
    """Raise :class:`ConfigurationError` with every mistake of this trial, ``; ``-joined on one line."""
    found = configuration_problems(scenario, [engine], record=record)
    if found:
        raise ConfigurationError("; ".join(found))
