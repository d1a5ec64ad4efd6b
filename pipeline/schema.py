"""Describe the content model to users: every key with its French description."""

from __future__ import annotations

import typing

from pydantic import BaseModel

from pipeline.content import _unwrap
from pipeline.mentions import MENTIONS
from pipeline.model import Course

# The keys the RNQ asks for: optional to load, reported by `qualidoc check` when absent.
CHECKED: dict[type[BaseModel], set[str]] = {
    Course: {m.location[0] for m in MENTIONS} | {"results", "modules", "contact"},
}


def describe_fields(model: type[BaseModel], indent: str = "") -> str:
    """List the keys of a model, nested keys indented, each with its description and whether it is required."""
    lines = []
    for name, info in model.model_fields.items():
        if info.is_required():
            need = "obligatoire"
        elif name in CHECKED.get(model, set()):
            need = "mention RNQ : signalée par `qualidoc check` si absente"
        else:
            need = "facultatif"
        lines.append(f"{indent}{name}: {info.description} ({need})")
        inner = _unwrap(info.annotation, want_item=typing.get_origin(_unwrap(info.annotation)) is list)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            lines.append(describe_fields(inner, indent + "  "))
    return "\n".join(lines)
