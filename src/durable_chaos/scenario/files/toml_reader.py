"""Parsing a TOML scenario file with ``tomllib``; every error becomes a :class:`ScenarioError` with a line."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

from durable_chaos.scenario.errors import ScenarioError, safe_str
from durable_chaos.scenario.files.document import Document, empty_message
from durable_chaos.scenario.files.limits import MAX_DEPTH, nesting_depth
from durable_chaos.scenario.files.lines import line_at

_TOML_POSITION = re.compile(r"\s*\(at (?:line (\d+), column \d+|end of document)\)\s*$")
_LONG_NUMBER = re.compile(r"\d[\d_]{4000,}")


def parse_toml(path: Path, text: str) -> Document:
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
        line = line_at(text, long.start()) if long is not None else 1
        detail = safe_str(exc)
        if "Exceeds the limit" in detail:
            detail = f"an integer with more than {sys.get_int_max_str_digits()} digits is refused"
        raise ScenarioError(path, f"TOML value error: {detail}", line=line) from None
    if not data:
        raise ScenarioError(path, empty_message("schema_version = 1"), line=1)
    if nesting_depth(data) > MAX_DEPTH:
        raise ScenarioError(path, f"TOML document is nested more than {MAX_DEPTH} levels deep", line=1)
    return Document(data=data, text=text)
