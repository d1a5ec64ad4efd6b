"""The build: load → validate → plan → render → write. Read `build()` top to bottom.

Heavy modules (pydantic models, Jinja2, typst) are imported only when something must be rebuilt:
a build with nothing to do answers from the state file in a few milliseconds.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import importlib.util
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline import __version__
from pipeline.errors import UserError
from pipeline.history import head_commit
from pipeline.project import Project, inside
from pipeline.state import TEMPORARY, BuildState, file_hash, source_snapshot, write_atomic

if TYPE_CHECKING:
    from pipeline.content import Catalogue
    from pipeline.documents import Document
    from pipeline.render import Failed, Rendered

FORMATS = ("docx", "pdf")
STYLE_FILES = ("reference.docx", "style.typ")
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
TEMPLATE_REFERENCE = re.compile(r"""{%-?\s*(?:import|include|extends|from)\s+["']([^"']+)["']""")


@dataclass
class BuildReport:
    """What a build did, for the summary line and for tests."""

    total: int = 0
    rebuilt: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    incomplete: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)  # files read outside content/ and templates/
    seconds: float = 0.0

    @property
    def up_to_date(self) -> int:
        return self.total - len(self.rebuilt) - len(self.failed)

    def summary(self) -> str:
        parts = [f"{len(self.rebuilt)} rebuilt", f"{self.up_to_date} up to date"]
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.removed:
            parts.append(f"{len(self.removed)} removed")
        if self.incomplete:
            parts.append(f"{len(self.incomplete)} incomplete (« À compléter »)")
        return f"{self.total} documents: {', '.join(parts)} ({self.seconds:.1f} s)"


Progress = Callable[[int, int], None]


def build(project: Project, force: bool = False, jobs: int = 0, progress: Progress | None = None,
          strict: bool = False) -> BuildReport:
    """Build every document of the project whose inputs changed since the last build.

    `strict` refuses to write the documents whose sources have RNQ errors (`qualidoc check`).
    """
    started = time.perf_counter()
    with build_lock(project):
        _remove_leftovers(project)
        state = BuildState.load(project.state_dir)
        tools = {**tool_versions(), "git:head": head_commit(project.root)}
        snapshot = source_snapshot(project, tools, state.extra)
        if not force and not strict and state.unchanged_since(snapshot, project.out):
            report = BuildReport(total=len(state.outputs), incomplete=list(state.incomplete), extra=list(state.extra))
        else:
            report = _build_changed(project, state, force, jobs, progress, strict)
            if report.extra != state.extra:
                state.extra = report.extra
                snapshot = source_snapshot(project, tools, state.extra)
            state.snapshot = snapshot if not report.failed else {}
            state.incomplete = report.incomplete
            try:
                state.save()
            except OSError as e:
                raise UserError(f"cannot write {state.path}: {e.strerror}") from e
    report.seconds = time.perf_counter() - started
    return report


def _build_changed(project: Project, state: BuildState, force: bool, jobs: int,
                   progress: Progress | None, strict: bool = False) -> BuildReport:
    from pipeline.content import load_catalogue
    from pipeline.documents import plan_documents
    from pipeline.history import load_history
    from pipeline.render import Renderer

    catalogue = load_catalogue(project.content, project.root, cache=project.cache_dir / "parsed.json")
    documents = plan_documents(catalogue, project, load_history(project.content))
    inputs = InputHasher(project, catalogue)
    report = BuildReport(total=len(documents), incomplete=[d.path for d in documents if d.incomplete])
    outside = (project.content, project.templates)
    if catalogue.logo and not any(catalogue.logo.is_relative_to(folder) for folder in outside):
        report.extra = [str(catalogue.logo)]
    allowed = _refuse_rnq_errors(documents, catalogue, project, state, report) if strict else documents
    stale = _stale_documents(allowed, state, inputs, project, force, report)
    for outcome in Renderer(project, catalogue, jobs).render(stale, progress):
        _write(outcome, state, inputs, project, report)
    report.removed = _remove_orphans(documents, state, project)
    return report


def _refuse_rnq_errors(documents: list[Document], catalogue: Catalogue, project: Project, state: BuildState,
                      report: BuildReport) -> list[Document]:
    """Fail the documents that read a content file with RNQ errors (`build --strict`); keep the others."""
    import datetime as dt

    from pipeline.rules import check

    errors: dict[str, int] = {}
    for finding in check(catalogue, dt.date.today(), project).errors():
        errors[finding.file] = errors.get(finding.file, 0) + 1
    kept = []
    for document in documents:
        files = {project.shown(catalogue.file_of(key.partition("#")[0])) for key in document.sources}
        count = sum(errors.get(f, 0) for f in files)
        if count:
            named = ", ".join(sorted(f for f in files if f in errors))
            report.failed[document.path] = (f"not built (--strict): {count} RNQ error{'s' if count > 1 else ''} "
                                            f"in {named}; see `qualidoc check`")
            state.forget(document.path)
        else:
            kept.append(document)
    return kept


def _stale_documents(documents: list[Document], state: BuildState, inputs: InputHasher, project: Project,
                     force: bool, report: BuildReport) -> list[Document]:
    stale = []
    for document in documents:
        reason = "--force" if force else state.why_stale(document.path, inputs.of(document), project.out,
                                                         output_files(document))
        if reason:
            report.reasons[document.path] = reason
            stale.append(document)
    return stale


def _write(outcome: Rendered | Failed, state: BuildState, inputs: InputHasher, project: Project,
           report: BuildReport) -> None:
    """Write a rendered document atomically and record it; a failed one keeps its last good files."""
    from pipeline.render import Failed

    document = outcome.document
    if isinstance(outcome, Failed):
        report.failed[document.path] = outcome.reason
        state.forget(document.path)
        return
    try:
        write_atomic(project.out / f"{document.path}.docx", outcome.docx)
        write_atomic(project.out / f"{document.path}.pdf", outcome.pdf)
    except OSError as e:
        report.failed[document.path] = f"cannot write {e.filename or project.out}: {e.strerror}"
        state.forget(document.path)
        return
    state.record(document.path, inputs.of(document), project.out, output_files(document))
    report.rebuilt.append(document.path)


def _remove_orphans(documents: list[Document], state: BuildState, project: Project) -> list[str]:
    """Delete the outputs of documents whose sources disappeared."""
    planned = {d.path for d in documents}
    removed = []
    for key in sorted(set(state.outputs) - planned):
        for name in state.outputs[key].files:
            try:
                (project.out / name).unlink(missing_ok=True)
            except OSError as e:
                raise UserError(f"cannot remove {project.out / name}: {e.strerror}") from e
        state.forget(key)
        removed.append(key)
    return removed


def _remove_leftovers(project: Project) -> None:
    """Delete the temporary files of a build that was killed (we hold the lock: none is running)."""
    for leftover in project.out.rglob(f".*{TEMPORARY}"):  # only what write_atomic names: never a user's file
        if leftover.is_file() and not leftover.is_symlink():
            leftover.unlink(missing_ok=True)
    for stage in project.state_dir.glob("stage-*"):
        shutil.rmtree(stage, ignore_errors=True)


def output_files(document: Document) -> list[str]:
    """Return the files a document produces, relative to the output folder."""
    return [f"{document.path}.{extension}" for extension in FORMATS]


@contextmanager
def build_lock(project: Project) -> Iterator[None]:
    """Hold the output folder's lock; a second build at the same time stops with a clear message."""
    try:
        project.state_dir.mkdir(parents=True, exist_ok=True)
        handle = open(project.state_dir / "lock", "w")  # noqa: SIM115 - closed below
    except OSError as e:
        raise UserError(f"cannot write to {e.filename or project.state_dir}: {e.strerror}; "
                        "the documents already there are unchanged") from e
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"another qualidoc build is writing to {project.shown(project.out)}: "
                            "wait for it to finish, then run the build again") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class InputHasher:
    """Compute what each document reads, as {name: hash}, hashing each file once per build."""

    def __init__(self, project: Project, catalogue: Catalogue):
        self.project, self.catalogue = project, catalogue
        self.cache: dict[str, str] = {}

    def of(self, document: Document) -> dict[str, str]:
        """Return every input of a document with its hash."""
        hashes = {self._name(source): self._source_hash(source) for source in document.sources}
        hashes.update(self._files_of((document.template, *document.extra_templates)))
        hashes["stamp"] = f"{document.version} {document.stamp_text}"
        return hashes

    @functools.cache  # noqa: B019 - one hasher per build
    def _files_of(self, templates: tuple[str, ...]) -> dict[str, str]:
        """The files a kind of document reads whatever its content: templates, style, fonts, logo; and the tools."""
        names = [t for name in templates for t in self._templates(name)]
        paths = [self.project.templates / name for name in dict.fromkeys(names)]
        paths += [self.project.templates / name for name in STYLE_FILES]
        paths += sorted(p for p in (self.project.templates / "fonts").glob("*") if p.suffix in FONT_SUFFIXES)
        if self.catalogue.logo:
            paths.append(self.catalogue.logo)
        return {**{self._shown(path): self._file_hash(path) for path in paths}, **tool_versions()}

    def _name(self, source: str) -> str:
        name = "name:" + source
        if name not in self.cache:
            key, _, fields = source.partition("#")
            shown = self.project.shown(self.catalogue.file_of(key))
            self.cache[name] = f"{shown}#{fields}" if fields else shown
        return self.cache[name]

    def _source_hash(self, source: str) -> str:
        if source not in self.cache:
            key, _, fields = source.partition("#")
            if fields:
                data = self.catalogue.get(key).model_dump(mode="json", include=set(fields.split(",")))
                self.cache[source] = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
            else:
                self.cache[source] = self._file_hash(self.catalogue.file_of(key))
        return self.cache[source]

    def _shown(self, path: Path) -> str:
        name = "shown:" + str(path)
        if name not in self.cache:
            self.cache[name] = self.project.shown(path)
        return self.cache[name]

    def _file_hash(self, path: Path) -> str:
        if str(path) not in self.cache:
            self.cache[str(path)] = file_hash(path)
        return self.cache[str(path)]

    @functools.cache  # noqa: B019 - one hasher per build
    def _templates(self, name: str) -> tuple[str, ...]:
        """Return a template and every template it imports or includes, recursively."""
        found = [name]
        path = self.project.templates / name
        if not inside(path, self.project.templates):
            return (name,)  # missing, broken or outside templates/: its documents fail with the reason
        for child in TEMPLATE_REFERENCE.findall(path.read_text(encoding="utf-8", errors="replace")):
            found += [t for t in self._templates(child) if t not in found]
        return tuple(found)


@functools.cache
def tool_versions() -> dict[str, str]:
    """The versions of pandoc, typst and qualidoc's own rendering code: a change rebuilds everything."""
    return {"tool:pandoc": _installed("pypandoc", "pypandoc_binary"), "tool:typst": _installed("typst", "typst"),
            "tool:qualidoc": f"{__version__}+{package_hash()}"}


def _installed(module: str, distribution: str) -> str:
    """A package's installed version, from its `.dist-info` folder name (importlib.metadata costs 40 ms)."""
    spec = importlib.util.find_spec(module)
    folder = Path(spec.origin).parent.parent if spec and spec.origin else None
    prefix = distribution.lower() + "-"
    for entry in sorted(os.listdir(folder)) if folder else ():
        if entry.lower().startswith(prefix) and entry.endswith(".dist-info"):
            return entry[len(prefix):-len(".dist-info")]
    from importlib import metadata

    return metadata.version(distribution)


@functools.cache
def package_hash() -> str:
    """A hash of qualidoc's own code: what it renders changes when the code does."""
    digest = hashlib.sha256()
    package = resources.files("pipeline")
    for name in sorted(p.name for p in package.iterdir() if p.name.endswith((".py", ".lua"))):
        digest.update(name.encode() + package.joinpath(name).read_bytes())
    return digest.hexdigest()[:16]
