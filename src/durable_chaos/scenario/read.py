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
import errno
import os
import re
import stat
import sys
import tomllib
import types
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import yaml
from pydantic import BaseModel, ValidationError

from durable_chaos.scenario.model import SCHEMA_VERSION, Scenario

__all__ = [
    "CASSETTES_REASON",
    "SCENARIO_SUFFIXES",
    "SUPPORTED_SCHEMA_VERSIONS",
    "ScenarioError",
    "ScenarioIssue",
    "discover_scenario_files",
    "is_scenario_file",
    "load_scenario",
    "load_scenarios",
    "scenario_skip_reason",
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

MAX_FILE_BYTES = 1024 * 1024
"""Scenario files larger than this are refused before they are read (a scenario is a few KiB)."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists a scenario file may have."""
MAX_NODES = 100_000
"""Most values a YAML document may expand to once its aliases are followed (alias bombs)."""
MAX_ALIASES = 1_000
"""Most aliases (``*name``) a YAML document may use."""

CASSETTES_REASON = "in a 'cassettes' directory"
_SCHEMA_KEY = re.compile(r"""(?:^|[\s{,])["']?schema_version["']?\s*[:=]""", re.MULTILINE)


def scenario_skip_reason(path: Path | str, root: Path | str | None = None) -> str | None:
    """Why ``path`` is not a scenario file, or None when it is one (or a broken one to report).

    A scenario file has a scenario suffix, is not in a directory named ``cassettes`` (only the parts
    below ``root`` are checked when given), is a regular file, and parses to a mapping with a
    top-level ``schema_version`` key. A file that does not parse counts as a scenario (so its errors
    are reported) when its text has a ``schema_version`` key anywhere. Every file that
    :func:`load_scenario` accepts is a scenario file by this rule; this never raises and never
    opens anything but a regular file.
    """
    path = Path(path)
    if path.suffix.lower() not in SCENARIO_SUFFIXES:
        return "not a .yaml, .yml or .toml file"
    parents = path.parent.parts
    if root is not None:
        with contextlib.suppress(ValueError):
            parents = path.parent.relative_to(root).parts
    if "cassettes" in parents:
        return CASSETTES_REASON
    try:
        head = _read_limited(path, MAX_FILE_BYTES + 1)
    except ScenarioError as exc:
        return exc.message
    except Exception as exc:  # noqa: BLE001 - discovery never raises
        return f"cannot read: {exc}"
    text = head.decode("utf-8-sig", errors="replace")
    mentions = _SCHEMA_KEY.search(text) is not None
    if len(head) > MAX_FILE_BYTES:
        return None if mentions else f"larger than {MAX_FILE_BYTES // 1024} KiB and no schema_version key"
    try:
        document = _parse(path, text)
    except ScenarioError:
        return None if mentions else "not a scenario: does not parse and has no schema_version key"
    except Exception:  # noqa: BLE001 - discovery never raises
        return None if mentions else "not a scenario: does not parse and has no schema_version key"
    return None if "schema_version" in document.data else "no top-level schema_version"


def is_scenario_file(path: Path | str, root: Path | str | None = None) -> bool:
    """Whether ``path`` is a scenario file (see :func:`scenario_skip_reason`)."""
    return scenario_skip_reason(path, root) is None


def _walk_dir(root: Path, skipped: list[tuple[Path, str]] | None = None) -> Iterator[Path]:
    """Scenario files under ``root``, sorted, skipping hidden and cache directories.

    Files with a scenario suffix that are not scenarios go to ``skipped`` with the reason.
    """
    try:
        candidates = sorted(root.rglob("*"))
    except OSError as exc:
        if skipped is not None:
            skipped.append((root, f"cannot list directory: {exc.strerror or exc}"))
        return
    for candidate in candidates:
        relative = candidate.relative_to(root).parts
        if any(part.startswith(".") or part == "__pycache__" for part in relative[:-1]):
            continue
        if candidate.suffix.lower() not in SCENARIO_SUFFIXES:
            continue
        with contextlib.suppress(OSError):
            if candidate.is_dir():
                continue
        reason = scenario_skip_reason(candidate, root=root)
        if reason is None:
            yield candidate
        elif skipped is not None:
            skipped.append((candidate, reason))


def discover_scenario_files(
    paths: Iterable[Path | str], skipped: list[tuple[Path, str]] | None = None
) -> list[Path]:
    """Expand directories recursively into scenario files; files given explicitly are kept as is.

    ``skipped`` (optional) receives ``(path, reason)`` for each file with a scenario suffix found in
    a directory that is not a scenario file. Never raises.
    """
    found: list[Path] = []
    seen: set[str] = set()
    for raw in paths:
        path = Path(raw)
        try:
            is_dir = path.is_dir()
        except OSError:
            is_dir = False
        candidates = _walk_dir(path, skipped) if is_dir else iter([path])
        for candidate in candidates:
            key = os.path.realpath(candidate)  # never raises on symlink loops, unlike Path.resolve
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
    """Read, parse and validate one scenario file (``.yaml``, ``.yml`` or ``.toml``).

    Raises :class:`ScenarioError` and nothing else, whatever the file holds.
    """
    path = Path(path)
    try:
        return _load(path)
    except ScenarioError:
        raise
    except RecursionError:
        raise ScenarioError(path, "document is nested too deeply", line=1) from None
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a verdict, never a traceback
        raise ScenarioError(
            path, f"cannot load scenario ({type(exc).__name__}: {_safe_str(exc)})", line=1
        ) from None


def _load(path: Path) -> Scenario:
    suffix = path.suffix.lower()
    if suffix not in SCENARIO_SUFFIXES:
        if not os.path.lexists(path):
            raise ScenarioError(path, "file not found")
        raise ScenarioError(
            path, f"unsupported file type {suffix or '(none)'!r}; scenario files are .yaml, .yml or .toml"
        )
    text = _read_text(path)
    document = _parse(path, text)
    _check_schema_version(path, document)
    try:
        with _importable(path.parent):
            scenario = Scenario.model_validate(document.data)
    except ValidationError as exc:
        raise ScenarioError(path, issues=[_issue(document, error) for error in exc.errors()]) from None
    scenario._path = path
    scenario._line_of = document.line_of
    _check_paths(path, document, scenario)
    return scenario


@contextlib.contextmanager
def _importable(directory: Path) -> Iterator[None]:
    """Modules next to the scenario file importable while it is validated (``tool_error`` exception
    classes may live there, as the target does)."""
    from durable_chaos.infra.engines.base import make_importable

    entry = str(directory.absolute())
    added = entry not in sys.path
    make_importable(Path(entry))  # its own modules, not same-named ones of another scenario's folder
    try:
        yield
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(entry)


def _check_paths(path: Path, document: _Document, scenario: Scenario) -> None:
    """Checks that need the file's location: the cassette must not be a directory."""
    if scenario.cassette is None:
        return
    target = scenario.resolve(scenario.cassette)
    with contextlib.suppress(OSError):
        if target.is_dir():
            raise ScenarioError(
                path,
                f"{scenario.cassette!r} is a directory; give the cassette file, "
                f"e.g. 'cassettes/{scenario.name}.yaml'",
                line=document.line_of(("cassette",)),
                field="cassette",
            )


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - e.g. an int over Python's digit limit
        if isinstance(value, int):
            return f"<an integer of {value.bit_length()} bits>"
        return f"<{type(value).__name__}>"


def _read_limited(path: Path, limit: int) -> bytes:
    """At most ``limit`` bytes of a regular file; anything else is refused without being opened.

    ``stat`` first (a FIFO, device or socket is never opened, so nothing hangs), then open with
    ``O_NONBLOCK`` and check again on the descriptor, in case the path changed in between.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise ScenarioError(path, "broken symbolic link (its target does not exist)") from None
        raise ScenarioError(path, "file not found") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ScenarioError(path, "symbolic link loop; cannot read the file") from None
        raise ScenarioError(path, f"cannot read file: {exc.strerror or exc}") from None
    _check_regular(path, info.st_mode)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise ScenarioError(path, f"cannot read file: {exc.strerror or exc}") from None
    try:
        _check_regular(path, os.fstat(fd).st_mode)
        chunks: list[bytes] = []
        size = 0
        while size < limit:
            chunk = os.read(fd, min(65536, limit - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise ScenarioError(path, f"cannot read file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _check_regular(path: Path, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise ScenarioError(path, "is a directory, not a scenario file")
    kinds = {
        stat.S_ISFIFO: "a named pipe (FIFO)",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    kind = next((name for test, name in kinds.items() if test(mode)), "not a regular file")
    raise ScenarioError(path, f"is {kind}, not a regular file; scenario files are regular files")


def _read_text(path: Path) -> str:
    """The file's text, decoded as UTF-8 (a BOM is dropped); files over the size limit are refused."""
    raw = _read_limited(path, MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError(
            path, f"file is larger than {MAX_FILE_BYTES // 1024} KiB; a scenario file is a few KiB at most"
        )
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


def parse_document(path: Path) -> _Document:
    """Read and parse a YAML or TOML file (no validation); :class:`ScenarioError` when it cannot be."""
    try:
        return _parse(path, _read_text(path))
    except ScenarioError:
        raise
    except Exception as exc:  # noqa: BLE001 - a verdict, never a traceback
        raise ScenarioError(path, f"cannot parse ({type(exc).__name__}: {_safe_str(exc)})", line=1) from None


def _parse(path: Path, text: str) -> _Document:
    return _parse_yaml(path, text) if path.suffix.lower() in YAML_SUFFIXES else _parse_toml(path, text)


class _LimitError(yaml.YAMLError):
    """A YAML document over a size, depth or alias limit."""

    def __init__(self, message: str, node: yaml.Node) -> None:
        super().__init__(message)
        self.message = message
        self.node = node


class _ScenarioYamlLoader(yaml.SafeLoader):
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
                            None, None, f"duplicate key {_got(key)}", key_node.start_mark
                        )
        return super().construct_mapping(node, deep=deep)


def _conversion_problem(node: yaml.Node, exc: Exception) -> str:
    """Why PyYAML could not turn a node into a value, in words."""
    tag = node.tag.rsplit(":", 1)[-1]
    shown = _got(node.value) if isinstance(node, yaml.ScalarNode) else f"this {node.id}"
    detail = _safe_str(exc) if isinstance(exc, ValueError | OverflowError) else ""
    if "Exceeds the limit" in detail:
        return f"an integer with more than {sys.get_int_max_str_digits()} digits is refused"
    hint = {"timestamp": " (dates are YYYY-MM-DD; quote the value to keep it as text)"}.get(tag, "")
    return f"{shown} is not a valid {tag}" + (f": {detail}" if detail else "") + hint


def _check_yaml_limits(root: yaml.Node) -> None:
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
            raise _LimitError(f"nested more than {MAX_DEPTH} levels deep", node)
        key = id(node)
        if key in sizes:
            aliases += 1
            if aliases > MAX_ALIASES:
                raise _LimitError(f"more than {MAX_ALIASES} aliases", node)
            return sizes[key]
        if key in visiting:
            raise _LimitError("a recursive alias (a value that contains itself)", node)
        visiting.add(key)
        total = 1
        for child in children(node):
            total += expanded(child, depth + 1)
            if total > MAX_NODES:
                raise _LimitError(
                    f"expands to more than {MAX_NODES:,} values once aliases are followed (an alias bomb?)",
                    node,
                )
        visiting.discard(key)
        sizes[key] = total
        return total

    expanded(root, 0)


_FLOW_PRESCAN_LIMIT = 4 * MAX_DEPTH


def _flow_depth_line(text: str) -> int | None:
    """The line where ``[``/``{`` nesting first passes :data:`_FLOW_PRESCAN_LIMIT`, else None.

    PyYAML's scanner is quadratic in flow nesting (thousands of ``[`` take seconds), so deep flow
    nesting is refused before parsing. Quoted strings and comments are skipped; brackets inside
    plain or block scalars may be counted, hence the margin over :data:`MAX_DEPTH`.
    """
    if text.count("[") + text.count("{") <= _FLOW_PRESCAN_LIMIT:
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
            if depth > _FLOW_PRESCAN_LIMIT:
                return _line_at(text, index)
        elif char in "]}":
            depth = max(depth - 1, 0)
        index += 1
    return None


def _parse_yaml(path: Path, text: str) -> _Document:
    """Compose a single YAML document, check its limits, then construct it (SafeLoader rules)."""
    deep = _flow_depth_line(text)
    if deep is not None:
        raise ScenarioError(path, f"YAML document is nested more than {MAX_DEPTH} levels deep", line=deep)
    node: yaml.Node | None = None
    try:
        loader = _ScenarioYamlLoader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _check_yaml_limits(node)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except _LimitError as exc:
        field = _node_field(node, exc.node) if node is not None else None
        raise ScenarioError(
            path,
            f"YAML document refused: {exc.message}",
            line=_mark_line(text, exc.node.start_mark),
            field=field,
        ) from None
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = _mark_line(text, mark) if mark is not None else None
        field = _field_at_mark(node, mark) if node is not None and mark is not None else None
        what = ", ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise ScenarioError(path, f"YAML value error: {what or exc}", line=line, field=field) from None
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
    return next((_dotted(loc) or None for node, loc in _walk(root) if node is target), None)


def _field_at_mark(root: yaml.Node, mark: yaml.Mark) -> str | None:
    """Dotted field of the node that starts at ``mark``."""
    return next(
        (
            _dotted(loc) or None
            for node, loc in _walk(root)
            if node.start_mark.index == mark.index and isinstance(node, yaml.ScalarNode)
        ),
        None,
    )


_TOML_POSITION = re.compile(r"\s*\(at (?:line (\d+), column \d+|end of document)\)\s*$")
_LONG_NUMBER = re.compile(r"\d[\d_]{4000,}")


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
    except ValueError as exc:  # an integer over Python's digit limit (tomllib lets ValueError through)
        long = _LONG_NUMBER.search(text)
        line = _line_at(text, long.start()) if long is not None else 1
        detail = _safe_str(exc)
        if "Exceeds the limit" in detail:
            detail = f"an integer with more than {sys.get_int_max_str_digits()} digits is refused"
        raise ScenarioError(path, f"TOML value error: {detail}", line=line) from None
    if not data:
        raise ScenarioError(path, _empty_message("schema_version = 1"), line=1)
    if _depth(data) > MAX_DEPTH:
        raise ScenarioError(path, f"TOML document is nested more than {MAX_DEPTH} levels deep", line=1)
    return _Document(data=data, text=text)


def _depth(value: Any) -> int:
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
        from durable_chaos.pytest_plugin.collection import near_miss

        misspelled = near_miss(document.data)
        hint = f" ({misspelled!r} is probably a misspelling of it)" if misspelled else ""
        raise ScenarioError(
            path,
            f"missing{hint}; every scenario file declares its schema version "
            f"(supported versions: {supported})",
            line=document.line_of((misspelled,) if misspelled else ()),
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
    text = repr(value) if isinstance(value, str) else _safe_str(value)
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
