"""Render documents: Jinja2 → Markdown → pandoc (DOCX, typst, batched in a few processes) → typst → PDF.

Each document either renders to its DOCX and PDF bytes or fails with a reason; a failure never
stops the other documents.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import jinja2
import typst

from pipeline.content import Catalogue
from pipeline.documents import Document
from pipeline.docx_finish import finish_docx
from pipeline.errors import UserError
from pipeline.markdown import Md, environment
from pipeline.project import Project, image_suffix
from pipeline.tools import pandoc_path

log = logging.getLogger(__name__)

# CommonMark (twice as fast to read as pandoc's Markdown) with only the extensions the templates use;
# no raw HTML, no raw blocks, no math: the content cannot reach any of them anyway (see markdown.py).
READER = "commonmark+pipe_tables+fenced_divs+bracketed_spans+attributes-raw_html"


@dataclass
class Rendered:
    document: Document
    docx: bytes
    pdf: bytes


@dataclass
class Failed:
    document: Document
    reason: str


class Renderer:
    """Renders documents of one catalogue with the project's templates."""

    def __init__(self, project: Project, catalogue: Catalogue, jobs: int = 0):
        self.project, self.catalogue = project, catalogue
        self.jobs = jobs or os.cpu_count() or 1
        self.env = environment(project.templates, project.state_dir / "templates-cache")
        self._compilers = threading.local()

    def markdown(self, document: Document) -> str:
        """Render a document's template to the Markdown handed to pandoc."""
        logo = Md(f"![](logo{image_suffix(self.catalogue.logo)}){{height=15mm}}") if self.catalogue.logo else None
        template = self.env.get_template(document.template)
        context = document.lazy_context() if document.lazy_context else document.context
        return template.render(org=self.catalogue.organisation, doc=document, logo=logo, **context)

    def render(self, documents: list[Document],
               progress: Callable[[int, int], None] | None = None) -> Iterator[Rendered | Failed]:
        """Render documents to DOCX and PDF bytes in parallel, yielding each one as soon as it is done."""
        if not documents:
            return
        try:
            self.project.state_dir.mkdir(parents=True, exist_ok=True)
            stage = Path(tempfile.mkdtemp(prefix="stage-", dir=self.project.state_dir))
        except OSError as e:
            raise UserError(f"cannot write to {self.project.state_dir}: {e.strerror}") from e
        try:
            for done, outcome in enumerate(self._render_in(stage, documents), 1):
                if progress:
                    progress(done, len(documents))
                yield outcome
        finally:
            shutil.rmtree(stage, ignore_errors=True)

    def _render_in(self, stage: Path, documents: list[Document]) -> Iterator[Rendered | Failed]:
        self._prepare_stage(stage)
        sizes: dict[int, int] = {}
        for index, document in enumerate(documents):
            try:
                text = self.markdown(document)
            except jinja2.TemplateError as e:
                yield Failed(document, _template_error(e))
                continue
            (stage / f"d{index}.md").write_text(text, encoding="utf-8")
            sizes[index] = len(text)
        finished: queue.Queue[Rendered | Failed] = queue.Queue()
        with ThreadPoolExecutor(max_workers=self.jobs) as typst_pool:

            def converted(index: int, error: str | None) -> None:
                """Start the PDF as soon as pandoc is done with a document."""
                if error:
                    finished.put(Failed(documents[index], error))
                    return
                future = typst_pool.submit(self._finish_safely, stage, index, documents[index])
                future.add_done_callback(lambda f: finished.put(f.result()))

            converter = threading.Thread(target=self._run_pandoc, args=(stage, sizes, converted), daemon=True)
            converter.start()
            for _ in sizes:
                yield finished.get()
            converter.join()

    def _prepare_stage(self, stage: Path) -> None:
        style = (self.project.templates / "style.typ").read_text(encoding="utf-8")
        if PACKAGE_IMPORT.search(style):
            raise UserError("templates/style.typ imports a typst package (`@preview/…`): packages come from the "
                            "network, which a build never uses; copy the package into templates/ and import it by path")
        (stage / "style.typ").write_text(style, encoding="utf-8")
        if self.catalogue.logo:
            shutil.copyfile(self.catalogue.logo, stage / f"logo{image_suffix(self.catalogue.logo)}")

    def _run_pandoc(self, stage: Path, sizes: dict[int, int], converted: Callable[[int, str | None], None]) -> None:
        """Convert every Markdown file in a few pandoc processes, calling `converted` as each one is done.

        Documents are dealt out largest first to the least loaded process, so that no process is
        left with a long tail (the improvement log of a big catalogue is 30 times a programme).
        """
        count = min(self.jobs, len(sizes))
        batches: list[list[int]] = [[] for _ in range(count)]
        loads = [0] * count
        for index in sorted(sizes, key=lambda i: -sizes[i]):
            lightest = loads.index(min(loads))
            batches[lightest].append(index)
            loads[lightest] += sizes[index]
        script = resources.files("pipeline").joinpath("convert.lua")
        with resources.as_file(script) as lua, ThreadPoolExecutor(max_workers=count or 1) as pool:
            list(pool.map(lambda n: self._pandoc_batch(stage, lua, n, batches[n], converted), range(count)))

    def _pandoc_batch(self, stage: Path, lua: Path, number: int, batch: list[int],
                      converted: Callable[[int, str | None], None]) -> None:
        jobs = [{"markdown": f"d{i}.md", "docx": f"d{i}.docx", "typst": f"d{i}.body.typ"} for i in batch]
        manifest = stage / f"manifest{number}.json"
        reference = str(self.project.templates / "reference.docx")
        manifest.write_text(json.dumps({"reader": READER, "reference_doc": reference, "jobs": jobs}))
        env = {**os.environ, "SOURCE_DATE_EPOCH": "0"}
        command = [pandoc_path(), "lua", str(lua), manifest.name]
        with subprocess.Popen(command, cwd=stage, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) as process:
            reported = set()
            for line in process.stdout:  # type: ignore[union-attr]
                item = json.loads(line)
                index = int(item["markdown"][1:-3])
                reported.add(index)
                converted(index, f"pandoc: {item['error']}" if item["error"] else None)
            stderr = process.stderr.read()  # type: ignore[union-attr]
        for index in batch:
            if index not in reported:
                converted(index, f"pandoc stopped: {stderr.strip()[-500:]}")

    def _finish_safely(self, stage: Path, index: int, document: Document) -> Rendered | Failed:
        """Finish a document; an unexpected error fails that document only."""
        try:
            return self._finish(stage, index, document)
        except Exception as e:  # noqa: BLE001 - reported with the document, the others go on
            log.debug("finishing %s failed", document.path, exc_info=True)
            return Failed(document, f"internal error: {type(e).__name__}: {e}")

    def _finish(self, stage: Path, index: int, document: Document) -> Rendered | Failed:
        """Fill the DOCX header and footer, and compile the typst source to PDF."""
        texts = self._page_texts(document)
        organisation = self.catalogue.organisation.name
        try:
            docx = finish_docx((stage / f"d{index}.docx").read_bytes(), texts, document.title, organisation,
                               document.version)
        except (OSError, ValueError) as e:
            return Failed(document, f"DOCX post-processing failed: {e}")
        body = (stage / f"d{index}.body.typ").read_text(encoding="utf-8")
        source = stage / f"d{index}.typ"
        source.write_text(TYPST_WRAPPER + body, encoding="utf-8")
        meta = {"title": document.title, "organisation": organisation, "header_left": texts["QD_HEADER_LEFT"],
                "header_right": texts["QD_HEADER_RIGHT"], "footer_left": texts["QD_FOOTER_LEFT"]}
        try:
            pdf = self._compiler(stage).compile(input=str(source), format="pdf", sys_inputs={"meta": json.dumps(meta)},
                                                timestamp=_timestamp(document.version))
        except typst.TypstError as e:
            return Failed(document, f"typst: {e.message} {getattr(e, 'diagnostic', '')}".strip())
        return Rendered(document, docx, pdf)  # type: ignore[arg-type]

    def _page_texts(self, document: Document) -> dict[str, str]:
        org = self.catalogue.organisation
        return {"QD_HEADER_LEFT": f"{org.name} – NDA {org.nda}",
                "QD_HEADER_RIGHT": f"{document.reference} – {document.stamp_text}",
                "QD_FOOTER_LEFT": document.title}

    def _compiler(self, stage: Path) -> typst.Compiler:
        """One typst compiler per thread, reused across documents (fonts are loaded once)."""
        compiler = getattr(self._compilers, "compiler", None)
        if compiler is None or self._compilers.root != stage:
            fonts = self.project.templates / "fonts"
            compiler = typst.Compiler(root=str(stage), ignore_system_fonts=True,
                                      font_paths=[str(fonts)] if fonts.is_dir() else [])
            self._compilers.compiler, self._compilers.root = compiler, stage
        return compiler


PACKAGE_IMPORT = re.compile(r"""(?:import|include)\s*\(?\s*["']@""")
TYPST_WRAPPER = """#import "style.typ": *
#show: qualidoc.with(json(bytes(sys.inputs.meta)))
"""


def _timestamp(version: dt.date) -> dt.datetime:
    return dt.datetime(version.year, version.month, version.day, tzinfo=dt.UTC)


def _template_error(error: jinja2.TemplateError) -> str:
    if isinstance(error, jinja2.TemplateSyntaxError):
        return f"template {error.filename or error.name}:{error.lineno}: {error.message}"
    return f"template error: {error}"
