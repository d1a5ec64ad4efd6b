"""The build: load → validate → plan → render → write. Read `build()` top to bottom.

Heavy modules (pydantic models, Jinja2, typst) are imported only when something must be rebuilt:
a build with nothing to do answers from the state file in a few milliseconds.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline.errors import UserError, cause
from pipeline.history import head_commit
from pipeline.inputs import is_content
from pipeline.project import Project
from pipeline.state import TEMPORARY, BuildState, file_hash, source_snapshot, write_atomic
from pipeline.tools import tool_versions

if TYPE_CHECKING:
    from pipeline.content import Catalogue
    from pipeline.document_kinds import Document
    from pipeline.inputs import Reads
    from pipeline.render import Failed, Ready, Rendered

FORMATS = ("docx", "pdf")


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
    site: list[str] = field(default_factory=list)  # files of the web catalogue written (build/site/)
    seconds: float = 0.0

    @property
    def up_to_date(self) -> int:
        return self.total - len(self.rebuilt) - len([p for p in self.failed if is_document(p)])

    def summary(self) -> str:
        parts = [f"{len(self.rebuilt)} {_agree('reconstruit', len(self.rebuilt))}",
                 f"{self.up_to_date} déjà à jour"]
        if self.failed:
            parts.append(f"{len(self.failed)} en échec")
        if self.removed:
            parts.append(f"{len(self.removed)} {_agree('supprimé', len(self.removed))}")
        if self.incomplete:
            parts.append(f"{len(self.incomplete)} {_agree('incomplet', len(self.incomplete))} (« À compléter »)")
        web = [p for p in self.site if p.startswith("site/")]
        if web:
            parts.append(f"site web : {len(web)} fichier{'s' if len(web) > 1 else ''} {_agree('écrit', len(web))}")
        if len(web) < len(self.site):
            parts.append("export LHÉO écrit")
        return f"{self.total} documents : {', '.join(parts)} ({_seconds(self.seconds)})"


GIT_LOG = "git-log.json"  # the content's git log at the HEAD commit, in the user cache (history.load_history)


def is_document(key: str) -> bool:
    """Tell a document's key (`programmes/x`) from a file of the site or the export (`site/index.html`)."""
    return "." not in key.rsplit("/", 1)[-1]


def _agree(word: str, count: int) -> str:
    return word + "s" if count > 1 else word


def _seconds(value: float) -> str:
    return f"{value:.1f}".replace(".", ",") + " s"


Progress = Callable[[int, int], None]


def build(project: Project, force: bool = False, jobs: int = 0, progress: Progress | None = None,
          strict: bool = False, documents_first: bool = False) -> BuildReport:
    """Build every document of the project whose inputs changed since the last build.

    `strict` refuses to write the documents whose sources have RNQ errors (`qualidoc check`).
    `documents_first`: the web catalogue's files are written once the documents are, not while pandoc and
    typst convert them (watch, after an edit: the PDF the user looks at comes first).
    """
    started = time.perf_counter()
    with build_lock(project):
        _remove_leftovers(project)
        state = BuildState.load(project.state_dir)
        # The command line's PDF/A level is part of the snapshot (organisation.yaml's is a file in it).
        tools = {**tool_versions(), "git:head": head_commit(project.root), "setting:pdfa": project.pdf_archive or ""}
        snapshot = source_snapshot(project, tools, state.extra)
        if not force and not strict and state.unchanged_since(snapshot, project.out):
            state.keep()  # unchanged: the next build of this process (watch) needs not read it again
            documents = sum(1 for key in state.outputs if is_document(key))  # not the web pages nor the export
            report = BuildReport(total=documents, incomplete=list(state.incomplete), extra=list(state.extra))
        else:
            report = _build_changed(project, state, force, jobs, progress, strict, documents_first)
            if report.extra != state.extra:
                state.extra = report.extra
                snapshot = source_snapshot(project, tools, state.extra)
            state.snapshot = snapshot if not report.failed else {}
            state.incomplete = report.incomplete
            try:
                state.save()
            except OSError as e:
                raise UserError(f"impossible d'écrire {state.path} : {cause(e)}") from e
    report.seconds = time.perf_counter() - started
    return report


def warm(project: Project, done: Iterable[str] = (), jobs: int = 0, here: bool = False) -> None:
    """Watch, once its first build is done: have the large documents (the log, the skills matrix) laid out by
    the processes that keep their layout (typst_worker.py), so that the first edit finds what the next ones
    find: their pieces read, and laid out ahead with other page numbers (pieces.Ahead). Only the documents
    whose parts the user cache holds and that build did not render (`done`); nothing is written to build/,
    and a problem is the next build's to report.

    `here` (the resident builder, which keeps no layout process): only those that an edit's build lays out in
    this process (Renderer.fits_here), with its compilers, which then have the fonts and pieces read."""
    from pipeline.content import load_catalogue
    from pipeline.history import load_history
    from pipeline.plan import plan_project
    from pipeline.render import Renderer

    with build_lock(project):
        catalogue = load_catalogue(project.content, project.root, cache=project.cache_dir / "parsed.json")
        documents = plan_project(project, catalogue, load_history(project.content, project.cache_dir / GIT_LOG))
        renderer, skip = Renderer(project, catalogue, jobs), set(done)
        chosen = [d for d in documents if d.path not in skip and renderer.has_parts(d)
                  and (not here or renderer.fits_here(d))]
        for _ in renderer.render(chosen) if chosen else ():
            pass  # its files are those of build/ (same inputs): only the layout kept in memory counts


def _build_changed(project: Project, state: BuildState, force: bool, jobs: int,
                   progress: Progress | None, strict: bool = False, documents_first: bool = False) -> BuildReport:
    from pipeline.content import load_catalogue
    from pipeline.history import load_history
    from pipeline.plan import plan_project
    from pipeline.render import FEW, Ready, Renderer
    from pipeline.site import plan_site

    deferred: list[Callable[[], None]] = []  # the parsed content's cache, written while the documents are made
    catalogue = load_catalogue(project.content, project.root, cache=project.cache_dir / "parsed.json",
                               later=deferred)
    documents = plan_project(project, catalogue, load_history(project.content, project.cache_dir / GIT_LOG))
    inputs = InputHasher(project, catalogue, state)
    report = BuildReport(total=len(documents), incomplete=[d.path for d in documents if d.incomplete])
    outside = (project.content, *project.template_folders)
    if catalogue.logo and not any(catalogue.logo.is_relative_to(folder) for folder in outside):
        report.extra = [str(catalogue.logo)]
    allowed = _refuse_rnq_errors(documents, catalogue, project, state, report) if strict else documents
    stale = _stale_documents(allowed, state, inputs, project, force, report)
    pages = plan_site(catalogue, documents)
    # The site's pages are written while pandoc and typst convert the documents; the copies of the
    # documents (site/documents/) once they are written.
    later = [page for page in pages if page.copy.startswith("output:")]
    early = [page for page in pages if not page.copy.startswith("output:")]
    copies: dict[str, list[Any]] = {}
    for page in later:
        copies.setdefault(page.copy.removeprefix("output:").rsplit(".", 1)[0], []).append(page)
    site = _SiteBuilder(project, catalogue, state, inputs, force, report)
    renderer = Renderer(project, catalogue, jobs, reuse=not force)
    files = _Files(project, renderer.kept_file)

    def meanwhile() -> None:
        site.build(early)
        while deferred:
            deferred.pop()()

    # After an edit in watch, the site's pages (the LHÉO export, the index: 0.1 s of Python at N = 100) would
    # hold the interpreter while the threads that finish the documents need it (many documents: side by side).
    # Their DOCX are finished once every PDF is written: the PDF is what the user looks at (watch's target).
    first = renderer.pdfs_first = documents_first and len(stale) <= FEW
    for outcome in renderer.render(stale, progress, meanwhile=None if first else meanwhile, write=files.write):
        _write(outcome, state, inputs, project, report, files)
        if not isinstance(outcome, Ready):
            site.build(copies.get(outcome.document.path, []))
    meanwhile()  # if no document was rendered
    site.build(later)
    report.removed = _remove_orphans([*(d.path for d in documents), *(p.path for p in pages)], state, project)
    return report


class _SiteBuilder:
    """Write the web catalogue's files whose inputs changed (site.py); a page that fails is reported as such."""

    def __init__(self, project: Project, catalogue: Catalogue, state: BuildState, inputs: InputHasher, force: bool,
                 report: BuildReport):
        from pipeline.site import SiteRenderer

        self.project, self.state, self.inputs, self.force, self.report = project, state, inputs, force, report
        self.renderer = SiteRenderer(project, catalogue)
        self.done: set[str] = set()

    def build(self, pages: list[Any]) -> None:
        for page in pages:
            if page.path not in self.done:
                self.done.add(page.path)
                self._page(page)

    def _page(self, page: Any) -> None:
        from pipeline.render import in_template, template_error

        project, state, inputs, report = self.project, self.state, self.inputs, self.report
        reason = "--force" if self.force else state.why_stale(page.path, inputs.current(page, state), project.out,
                                                              page.files, inputs.show)
        if not reason:
            return
        try:
            data, reads = self.renderer.render(page)
        except Exception as e:
            if not in_template(e):
                raise
            report.failed[page.path] = template_error(e, project.shown)
            state.forget(page.path)
            return
        if data is None:  # the document it copies failed (reported with it), or nothing to export
            state.forget(page.path)
            if page.make is not None:
                (project.out / page.path).unlink(missing_ok=True)
            return
        linked = self.renderer.sources.pop(page.path, None)  # a document's copy: a link to its file
        try:
            write_atomic(project.out / page.path, data, durable=False, same_as=linked)
        except OSError as e:
            report.failed[page.path] = f"impossible d'écrire {e.filename or project.out} : {cause(e)}"
            state.forget(page.path)
            return
        before = state.outputs[page.path].inputs if page.path in state.outputs else None
        written = {page.path: hashlib.sha256(data).hexdigest()}  # not read back from the disk
        state.record(page.path, inputs.recorded(page, reads, before), project.out, page.files, written)
        report.site.append(page.path)
        report.reasons[page.path] = reason


def _refuse_rnq_errors(documents: list[Document], catalogue: Catalogue, project: Project, state: BuildState,
                      report: BuildReport) -> list[Document]:
    """Fail the documents that read a content file with RNQ errors (`build --strict`); keep the others."""
    import datetime as dt

    from pipeline.plan import check_project

    errors: dict[str, int] = {}
    for finding in check_project(project, catalogue, dt.date.today()).errors():
        errors[finding.file] = errors.get(finding.file, 0) + 1
    kept = []
    for document in documents:
        read = state.outputs[document.path].inputs if document.path in state.outputs else {}
        keys = {*document.dated_by, *(name.partition("#")[0] for name in read if is_content(name))}
        files = {project.shown(catalogue.file_of(key)) for key in keys if key in catalogue.files}
        count = sum(errors.get(f, 0) for f in files)
        if count:
            named = ", ".join(sorted(f for f in files if f in errors))
            report.failed[document.path] = (f"non construit (--strict) : {count} {_agree('erreur', count)} RNQ "
                                            f"dans {named} ; voir `qualidoc check`")
            state.forget(document.path)
        else:
            kept.append(document)
    return kept


def _stale_documents(documents: list[Document], state: BuildState, inputs: InputHasher, project: Project,
                     force: bool, report: BuildReport) -> list[Document]:
    stale = []
    for document in documents:
        reason = "--force" if force else state.why_stale(document.path, inputs.current(document, state),
                                                         project.out, output_files(document), inputs.show)
        if reason:
            report.reasons[document.path] = reason
            stale.append(document)
    return stale


def _write(outcome: Rendered | Ready | Failed, state: BuildState, inputs: InputHasher, project: Project,
           report: BuildReport, files: _Files) -> None:
    """Write a rendered document atomically and record it; a failed one keeps its last good files.

    A PDF done before its DOCX (Ready) is written at once; the document is recorded once both are written.
    """
    from pipeline.render import Failed, Ready

    document = outcome.document
    if isinstance(outcome, Failed):
        report.failed[document.path] = outcome.reason
        state.forget(document.path)
        return
    if document.path in report.failed:  # its PDF could not be written
        return
    if outcome.written is None and not outcome.error:  # not written yet (the renderer was given no `write`)
        ready = {"pdf": outcome.data} if isinstance(outcome, Ready) else {
            kind: data for kind, data in (("docx", outcome.docx), ("pdf", outcome.pdf)) if kind not in outcome.early}
        try:
            outcome.written = files.write(document, ready)
        except OSError as e:
            outcome.error = f"impossible d'écrire {e.filename or project.out} : {cause(e)}"
    if outcome.error:
        report.failed[document.path] = outcome.error
        state.forget(document.path)
        return
    for name, sha256 in (outcome.written or {}).items():
        inputs.cache[f"output:{name}"] = sha256  # what the site's copy reads
    if isinstance(outcome, Ready):
        if document.path in state.outputs:
            inputs.before[document.path] = state.outputs[document.path].inputs
        state.forget(document.path)  # recorded when its DOCX is written too
        return
    record = state.outputs.get(document.path)
    before = record.inputs if record else inputs.before.get(document.path)
    state.record(document.path, inputs.recorded(document, outcome.reads, before), project.out, output_files(document),
                 {f"{document.path}.{kind}": inputs.cache[f"output:{document.path}.{kind}"] for kind in FORMATS
                  if f"output:{document.path}.{kind}" in inputs.cache})
    report.rebuilt.append(document.path)


class _Files:
    """Write documents' files atomically, from the threads that render them (see Renderer.render)."""

    def __init__(self, project: Project, kept: Callable[[str, str, str], Any] = lambda *_: None):
        self.out = project.out
        self.failed: set[str] = set()  # a document whose PDF could not be written keeps its last DOCX too
        self.kept = kept  # its copy in the user cache, if it has these bytes: linked to (Renderer.kept_file)

    def write(self, document: Document, files: dict[str, bytes]) -> dict[str, str]:
        if document.path in self.failed:
            raise OSError(errno.EIO, "l'écriture de son PDF a échoué", str(self.out / f"{document.path}.pdf"))
        hashes = {}
        try:
            for kind, data in files.items():
                name = f"{document.path}.{kind}"
                hashes[name] = hashlib.sha256(data).hexdigest()
                write_atomic(self.out / name, data, durable=False, same_as=self.kept(document.path, kind, hashes[name]))
        except OSError:
            self.failed.add(document.path)
            raise
        return hashes


def _remove_orphans(planned_paths: list[str], state: BuildState, project: Project) -> list[str]:
    """Delete the outputs of documents whose sources disappeared."""
    planned = set(planned_paths)
    removed = []
    for key in sorted(set(state.outputs) - planned):
        for name in state.outputs[key].files:
            try:
                (project.out / name).unlink(missing_ok=True)
            except OSError as e:
                raise UserError(f"impossible de supprimer {project.out / name} : {cause(e)}") from e
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
        raise UserError(f"impossible d'écrire dans {e.filename or project.state_dir} : {cause(e)} ; "
                        "les documents déjà présents sont inchangés") from e
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"une autre construction qualidoc écrit dans {project.shown(project.out)} : "
                            "attendez qu'elle se termine, puis relancez la construction") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class InputHasher:
    """Hash the inputs documents read (names recorded while they rendered, see inputs.py), each once per build."""

    def __init__(self, project: Project, catalogue: Catalogue, state: BuildState | None = None):
        self.project, self.catalogue, self.state = project, catalogue, state
        self.cache: dict[str, str] = {}
        self.dumped: dict[str, dict[str, Any]] = {}  # each content object's fields, as JSON data
        self.before: dict[str, dict[str, str]] = {}  # what a document whose PDF came first had read last time

    def current(self, document: Document, state: BuildState) -> dict[str, str]:
        """The inputs the document read when last built, with their hashes now.

        A field of a content file that has not changed since (its `@file` hash, kept beside the fields) keeps
        its recorded hash: only the fields of changed files are hashed again.
        """
        record = state.outputs.get(document.path)
        names = record.inputs if record else {}
        # The files whose fields the document read and that have not changed since (`@file`, not an input
        # itself: a shortcut for the fields of that file): their fields keep their hashes, copied at once (the
        # conformity matrix reads thousands of fields); the other inputs are hashed again.
        kept = {name[1:] for name, recorded in names.items() if name[0] == "@" and recorded == self._whole(name[1:])}
        hashes = dict(names)
        if len(kept) == sum(name[0] == "@" for name in names):  # no file moved: hash the other inputs only
            again: Iterable[str] = (name for name in names if "#" not in name and name[0] != "@")
        else:
            again = (name for name in names if name[0] != "@" and name.partition("#")[0] not in kept)
        for name in again:
            if name != "document":
                hashes[name] = self.hash(name)
        hashes["document"] = self.identity(document)
        return hashes

    def recorded(self, document: Document, reads: Reads, before: dict[str, str] | None = None) -> dict[str, str]:
        """The inputs a document has just read while it rendered, with their hashes.

        A field read before (`before`: the inputs recorded last time) from a file that has not changed since
        keeps its hash: only the fields of changed files are hashed again (at N = 1000 the conformity matrix
        and the LHÉO export read 24,000 fields).
        """
        before = before or {}
        hashes = {}
        for name in reads.names:
            key, _, field_name = name.partition("#")
            if field_name and name in before and before.get(f"@{key}") == self._whole(key):
                hashes[name] = before[name]
            else:
                hashes[name] = self.hash(name)
        for key in {name.partition("#")[0] for name in reads.names if "#" in name and is_content(name)}:
            hashes[f"@{key}"] = self._whole(key)
        return {**hashes, "document": self.identity(document)}

    def _whole(self, key: str) -> str:
        """The hash of the content file of an object (its every field)."""
        return self.hash(key)

    @staticmethod
    def identity(document: Document) -> str:
        """What the plan gives a document besides its reads: title, reference, template, date and stamp."""
        return f"{document.template} {document.title} {document.reference} {document.version} {document.stamp_text}"

    def hash(self, name: str) -> str:
        if name not in self.cache:
            self.cache[name] = self._hash(name)
        return self.cache[name]

    def _hash(self, name: str) -> str:
        kind, _, rest = name.partition(":")
        if kind in ("template", "file"):
            path = self.project.template(rest) if kind == "template" else self.project.root / rest
            return self.state.file_hash(path) if self.state else file_hash(path)
        if kind == "output":  # a file the build wrote (a programme the web catalogue copies)
            return self.state.output_hash(rest, self.project.out) if self.state else file_hash(self.project.out / rest)
        if kind == "tool":
            return tool_versions().get(name, "absent")
        if kind == "setting":  # the PDF/A level: from the command line or organisation.yaml
            return self.project.pdf_standard(self.catalogue.organisation) or "none"
        if kind == "referential":
            from pipeline.referential import referential_text

            try:
                return hashlib.sha256(referential_text(rest).encode()).hexdigest()
            except OSError:
                return "absent"
        key, _, field_name = name.partition("#")
        folder, _, ident = key.partition("/")
        if ident == "*":
            return hashlib.sha256("\0".join(getattr(self.catalogue, folder, {})).encode()).hexdigest()
        if key not in self.catalogue.files:
            return "absent"
        if not field_name:  # the hash of the bytes it was loaded from (kept with the parsed file), not read again
            document = self.catalogue.documents.get(key)
            return document.sha256 if document and document.sha256 else file_hash(self.catalogue.file_of(key))
        if key not in self.dumped:  # each object dumped once, not once per field (6,600 fields at N = 100)
            self.dumped[key] = self.catalogue.get(key).model_dump(mode="json")
        fields = self.dumped[key]
        data = {field_name: fields[field_name]} if field_name in fields else {}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    def show(self, name: str) -> str:
        """Name an input as a user knows it: `content/courses/x.yaml#title`, `templates/programme.md.j2`."""
        name = name.removeprefix("@")
        kind, _, rest = name.partition(":")
        if kind == "template":
            return self.project.shown_template(rest)
        if kind == "file":
            return rest
        if kind == "output":
            return f"{self.project.shown(self.project.out)}/{rest}"
        if kind in ("tool", "referential"):
            return name
        if kind == "setting":
            return "niveau PDF/A (--pdfa ou pdf_archive)"
        if name == "document":
            return "titre, référence ou version"
        key, _, field_name = name.partition("#")
        if key.endswith("/*"):
            return f"{self.project.shown(self.project.content)}/{key[:-2]}/ (liste des fichiers)"
        where = self.project.shown(self.catalogue.file_of(key)) if key in self.catalogue.files else key
        return f"{where}#{field_name}" if field_name else where
