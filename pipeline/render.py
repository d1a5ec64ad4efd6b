"""Render documents: Jinja2 → Markdown → pandoc → DOCX, and pandoc's tree → typst source → PDF.

A few `pandoc lua convert.lua` processes read each Markdown once: they write each document's tree as
JSON, from which typst_writer.py writes the typst source that typst compiles in memory, and
docx_writer.py the DOCX of the small documents, to pandoc's bytes; pandoc writes the others' DOCX in
groups (split by docx_split.py). Each document either renders to its DOCX and PDF bytes or
fails with a reason; a failure never stops the other documents.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import queue
import re
import shutil
import tempfile
import threading
import zipfile
from base64 import b64decode, b64encode
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import typst

from pipeline import chunks, pieces
from pipeline.content import Catalogue
from pipeline.document_kinds import Document
from pipeline.docx_finish import finish_parts
from pipeline.docx_parts import from_documents, needs_key, part_fragments, split_parts
from pipeline.docx_parts import join as join_parts
from pipeline.docx_split import split_docx
from pipeline.docx_writer import Frame, checked_frame, frame_markdown
from pipeline.docx_writer import write as write_docx
from pipeline.errors import UserError, cause
from pipeline.inputs import CatalogueView, Reads, recording
from pipeline.pandoc_adapter import (
    DOCS_PER_PANDOC,
    DOCX_GROUP,
    FULL_BUILD_NICENESS,
    LARGE,
    READER,
    Dispatcher,
    Pandoc,
    PandocFailed,
    convert_alone,
    index_of,
)
from pipeline.pdf_finish import display_doc_title
from pipeline.project import Project, image_suffix, pixel_size
from pipeline.state import Copy, Identity, read_with_identity, write_atomic
from pipeline.templating import Md, environment, escape
from pipeline.tools import tool_versions
from pipeline.typst_adapter import (
    COMPILERS,
    PACKAGE_IMPORT,
    STYLE_CALL,
    STYLE_FUNCTION,
    LayoutFailed,
    compiling,
    pdf_timestamp,
    source_frame,
    totals_told,
    typst_source,
)
from pipeline.typst_writer import Unsupported, breakable, write_part, write_typst

log = logging.getLogger(__name__)

STYLE_FILES = ("reference.docx", "style.typ")
HERE_PIECES = 16  # pieces at most of a large document laid out by the build's process after an edit
# The DOCX of a small document is written by the build from its tree (docx_writer.py) rather than by pandoc,
# the same bytes: pandoc's DOCX writer and the split of its groups were 2.6 s of CPU of a full build at 100
# courses. False: pandoc writes every DOCX (the tests compare both).
PYTHON_DOCX = True
# In a full build, a small document's parts met before in its pandoc process are not read again (convert.lua)
SHARED_READS = True
LAST_WAIT = 1.0  # seconds: how long watch keeps the last documents waiting for the others' PDFs, at most
FEW = 10  # documents: a build of no more is an edit's, scheduled for the first PDF on disk (see _render_in)
# The Markdown that pandoc read again of each large document at the last edit, in characters: the document that
# read the most goes first at the next edit (_render_in). Kept in memory by watch and the resident builder, and
# in the user cache (`last-read.json`) for the next command: a new process had no other hint than the parts'
# sizes, and put the log (the longest) before the skills matrix (whose changed parts are the longest to read
# after a title edit; 15 pairs in alternation at N = 100, 0.643 → 0.621 s).
LAST_READ: dict[str, int] = {}
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")



# Writes a document's files (format → bytes) as soon as they are rendered, from the thread that finished them;
# returns the hash of each file written (by name), or raises OSError.
Write = Callable[[Document, dict[str, bytes]], dict[str, str]]


@dataclass
class Rendered:
    document: Document
    docx: bytes
    pdf: bytes
    reads: Reads  # what the document read while it rendered: the build keeps it to know when to rebuild
    early: tuple[str, ...] = ()  # the formats already given as Ready (written by the build)
    written: dict[str, str] | None = None  # the files `write` wrote, with their hashes
    error: str = ""  # why `write` could not write them


@dataclass
class Ready:
    """A document's PDF, done before its DOCX: the build writes it at once (the DOCX follows)."""

    document: Document
    kind: str
    data: bytes
    written: dict[str, str] | None = None
    error: str = ""


@dataclass
class Failed:
    document: Document
    reason: str


class Renderer:
    """Renders documents of one catalogue with the project's templates."""

    def __init__(self, project: Project, catalogue: Catalogue, jobs: int = 0, reuse: bool = True):
        self.project, self.catalogue = project, catalogue
        # `reuse`: a document whose Markdown and texts are those of its files kept in the user cache takes
        # them (see _from_kept); `build --force` renders every document again.
        self.reuse = reuse
        self.output_keys: dict[int, tuple[str, Path, str]] = {}  # what a document's files are kept under, where, whose
        self.kept_digests: dict[int, dict[str, str]] = {}
        self.kept_lock = threading.Lock()
        # (document path, kind) → its file in the user cache and that file's SHA-256: build/ links to it
        self.kept_files: dict[tuple[str, str], tuple[Path, str, Identity]] = {}
        self.jobs = jobs or os.cpu_count() or 1
        self.env = environment(project.template_folders, project.cache_dir / "templates")
        self.style_functions: set[str] = set()  # the `style-<Name>` functions style.typ offers
        self.fonts = project.template("fonts")
        self.fonts_key: tuple = ()  # taken when the build starts rendering (COMPILERS.key)
        # What every document reads besides its template and content: the files handed to pandoc and typst
        # (style, fonts, logo) and the tools themselves.
        self.common_reads = {f"template:{name}" for name in STYLE_FILES}
        self.common_reads |= {f"template:fonts/{p.name}" for p in (sorted(self.fonts.iterdir())
                              if self.fonts.is_dir() else []) if p.suffix.lower() in FONT_SUFFIXES}
        if catalogue.logo:
            self.common_reads |= {"organisation#logo", f"file:{project.shown(catalogue.logo)}"}
        self.common_reads |= set(tool_versions()) | {"setting:pdf_archive"}
        level = project.pdf_standard(catalogue.organisation)
        self.pdf_standards: Any = [f"a-{level}"] if level else []  # typst's names: a-2a, a-2u, a-2b
        self.reads: dict[str, Reads] = {}
        self.page_texts: dict[str, dict[str, str]] = {}
        self.parts: dict[int, chunks.Parts] = {}  # the large documents, by index, in parts (chunks.py)
        self.large: set[int] = set()  # the documents laid out by a process of their own (typst_worker.py)…
        self.here: set[int] = set()  # …unless laid out by this one after an edit (_lays_out_here)
        self.few = False  # an edit's rebuild: the large documents are laid out side by side
        # watch, after an edit: the DOCX are finished once every PDF is written (the one the user looks at)
        self.pdfs_first = False
        self.in_pieces = False  # the large documents are laid out in pieces (see _prepare_stage)
        self.pieces_salt = ""
        self.layouts = ThreadPoolExecutor(max_workers=1)  # replaced while rendering (_render_in)
        self.parts_salt = f"{READER} {tool_versions()['tool:qualidoc']} {tool_versions()['tool:pandoc']}"
        # The small documents whose DOCX is written here from their tree (docx_writer.py), in this frame.
        self.python_docx: set[int] = set()
        self.shared: set[int] = set()  # the documents whose Markdown on the stage is marked in parts (convert.lua)
        # a small document's parts (_small_tree): those met once, by digest, and those met twice, parsed
        self.met_parts: set[bytes] = set()
        self.parsed_parts: dict[bytes, tuple[list[dict], str]] = {}
        self.frame: Future[Frame | None] = Future()
        self.frame_logo: tuple[str, bytes] | None = None
        self.later: Callable[..., None] = lambda task, *args: task(*args)  # the DOCX, after the PDFs in watch
        self.alone: Callable[..., tuple[bytes, bytes, dict]]  # a document's DOCX by a pandoc of its own

    @functools.cached_property
    def logo_suffix(self) -> str:
        """The logo's file suffix by its content (read once: every document's Markdown names it)."""
        return image_suffix(self.catalogue.logo) if self.catalogue.logo else ""

    def markdown(self, document: Document) -> str:
        """Render a document's template to the Markdown handed to pandoc, recording what it reads."""
        reads = Reads()
        with recording(reads):
            view = CatalogueView(self.catalogue, reads)
            logo = Md(f"![Logo de {escape(view.organisation.name)}](logo{self.logo_suffix})"
                      "{height=15mm}") if self.catalogue.logo else None
            template = self.env.get_template(document.template)
            text = template.render(org=view.organisation, doc=document, logo=logo, **document.context(view, document))
            self.page_texts[document.path] = _page_texts(document, view.organisation)
            reads.names |= self.common_reads
        self.reads[document.path] = reads
        return text

    def render(self, documents: list[Document], progress: Callable[[int, int], None] | None = None,
               meanwhile: Callable[[], None] | None = None, write: Write | None = None
               ) -> Iterator[Rendered | Ready | Failed]:
        """Render documents to DOCX and PDF bytes in parallel, yielding each one as soon as it is done.

        A PDF done before its DOCX is also yielded at once, as Ready: in watch mode, the PDF one looks at
        is on disk while pandoc still writes the DOCX of a long document.

        `meanwhile` is called once every Markdown is handed over, while pandoc and typst convert them.
        `write`, if given, writes each document's files after an edit from the thread that finished them,
        so that they are on disk while this thread still renders the Markdown of the long documents (in
        watch mode, 100 ms sooner); the outcome says what was written.
        """
        if not documents:
            return
        try:
            self.project.state_dir.mkdir(parents=True, exist_ok=True)
            stage = Path(tempfile.mkdtemp(prefix="stage-", dir=self.project.state_dir))
            self.fonts_key = COMPILERS.key(self.fonts)
        except OSError as e:
            raise UserError(f"impossible d'écrire dans {self.project.state_dir} : {cause(e)}") from e
        try:
            done = 0
            for outcome in self._render_in(stage, documents, meanwhile, write):
                if progress and not isinstance(outcome, Ready):
                    done += 1
                    progress(done, len(documents))
                yield outcome
        finally:
            shutil.rmtree(stage, ignore_errors=True)
            COMPILERS.release()

    def _render_in(self, stage: Path, documents: list[Document], meanwhile: Callable[[], None] | None,
                   write: Write | None) -> Iterator[Rendered | Ready | Failed]:
        """Hand each document to a pandoc process as soon as its Markdown is ready; yield outcomes as they come.

        Aggregates (the documents that read the most sources, also the longest to convert) go first, each
        to the least loaded process, so that no process is left with a long tail; a document whose context
        takes time to compute (the conformity matrix runs the RNQ check) goes last, pandoc busy meanwhile.
        """
        self._prepare_stage(stage)
        script = resources.files("pipeline").joinpath("convert.lua")
        # After an edit (a few documents), the small ones go first instead: a programme's PDF is not kept
        # waiting behind the long read of the log in a pandoc process; and their files are written by the
        # threads that finish them (in a full build, this thread writes them between two Markdown renders).
        few = self.few = len(documents) <= FEW
        outcomes = _Outcomes(documents, self.reads, write if few else None, keep=self._keep_file)
        # Then the large documents (those whose parts the last build kept), each started while the others'
        # Markdown is rendered: first the one whose changed parts were the longest at the last edit of this
        # process (LAST_READ: the same edit often comes again, a typo after a title), then the longest (its
        # layout is the longest). A course's title is in a 40-row block of the skills matrix and in its legend
        # (36 kB, that pandoc read in 130 ms) and in two sheets of the log (2 kB): with the log first, the
        # matrix's parts waited for the log's Markdown (40 ms), and the matrix's PDF came last.
        kept = {i: self._kept_size(d) for i, d in enumerate(documents)} if few else {}
        if any(kept.values()) and not LAST_READ:  # a new process: what the last edit's command read
            LAST_READ.update(self._last_read())
        before = dict(LAST_READ)
        order = sorted(range(len(documents)),
                       key=lambda i: (documents[i].last, i in kept and kept[i] > 0,
                                      -LAST_READ.get(documents[i].path, 0) if i in kept else 0, -kept.get(i, 0),
                                      (1 if few else -1) * len(documents[i].dated_by)))
        # A large document's layout runs in a process of its own (typst_worker.py): the thread that waits for
        # it is not one of the pool's, whose threads convert the other documents meanwhile (with the log's
        # layout waited for in the pool, the skills matrix's parts waited for a free thread after an edit).
        with resources.as_file(script) as lua, ThreadPoolExecutor(max_workers=self.jobs + 1) as pool, \
                ThreadPoolExecutor(max_workers=2, thread_name_prefix="qualidoc-layout") as self.layouts:

            def submit(task: Callable[..., None], *args: Any) -> None:
                try:
                    pool.submit(outcomes.guarded(task), *args)
                except RuntimeError:  # the pool is shut down: the build stopped on an error, reported there
                    pass

            def docx(task: Callable[..., None], *args: Any) -> None:
                if self.pdfs_first and few:
                    outcomes.after_pdfs(functools.partial(submit, task, *args))
                else:
                    submit(task, *args)

            self.later = docx
            settings = {"reader": READER, "reference_doc": str(self.project.template("reference.docx")),
                        "group": DOCX_GROUP}
            self.alone = functools.partial(convert_alone, stage, lua, settings)
            self._start_frame(stage)

            def on_event(event: dict) -> None:
                """Start the PDF as soon as pandoc has written a document's tree, the DOCX with its group."""
                if event["event"] == "part":
                    submit(self._part, stage, event["markdown"], outcomes, bool(event.get("python")))
                elif event["event"] == "partsdocx":
                    docx(self._parts_docx, stage, event, outcomes)
                elif event["event"] == "fits":
                    docx(self._docx_fits, index_of(event["markdown"]), outcomes)
                elif event["markdown" if "markdown" in event else "file"].startswith("p"):
                    pass  # a part pandoc could not read: the whole document's tree follows, or its error
                elif event["event"] == "error":
                    outcomes.fail(index_of(event["markdown"]), f"pandoc : {event['error']}")
                    dispatch.done(index_of(event["markdown"]))
                elif event["event"] == "tree":
                    if event.get("python"):
                        self.python_docx.add(index_of(event["markdown"]))
                    if index_of(event["markdown"]) in self.large:
                        self._lay_out(stage, index_of(event["markdown"]), outcomes)
                        if event.get("python"):  # in parts (only those are sent as `python`)
                            docx(self._docx_parts_from_tree, stage, index_of(event["markdown"]), outcomes)
                    else:
                        submit(self._pdf, stage, index_of(event["markdown"]), outcomes)
                    dispatch.done(index_of(event["markdown"]))
                elif "parts" in event:  # a large document's DOCX, written from its parts
                    docx(self._docx_in_parts, stage, event["file"], index_of(event["documents"][0]),
                         event["parts"], outcomes)
                else:
                    docx(self._docx_group, stage, event["file"], [index_of(m) for m in event["documents"]],
                         outcomes)

            # Many documents are converted by one process per DOCS_PER_PANDOC documents, at most one per job
            # (two would take the cores the PDFs need); after an edit, one per document up to the job count,
            # so that a course's programme and questionnaire are read side by side, not one after the other's
            # DOCX (the conformity matrix, last, needs none of its own).
            count = min(self.jobs, max(1, sum(not d.last for d in documents)) if few
                        else -(-len(documents) // DOCS_PER_PANDOC))
            converters: list[Pandoc] = []
            dispatch = Dispatcher(converters, len(documents))  # a full build's documents, as processes are free
            given = 0

            def spawn() -> Pandoc:
                converters.append(Pandoc(stage, lua, len(converters), settings, on_event, outcomes, dispatch.refill))
                if not few:  # the build's own work first (see FULL_BUILD_NICENESS)
                    converters[-1].yield_cores(FULL_BUILD_NICENESS)
                return converters[-1]

            for _ in range(count):
                spawn()

            # After an edit, each large document has a process of its own that reads its changed parts: the
            # log's do not wait behind the skills matrix's. It starts now for the documents that were large
            # in the last build (their parts are kept), while their Markdown is rendered.
            helper = functools.cache(lambda index: spawn())
            if few:
                for index in order:
                    if kept[index]:
                        helper(index)
            unless_fits: list[tuple[int, int, dict]] = []  # the large documents whose DOCX may come from parts
            try:
                for index in order:
                    # The documents already done are written now, not kept in memory until every Markdown is
                    # ready (at N = 1000, all the PDFs at once: hundreds of megabytes). At the top of the loop:
                    # a document given its kept files goes on to the next one (`continue`) and is written here.
                    while not outcomes.finished.empty():
                        outcome = outcomes.take()
                        given += not isinstance(outcome, Ready)
                        yield outcome
                    if self.pdfs_first and few and documents[index].last:
                        # Watch: the conformity matrix's context (the RNQ check, 40 ms at N = 100) would hold the
                        # interpreter that the threads finishing the other PDFs need (a title edit: its 4 PDFs
                        # 0.320 → 0.302 s, medians of 30 edits in alternation).
                        outcomes.firsts.wait(LAST_WAIT)
                    try:
                        text = self.markdown(documents[index])
                    except Exception as e:
                        if not in_template(e):
                            raise
                        outcomes.fail(index, template_error(e, self.project.shown))
                        continue
                    large = len(text) >= LARGE
                    if not large and self._from_kept(index, documents[index], text, outcomes):
                        if not few:
                            dispatch.skip()
                        continue
                    if large:
                        self.large.add(index)
                        if self._lays_out_here(documents[index]):
                            self.here.add(index)
                        else:
                            COMPILERS.prepare(self.fonts, self.fonts_key, documents[index].path)
                    parts = self._parts(index, documents[index], text) if large else None
                    held = self.parts.get(index) if parts else None
                    if held and not few and _docx_kept(held):
                        # A full build (after `make clean`) of a large document whose every part is kept, its
                        # markup and its DOCX content: laid out and joined from them, with no pandoc at all.
                        self._from_parts(stage, index, outcomes, functools.partial(helper, index))
                        pool.submit(outcomes.guarded(self._docx_fits), index, outcomes)
                        dispatch.skip()
                        continue
                    # In a full build, a small document is read by parts, those met before in its process
                    # not read again (convert.lua: the same contacts, the same questionnaire sections…).
                    shared = None if large or few or not SHARED_READS else chunks.split(text)
                    if shared:
                        self.shared.add(index)
                    marked = parts or shared
                    (stage / f"d{index}.md").write_text(chunks.marked(marked) if marked else text, encoding="utf-8")
                    if large and len(converters) < self.jobs:
                        spawn()
                    # After an edit, a large document whose PDF comes from its parts may have its DOCX joined
                    # from them too (docx_parts.py): the helper reads the changed parts, then needs the whole
                    # document only if they do not fit the kept frame.
                    in_parts = bool(held and few and held.from_parts and held.docx_fits_ahead())
                    if held and in_parts:  # the parts as they are before the helper answers any of them
                        missing = held.missing
                        known = [held.docx[key]["needs"] for key in held.keys if key not in missing]
                        changed = [f"p{index}-{held.keys.index(key)}.md" for key in missing]
                    if held and few:
                        LAST_READ[documents[index].path] = sum(len(held.texts[key]) for key in held.missing)
                    if held:  # before the whole document, which must not go ahead of them in the helper
                        self._from_parts(stage, index, outcomes, functools.partial(helper, index),
                                         docx=in_parts)
                    if held and in_parts:  # once every changed part is sent: none waits behind a whole read
                        unless_fits.append((index, len(text), {"frame": held.frame_needs, "known": known,
                                                               "parts": changed}))
                    else:
                        # The whole document's read, for the DOCX only when the PDF comes from the parts,
                        # gives way to the layouts.
                        background = bool(held and few and held.from_parts)
                        python = (not large or bool(parts)) and self.frame.result() is not None
                        if few:
                            min(converters, key=lambda c: c.load).send(index, len(text), alone=True,
                                                                       parts=bool(parts), background=background,
                                                                       python=python)
                        else:
                            dispatch.add(index, len(text), parts=bool(parts), python=python, shared=bool(shared))
                for index, size, check in unless_fits:
                    helper(index).send(index, size, alone=True, parts=True, unless_fits=check)
            except BaseException:
                for converter in converters:
                    converter.close()
                raise
            dispatch.finish()  # each process's input is closed once it has its last document
            if LAST_READ != before:
                self._keep_last_read()
            if meanwhile:
                meanwhile()
            while given < len(documents):
                outcome = outcomes.take()
                given += not isinstance(outcome, Ready)
                yield outcome
            for converter in converters:
                converter.join()

    def _prepare_stage(self, stage: Path) -> None:
        style = self.project.template("style.typ").read_text(encoding="utf-8")
        if PACKAGE_IMPORT.search(style):
            raise UserError("templates/style.typ importe un paquet typst (`@preview/…`) : les paquets viennent du "
                            "réseau, qu'une construction n'utilise jamais ; copiez le paquet dans templates/ et "
                            "importez-le par son chemin")
        (stage / "style.typ").write_text(style, encoding="utf-8")
        self.style_functions = set(STYLE_FUNCTION.findall(style))
        logo = b""
        if self.catalogue.logo:
            shutil.copyfile(self.catalogue.logo, stage / f"logo{self.logo_suffix}")
            logo = self.catalogue.logo.read_bytes()
        # The large documents are laid out in pieces (pieces.py) if the style gives their footers the page
        # total it is told (an older style.typ counts each piece's pages: the documents are laid out whole),
        # and not for PDF/A, whose files pdf_merge.py does not join. A piece's PDF depends on what typst
        # reads besides its source: the style, the logo, the fonts, typst itself.
        self.in_pieces = totals_told(style) and not self.pdf_standards
        self.pieces_salt = hashlib.sha256(repr((style, self.fonts_key, tool_versions()["tool:typst"])).encode()
                                          + b"\0" + logo).hexdigest()

    def _pdf(self, stage: Path, index: int, outcomes: _Outcomes) -> None:
        """Compile a document's typst source to PDF."""
        document = outcomes.documents[index]
        try:
            texts = self.page_texts[document.path]
            meta = {"title": document.title, "organisation": self.catalogue.organisation.name,
                    **{name: " ".join(map(breakable, texts[key].split(" "))) for name, key in
                       (("header_left", "QD_HEADER_LEFT"), ("header_right", "QD_HEADER_RIGHT"),
                        ("footer_left", "QD_FOOTER_LEFT"))}}
            body: str | None
            if index in self.python_docx and index not in self.large:  # its DOCX from this tree
                tree, body = self._small_tree(stage, index)
                if self.pdfs_first and self.few:  # watch: once every PDF is written
                    self.later(self._docx_from_tree, index, tree, outcomes)
                else:  # at once: a tree waiting in the pool's queue for its DOCX is memory (1 GB at N = 1000)
                    self._docx_from_tree(index, tree, outcomes)
                del tree
            else:
                body = self._body(stage, index)
            if body is None:
                return  # its PDF is under way from its parts, or from its whole tree
            missing = sorted(set(STYLE_CALL.findall(body)) - self.style_functions)
            if missing:
                names = ", ".join(f"`{name}`" for name in missing)
                outcomes.fail(index, f"un modèle utilise un style que templates/style.typ ne définit pas : ajoutez-y "
                                     f"{names}, par exemple `#let {missing[0]}(body) = block(body)`")
                return
            pdf: Any
            timestamp = pdf_timestamp(document.version)
            request = {"root": str(stage), "timestamp": timestamp.isoformat(), "pdf_standards": self.pdf_standards}
            held = self.parts.get(index)
            if index in self.large and held is not None and self.in_pieces:
                head, tail = source_frame(meta, pieces=True)
                piece_texts = held.pieces()
                salt, cache = f"{self.pieces_salt} {timestamp.isoformat()}", self._parts_cache(document).with_suffix("")
                if index in self.here:
                    with COMPILERS.borrow(self.fonts, self.fonts_key, affinity=document.path) as compiler:
                        # Joined again after the next edit by this process if it stays (the resident builder):
                        # what this join read and renumbered is kept (a title edit at N = 100: the two joins
                        # took 42–50 ms of processor instead of 48–55, the unchanged pieces' summaries not
                        # read again from the user cache).
                        pdf = pieces.lay_out_or_whole(compiling(compiler, str(stage), timestamp, self.pdf_standards),
                                                      head, tail, piece_texts, salt, cache, log.debug,
                                                      remember=True)
                else:
                    bodies = [text.encode() for text in piece_texts]
                    request |= {"head": head, "tail": tail, "sizes": [len(body) for body in bodies], "salt": salt,
                                "cache": str(cache), "remember": COMPILERS.keep_workers}
                    pdf = COMPILERS.lay_out_large(self.fonts, self.fonts_key, document.path, request,
                                                  b"".join(bodies), alone=not self.few)
            elif index in self.large:
                source = typst_source(meta, chunks.with_breaks(held.pieces()) if held else body).encode()
                pdf = COMPILERS.lay_out_large(self.fonts, self.fonts_key, document.path,
                                              request | {"size": len(source)}, source, alone=not self.few)
            else:
                source = typst_source(meta, body).encode()
                with COMPILERS.borrow(self.fonts, self.fonts_key) as compiler:
                    pdf = compiling(compiler, str(stage), timestamp, self.pdf_standards)(source)
        except (typst.TypstError, LayoutFailed) as e:
            if "package" in e.message:
                outcomes.fail(index, "templates/style.typ importe un paquet typst : les paquets viennent du réseau, "
                                     "qu'une construction n'utilise jamais ; copiez le paquet dans templates/ et "
                                     f"importez-le par son chemin (typst : {e.message[:120]})")
            else:
                outcomes.fail(index, self._typst_error(e))
        except Unsupported as e:
            outcomes.fail(index, str(e))
        except Exception as e:  # noqa: BLE001 - reported with the document, the others go on
            log.debug("PDF of %s failed", document.path, exc_info=True)
            outcomes.fail(index, f"erreur interne : {type(e).__name__} : {e}")
        else:
            outcomes.add(index, "pdf", display_doc_title(pdf))  # type: ignore[arg-type]

    def _typst_error(self, error: Any) -> str:
        """Typst's message, its files named as the user finds them: `templates/style.typ:67:8`, not the stage's copy."""
        text = str(getattr(error, "diagnostic", "") or error.message).strip()
        text = re.sub(r"\S*stage-[^/\s]+/__typst_py_bytes__\.typ", "(source du document)", text)
        text = re.sub(r"\S*stage-[^/\s]+/([\w.-]+\.typ)", lambda m: self.project.shown_template(m.group(1)), text)
        return f"erreur de mise en page (typst) : {text}"

    def _from_kept(self, index: int, document: Document, text: str, outcomes: _Outcomes) -> bool:
        """Give a document the files kept of it in the user cache if they were made from the same Markdown,
        texts, style, fonts, logo, reference DOCX and tools (after `make clean`, or when what changed did not
        change its Markdown); otherwise note what its files will be kept under."""
        texts = self.page_texts[document.path]
        key = hashlib.sha256(json.dumps(
            [text, document.title, document.version.isoformat(), self.catalogue.organisation.name, texts,
             self.pdf_standards, self.pieces_salt, self._docx_salt], ensure_ascii=False).encode()).hexdigest()
        folder = self._kept_folder(document)
        try:
            kept = json.loads((folder / "files.json").read_bytes()) if self.reuse else None
            read = {kind: read_with_identity(folder / kind) for kind in ("pdf", "docx")} \
                if isinstance(kept, dict) and kept.get("key") == key else {}
            files = {kind: data for kind, (data, _) in read.items()}
        except (OSError, ValueError):
            files = {}
        # (a file damaged, or replaced by half: its digest differs, the document is rendered and kept again)
        if not files or not isinstance(kept, dict) or any(
                hashlib.sha256(data).hexdigest() != kept.get(kind) for kind, data in files.items()):
            self.output_keys[index] = (key, folder, document.path)
            return False
        with self.kept_lock:
            for kind, (_, identity) in read.items():
                self.kept_files[document.path, kind] = (folder / kind, kept[kind], identity)
        outcomes.add(index, "pdf", files["pdf"])
        outcomes.add(index, "docx", files["docx"])
        return True

    def _kept_folder(self, document: Document) -> Path:
        return self.project.cache_dir / "files" / hashlib.sha256(document.path.encode()).hexdigest()[:16]

    def kept_file(self, document: str, kind: str, sha256: str) -> Copy | None:
        """The copy of a document's file in the user cache, with its identity, if it was written or read with
        these bytes (`sha256`): what build/'s file can be a hard link to (state.write_atomic)."""
        with self.kept_lock:
            path, digest, identity = self.kept_files.get((document, kind), (None, "", None))
        return (path, identity) if path is not None and identity is not None and digest == sha256 else None

    def _keep_file(self, index: int, kind: str, data: bytes) -> None:
        """Keep a document's new file in the user cache; once both are kept, say what they were made from.
        One version per document: the cache holds what build/ holds (a cache: a failure costs a render)."""
        if index not in self.output_keys or not data:
            return
        key, document_path, name = self.output_keys[index]
        try:
            document_path.mkdir(parents=True, exist_ok=True)
            with self.kept_lock:
                digests = self.kept_digests.setdefault(index, {})
                if not digests:
                    (document_path / "files.json").unlink(missing_ok=True)  # no key for a pair half replaced
            identity = write_atomic(document_path / kind, data, durable=False)
            digest = hashlib.sha256(data).hexdigest()
            with self.kept_lock:
                digests[kind] = digest
                self.kept_files[name, kind] = (document_path / kind, digest, identity)
                both = len(digests) == 2
            if both:
                write_atomic(document_path / "files.json", json.dumps({"key": key, **digests}).encode(),
                             durable=False)
        except OSError:
            pass

    def _lay_out(self, stage: Path, index: int, outcomes: _Outcomes) -> None:
        """Have a large document's PDF laid out, by a thread of the layouts' own."""
        try:
            self.layouts.submit(outcomes.guarded(self._pdf), stage, index, outcomes)
        except RuntimeError:  # shut down: the build stopped on an error, reported there
            pass

    def _lays_out_here(self, document: Document) -> bool:
        """Whether a large document's PDF is laid out by this process rather than by a layout process of its own
        (typst_worker.py): after an edit, in a command, if it has at most HERE_PIECES pieces.

        Such a process starts in 0.1 s of processor time, and lays out its first piece with a cold compiler;
        here, the compilers that laid out the programmes have the fonts read (a course's title edited at
        N = 100: 0.2 s of processor time less, see bench/HISTORY.md). At worst every piece is laid out again
        (a page more): 211 MB for this process at N = 100 instead of 171 MB; a larger document keeps its own
        process (at N = 1000, 130 pieces would take a gigabyte here, and stay: typst's caches never shrink).
        Watch keeps its layout processes, warm, with the last layout in memory (pieces.Ahead)."""
        if not self.few or not self.in_pieces or COMPILERS.keep_workers:
            return False
        return self.fits_here(document)

    def fits_here(self, document: Document) -> bool:
        """Whether a large document has few enough pieces kept to be laid out by this process after an edit."""
        return 0 < len(pieces.kept_order(self._parts_cache(document).with_suffix(""))) <= HERE_PIECES

    def _parts(self, index: int, document: Document, text: str) -> list[str] | None:
        """Cut a large document in parts and find the typst markup kept of each (chunks.py)."""
        parts = chunks.split(text)
        if parts:
            self.parts[index] = chunks.Parts.of(parts, self._parts_cache(document), self.parts_salt,
                                                self._docx_salt)
        return parts

    def has_parts(self, document: Document) -> bool:
        """Whether the last build kept a large document's parts (it was large then)."""
        return self._kept_size(document) > 0

    def _kept_size(self, document: Document) -> int:
        """The size of the markup kept of a large document's parts (0: none kept, a small document)."""
        try:
            return self._parts_cache(document).stat().st_size
        except OSError:
            return 0

    @property
    def _last_read_file(self) -> Path:
        """Where LAST_READ is left for the next command (the user cache)."""
        return self.project.cache_dir / "parts" / "last-read.json"

    def _last_read(self) -> dict[str, int]:
        """LAST_READ as the last edit's command left it ({} if none, or not readable)."""
        data = chunks.read_json(self._last_read_file)
        return {k: v for k, v in data.items() if isinstance(v, int) and not isinstance(v, bool)}

    def _keep_last_read(self) -> None:
        """Leave LAST_READ in the user cache for the next command (an ordering hint: losing it costs nothing)."""
        with contextlib.suppress(OSError):
            write_atomic(self._last_read_file, json.dumps(LAST_READ, sort_keys=True).encode())

    def _parts_cache(self, document: Document) -> Path:
        """Where the markup and DOCX content of a large document's parts are kept (the user cache)."""
        return self.project.cache_dir / "parts" / f"{hashlib.sha256(document.path.encode()).hexdigest()[:16]}.json"

    @functools.cached_property  # on the renderer: functools.cache kept every build's renderer (watch, resident)
    def _docx_salt(self) -> str:
        """What the DOCX content kept of a part depends on besides its Markdown: pandoc, the reference DOCX."""
        try:
            reference = hashlib.sha256(self.project.template("reference.docx").read_bytes()).hexdigest()
        except OSError:
            reference = ""
        return f"{self.parts_salt} {reference}"

    def _from_parts(self, stage: Path, index: int, outcomes: _Outcomes,
                    helper: Callable[[], Pandoc], docx: bool = False) -> None:
        """Lay a large document's PDF out from the markup kept of its parts: at once if every part is kept;
        after an edit, once the `helper` pandoc has read the parts that changed (another pandoc reads the
        whole document for the DOCX meanwhile); if most parts changed, from the whole tree (see _body)."""
        held = self.parts[index]
        if not held.missing:
            self._lay_out(stage, index, outcomes)
        elif held.from_parts:
            numbers = [held.keys.index(key) for key in held.missing]
            for number in numbers:
                text = held.texts[held.keys[number]]
                (stage / f"p{index}-{number}.md").write_text(text, encoding="utf-8")
                helper().send_part(f"p{index}-{number}.md", len(text), keep=docx,
                                   python=docx and self.frame.result() is not None)
            if docx:  # once every tree is written: no layout waits behind their DOCX, written in one call
                helper().send_parts_docx([f"p{index}-{number}.md" for number in numbers],
                                         first=f"p{index}-0.md" if 0 in numbers else None)

    def _small_tree(self, stage: Path, index: int) -> tuple[dict, str]:
        """A small document's tree and typst body. Its tree file has one part per line when pandoc read it in
        parts (convert.lua, read_shared), else one line: a part met twice in this build is parsed once (its
        JSON is 9 MB for the 200 programmes and questionnaires at N = 100, 0.45 s to parse), and its markup
        written once; the parts' markup is joined as write_typst joins blocks (chunks.join)."""
        blocks: list[dict] = []
        fragments: list[str] = []
        for line in (stage / f"d{index}.json").read_bytes().splitlines():
            part = self.parsed_parts.get(line)
            if part is None:
                tree = json.loads(line)
                part = (tree["blocks"], write_part(tree))
                seen = hashlib.blake2b(line, digest_size=16).digest()
                with self.kept_lock:  # only the parts met twice are held: not the whole catalogue's trees
                    if seen in self.met_parts:
                        self.parsed_parts[line] = part
                    else:
                        self.met_parts.add(seen)
            blocks.extend(part[0])
            fragments.append(part[1])
        return {"blocks": blocks}, chunks.join(fragments)

    def _body(self, stage: Path, index: int) -> str | None:
        """A document's typst body: from its tree, or from its parts' markup; None if another thread has it."""
        held = self.parts.get(index)
        if held is None:
            return write_typst(json.loads((stage / f"d{index}.json").read_bytes()))
        if not held.start():
            return None
        if held.missing:  # read from the whole tree: one part per line
            lines = (stage / f"d{index}.json").read_bytes().splitlines()
            for key, line in zip(held.keys, lines, strict=True):
                held.fragments.setdefault(key, write_part(json.loads(line)))
        held.save()
        return held.body()

    def _part(self, stage: Path, name: str, outcomes: _Outcomes, python: bool = False) -> None:
        """Keep the markup of a part pandoc has read again; lay the PDF out once every part is known.
        `python`: write its DOCX content here too (docx_writer.py)."""
        index, _, number = name[1:-3].partition("-")
        held = self.parts[int(index)]
        try:
            tree = json.loads((stage / name.replace(".md", ".json")).read_bytes())
            if python:
                self.later(self._part_docx, stage, int(index), int(number), tree, outcomes)
            markup = write_part(tree)
        except (OSError, ValueError, Unsupported):
            return  # the whole document's tree follows
        with held.lock:
            held.fragments[held.keys[int(number)]] = markup
            ready = not held.missing
        if ready:
            self._lay_out(stage, int(index), outcomes)

    def _part_docx(self, stage: Path, index: int, number: int, tree: dict, outcomes: _Outcomes) -> None:
        """After an edit, the DOCX content of a part read again, written here from its tree; join once every
        part's is known and pandoc found that they fit the kept frame (convert.lua, `fits`). A part the writer
        leaves to pandoc has the whole document's DOCX written by a pandoc of its own, from its parts."""
        held = self.parts[index]
        blocks = tree["blocks"]
        if number == 0 and blocks and blocks[0]["t"] == "Div" and "landscape" in blocks[0]["c"][0][1]:
            (ident, classes, attributes), content = blocks[0]["c"]  # as convert.lua marks the document's start
            tree = {**tree, "blocks": [{"t": "Div", "c": [[ident, classes, [*attributes, ["first", "true"]]], content]},
                                       *blocks[1:]]}
        frame = self.frame.result()
        document = write_docx(tree, frame, self.frame_logo) if frame else None
        if document is None or frame is None:
            with held.lock:
                claimed, held.joined = held.joined, True
            if not claimed:
                self._docx_parts_by_pandoc(stage, index, outcomes)
            return
        try:
            _, [fragment] = from_documents([document], frame.head, frame.tail)
        except (ValueError, KeyError) as e:
            outcomes.fail(index, _docx_failure(e))
            return
        with held.lock:
            held.docx[held.keys[number]] = {**fragment, "needs": ""}
        self._join_when_ready(index, held, outcomes)

    def _docx_parts_from_tree(self, stage: Path, index: int, outcomes: _Outcomes) -> None:
        """A large document's DOCX written here from its parts' trees (docx_writer.py), or by pandoc alone from
        its parts if one holds what the writer leaves to pandoc: keep each part's content, join them."""
        try:
            frame = self.frame.result()
            documents = [write_docx(json.loads(line), frame, self.frame_logo) if frame else None
                         for line in (stage / f"d{index}.json").read_bytes().splitlines()]
            if all(documents):
                shared, fragments = from_documents(documents, frame.head, frame.tail)  # type: ignore[arg-type, union-attr]
                self._keep_parts_docx(index, shared, fragments, [""] * len(fragments), outcomes)
                return
        except (OSError, ValueError, KeyError) as e:
            outcomes.fail(index, _docx_failure(e))
            return
        self._docx_parts_by_pandoc(stage, index, outcomes)

    def _docx_parts_by_pandoc(self, stage: Path, index: int, outcomes: _Outcomes) -> None:
        """A large document's DOCX written from its parts by a pandoc of its own (docx_parts.py)."""
        try:
            _, _, event = self.alone(f"d{index}.md", parts=True)
        except PandocFailed as e:
            outcomes.fail(index, f"pandoc : {e}")
            return
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
            outcomes.fail(index, _docx_failure(e))
            return
        if "parts" in event:  # (the DOCX pandoc wrote is in the stage: event["file"])
            self._docx_in_parts(stage, event["file"], index, event["parts"], outcomes)
        else:  # a part holds comments: written whole
            self._docx_group(stage, event["file"], [index], outcomes)

    def _docx_in_parts(self, stage: Path, file: str, index: int, needs: list[str], outcomes: _Outcomes) -> None:
        """A large document's DOCX that pandoc wrote from all its parts: keep each part's content, join them."""
        try:
            frame, fragments = split_parts((stage / file).read_bytes(), len(needs))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
            outcomes.fail(index, _docx_failure(e))
            return
        self._keep_parts_docx(index, frame, fragments, needs, outcomes)

    def _keep_parts_docx(self, index: int, frame: dict, fragments: list[dict], needs: list[str],
                         outcomes: _Outcomes) -> None:
        held = self.parts.get(index)
        try:
            if held is None or len(fragments) != len(held.keys):
                raise ValueError(f"{len(fragments)} parties au lieu de {len(held.keys) if held else 0}")
            with held.lock:
                for key, fragment, need in zip(held.keys, fragments, needs, strict=True):
                    held.docx[key] = {**fragment, "needs": need}
                held.frame, held.frame_needs, held.joined = frame, needs_key(needs), True
            self._join_docx(index, held, outcomes)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
            outcomes.fail(index, _docx_failure(e))

    def _parts_docx(self, stage: Path, event: dict, outcomes: _Outcomes) -> None:
        """Keep the DOCX content of the parts pandoc wrote again after an edit; join if they were awaited last."""
        index = int(event["parts"][0][1:-3].partition("-")[0])
        held = self.parts[index]
        try:
            fragments = part_fragments((stage / event["file"]).read_bytes(), len(event["parts"]))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
            outcomes.fail(index, _docx_failure(e))
            return
        with held.lock:
            for name, fragment, needs in zip(event["parts"], fragments, event["needs"], strict=True):
                held.docx[held.keys[int(name[1:-3].partition("-")[2])]] = {**fragment, "needs": needs}
        self._join_when_ready(index, held, outcomes)

    def _docx_fits(self, index: int, outcomes: _Outcomes) -> None:
        """The kept and changed parts make the DOCX (pandoc's check after an edit; in a full build, every part
        kept): join once every part is kept."""
        held = self.parts[index]
        with held.lock:
            held.fits = True
        self._join_when_ready(index, held, outcomes)

    def _join_when_ready(self, index: int, held: chunks.Parts, outcomes: _Outcomes) -> None:
        with held.lock:
            ready = held.fits and not held.joined and all(key in held.docx for key in held.keys)
            held.joined = held.joined or ready
        if ready:
            try:
                self._join_docx(index, held, outcomes)
            except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
                outcomes.fail(index, _docx_failure(e))

    def _join_docx(self, index: int, held: chunks.Parts, outcomes: _Outcomes) -> None:
        assert held.frame is not None
        with held.lock:  # once: pandoc's whole DOCX may follow a part the writer left to a pandoc of its own
            if held.docx_out:
                return
            held.docx_out = True
        parts = join_parts(held.frame, [held.docx[key] for key in held.keys])
        held.save_docx()
        document = outcomes.documents[index]
        docx = finish_parts(parts, self.page_texts[document.path], document.title, self.catalogue.organisation.name,
                            document.version)
        outcomes.add(index, "docx", docx)

    def _start_frame(self, stage: Path) -> None:
        """The frame the small documents' DOCX are written in (docx_writer.py), kept in the user cache, else
        written by a pandoc of its own while the first documents' Markdown is rendered (0.1 s); None if
        pandoc writes every DOCX (an SVG logo, another pandoc or reference DOCX it does not fit)."""
        self.frame, self.python_docx = Future(), set()  # (a renderer may render more than once)
        logo = self.catalogue.logo
        name = f"logo{image_suffix(logo)}" if logo else ""
        data = (stage / name).read_bytes() if logo else b""
        if not PYTHON_DOCX or (logo and pixel_size(data) is None):  # (the writer's images: PNG, JPEG)
            self.frame.set_result(None)
            return
        self.frame_logo = (name, data) if logo else None
        markdown = frame_markdown(name or None)
        key = hashlib.sha256(f"{self._docx_salt}\0{markdown}\0".encode() + data).hexdigest()
        path = self.project.cache_dir / "docx-frames" / f"{key[:32]}.json"

        def checked(kept: dict) -> Frame | None:
            parts = {name: b64decode(data) for name, data in kept["parts"].items()}
            return checked_frame(parts, kept["tree"], self.frame_logo)

        try:
            self.frame.set_result(checked(json.loads(path.read_bytes())))
            return
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass

        def make() -> None:
            frame = None
            try:
                (stage / "frame.md").write_text(markdown, encoding="utf-8")
                tree_json, data, _ = self.alone("frame.md")
                kept = {"parts": {n: b64encode(d).decode() for n, d in split_docx(data, 1)[0].items()},
                        "tree": json.loads(tree_json)}
                frame = checked(kept)
                path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(path, json.dumps(kept).encode(), durable=False)
            except Exception:  # noqa: BLE001 - no frame: pandoc writes every DOCX, as it did before
                log.debug("DOCX frame", exc_info=True)
            self.frame.set_result(frame)

        threading.Thread(target=make, name="qualidoc-frame", daemon=True).start()

    def _docx_from_tree(self, index: int, tree: dict, outcomes: _Outcomes) -> None:
        """Write a small document's DOCX from its tree (docx_writer.py); by pandoc alone if it holds what the
        writer leaves to pandoc."""
        document = outcomes.documents[index]
        try:
            frame = self.frame.result()
            parts = write_docx(tree, frame, self.frame_logo) if frame else None
            if parts is None:
                parts = split_docx(self.alone(f"d{index}.md", shared=index in self.shared)[1], 1)[0]
            docx = finish_parts(parts, self.page_texts[document.path], document.title,
                                self.catalogue.organisation.name, document.version)
        except PandocFailed as e:
            outcomes.fail(index, f"pandoc : {e}")
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            outcomes.fail(index, _docx_failure(e))
        except Exception as e:  # noqa: BLE001 - reported with the document, the others go on
            log.debug("DOCX of %s failed", document.path, exc_info=True)
            outcomes.fail(index, f"erreur interne : {type(e).__name__} : {e}")
        else:
            outcomes.add(index, "docx", docx)

    def _docx_group(self, stage: Path, file: str, indices: list[int], outcomes: _Outcomes) -> None:
        """Split a group DOCX into its documents and finish each one (header, footer, properties)."""
        try:
            data = (stage / file).read_bytes()
            for index, parts in zip(indices, split_docx(data, len(indices)), strict=True):
                document = outcomes.documents[index]
                docx = finish_parts(parts, self.page_texts[document.path],
                                    document.title, self.catalogue.organisation.name, document.version)
                outcomes.add(index, "docx", docx)
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            for index in indices:
                outcomes.fail(index, _docx_failure(e))
        except Exception as e:  # noqa: BLE001 - reported with the documents, the others go on
            log.debug("DOCX group %s failed", file, exc_info=True)
            for index in indices:
                outcomes.fail(index, f"erreur interne : {type(e).__name__} : {e}")


def _docx_kept(held: chunks.Parts) -> bool:
    """Whether a large document's DOCX can be joined from what is kept alone: the DOCX content of every part,
    and a frame written for what they need together (what convert.lua's `fits` checks after an edit)."""
    if held.missing or held.frame is None or not all(key in held.docx for key in held.keys):
        return False
    needs = [held.docx[key].get("needs") for key in held.keys]
    return all(isinstance(need, str) for need in needs) and needs_key([str(need) for need in needs]) == held.frame_needs


def _page_texts(document: Document, org: Any) -> dict[str, str]:
    """The header and footer texts of a document (the organisation read through the document's view)."""
    return {"QD_HEADER_LEFT": f"{org.name} – NDA {org.nda}" if org.nda else org.name,
            "QD_HEADER_RIGHT": " – ".join(t for t in (document.reference, document.stamp_text) if t),
            "QD_FOOTER_LEFT": document.title}


class _Outcomes:
    """Each document's outcome, given exactly once: Rendered when both files are done, or its first failure.

    With `write`, the files are written before the outcome is queued; one document's outcomes are queued
    in the order they happened (its Ready before its Rendered).
    """

    def __init__(self, documents: list[Document], reads: dict[str, Reads], write: Write | None = None,
                 keep: Callable[[int, str, bytes], None] | None = None):
        self.documents, self.reads, self.write, self.keep = documents, reads, write, keep
        self.finished: queue.Queue[Rendered | Ready | Failed | _Stopped] = queue.Queue()
        self._files: dict[int, dict[str, bytes]] = {}
        self._closed: set[int] = set()
        self._early: dict[int, bool] = {}
        self._lock = threading.Lock()
        self._each = [threading.RLock() for _ in documents]  # one document's outcomes, one at a time
        # The documents whose PDF is neither done nor failed, but the last ones (the conformity matrix):
        # watch renders those once the others' PDFs are out (`firsts`), and finishes the DOCX then too.
        self._no_pdf = {index for index, document in enumerate(documents) if not document.last}
        self._after_pdfs: list[Callable[[], None]] = []
        self.firsts = threading.Event()
        if not self._no_pdf:
            self.firsts.set()

    def after_pdfs(self, task: Callable[[], None]) -> None:
        """Run `task` once the PDF of every document but the last ones is done or failed (now, if they are)."""
        with self._lock:
            if self._no_pdf:
                self._after_pdfs.append(task)
                return
        task()

    def _pdf_out(self, index: int) -> None:
        with self._lock:
            if index not in self._no_pdf:
                return
            self._no_pdf.discard(index)
            if self._no_pdf:
                return
            tasks, self._after_pdfs = self._after_pdfs, []
        self.firsts.set()
        for task in tasks:
            task()

    def add(self, index: int, kind: str, data: bytes) -> None:
        with self._each[index]:
            outcome: Rendered | Ready | None = None
            with self._lock:
                if index in self._closed:
                    return
                files = self._files.setdefault(index, {})
                files[kind] = data
                document = self.documents[index]
                if len(files) == 2:  # the files go with the outcome: not kept until the build ends
                    self._closed.add(index)
                    del self._files[index]
                    early = ("pdf",) if self._early.pop(index, False) else ()
                    outcome = Rendered(document, files["docx"], files["pdf"], self.reads[document.path], early)
                elif kind == "pdf":
                    self._early[index] = True
                    outcome = Ready(document, kind, data)
                    files[kind] = b""  # written from its Ready, not from the Rendered that follows
            if self.keep is not None:
                self.keep(index, kind, data)
            if outcome is not None:
                self._written(outcome)
                self.finished.put(outcome)
        if kind == "pdf":
            self._pdf_out(index)

    def _written(self, outcome: Rendered | Ready) -> None:
        if self.write is None:
            return
        if isinstance(outcome, Ready):
            files = {"pdf": outcome.data}
        else:
            files = {kind: data for kind, data in (("docx", outcome.docx), ("pdf", outcome.pdf))
                     if kind not in outcome.early}
        try:
            outcome.written = self.write(outcome.document, files)
        except OSError as e:
            outcome.error = f"impossible d'écrire {e.filename or 'le document'} : {cause(e)}"
        except Exception as e:  # noqa: BLE001 - the document fails, the build goes on
            log.debug("writing %s failed", outcome.document.path, exc_info=True)
            outcome.error = f"erreur interne : {type(e).__name__} : {e}"

    def fail(self, index: int, reason: str) -> None:
        with self._each[index]:
            with self._lock:
                if index in self._closed:
                    return
                self._closed.add(index)
                self._files.pop(index, None)
            self.finished.put(Failed(self.documents[index], reason))
        self._pdf_out(index)

    def guarded(self, task: Callable[..., None]) -> Callable[..., None]:
        """`task`, run by another thread: an error it does not expect (a bug) ends the build, as an internal
        error, instead of leaving it waiting for a document that will never come (take)."""
        def run(*args: Any) -> None:
            try:
                task(*args)
            except Exception as e:
                self.finished.put(_Stopped(e))
                raise
        return run

    def take(self) -> Rendered | Ready | Failed:
        """The next outcome; the error of a guarded task raised here."""
        outcome = self.finished.get()
        if isinstance(outcome, _Stopped):
            raise outcome.error
        return outcome


@dataclass
class _Stopped:
    error: Exception


def _docx_failure(error: BaseException) -> str:
    return f"échec de la finition du DOCX : {cause(error)}"


def _template_line(error: BaseException) -> tuple[str, int] | None:
    """The innermost template line an error went through: Jinja gives a template's frames its file and line
    (jinja2.debug)."""
    line = None
    trace = error.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename.endswith(".j2"):
            line = (trace.tb_frame.f_code.co_filename, trace.tb_lineno)
        trace = trace.tb_next
    return line


def in_template(error: BaseException) -> bool:
    """Whether an error is a template's (Jinja's own, or Python's raised by a template's expression, `1 / 0`):
    its author's mistake, reported with its document, not a bug of qualidoc that stops the build."""
    return isinstance(error, jinja2.TemplateError) or _template_line(error) is not None


def template_error(error: BaseException, shown: Callable[[Path], str] = str) -> str:
    """A template's error for whoever edits templates: where (`templates/x.md.j2:12`, `shown` by the project) and
    what, in French where Jinja's message is one of the usual ones."""
    if isinstance(error, jinja2.TemplateSyntaxError):
        where = f"{shown(Path(error.filename))}:{error.lineno}" if error.filename else f"{error.name}:{error.lineno}"
        return f"erreur dans un modèle, {where} : syntaxe : {error.message} (message de Jinja)"
    line = _template_line(error)
    where = f", {shown(Path(line[0]))}:{line[1]}" if line else ""
    if not isinstance(error, jinja2.TemplateError):
        return f"erreur dans un modèle{where} : {type(error).__name__} : {error} (message de Python)"
    message = str(error.message or error)
    if match := re.fullmatch(r"'(?:[\w.]+\.)?(\w+) object' has no attribute '(.+)'", message):
        kind, name = match.groups()
        what = f"`{name}` n'existe pas dans {_KINDS.get(kind, kind)}"
    elif match := re.fullmatch(r"'(.+)' is undefined", message):
        what = f"`{match.group(1)}` n'est pas défini"
    else:
        what = f"{message} (message de Jinja)"
    return f"erreur dans un modèle{where} : {what}"


# What a template's author calls the objects an attribute is looked for in (`qualidoc fields` lists their keys).
_KINDS = {"Course": "une formation (voir `qualidoc fields course`)",
          "Trainer": "un intervenant (voir `qualidoc fields trainer`)",
          "Organisation": "l'organisme (voir `qualidoc fields organisation`)",
          "ImprovementEntry": "une entrée du registre (voir `qualidoc fields improvement`)",
          "dict": "ce dictionnaire", "list": "cette liste", "str": "ce texte"}
