"""`qualidoc diff`: what a change to the content means, field by field, and which documents it affects.

Content is compared as data, not as text: list items are matched by their identity (a module by its
title, a price by its label, an objective by its text), so that a reordered list reads as a reorder
and a reworded item as a change, not as everything removed and added again.
"""

from __future__ import annotations

import difflib
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import ContentError, UserError
from pipeline.history import check_revision, files_at, repository_top
from pipeline.project import Project, sandbox
from pipeline.yamlfile import Item, field_path, parse_yaml

IDENTITY_KEYS = ("title", "label", "name", "code", "role")
FOLDERS = ("courses", "trainers", "improvements")


@dataclass
class Change:
    kind: str  # added, removed, changed, reordered
    field: str
    old: Any = None
    new: Any = None


@dataclass
class ObjectDiff:
    key: str  # organisation, courses/<id>, …
    label: str
    status: str  # added, removed, modified
    changes: list[Change] = field(default_factory=list)


@dataclass
class ContentDiff:
    base: str
    head: str
    objects: list[ObjectDiff]
    documents: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def diff_revisions(project: Project, base: str | None, head: str | None) -> ContentDiff:
    """Compare the content at two revisions (None for head: the working tree)."""
    if shutil.which("git") is None:
        raise UserError("git est introuvable : installez git pour comparer des révisions avec `qualidoc diff`")
    top = repository_top(project.content if project.content.exists() else project.root)
    if top is None:
        raise UserError(f"{project.root} n'est pas dans un dépôt git : `qualidoc diff` compare des révisions git")
    base = base or "HEAD"
    for revision in (base, head):
        if revision not in (None, ":"):
            check_revision(top, revision)
    old_files = files_at(top, project, base)
    new_files = files_at(top, project, head)
    old, new = _parse_all(old_files), _parse_all(new_files)
    objects = compare(old, new)
    return ContentDiff(base, head or "copie de travail", objects, affected_documents(project, old_files, new_files))


def _key(name: str) -> str | None:
    """Map a content file name to its object key (`courses/x.yaml` → `courses/x`)."""
    stem = name.rsplit(".", 1)[0]
    if name in ("organisation.yaml", "organisation.yml"):
        return "organisation"
    folder = stem.split("/", 1)[0]
    return stem if folder in FOLDERS and stem.count("/") == 1 else None


def _parse_all(files: dict[str, str]) -> dict[str, Any]:
    parsed = {}
    for name, text in files.items():
        key = _key(name)
        if key:
            doc, _ = parse_yaml(text, name)
            parsed[key] = doc.data if doc else None
    return parsed


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[ObjectDiff]:
    """Compare two sets of content objects."""
    diffs = []
    for key in sorted(old.keys() | new.keys(), key=_order):
        before, after = old.get(key), new.get(key)
        label = _label(after if after is not None else before)
        if before is None and key not in old:
            diffs.append(ObjectDiff(key, label, "added"))
        elif after is None and key not in new:
            diffs.append(ObjectDiff(key, label, "removed"))
        else:
            changes = compare_values(before, after, ())
            if changes:
                diffs.append(ObjectDiff(key, label, "modified", changes))
    return diffs


def _order(key: str) -> tuple[int, str]:
    folder = key.split("/")[0]
    return (["organisation", *FOLDERS].index(folder) if folder in ("organisation", *FOLDERS) else 9, key)


def _label(data: Any) -> str:
    if isinstance(data, dict):
        for name in ("title", "name", "description"):
            if isinstance(data.get(name), str):
                text = " ".join(data[name].split())
                return text if len(text) <= 80 else text[:79] + "…"
    return ""


def compare_values(old: Any, new: Any, path: tuple[str | int, ...]) -> list[Change]:
    """Compare two values and list the changes, field by field."""
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        changes = []
        for name in list(old) + [k for k in new if k not in old]:
            if name not in new:
                changes.append(Change("removed", field_path(path + (name,)), old[name], None))
            elif name not in old:
                changes.append(Change("added", field_path(path + (name,)), None, new[name]))
            else:
                changes += compare_values(old[name], new[name], path + (name,))
        return changes
    if isinstance(old, list) and isinstance(new, list):
        return _compare_lists(old, new, path)
    return [Change("changed", field_path(path), old, new)]


def _compare_lists(old: list[Any], new: list[Any], path: tuple[str | int, ...]) -> list[Change]:
    old_ids, new_ids = [_identity(x) for x in old], [_identity(x) for x in new]
    pairs = {i: new_ids.index(ident) for i, ident in enumerate(old_ids) if ident in new_ids}
    unmatched_old = [i for i in range(len(old)) if i not in pairs]
    unmatched_new = [j for j in range(len(new)) if j not in pairs.values()]
    for i in list(unmatched_old):  # a reworded item: pair it with the most similar new one
        best = max(unmatched_new, key=lambda j: _similarity(old[i], new[j]), default=None)
        if best is not None and _similarity(old[i], new[best]) >= 0.6:
            pairs[i] = best
            unmatched_old.remove(i)
            unmatched_new.remove(best)
    changes = []
    for i, j in sorted(pairs.items()):
        changes += compare_values(old[i], new[j], path + (Item(_identity(new[j], short=True)),))
    changes += [Change("removed", field_path(path), old[i], None) for i in unmatched_old]
    changes += [Change("added", field_path(path), None, new[j]) for j in unmatched_new]
    kept = [j for _, j in sorted(pairs.items())]
    if kept != sorted(kept):
        changes.append(Change("reordered", field_path(path), [i + 1 for i in sorted(pairs)],
                              [i + 1 for i in sorted(pairs, key=lambda i: pairs[i])]))
    return changes


def _identity(item: Any, short: bool = False) -> str:
    if isinstance(item, dict):
        for name in IDENTITY_KEYS:
            if isinstance(item.get(name), str):
                return item[name]
        return json.dumps(item, sort_keys=True, ensure_ascii=False)
    text = " ".join(str(item).split())
    return (text[:40] + "…" if len(text) > 41 else text) if short else text


def _similarity(a: Any, b: Any) -> float:
    return difflib.SequenceMatcher(None, _identity(a), _identity(b)).ratio()


def affected_documents(project: Project, old_files: dict[str, str], new_files: dict[str, str]) -> list[str]:
    """List the documents that change between the two sides: those whose text or title would differ.

    Each side's documents are rendered to Markdown (not to DOCX and PDF): what they read is what counts,
    whatever the templates show. New content that cannot be read raises its content errors: they, not a
    list of every document, are what the reviewer needs to see.
    """
    old_docs, new_docs = _documents(project, old_files), _documents(project, new_files, strict=True)
    affected = []
    for path in sorted(old_docs.keys() | new_docs.keys()):
        if old_docs.get(path) != new_docs.get(path):
            affected.append(path)
    return affected


def _documents(project: Project, files: dict[str, str], strict: bool = False) -> dict[str, Any]:
    """Plan and render the documents of one side: {output path: (title, reference, Markdown)}."""
    from pipeline.content import load_catalogue
    from pipeline.plan import plan_project
    from pipeline.render import Renderer, in_template, template_error

    with tempfile.TemporaryDirectory() as tmp:
        copy = sandbox(project, files, Path(tmp))
        try:
            catalogue = load_catalogue(copy.content, copy.root)
        except ContentError:
            if strict:
                raise
            return {f"(contenu invalide : {name})": text for name, text in files.items()}
        renderer = Renderer(copy, catalogue, 1)
        shown: dict[str, Any] = {}
        for document in plan_project(copy, catalogue):
            try:
                shown[document.path] = (document.title, document.reference, renderer.markdown(document))
            except Exception as e:
                if not in_template(e):
                    raise
                shown[document.path] = (document.title, document.reference, template_error(e, copy.shown))
        return shown


# Output -----------------------------------------------------------------------------------------------

STATUS = {"added": "ajouté", "removed": "supprimé", "modified": "modifié"}
SYMBOL = {"added": "+", "removed": "-", "changed": "~", "reordered": "↕"}


def _value(value: Any) -> str:
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = " ".join(str(value).split())
    return text if len(text) <= 100 else text[:99] + "…"


def _describe_change(change: Change) -> str:
    if change.kind == "changed":
        return f"{change.field} : {_value(change.old)} → {_value(change.new)}"
    if change.kind == "reordered":
        return f"{change.field} : ordre modifié ({', '.join(map(str, change.new))} au lieu de " \
               f"{', '.join(map(str, change.old))})"
    if change.kind == "added":
        return f"{change.field} : ajout de {_value(change.new)}"
    return f"{change.field} : suppression de {_value(change.old)}"


def format_text(diff: ContentDiff) -> str:
    lines = [f"Modifications du contenu : {diff.base} → {diff.head}", ""]
    if not diff.objects:
        lines.append("Aucune modification du contenu.")
    for obj in diff.objects:
        label = f" – « {obj.label} »" if obj.label else ""
        lines.append(f"{obj.key}{label} ({STATUS[obj.status]})")
        lines += [f"  {SYMBOL[c.kind]} {_describe_change(c)}" for c in obj.changes]
    lines += ["", f"Documents concernés ({len(diff.documents)}) :"]
    lines += [f"  {path} (.docx, .pdf)" for path in diff.documents] or ["  aucun"]
    return "\n".join(lines)


def format_markdown(diff: ContentDiff) -> str:
    lines = [f"### Modifications du contenu (`{diff.base}` → `{diff.head}`)", ""]
    if not diff.objects:
        lines.append("Aucune modification du contenu.")
    for obj in diff.objects:
        label = f" – {_md(obj.label)}" if obj.label else ""
        lines.append(f"**`{obj.key}`**{label} *({STATUS[obj.status]})*")
        lines.append("")
        lines += [f"- {_md(_describe_change(c))}" for c in obj.changes]
        if obj.changes:
            lines.append("")
    lines += [f"**Documents concernés ({len(diff.documents)})**", ""]
    lines += [f"- `{path}` (DOCX, PDF)" for path in diff.documents] or ["- aucun"]
    return "\n".join(lines) + "\n"


MARKDOWN_SPECIAL = frozenset("\\`*_[]<>#|~@:$&{}")


def _md(text: str) -> str:
    """Text that GitHub and GitLab show as typed: no emphasis, strike, mention, emoji, math, entity, table cell."""
    return "".join("\\" + c if c in MARKDOWN_SPECIAL else c for c in " ".join(text.split()))


def format_json(diff: ContentDiff) -> str:
    return json.dumps(diff.as_dict(), ensure_ascii=False, indent=1, default=str)
