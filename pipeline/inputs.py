"""What a document reads, recorded while it renders (as Lektor's builder does), never declared by hand.

A document's context is computed from a `CatalogueView`: every field a template or a context function
reads through it is recorded as `courses/<id>#<field>`, every listing of a folder as `courses/*`;
the Jinja environment records every template it loads (`template:<name>`) and the renderer the files
it hands to pandoc and typst (`file:<path>`). The build stores the recorded names with their hashes:
a document is current while every recorded input hashes the same.

This module imports nothing from the rest of qualidoc: any module may record what it reads.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any


class Reads:
    """The names of the inputs one document read."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def add(self, name: str) -> None:
        self.names.add(name)


_CURRENT: ContextVar[Reads | None] = ContextVar("qualidoc_reads", default=None)


@contextmanager
def recording(reads: Reads) -> Iterator[Reads]:
    """Record in `reads` what is read in this block (in this thread) through `record()`.

    A recording inside another one (the conformity matrix renders questionnaires to check them) adds what
    it read to the enclosing one too: what an inner rendering reads, the outer document has read.
    """
    outer = _CURRENT.get()
    token = _CURRENT.set(reads)
    try:
        yield reads
    finally:
        _CURRENT.reset(token)
        if outer is not None:
            outer.names |= reads.names


def record(name: str) -> None:
    """Record an input of the document being rendered, if one is."""
    reads = _CURRENT.get()
    if reads is not None:
        reads.add(name)


class Watched:
    """A content object whose field reads are recorded as `<key>#<field>`.

    A property is run on the view itself, so that the fields it reads are recorded one by one; any other
    attribute (a method such as `model_dump`) may read anything, and records the whole object.
    """

    __slots__ = ("_object", "_key", "_reads")
    _fields: frozenset[str] = frozenset()  # the model's field names (set by `_view_class`)

    def __init__(self, obj: Any, key: str, reads: Reads):
        object.__setattr__(self, "_object", obj)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_reads", reads)

    def __getattr__(self, name: str) -> Any:
        obj, key, reads = self._object, self._key, self._reads
        if name in self._fields:
            reads.add(f"{key}#{name}")
            return getattr(obj, name)
        attribute = getattr(type(obj), name, None)
        if isinstance(attribute, property) and attribute.fget is not None:
            return attribute.fget(self)
        reads.add(key)
        return getattr(obj, name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("le contenu lu par un document ne peut pas être modifié")

    def __repr__(self) -> str:
        return f"Watched({self._key})"


@functools.cache
def _view_class(model: type) -> type[Watched]:
    """A Watched subclass named as the model, so that a template error names `Course`, not the view.

    It keeps the model's field names: pydantic's `model_fields` is a computed class property (1.2 µs a
    read, 15 times a set lookup), and templates read tens of thousands of fields in a build.
    """
    return type(model.__name__, (Watched,), {"__slots__": (), "__module__": model.__module__,
                                             "_fields": frozenset(model.model_fields)})  # type: ignore[attr-defined]


def watch(obj: Any, key: str, reads: Reads) -> Any:
    """View a content object so that what is read of it is recorded in `reads`."""
    return _view_class(type(obj))(obj, key, reads)  # type: ignore[arg-type]


class Folder(Mapping[str, Any]):
    """A content folder (courses, trainers, improvements): listing it records `<folder>/*`."""

    def __init__(self, items: dict[str, Any], folder: str, reads: Reads):
        self._items, self._folder, self._reads = items, folder, reads

    def __getitem__(self, ident: str) -> Any:  # a Watched model: typed as the model it stands for
        try:
            obj = self._items[ident]
        except KeyError:
            self._reads.add(f"{self._folder}/*")
            raise
        return watch(obj, f"{self._folder}/{ident}", self._reads)

    def __iter__(self) -> Iterator[str]:
        self._reads.add(f"{self._folder}/*")
        return iter(self._items)

    def __len__(self) -> int:
        self._reads.add(f"{self._folder}/*")
        return len(self._items)

    def __contains__(self, ident: object) -> bool:
        self._reads.add(f"{self._folder}/*")
        return ident in self._items


FOLDERS = ("courses", "trainers", "improvements")


class CatalogueView:
    """The catalogue as one document sees it: what it reads is recorded in its `Reads`."""

    def __init__(self, catalogue: Any, reads: Reads, cache: Path | None = None):
        self._catalogue, self.reads = catalogue, reads
        self.cache = cache  # the project's user cache, where a page may keep what saves the next build time
        self.organisation: Any = watch(catalogue.organisation, "organisation", reads)
        self.courses = Folder(catalogue.courses, "courses", reads)
        self.trainers = Folder(catalogue.trainers, "trainers", reads)
        self.improvements = Folder(catalogue.improvements, "improvements", reads)

    def source_hash(self, key: str) -> str | None:
        """The hash of the bytes a content object (`courses/x`, `organisation`) was read from, if known: what
        a page keeps in the user cache is taken again only for the same files. Not a read of the content."""
        document = self._catalogue.documents.get(key)
        return document.sha256 if document is not None and document.sha256 else None

    def everything(self) -> Any:
        """The whole catalogue, for a reader of all of it (the RNQ check): every content file is recorded."""
        self.reads.add("organisation")
        for folder in FOLDERS:
            self.reads.add(f"{folder}/*")
            self.reads.names.update(f"{folder}/{ident}" for ident in getattr(self._catalogue, folder))
        return self._catalogue


def is_content(name: str) -> bool:
    """Say whether an input name is a content object, field or folder listing (not a template or a file)."""
    return ":" not in name and name != "document"
