"""``durable-chaos init module:attr``: a first scenario for an importable agent.

Lists what the agent is made of (:mod:`durable_chaos.infra.introspect`) and writes two files beside
each other: a script for the scripted model server (one tool call per model turn, every tool once, then
the final answer, with placeholder arguments read from the tools' JSON schemas) and a scenario with a
sweep-ready set of faults (a kill between two model requests, a burst of 429s, a tool error) and a
``side_effecting_tools`` list guessed from the tool names, for the user to confirm.
``pytest --chaos --chaos-record`` then records the cassette and ``pytest --chaos`` runs the trials.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from durable_chaos.infra.introspect import TargetInfo, ToolInfo, describe

SIDE_EFFECT_WORDS = re.compile(
    r"(^|_)(send|create|delete|remove|update|write|save|post|put|publish|charge|refund|pay|book|order|"
    r"cancel|insert|upload|notify|email|submit|transfer|deploy)(_|$)"
)
"""Tool names that usually do something in the world (a guess, listed for the user to confirm)."""


class ScaffoldError(Exception):
    """The target cannot be scaffolded; the message is one line saying why."""


@dataclass(frozen=True)
class Scaffold:
    info: TargetInfo
    scenario_path: Path
    script_path: Path
    side_effecting: tuple[str, ...]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "agent"


def guess_side_effecting(tools: tuple[ToolInfo, ...]) -> tuple[str, ...]:
    return tuple(tool.name for tool in tools if SIDE_EFFECT_WORDS.search(tool.name.lower()))


def placeholder(schema: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> Any:
    """A value that validates against a (simple) JSON schema: defaults, first enum values, and
    ``example``-style scalars."""
    if depth > 8:
        return None
    if "$ref" in schema:
        return placeholder(defs.get(schema["$ref"].rsplit("/", 1)[-1], {}), defs, depth + 1)
    if "default" in schema:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return placeholder(options[0], defs, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        required = schema.get("required", list(properties))
        return {
            name: placeholder(sub, defs, depth + 1) for name, sub in properties.items() if name in required
        }
    if kind == "array":
        return [placeholder(schema.get("items", {}), defs, depth + 1)] if schema.get("minItems") else []
    return {"integer": 1, "number": 1.0, "boolean": True, "null": None}.get(str(kind), "example")


def _tool_schema(agent: Any, tool: ToolInfo) -> dict[str, Any]:
    leaves: list[Any] = []
    for toolset in agent.toolsets:
        toolset.apply(leaves.append)
    for leaf in leaves:
        found = getattr(leaf, "tools", None)
        if isinstance(found, dict) and tool.name in found:
            schema = getattr(found[tool.name].function_schema, "json_schema", None)
            return dict(schema or {})
    return {}


def script_for(agent: Any, info: TargetInfo) -> dict[str, Any]:
    """The scripted server's conversation: every tool once, one per turn, then the final answer."""
    turns: list[dict[str, Any]] = []
    for tool in info.tools:
        schema = _tool_schema(agent, tool)
        arguments = placeholder(schema, schema.get("$defs", {}))
        turns.append({"tool_calls": [{"name": tool.name, "arguments": arguments}]})
    try:
        output = agent.output_json_schema()
    except Exception:  # noqa: BLE001 - an output type without a schema is answered in text
        output = {"type": "string"}
    if output.get("type") == "object" or "properties" in output:
        final = placeholder(output, output.get("$defs", {}))
        turns.append({"tool_calls": [{"name": "final_result", "arguments": final}]})
    else:
        turns.append({"text": "Done: the scripted model's final answer."})
    return {"conversations": [{"match": "", "turns": turns}]}


def plans_for(info: TargetInfo, side_effecting: tuple[str, ...]) -> list[dict[str, Any]]:
    """A kill, a 429 burst and a tool error, placed where a correct durable agent survives them."""
    two_requests = bool(info.tools)
    kill_at = (
        {"kind": "model_request", "occurrence": 2, "phase": "before"}
        if two_requests
        else {"kind": "model_request", "occurrence": 1, "phase": "after"}
    )
    plans: list[dict[str, Any]] = [
        {"name": "kill-between-model-requests", "faults": [{"kind": "kill", "at": kill_at}]},
        {
            "name": "rate-limit-burst",
            "faults": [
                {
                    "kind": "http_error",
                    "status": 429,
                    "retry_after": 0.05,
                    "at": {"kind": "model_request", "occurrence": 1, "times": 2},
                }
            ],
        },
    ]
    read_only = [t.name for t in info.tools if t.name not in side_effecting]
    target = next(iter(read_only or info.tool_names), None)
    if target is not None:
        plans.append(
            {
                "name": f"tool-error-{slug(target)}",
                "faults": [
                    {
                        "kind": "tool_error",
                        "exception": "ConnectionError",
                        "message": "injected by durable-chaos",
                        "at": {"kind": "tool_call", "name": target, "times": 1},
                    }
                ],
            }
        )
    return plans


HEADER = """\
# Written by `durable-chaos init {import_path}`. Edit freely.
#
# {description}
#
# side_effecting_tools is a GUESS from the tool names: confirm it. Tools really run during trials
# (the golden run, the faulted run and every retry or resume), so point their side effects at a
# sandbox. An idempotent tool can say how: {{name: send_refund, idempotency: call_id}} or
# {{name: send_refund, idempotency: {{argument: refund_id}}}}.
#
# The faults: a kill between two model requests (the engine resumes the run in a new worker), a burst
# of 429s within the provider SDK's own retries (raise `times` above them to test your engine's retry
# policy), and a tool error once (survived when the tool's durable unit retries; otherwise
# `completes` is violated, and that is a finding).
#
# Next: pytest --chaos --chaos-record {scenario}   (records {cassette} from {script})
#       pytest --chaos {scenario}
"""


def scaffold(
    import_path: str,
    directory: Path,
    engine: str | None = None,
    prompt: str | None = None,
    force: bool = False,
) -> Scaffold:
    """Write the script and the scenario for the agent ``import_path`` into ``directory``."""
    from durable_chaos.run.preflight import engine_problem
    from durable_chaos.run.targets import TargetImportError, import_target

    directory.mkdir(parents=True, exist_ok=True)
    try:
        obj = import_target(import_path, directory)
    except TargetImportError as exc:
        raise ScaffoldError(str(exc)) from exc.__cause__
    info = describe(import_path, obj)
    if not info.agent:
        raise ScaffoldError(
            f"{import_path} is a {info.kind}, not a pydantic-ai agent: give init the agent the entry "
            "point runs (module:agent), then change the scenario's 'agent:' to 'entry:' with 'args:'"
        )
    chosen = engine or info.durability
    if chosen is None:
        raise ScaffoldError(
            f"agent {import_path} has no durable execution: give it an engine's durability capability "
            "(or wrapper) first, or pass --engine"
        )
    problem = engine_problem(chosen)
    if problem is not None:
        raise ScaffoldError(problem)
    name = slug(import_path.rpartition(":")[2] or import_path)
    scenario_path = directory / f"{name}.chaos.yaml"
    script_path = directory / f"{name}.script.yaml"
    existing = [p for p in (scenario_path, script_path) if p.exists()]
    if existing and not force:
        raise ScaffoldError(f"{existing[0]} exists; pass --force to overwrite it")
    side_effecting = guess_side_effecting(info.tools)
    cassette = f"cassettes/{name}.yaml"
    scenario: dict[str, Any] = {
        "schema_version": 1,
        "name": name,
        "description": f"Chaos trials of {import_path} ({info.kind}, model {info.model_spec or 'per run'}).",
        "agent": import_path,
        "prompt": prompt or "Handle the request.",
        "engines": [chosen],
        "cassette": cassette,
        "model_server": {"script": script_path.name},
        "side_effecting_tools": list(side_effecting),
        "plans": plans_for(info, side_effecting),
    }
    description = "\n# ".join(info.lines())
    header = HEADER.format(
        import_path=import_path,
        description=description,
        scenario=scenario_path.name,
        cassette=cassette,
        script=script_path.name,
    )
    dump = yaml.safe_dump(scenario, sort_keys=False, allow_unicode=True, width=100)
    scenario_path.write_text(header + "\n" + dump, encoding="utf-8")
    script_header = (
        f"# The scripted model conversation of {import_path} (durable_chaos.infra.model_server):\n"
        "# one tool call per model turn, then the final answer. Replace the placeholder arguments and\n"
        "# answers with what your agent really sees; `match` picks the conversation by a substring of the\n"
        "# system prompt (empty: every request).\n"
    )
    script_dump = yaml.safe_dump(script_for(obj, info), sort_keys=False, allow_unicode=True, width=100)
    script_path.write_text(script_header + script_dump, encoding="utf-8")
    return Scaffold(info, scenario_path, script_path, side_effecting)
