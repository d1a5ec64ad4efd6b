"""Describe the content model to users: every key with its French description."""

from __future__ import annotations

import typing

from pydantic import BaseModel

from pipeline.content import _unwrap


def describe_fields(model: type[BaseModel], indent: str = "") -> str:
    """List the keys of a model, nested keys indented, each with its description and whether it is required."""
    lines = []
    for name, info in model.model_fields.items():
        required = "obligatoire" if info.is_required() else "facultatif"
        lines.append(f"{indent}{name}: {info.description} ({required})")
        inner = _unwrap(info.annotation, want_item=typing.get_origin(_unwrap(info.annotation)) is list)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            lines.append(describe_fields(inner, indent + "  "))
    return "\n".join(lines)
