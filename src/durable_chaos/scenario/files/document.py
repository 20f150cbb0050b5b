"""A parsed scenario file (its data, and how to find the line of a field) and the file types read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from durable_chaos.scenario.files.lines import Loc, toml_line, yaml_line

YAML_SUFFIXES = frozenset({".yaml", ".yml"})
TOML_SUFFIXES = frozenset({".toml"})
SCENARIO_SUFFIXES = YAML_SUFFIXES | TOML_SUFFIXES


@dataclass
class Document:
    """A parsed file: its data plus what is needed to find the line of a location."""

    data: dict[str, Any]
    text: str
    node: yaml.Node | None = None  # YAML only

    def line_of(self, loc: Loc) -> int:
        """1-based line of the deepest existing part of ``loc`` (already cleaned of union tags)."""
        if self.node is not None:
            return yaml_line(self.text, self.node, loc)
        return toml_line(self.text, self.data, loc)


def empty_message(example: str) -> str:
    return f"file is empty; a scenario starts with '{example}'"


def not_a_mapping(data: object) -> str:
    return f"top level must be a mapping of scenario fields, got {_type_name(data)}"


def _type_name(value: object) -> str:
    names = {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)
