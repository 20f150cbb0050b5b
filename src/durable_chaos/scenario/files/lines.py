"""Finding the line of a field: exact for YAML, best effort for TOML.

Line numbers are 1-based. For YAML they come from the composed node tree, so they are exact. TOML
parsing (``tomllib``) keeps no positions, so for TOML the line of a field is found by scanning the
text: for each part of the error location in turn, the next line that assigns that key
(``key =``, also inside inline tables and dotted keys) or opens a table whose name ends with it
(``[table]``, ``[[array]]``); list indexes after an ``[[array]]`` header skip to the n-th such header.
This is a best-effort heuristic and can point at a nearby line for unusual layouts.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

Loc = tuple[int | str, ...]


def dotted(loc: Loc) -> str:
    """``('plans', 0, 'faults')`` -> ``plans[0].faults``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


MISSING: Any = object()


def child_at(value: Any, part: int | str) -> Any:
    """``value[part]`` for a mapping key or list index that exists, else ``MISSING``."""
    if isinstance(value, dict):
        return value.get(part, MISSING)
    if isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
        return value[part]
    return MISSING


def line_at(text: str, index: int) -> int:
    """1-based line of a character index, counting only ``\\n`` as a line break (as editors do;
    YAML marks also count U+2028, U+0085 and lone ``\\r``)."""
    return text.count("\n", 0, max(index, 0)) + 1


def mark_line(text: str, mark: yaml.Mark) -> int:
    return line_at(text, mark.index)


def yaml_line(text: str, root: yaml.Node, loc: Loc) -> int:
    """Line of the key (or sequence item) at the deepest existing part of ``loc``."""
    node = root
    line = mark_line(text, root.start_mark)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(
                (
                    (key, value)
                    for key, value in node.value
                    if isinstance(key, yaml.ScalarNode) and key.value == str(part)
                ),
                None,
            )
            if match is None:
                break
            line = mark_line(text, match[0].start_mark)
            node = match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = mark_line(text, node.start_mark)
        else:
            break
    return line


def toml_line(text: str, data: dict[str, Any], loc: Loc) -> int:
    """Best-effort line of ``loc`` in TOML text (tomllib keeps no positions); see the module docs."""
    lines = text.split("\n")
    position = 0  # 0-based index of the line reached so far
    line = _first_content_line(lines)
    header: str | None = None  # the [[array]] header matched by the previous part, if any
    current: Any = data
    for part in loc:
        current = child_at(current, part)
        if current is MISSING:
            break
        if isinstance(part, int):
            if header is not None:
                position = _nth_header(lines, position, header, part)
                line = position + 1
            header = None
            continue
        found = _find_key(lines, position, str(part))
        if found is None:
            break
        position, header = found
        line = position + 1
    return line


def _first_content_line(lines: list[str]) -> int:
    for index, text in enumerate(lines):
        stripped = text.strip()
        if stripped and not stripped.startswith("#"):
            return index + 1
    return 1


def _key_pattern(key: str) -> re.Pattern[str]:
    quoted = re.escape(key)
    return re.compile(rf"(?:^|[\s{{,.])(?:{quoted}|\"{quoted}\"|'{quoted}')\s*[=.]")


def _header_name(line: str) -> tuple[str, bool] | None:
    """The table name of a ``[table]`` / ``[[array]]`` header line, and whether it is an array."""
    match = re.match(r"\s*(\[\[?)\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?$", line)
    if match is None:
        return None
    return match.group(2), match.group(1) == "[["


def _find_key(lines: list[str], start: int, key: str) -> tuple[int, str | None] | None:
    """The next line at/after ``start`` that assigns ``key`` or opens a table ending in ``key``."""
    pattern = _key_pattern(key)
    for index in range(start, len(lines)):
        header = _header_name(lines[index])
        if header is not None:
            name, is_array = header
            if name.split(".")[-1].strip().strip("\"'") == key:
                return index, (name if is_array else None)
            continue
        if pattern.search(lines[index]):
            return index, None
    return None


def _nth_header(lines: list[str], start: int, name: str, index: int) -> int:
    """Line index of the ``index``-th (0-based) ``[[name]]`` header counting from ``start``."""
    seen = -1
    for position in range(start, len(lines)):
        header = _header_name(lines[position])
        if header == (name, True):
            seen += 1
            if seen == index:
                return position
    return start
