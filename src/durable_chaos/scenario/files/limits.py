"""Limits a scenario file must keep: its size, its nesting depth, and (YAML) its aliases and expanded size."""

from __future__ import annotations

from typing import Any

import yaml

from durable_chaos.scenario.files.lines import line_at

MAX_FILE_BYTES = 1024 * 1024
"""Scenario files larger than this are refused before they are read (a scenario is a few KiB)."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists a scenario file may have."""
MAX_NODES = 100_000
"""Most values a YAML document may expand to once its aliases are followed (alias bombs)."""
MAX_ALIASES = 1_000
"""Most aliases (``*name``) a YAML document may use."""


class LimitError(yaml.YAMLError):
    """A YAML document over a size, depth or alias limit."""

    def __init__(self, message: str, node: yaml.Node) -> None:
        super().__init__(message)
        self.message = message
        self.node = node


def check_yaml_limits(root: yaml.Node) -> None:
    """Refuse a composed document that is too deep, uses too many aliases, or expands too far.

    The node graph shares aliased nodes, so a 700-byte alias bomb composes quickly; its expanded size
    (every alias followed) is computed here with memoization, before anything is constructed.
    """
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    aliases = 0

    def children(node: yaml.Node) -> list[yaml.Node]:
        if isinstance(node, yaml.SequenceNode):
            return list(node.value)
        if isinstance(node, yaml.MappingNode):
            return [part for pair in node.value for part in pair]
        return []

    def expanded(node: yaml.Node, depth: int) -> int:
        nonlocal aliases
        if depth > MAX_DEPTH:
            raise LimitError(f"nested more than {MAX_DEPTH} levels deep", node)
        key = id(node)
        if key in sizes:
            aliases += 1
            if aliases > MAX_ALIASES:
                raise LimitError(f"more than {MAX_ALIASES} aliases", node)
            return sizes[key]
        if key in visiting:
            raise LimitError("a recursive alias (a value that contains itself)", node)
        visiting.add(key)
        total = 1
        for child in children(node):
            total += expanded(child, depth + 1)
            if total > MAX_NODES:
                raise LimitError(
                    f"expands to more than {MAX_NODES:,} values once aliases are followed (an alias bomb?)",
                    node,
                )
        visiting.discard(key)
        sizes[key] = total
        return total

    expanded(root, 0)


FLOW_PRESCAN_LIMIT = 4 * MAX_DEPTH


def flow_depth_line(text: str) -> int | None:
    """The line where ``[``/``{`` nesting first passes :data:`FLOW_PRESCAN_LIMIT`, else None.

    PyYAML's scanner is quadratic in flow nesting (thousands of ``[`` take seconds), so deep flow
    nesting is refused before parsing. Quoted strings and comments are skipped; brackets inside
    plain or block scalars may be counted, hence the margin over :data:`MAX_DEPTH`.
    """
    if text.count("[") + text.count("{") <= FLOW_PRESCAN_LIMIT:
        return None
    depth = 0
    quote = ""
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if quote:
            if char == "\\" and quote == '"':
                index += 1
            elif char == quote:
                quote = ""
        elif char in "'\"" and (index == 0 or text[index - 1] in " \t\n[{,:-"):
            quote = char
        elif char == "#" and (index == 0 or text[index - 1] in " \t\n"):
            newline = text.find("\n", index)
            index = length if newline < 0 else newline
            continue
        elif char in "[{":
            depth += 1
            if depth > FLOW_PRESCAN_LIMIT:
                return line_at(text, index)
        elif char in "]}":
            depth = max(depth - 1, 0)
        index += 1
    return None


def nesting_depth(value: Any) -> int:
    """Nesting depth of plain data, iteratively (no recursion limit involved)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return deepest
