"""Parsing a scenario file by its type (YAML or TOML), without validating it."""

from __future__ import annotations

from pathlib import Path

from durable_chaos.scenario.errors import ScenarioError, safe_str
from durable_chaos.scenario.files.document import YAML_SUFFIXES, Document
from durable_chaos.scenario.files.safe_read import read_text
from durable_chaos.scenario.files.toml_reader import parse_toml
from durable_chaos.scenario.files.yaml_reader import parse_yaml


def parse_document(path: Path) -> Document:
    """Read and parse a YAML or TOML file (no validation); :class:`ScenarioError` when it cannot be."""
    try:
        return parse(path, read_text(path))
    except ScenarioError:
        raise
    except Exception as exc:  # noqa: BLE001 - a verdict, never a traceback
        raise ScenarioError(path, f"cannot parse ({type(exc).__name__}: {safe_str(exc)})", line=1) from None


def parse(path: Path, text: str) -> Document:
    return parse_yaml(path, text) if path.suffix.lower() in YAML_SUFFIXES else parse_toml(path, text)
