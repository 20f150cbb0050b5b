"""Parsing a YAML scenario file: one document, SafeLoader rules, no duplicate keys, limits checked
before anything is constructed, every PyYAML error turned into a :class:`ScenarioError` with a line."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from durable_chaos.scenario.errors import ScenarioError, got, safe_str
from durable_chaos.scenario.files.document import Document, empty_message, not_a_mapping
from durable_chaos.scenario.files.limits import MAX_DEPTH, LimitError, check_yaml_limits, flow_depth_line
from durable_chaos.scenario.files.lines import Loc, dotted, line_at, mark_line


class ScenarioYamlLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and explains values it cannot convert.

    A scalar PyYAML fails to convert (``2024-02-30``, ``!!int abc``, ``!!bool maybe``, an integer
    over Python's digit limit) raises a ``ConstructorError`` at that node instead of a bare
    ``ValueError``/``KeyError``/``AttributeError`` from inside PyYAML.
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, KeyError, AttributeError, TypeError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, _conversion_problem(node, exc), node.start_mark
            ) from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    key = self.construct_object(key_node)
                    try:
                        duplicate = key in seen
                        seen.add(key)
                    except TypeError:
                        continue
                    if duplicate:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key {got(key)}", key_node.start_mark
                        )
        return super().construct_mapping(node, deep=deep)


def _conversion_problem(node: yaml.Node, exc: Exception) -> str:
    """Why PyYAML could not turn a node into a value, in words."""
    tag = node.tag.rsplit(":", 1)[-1]
    shown = got(node.value) if isinstance(node, yaml.ScalarNode) else f"this {node.id}"
    detail = safe_str(exc) if isinstance(exc, ValueError | OverflowError) else ""
    if "Exceeds the limit" in detail:
        return f"an integer with more than {sys.get_int_max_str_digits()} digits is refused"
    hint = {"timestamp": " (dates are YYYY-MM-DD; quote the value to keep it as text)"}.get(tag, "")
    return f"{shown} is not a valid {tag}" + (f": {detail}" if detail else "") + hint


def parse_yaml(path: Path, text: str) -> Document:
    """Compose a single YAML document, check its limits, then construct it (SafeLoader rules)."""
    deep = flow_depth_line(text)
    if deep is not None:
        raise ScenarioError(path, f"YAML document is nested more than {MAX_DEPTH} levels deep", line=deep)
    node: yaml.Node | None = None
    try:
        loader = ScenarioYamlLoader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                check_yaml_limits(node)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except LimitError as exc:
        field = _node_field(node, exc.node) if node is not None else None
        raise ScenarioError(
            path,
            f"YAML document refused: {exc.message}",
            line=mark_line(text, exc.node.start_mark),
            field=field,
        ) from None
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark_line(text, mark) if mark is not None else None
        field = _field_at_mark(node, mark) if node is not None and mark is not None else None
        what = ", ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise ScenarioError(path, f"YAML value error: {what or exc}", line=line, field=field) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark_line(text, mark) if mark is not None else None
        what = ", ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise ScenarioError(path, f"YAML syntax error: {what or exc}", line=line) from None
    except yaml.reader.ReaderError as exc:
        line = line_at(text, exc.position)
        raise ScenarioError(
            path, f"YAML syntax error: {exc.reason} (character {_codepoint(exc.character)})", line=line
        ) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(path, f"YAML syntax error: {exc}", line=1) from None
    except RecursionError:
        raise ScenarioError(path, "YAML document is nested too deeply", line=1) from None
    if data is None:
        raise ScenarioError(path, empty_message("schema_version: 1"), line=1)
    if not isinstance(data, dict):
        line = mark_line(text, node.start_mark) if node is not None else 1
        raise ScenarioError(path, not_a_mapping(data), line=line)
    return Document(data=data, text=text, node=node)


def _walk(root: yaml.Node) -> Iterator[tuple[yaml.Node, Loc]]:
    """Every node of the tree with its location, depth first, each node once (aliases not followed
    twice)."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, Loc]] = [(root, ())]
    while stack:
        node, loc = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node, loc
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, (*loc, index)) for index, child in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else "?"
                stack.append((key, (*loc, name)))
                stack.append((value, (*loc, name)))


def _node_field(root: yaml.Node, target: yaml.Node) -> str | None:
    """Dotted field of ``target`` in the tree (first path found, aliases not followed twice)."""
    return next((dotted(loc) or None for node, loc in _walk(root) if node is target), None)


def _field_at_mark(root: yaml.Node, mark: yaml.Mark) -> str | None:
    """Dotted field of the node that starts at ``mark``."""
    return next(
        (
            dotted(loc) or None
            for node, loc in _walk(root)
            if node.start_mark.index == mark.index and isinstance(node, yaml.ScalarNode)
        ),
        None,
    )


def _codepoint(character: int | bytes | str) -> str:
    if isinstance(character, int):
        return f"U+{character:04X}"
    return repr(character)
