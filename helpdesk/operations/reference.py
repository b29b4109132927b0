"""docs/settings.md, generated from the Settings model so that it can never drift from it
(`helpdesk settings-reference`; tests/test_operations_docs.py checks the committed file)."""

from __future__ import annotations

import contextlib
import enum
import os
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from helpdesk.config import Settings

HEADER = """# Settings reference

Generated from the Settings model by `helpdesk settings-reference`: do not edit by hand (a test
checks that this file matches the model). What each setting is for, and examples, are in
[configuration.md](configuration.md) and the page of each channel.

Every setting can be given as an environment variable or in `helpdesk.toml` (the file named by
`HELPDESK_CONFIG`); variables win. Nested settings use `__` in variable names and tables in TOML.
Lists of tables (`email.mailboxes`) can only be given in TOML, or as JSON in the variable.
"""


def render() -> str:
    lines = [HEADER]
    for title, prefix, model in _sections():
        lines.append(f"\n## {title}\n")
        lines.append("| variable | helpdesk.toml | type | default | notes |")
        lines.append("| --- | --- | --- | --- | --- |")
        for name, field in model.model_fields.items():
            if _submodel(field.annotation) is not None and prefix == "":
                continue  # a section of its own below
            toml = ".".join([*prefix.split("."), name]) if prefix else name
            variable = "`HELPDESK_" + toml.replace(".", "__").upper() + "`"
            if "[]" in toml:
                variable = "(an entry of the list)"
            lines.append(
                f"| {variable} | `{toml}` | {_type(field.annotation)} | {_default(field)} | "
                f"{_notes(field)} |"
            )
    return "\n".join(lines) + "\n"


def _sections() -> Iterator[tuple[str, str, type[BaseModel]]]:
    yield "General", "", Settings
    for name, field in Settings.model_fields.items():
        yield from _nested(name, field)


def _nested(path: str, field: FieldInfo) -> Iterator[tuple[str, str, type[BaseModel]]]:
    model = _submodel(field.annotation)
    if model is None:
        return
    listed = get_origin(field.annotation) is list
    prefix = f"{path}[]" if listed else path
    yield f"`[{'[' if listed else ''}{path}{']' if listed else ''}]`", prefix, model
    for name, sub in model.model_fields.items():
        yield from _nested(f"{prefix}.{name}", sub)


def _submodel(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _submodel(arg)
        if found is not None:
            return found
    return None


def _type(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in get_args(annotation))
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return " or ".join(_type(a) for a in args) + " (optional)"
    if origin is list:
        (inner,) = get_args(annotation)
        return "list of tables" if _submodel(inner) else f"list of {_type(inner)}"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return "table"
        if issubclass(annotation, SecretStr):
            return "secret text"
        if issubclass(annotation, enum.Enum):
            return "one of " + ", ".join(f"`{m.value}`" for m in annotation)
        if issubclass(annotation, Path):
            return "path"
        return {bool: "true/false", int: "integer", float: "number", str: "text"}.get(
            annotation, annotation.__name__
        )
    return str(annotation)


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        with _without_helpdesk_environment():
            value = field.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "(table)"
    elif field.default is PydanticUndefined:
        return "(required)"
    else:
        value = field.default
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None:
        return "(unset)"
    if value == "" or value == []:
        return "(empty)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, enum.Enum):
        value = value.value
    return f"`{value}`"


def _notes(field: FieldInfo) -> str:
    bounds = []
    for rule in field.metadata:
        for attribute, symbol in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(rule, attribute, None)
            if value is not None:
                bounds.append(f"{symbol} {value}")
        if isinstance(rule, annotated_types.MinLen):
            bounds.append(f"at least {rule.min_length} characters")
        if isinstance(rule, annotated_types.MaxLen):
            bounds.append(f"at most {rule.max_length} characters")
    parts = [field.description.replace("|", "\\|")] if field.description else []
    if bounds:
        parts.append(", ".join(bounds))
    return "; ".join(parts)


@contextlib.contextmanager
def _without_helpdesk_environment() -> Iterator[None]:
    """Defaults that read the environment (the data dir) are shown as they are without it."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("HELPDESK_")}
    for key in saved:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(saved)
