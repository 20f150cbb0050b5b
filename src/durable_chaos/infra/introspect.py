"""What a target is made of: an agent's model, tools, toolsets, MCP servers and durability.

Used before a trial runs (to catch a selector on a tool the agent does not have, a side-effecting tool
that does not exist, an engine the agent is not durable for), by ``durable-chaos validate`` and by
``durable-chaos init``. Written on pydantic-ai's public API: ``AbstractAgent.model`` and ``.toolsets``,
``AbstractToolset.apply`` (which visits the leaf toolsets beneath wrappers, prefixes and renames),
``FunctionToolset.tools``, and the durability walk of :mod:`durable_chaos.infra.engines.durability`.
MCP servers are listed but not connected to, so the names of their tools are unknown here.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from durable_chaos.infra.engines.durability import durability_of, is_agent


@dataclass(frozen=True)
class ToolInfo:
    name: str
    toolset: str
    """The id (or class name) of the leaf toolset that holds the tool."""
    parameters: tuple[str, ...] = ()
    """Argument names, from the tool's JSON schema."""


@dataclass(frozen=True)
class TargetInfo:
    """What an agent target is made of (an ``entry`` function has none of it: ``agent`` is False)."""

    import_path: str
    agent: bool
    kind: str
    """The target object's class name (``Agent``, ``PrefectAgent``, ``function``)."""
    model: str | None = None
    """The model name as model requests carry it (``gpt-4o``), or None when it is set per run."""
    model_spec: str | None = None
    """The model as the agent was given it (``openai-chat:gpt-4o``, ``OpenAIChatModel``)."""
    tools: tuple[ToolInfo, ...] = ()
    toolsets: tuple[str, ...] = ()
    mcp_servers: tuple[str, ...] = ()
    durability: str | None = None
    """The engine the agent is made durable for, or None."""
    notes: tuple[str, ...] = field(default=())

    @property
    def tool_names(self) -> tuple[str, ...]:
        return tuple(tool.name for tool in self.tools)

    def tool(self, name: str) -> ToolInfo | None:
        return next((tool for tool in self.tools if tool.name == name), None)

    def lines(self) -> list[str]:
        """A short human description, one fact a line."""
        if not self.agent:
            return [f"{self.import_path}: a {self.kind} (an entry point: its tools are not listed)"]
        tools = ", ".join(f"{t.name}({', '.join(t.parameters)})" for t in self.tools) or "none"
        return [
            f"{self.import_path}: {'an' if self.kind[:1] in 'AEIOU' else 'a'} {self.kind}",
            f"  model:       {self.model_spec or 'none (given per run)'}",
            f"  tools:       {tools}",
            f"  toolsets:    {', '.join(self.toolsets) or 'none'}",
            f"  MCP servers: {', '.join(self.mcp_servers) or 'none'}",
            f"  durability:  {self.durability or 'none (the agent is not durable)'}",
            *(f"  note: {note}" for note in self.notes),
        ]


def model_names(model: Any) -> tuple[str | None, str | None]:
    """(name as requests carry it, the model as given) of an agent's model."""
    if model is None:
        return None, None
    if isinstance(model, str):
        return model.split(":", 1)[-1], model
    name = getattr(model, "model_name", None)
    return (str(name) if name else None), f"{type(model).__name__}({name})" if name else type(model).__name__


def _is_mcp(toolset: Any) -> bool:
    module = type(toolset).__module__
    return module == "pydantic_ai.mcp" or module.startswith(
        ("pydantic_ai.mcp.", "pydantic_ai.toolsets.fastmcp")
    )


def _label(toolset: Any) -> str:
    return str(getattr(toolset, "id", None) or getattr(toolset, "label", None) or type(toolset).__name__)


def _parameters(tool: Any) -> tuple[str, ...]:
    schema = getattr(getattr(tool, "function_schema", None), "json_schema", None) or {}
    return tuple(schema.get("properties", {}))


def describe(import_path: str, obj: Any) -> TargetInfo:
    """What ``obj`` (the object ``import_path`` names) is made of."""
    if not is_agent(obj):
        kind = "function" if inspect.isfunction(obj) or inspect.ismethod(obj) else type(obj).__name__
        return TargetInfo(import_path, False, kind)
    model, model_spec = model_names(getattr(obj, "model", None))
    leaves: list[Any] = []
    notes: list[str] = []
    try:
        for toolset in obj.toolsets:
            toolset.apply(leaves.append)
    except Exception as exc:  # noqa: BLE001 - a toolset that cannot be walked is reported, not fatal
        notes.append(f"the toolsets could not be listed: {type(exc).__name__}: {exc}")
    tools: dict[str, ToolInfo] = {}
    toolsets: list[str] = []
    mcp: list[str] = []
    for leaf in leaves:
        if _is_mcp(leaf):
            mcp.append(_label(leaf))
            continue
        found = getattr(leaf, "tools", None)
        if not isinstance(found, dict):
            toolsets.append(_label(leaf))
            continue
        if found:
            toolsets.append(_label(leaf))
        for name, tool in found.items():
            tools.setdefault(name, ToolInfo(name, _label(leaf), _parameters(tool)))
    return TargetInfo(
        import_path,
        True,
        type(obj).__name__,
        model=model,
        model_spec=model_spec,
        tools=tuple(tools.values()),
        toolsets=tuple(dict.fromkeys(toolsets)),
        mcp_servers=tuple(mcp),
        durability=durability_of(obj),
        notes=tuple(notes),
    )
