"""Describe the content model to users: every key with its French description."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pipeline.content import _unwrap
from pipeline.mentions import MENTIONS
from pipeline.model import Course

# The keys the RNQ asks for: optional to load, reported by `qualidoc check` when absent.
CHECKED: dict[type[BaseModel], set[str]] = {
    Course: {m.location[0] for m in MENTIONS} | {"results", "modules", "contact"},
}


def nested_model(info: Any) -> Any:
    """The model a field holds (itself, in a list, or optional), else its plain type."""
    return _unwrap(info.annotation, want_item=typing.get_origin(_unwrap(info.annotation)) is list)


def need(model: type[BaseModel], name: str) -> str:
    """Whether a key must be written: required to load, an RNQ mention the check reports, or optional."""
    if model.model_fields[name].is_required():
        return "obligatoire"
    if name in CHECKED.get(model, set()):
        return "mention RNQ : signalée par `qualidoc check` si absente"
    return "facultatif"


def describe_fields(model: type[BaseModel], indent: str = "") -> str:
    """List the keys of a model, nested keys indented, each with its description and whether it is required."""
    lines = []
    for name, info in model.model_fields.items():
        lines.append(f"{indent}{name}: {info.description} ({need(model, name)})")
        inner = nested_model(info)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            lines.append(describe_fields(inner, indent + "  "))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# JSON Schemas for the editor (`qualidoc schema`): completion, descriptions on hover, values checked as one types.

KINDS = {"organisation": "Organisation", "course": "Course", "trainer": "Trainer", "improvement": "ImprovementEntry"}
# Where each kind's files live, for the editor's settings (VS Code's `yaml.schemas`).
FILES = {"organisation": ["content/organisation.yaml", "content/organisation.yml"],
         "course": ["content/courses/*.yaml", "content/courses/*.yml"],
         "trainer": ["content/trainers/*.yaml", "content/trainers/*.yml"],
         "improvement": ["content/improvements/*.yaml", "content/improvements/*.yml"]}
TITLE_END = re.compile(r" : | \(| ;|, ")


def schema_file(kind: str) -> str:
    return f"{kind}.schema.json"


def json_schemas() -> dict[str, dict[str, Any]]:
    """One JSON Schema per content kind, generated from the model, in French."""
    from pipeline import model

    schemas = {}
    for kind, name in KINDS.items():
        cls: type[BaseModel] = getattr(model, name)
        schema = cls.model_json_schema(mode="validation")
        _frenchify(schema, cls)
        for definition_name, definition in schema.get("$defs", {}).items():
            _frenchify(definition, getattr(model, definition_name))
        schemas[kind] = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                         "$id": f"https://qualidoc.invalid/schemas/{schema_file(kind)}",
                         **schema,
                         "description": f"{schema['title']} : fichier de contenu qualidoc (généré par "
                                        "`qualidoc schema` à partir du modèle ; ne pas modifier à la main)"}
    return schemas


def _frenchify(schema: dict[str, Any], cls: type[BaseModel]) -> None:
    """French titles and descriptions (with whether a key is required), and the spellings the loader accepts."""
    from pipeline.model import CATEGORY_ALIASES, NO_PREREQUISITE, SESSION_STATUS_ALIASES

    for name, prop in schema.get("properties", {}).items():
        info = cls.model_fields[name]
        description = info.description or name
        prop["title"] = TITLE_END.split(description, maxsplit=1)[0]
        required = need(cls, name)
        prop["description"] = f"{description} ({required})"
        prop["markdownDescription"] = f"**{prop['title']}** — {description}\n\n*{required}*"
        for enum in _enums(prop):
            values = enum["enum"]
            if set(values) == {"AFC", "BC", "VAE", "CFA"}:
                extra = list(CATEGORY_ALIASES)
            elif set(values) == {"presentiel", "distanciel", "mixte"}:
                extra = ["présentiel", "Présentiel", "Distanciel", "Mixte"]
            elif set(values) == {"HT", "TTC", "net"}:
                extra = ["ht", "ttc", "Net", "net de taxe"]
            elif set(values) == {"open", "full", "cancelled"}:
                extra = list(SESSION_STATUS_ALIASES)
            elif values == ["none"]:
                extra = sorted(NO_PREREQUISITE - {"none"})
            else:
                continue
            enum["enum"] = values + [v for v in extra if v not in values]
            enum.pop("const", None)


def _enums(node: Any) -> list[dict[str, Any]]:
    """Every sub-schema holding an enum (or a const, made an enum) under a property."""
    found = []
    if isinstance(node, dict):
        if "const" in node and isinstance(node["const"], str):
            node["enum"] = [node["const"]]
        if "enum" in node:
            found.append(node)
        for key, value in node.items():
            if key not in ("enum", "examples", "default"):
                found += _enums(value)
    elif isinstance(node, list):
        for value in node:
            found += _enums(value)
    return found


def write_schemas(folder: Path) -> list[Path]:
    """Write the schemas into a folder (created if needed); return the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, schema in json_schemas().items():
        path = folder / schema_file(kind)
        path.write_text(json.dumps(schema, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


def vscode_settings(schema_folder: str) -> dict[str, Any]:
    """VS Code's settings for the YAML extension: each schema for its content files."""
    return {"yaml.schemas": {f"./{schema_folder}/{schema_file(kind)}": files for kind, files in FILES.items()},
            "yaml.validate": True, "yaml.completion": True, "files.encoding": "utf8"}
