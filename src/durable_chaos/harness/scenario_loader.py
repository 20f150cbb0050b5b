"""Load scenario files (YAML or TOML) and report every problem as ``path:line: field: message``.

Errors never surface as tracebacks: everything that can go wrong while reading, parsing or
validating a scenario file becomes a :class:`ScenarioError`, whose ``str()`` is one line per
problem, sorted by line, in the style of compiler diagnostics::

    scenarios/x.yaml:12: plans[0].faults[1].at.occurrence: Input should be greater than or equal to 1 (got 0)

Line numbers are 1-based. For YAML they come from the composed node tree, so they are exact. TOML
parsing (``tomllib``) keeps no positions, so for TOML the line of a field is found by scanning the
text: for each part of the error location in turn, the next line that assigns that key
(``key =``, also inside inline tables and dotted keys) or opens a table whose name ends with it
(``[table]``, ``[[array]]``); list indexes after an ``[[array]]`` header skip to the n-th such header.
This is a best-effort heuristic and can point at a nearby line for unusual layouts.
"""

from __future__ import annotations

import contextlib
import difflib
import re
import tomllib
import types
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import yaml
from pydantic import BaseModel, ValidationError

from durable_chaos.harness.scenario import SCHEMA_VERSION, Scenario

__all__ = [
    "SCENARIO_SUFFIXES",
    "SUPPORTED_SCHEMA_VERSIONS",
    "ScenarioError",
    "ScenarioIssue",
    "discover_scenario_files",
    "is_scenario_file",
    "load_scenario",
    "load_scenarios",
]

SUPPORTED_SCHEMA_VERSIONS: tuple[int, ...] = (SCHEMA_VERSION,)
YAML_SUFFIXES = frozenset({".yaml", ".yml"})
TOML_SUFFIXES = frozenset({".toml"})
SCENARIO_SUFFIXES = YAML_SUFFIXES | TOML_SUFFIXES

Loc = tuple[int | str, ...]

# Keys whose value pydantic inserts into error locations as a discriminated-union tag.
_DISCRIMINATORS = ("kind",)
_MAX_GOT_CHARS = 60
_PATTERN_HINTS = {
    "agent": "expected an import path like 'package.module:attribute'",
    "entry": "expected an import path like 'package.module:function'",
    "name": "expected a slug: letters, digits, '_', '.', '-', starting with a letter or digit",
}


# --------------------------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class ScenarioIssue:
    """One problem in a scenario file."""

    line: int | None
    field: str | None
    message: str


class ScenarioError(Exception):
    """A scenario file that cannot be loaded; ``str()`` renders every problem, one per line.

    ``line``, ``field`` and ``message`` describe the first problem (by line); ``issues`` holds all.
    """

    def __init__(
        self,
        path: Path | str,
        message: str = "",
        *,
        line: int | None = None,
        field: str | None = None,
        issues: Iterable[ScenarioIssue] | None = None,
    ) -> None:
        self.path = Path(path)
        found = list(issues) if issues is not None else [ScenarioIssue(line, field, message)]
        if not found:
            found = [ScenarioIssue(line, field, message or "invalid scenario")]
        self.issues: tuple[ScenarioIssue, ...] = tuple(
            sorted(found, key=lambda i: (i.line is not None, i.line or 0))
        )
        first = self.issues[0]
        self.line: int | None = first.line
        self.field: str | None = first.field
        self.message: str = first.message
        super().__init__(str(self))

    def render(self, issue: ScenarioIssue) -> str:
        """One issue as ``path:line: field: message`` (parts that are unknown are left out)."""
        head = f"{self.path}:{issue.line}" if issue.line is not None else str(self.path)
        field = f" {issue.field}:" if issue.field else ""
        return f"{head}:{field} {' '.join(issue.message.split())}"

    def __str__(self) -> str:
        return "\n".join(self.render(issue) for issue in self.issues)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_error, (self.path, self.issues))


def _rebuild_error(path: Path, issues: tuple[ScenarioIssue, ...]) -> ScenarioError:
    return ScenarioError(path, issues=issues)


# --------------------------------------------------------------------------------------- discovery


def is_scenario_file(path: Path | str, root: Path | str | None = None) -> bool:
    """Cheap check whether ``path`` looks like a scenario file.

    It must have a scenario suffix, must not sit in a directory named ``cassettes`` (only the parts
    below ``root`` are checked when given), and must have a line starting with ``schema_version``.
    """
    path = Path(path)
    if path.suffix.lower() not in SCENARIO_SUFFIXES or not path.is_file():
        return False
    parents = path.parent.parts
    if root is not None:
        with contextlib.suppress(ValueError):
            parents = path.parent.relative_to(root).parts
    if "cassettes" in parents:
        return False
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(line.startswith("schema_version") for line in text.lstrip("\ufeff").split("\n"))


def _walk_dir(root: Path) -> Iterator[Path]:
    """Scenario-looking files under ``root``, sorted, skipping hidden and cache directories."""
    for candidate in sorted(root.rglob("*")):
        relative = candidate.relative_to(root).parts
        if any(part.startswith(".") or part == "__pycache__" for part in relative[:-1]):
            continue
        if is_scenario_file(candidate, root=root):
            yield candidate


def discover_scenario_files(paths: Iterable[Path | str]) -> list[Path]:
    """Expand directories recursively into scenario files; files given explicitly are kept as is."""
    found: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        candidates = _walk_dir(path) if path.is_dir() else iter([path])
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                found.append(candidate)
    return found


def load_scenarios(paths: Iterable[Path | str]) -> list[Scenario]:
    """Load every scenario file in ``paths`` (directories expanded); raises the first ScenarioError.

    Use :func:`discover_scenario_files` and :func:`load_scenario` to collect errors per file.
    """
    return [load_scenario(path) for path in discover_scenario_files(paths)]


# ----------------------------------------------------------------------------------------- loading


def load_scenario(path: Path | str) -> Scenario:
    """Read, parse and validate one scenario file (``.yaml``, ``.yml`` or ``.toml``)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SCENARIO_SUFFIXES:
        if not path.exists():
            raise ScenarioError(path, "file not found")
        raise ScenarioError(
            path, f"unsupported file type {suffix or '(none)'!r}; scenario files are .yaml, .yml or .toml"
        )
    text = _read_text(path)
    document = _parse_yaml(path, text) if suffix in YAML_SUFFIXES else _parse_toml(path, text)
    _check_schema_version(path, document)
    try:
        scenario = Scenario.model_validate(document.data)
    except ValidationError as exc:
        raise ScenarioError(path, issues=[_issue(document, error) for error in exc.errors()]) from None
    scenario._path = path
    return scenario


def _read_text(path: Path) -> str:
    """The file's text, decoded as UTF-8 (a BOM is dropped)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(path, "file not found") from None
    except IsADirectoryError:
        raise ScenarioError(path, "is a directory, not a scenario file") from None
    except OSError as exc:
        raise ScenarioError(path, f"cannot read file: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = raw[exc.start : exc.start + 1].hex()
        raise ScenarioError(
            path, f"file is not valid UTF-8 (byte 0x{byte} at column {column})", line=line
        ) from None


@dataclass
class _Document:
    """A parsed file: its data plus what is needed to find the line of a location."""

    data: dict[str, Any]
    text: str
    node: yaml.Node | None = None  # YAML only

    def line_of(self, loc: Loc) -> int:
        """1-based line of the deepest existing part of ``loc`` (already cleaned of union tags)."""
        if self.node is not None:
            return _yaml_line(self.text, self.node, loc)
        return _toml_line(self.text, self.data, loc)


def _parse_yaml(path: Path, text: str) -> _Document:
    """Compose and construct a single YAML document (SafeLoader)."""
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = _mark_line(text, mark) if mark is not None else None
        what = ", ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise ScenarioError(path, f"YAML syntax error: {what or exc}", line=line) from None
    except yaml.reader.ReaderError as exc:
        line = _line_at(text, exc.position)
        raise ScenarioError(
            path, f"YAML syntax error: {exc.reason} (character {_codepoint(exc.character)})", line=line
        ) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(path, f"YAML syntax error: {exc}", line=1) from None
    except RecursionError:
        raise ScenarioError(path, "YAML document is nested too deeply", line=1) from None
    if data is None:
        raise ScenarioError(path, _empty_message("schema_version: 1"), line=1)
    if not isinstance(data, dict):
        line = _mark_line(text, node.start_mark) if node is not None else 1
        raise ScenarioError(path, _not_a_mapping(data), line=line)
    return _Document(data=data, text=text, node=node)


_TOML_POSITION = re.compile(r"\s*\(at (?:line (\d+), column \d+|end of document)\)\s*$")


def _parse_toml(path: Path, text: str) -> _Document:
    """Parse TOML with tomllib; the error line is taken from its message."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_POSITION.search(message)
        line = text.rstrip("\n").count("\n") + 1
        if match is not None:
            message = message[: match.start()]
            line = int(match.group(1)) if match.group(1) else line
        raise ScenarioError(path, f"TOML syntax error: {message}", line=line) from None
    except RecursionError:
        raise ScenarioError(path, "TOML document is nested too deeply", line=1) from None
    if not data:
        raise ScenarioError(path, _empty_message("schema_version = 1"), line=1)
    return _Document(data=data, text=text)


def _codepoint(character: int | bytes | str) -> str:
    if isinstance(character, int):
        return f"U+{character:04X}"
    return repr(character)


def _empty_message(example: str) -> str:
    return f"file is empty; a scenario starts with '{example}'"


def _not_a_mapping(data: object) -> str:
    return f"top level must be a mapping of scenario fields, got {_type_name(data)}"


def _type_name(value: object) -> str:
    names = {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


def _check_schema_version(path: Path, document: _Document) -> None:
    """Reject files without a supported ``schema_version`` before validating anything else."""
    supported = ", ".join(str(v) for v in SUPPORTED_SCHEMA_VERSIONS)
    if "schema_version" not in document.data:
        raise ScenarioError(
            path,
            f"missing; every scenario file declares its schema version (supported versions: {supported})",
            line=document.line_of(()),
            field="schema_version",
        )
    version = document.data["schema_version"]
    if type(version) is not int or version not in SUPPORTED_SCHEMA_VERSIONS:
        raise ScenarioError(
            path,
            f"unsupported schema version {_got(version)} (supported versions: {supported})",
            line=document.line_of(("schema_version",)),
            field="schema_version",
        )


# ------------------------------------------------------------------------------ validation errors


def _issue(document: _Document, error: Any) -> ScenarioIssue:
    """Turn one pydantic error into an issue with a line and a dotted field."""
    loc = _clean_loc(document.data, tuple(error["loc"]))
    kind = error["type"]
    message = str(error["msg"])
    ctx = error.get("ctx") or {}
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        discriminator = str(ctx.get("discriminator", "kind")).strip("'\"")
        loc = (*loc, discriminator)
        message = _tag_message(kind, discriminator, ctx)
    elif kind == "extra_forbidden":
        message = _extra_message(document.data, loc)
    elif kind == "value_error":
        message = message.removeprefix("Value error, ")
        loc = _hint_loc(document.data, loc, message)
    elif kind == "string_pattern_mismatch" and loc and loc[-1] in _PATTERN_HINTS:
        message = f"{_PATTERN_HINTS[str(loc[-1])]} (got {_got(error.get('input'))})"
    elif kind != "missing" and _is_scalar(error.get("input")):
        message = f"{message} (got {_got(error.get('input'))})"
    elif kind == "missing":
        message = "required field is missing"
    return ScenarioIssue(line=document.line_of(loc), field=_dotted(loc) or None, message=message)


def _tag_message(kind: str, discriminator: str, ctx: dict[str, Any]) -> str:
    if kind == "union_tag_not_found":
        return "required field is missing"
    return f"unknown {discriminator} {ctx.get('tag')!r}; expected one of: {ctx.get('expected_tags')}"


def _extra_message(data: dict[str, Any], loc: Loc) -> str:
    """``unknown field 'x'``, with a suggestion from the model's field names when one is close."""
    name = str(loc[-1]) if loc else "?"
    model = _model_at(data, loc[:-1])
    if model is None:
        return f"unknown field {name!r}"
    allowed = list(model.model_fields)
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown field {name!r}; {hint}allowed: {', '.join(allowed)}"


def _hint_loc(data: dict[str, Any], loc: Loc, message: str) -> Loc:
    """Point a model-level error (empty or parent loc) at the field its message names, if present."""
    target = _lookup(data, loc)
    if not isinstance(target, dict):
        return loc
    if not loc and "plan names" in message:
        return _duplicate_plan_loc(data)
    for name in re.findall(r"'(\w+)'", message):
        if name in target:
            return (*loc, name)
    return loc


def _duplicate_plan_loc(data: dict[str, Any]) -> Loc:
    """Location of the first plan whose name repeats an earlier one."""
    plans = data.get("plans")
    seen: set[Any] = set()
    if isinstance(plans, list):
        for index, plan in enumerate(plans):
            name = plan.get("name") if isinstance(plan, dict) else None
            if isinstance(name, str) and name in seen:
                return ("plans", index, "name")
            seen.add(name)
    return ("plans",)


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _got(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= _MAX_GOT_CHARS else text[: _MAX_GOT_CHARS - 3] + "..."


def _dotted(loc: Loc) -> str:
    """``('plans', 0, 'faults')`` -> ``plans[0].faults``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_MISSING: Any = object()


def _child(value: Any, part: int | str) -> Any:
    """``value[part]`` for a mapping key or list index that exists, else ``_MISSING``."""
    if isinstance(value, dict):
        return value.get(part, _MISSING)
    if isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
        return value[part]
    return _MISSING


def _lookup(data: Any, loc: Loc) -> Any:
    """The value at ``loc`` in plain data, or None when it does not exist."""
    for part in loc:
        data = _child(data, part)
        if data is _MISSING:
            return None
    return data


def _clean_loc(data: Any, loc: Loc) -> Loc:
    """Drop the parts of a pydantic loc that are not in the document (union tags such as ``timeout``).

    Only the last part may be missing from the result (a missing field keeps its name).
    """
    out: list[int | str] = []
    current = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(current, dict) and not last and any(current.get(d) == part for d in _DISCRIMINATORS):
            continue
        child = _child(current, part)
        if child is _MISSING and not last:
            continue
        current = child
        out.append(part)
    return tuple(out)


def _model_at(data: Any, loc: Loc) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at a (cleaned) loc, if it is one."""
    annotation: Any = Scenario
    value: Any = data
    for part in loc:
        annotation = _resolve(annotation, value)
        if isinstance(part, int):
            args = typing.get_args(annotation)
            annotation = args[0] if args else None
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(part)
            annotation = field.annotation if field is not None else None
        else:
            return None
        value = _lookup(value, (part,))
    model = _resolve(annotation, value)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _resolve(annotation: Any, value: Any) -> Any:
    """Strip Annotated/Optional; for a union of models pick the member whose tag matches ``value``."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) not in (Union, types.UnionType):
        return annotation
    members = [_resolve(a, value) for a in typing.get_args(annotation) if a is not type(None)]
    models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
    for model in models:
        if _tag_matches(model, value):
            return model
    if len(members) == 1:
        return members[0]
    return None


def _tag_matches(model: type[BaseModel], value: Any) -> bool:
    """Whether ``value`` carries the discriminator value of ``model`` (e.g. ``kind: timeout``)."""
    if not isinstance(value, dict):
        return False
    for name in _DISCRIMINATORS:
        field = model.model_fields.get(name)
        if field is not None and name in value:
            return value[name] in typing.get_args(field.annotation)
    return False


# ------------------------------------------------------------------------------------ line finding


def _line_at(text: str, index: int) -> int:
    """1-based line of a character index, counting only ``\\n`` as a line break (as editors do;
    YAML marks also count U+2028, U+0085 and lone ``\\r``)."""
    return text.count("\n", 0, max(index, 0)) + 1


def _mark_line(text: str, mark: yaml.Mark) -> int:
    return _line_at(text, mark.index)


def _yaml_line(text: str, root: yaml.Node, loc: Loc) -> int:
    """Line of the key (or sequence item) at the deepest existing part of ``loc``."""
    node = root
    line = _mark_line(text, root.start_mark)
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
            line = _mark_line(text, match[0].start_mark)
            node = match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = _mark_line(text, node.start_mark)
        else:
            break
    return line


def _toml_line(text: str, data: dict[str, Any], loc: Loc) -> int:
    """Best-effort line of ``loc`` in TOML text (tomllib keeps no positions); see the module docs."""
    lines = text.split("\n")
    position = 0  # 0-based index of the line reached so far
    line = _first_content_line(lines)
    header: str | None = None  # the [[array]] header matched by the previous part, if any
    current: Any = data
    for part in loc:
        current = _child(current, part)
        if current is _MISSING:
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
