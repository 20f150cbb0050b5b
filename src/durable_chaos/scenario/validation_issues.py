"""Pydantic validation errors as scenario issues: a line, a dotted field and a message in words
(union tags dropped from the location, unknown fields with a suggestion, patterns explained)."""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Any, Union

from pydantic import BaseModel

from durable_chaos.scenario.errors import ScenarioIssue, got
from durable_chaos.scenario.files.document import Document
from durable_chaos.scenario.files.lines import MISSING, Loc, child_at, dotted
from durable_chaos.scenario.model import Scenario

# Keys whose value pydantic inserts into error locations as a discriminated-union tag.

_DISCRIMINATORS = ("kind",)
_PATTERN_HINTS = {
    "agent": "expected an import path like 'package.module:attribute'",
    "entry": "expected an import path like 'package.module:function'",
    "name": "expected a slug: letters, digits, '_', '.', '-', starting with a letter or digit",
}


def issue(document: Document, error: Any) -> ScenarioIssue:
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
        message = f"{_PATTERN_HINTS[str(loc[-1])]} (got {got(error.get('input'))})"
    elif kind != "missing" and _is_scalar(error.get("input")):
        message = f"{message} (got {got(error.get('input'))})"
    elif kind == "missing":
        message = "required field is missing"
    return ScenarioIssue(line=document.line_of(loc), field=dotted(loc) or None, message=message)


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


def _lookup(data: Any, loc: Loc) -> Any:
    """The value at ``loc`` in plain data, or None when it does not exist."""
    for part in loc:
        data = child_at(data, part)
        if data is MISSING:
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
        child = child_at(current, part)
        if child is MISSING and not last:
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
