"""Large documents laid out in pieces (pieces.py, pdf_merge.py): the joined PDF is the document laid out whole,
an edit lays out only the pieces that changed, and anything unexpected falls back to the whole layout."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pypdf
import pytest
import yaml

from pipeline import chunks, pdf_merge, pieces, typst_worker
from pipeline.build import build
from pipeline.project import Project
from pipeline.typst_adapter import LayoutProcess, new_compiler, source_frame
from tests.helpers import REPO, copy_project, edit
from tests.test_chunks import LOG, MATRIX, grow_the_log

OLD_FOOTER = "[Page #counter(page).display() / #counter(page).final().first()]"


def grow_the_trainers(root: Path, count: int) -> None:
    """Copy a trainer of the sample until the skills matrix has several pieces."""
    source = root / "content/trainers/claire-martin.yaml"
    for n in range(count):
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
        data["name"] = f"Formatrice numéro {n}"
        (root / f"content/trainers/copie-{n:02d}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True),
                                                                   encoding="utf-8")


def outline(reader: pypdf.PdfReader) -> list[tuple[int, str, int]]:
    found: list[tuple[int, str, int]] = []

    def walk(items: list, depth: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
            else:
                found.append((depth, item.title, reader.get_destination_page_number(item)))

    walk(reader.outline, 0)
    return found


def structure(reader: pypdf.PdfReader) -> list[tuple]:
    """The tagged structure, in order: each element's type, depth, page, attributes and id (table cells' ids
    normalised: a piece's are renamed apart from the others'); marked content by its number."""
    found: list[tuple] = []

    def walk(element: object, depth: int) -> None:
        element = element.get_object() if hasattr(element, "get_object") else element
        if not isinstance(element, dict):
            found.append((depth, "mcid", element))
            return
        if "/S" not in element:
            return
        page = element.get("/Pg")
        attributes = element.get("/A")
        found.append((depth, element["/S"], reader.get_page_number(page.get_object()) if page is not None else None,
                      re.sub(r"(\d+-)?U\d+x", "Ux", str(attributes.get_object() if attributes is not None else "")),
                      re.sub(r"(\d+-)?U\d+x", "Ux", str(element.get("/ID", "")))))
        kids = element.get("/K", [])
        for kid in kids if isinstance(kids, list) else [kids]:
            walk(kid, depth + 1)

    walk(reader.trailer["/Root"]["/StructTreeRoot"]["/K"][0], 0)
    return found


def assert_well_formed(reader: pypdf.PdfReader, tables: bool = True) -> None:
    """What a reader of the tagged PDF relies on: ids unique and sorted, every header cell found, each page's
    marked content in the parent tree under its own key, the metadata's page count right."""
    root = reader.trailer["/Root"]["/StructTreeRoot"]
    names = root["/IDTree"]["/Names"][0::2] if tables else []
    assert list(names) == sorted(names) and len(set(names)) == len(names)
    headers: set[str] = set()

    def walk(element: object) -> None:
        element = element.get_object() if hasattr(element, "get_object") else element
        if isinstance(element, dict) and "/S" in element:
            attributes = element.get("/A")
            attributes = attributes.get_object() if attributes is not None else []
            for owner in attributes if isinstance(attributes, list) else [attributes]:
                headers.update(str(h) for h in owner.get_object().get("/Headers", []))
            kids = element.get("/K", [])
            for kid in kids if isinstance(kids, list) else [kids]:
                walk(kid)

    walk(root["/K"][0])
    assert headers <= {str(n) for n in names} and bool(headers) == tables
    keys = root["/ParentTree"]["/Nums"][0::2]
    assert [page["/StructParents"] for page in reader.pages] == list(range(len(reader.pages)))
    assert sorted(keys) == list(keys) and root["/ParentTreeNextKey"] == len(keys)
    metadata = reader.trailer["/Root"]["/Metadata"].get_data().decode()
    assert f"<xmpTPg:NPages>{len(reader.pages)}</xmpTPg:NPages>" in metadata


def pieces_kept(cache: Path) -> dict[str, int]:
    """How many pieces' PDFs are kept, by document folder."""
    return {folder.name: len(list(folder.glob("*.pdf"))) for folder in (cache / "parts").iterdir() if folder.is_dir()}


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    """A project whose log and skills matrix have several pieces, built once in pieces."""
    tmp = tmp_path_factory.mktemp("pieces")
    root = copy_project(tmp / "p")
    grow_the_log(root, 120)
    grow_the_trainers(root, 24)
    project = replace(Project.at(root), cache=tmp / "cache")
    assert not build(project).failed
    return project


def test_a_large_document_laid_out_in_pieces_is_the_document_laid_out_whole(large, tmp_path):
    kept = pieces_kept(large.cache)
    assert len(kept) == 2 and min(kept.values()) >= 3, kept  # the log and the matrix, in several pieces each
    in_pieces = {path: (large.out / f"{path}.pdf").read_bytes() for path in (LOG, MATRIX)}
    # the same project with a style.typ of before pieces (its footer counts the pages itself): laid out whole
    root = tmp_path / "whole"
    shutil.copytree(large.root / "content", root / "content")
    shutil.copytree(large.root / "templates", root / "templates")
    edit(root / "templates/style.typ", "[Page #counter(page).display() / #page-total()]", OLD_FOOTER)
    whole_project = replace(Project.at(root), cache=tmp_path / "cache")
    assert not build(whole_project).failed
    assert not (tmp_path / "cache/parts").exists() or not pieces_kept(tmp_path / "cache")
    for path, pdf in in_pieces.items():
        joined, whole = pypdf.PdfReader(io.BytesIO(pdf)), pypdf.PdfReader(whole_project.out / f"{path}.pdf")
        assert len(joined.pages) == len(whole.pages) > 10
        for number, (a, b) in enumerate(zip(joined.pages, whole.pages, strict=True), start=1):
            assert a.extract_text().replace("\u200b", "") == b.extract_text().replace("\u200b", ""), (path, number)
            assert f"Page {number} / {len(whole.pages)}" in a.extract_text()
        assert outline(joined) == outline(whole) and len(outline(joined)) > 10
        assert structure(joined) == structure(whole)
        assert_well_formed(joined)
        assert joined.metadata.title == whole.metadata.title
        assert joined.trailer["/Root"]["/ViewerPreferences"]["/DisplayDocTitle"]


STAGE_STYLE = REPO / "templates/style.typ"
META = {"title": "Registre", "organisation": "Organisme", "header_left": "Organisme", "header_right": "REG",
        "footer_left": "Registre"}


def synthetic(count: int) -> list[str]:
    """The bodies of a document in `count` pieces, each two pages or so, with headings of three levels."""
    bodies = ["= Registre\n\n== Fiches\n\n"]
    for n in range(count):
        sheets = [f"=== Fiche {n}-{k}\n\n" + " ".join(["Texte de la fiche."] * 60) for k in range(6)]
        bodies.append("\n\n".join(sheets) + "\n")
    return bodies


@pytest.fixture
def lay_out(tmp_path):
    """Lay a document's pieces out as typst_worker.py does, recording each typst compile."""
    shutil.copyfile(STAGE_STYLE, tmp_path / "style.typ")
    compilers = [new_compiler(REPO / "templates/fonts"), new_compiler(REPO / "templates/fonts")]
    compiled: list[bytes] = []

    def with_compiler(compiler):
        def compile_source(source: bytes) -> bytes:
            compiled.append(source)
            pdf = compiler.compile(input=source, format="pdf", root=str(tmp_path),
                                   timestamp=dt.datetime(2026, 9, 18, tzinfo=dt.UTC))
            assert isinstance(pdf, bytes)
            return pdf
        return compile_source

    compile_source, side = (with_compiler(compiler) for compiler in compilers)

    def run(bodies: list[str], remember: bool = False, two: bool = False, kept: str = "kept") -> pypdf.PdfReader:
        """`two`: with a second compiler, as typst_worker.py lays pieces out (two at a time)."""
        head, tail = source_frame(META, pieces=True)
        pdf = pieces.lay_out(compile_source, head, tail, bodies, "salt", tmp_path / kept, remember,
                             side=side if two else None, store=not remember)
        run.pdf = pdf  # type: ignore[attr-defined]
        return pypdf.PdfReader(io.BytesIO(pdf))

    run.compiled = compiled  # type: ignore[attr-defined]
    run.cache = lambda kept: tmp_path / kept  # type: ignore[attr-defined]
    run.whole = lambda bodies: pypdf.PdfReader(io.BytesIO(compile_source(  # type: ignore[attr-defined]
        pieces.whole(*source_frame(META, pieces=True), bodies))))
    return run


def test_an_edit_lays_out_only_the_pieces_that_changed(lay_out):
    bodies = synthetic(5)
    first = lay_out(bodies)
    pages = len(first.pages)
    assert pages >= 10 and len(lay_out.compiled) <= 2 * len(bodies)
    whole = lay_out.whole(bodies)
    assert [p.extract_text() for p in first.pages] == [p.extract_text() for p in whole.pages]
    assert outline(first) == outline(whole)
    assert [depth for depth, _, _ in outline(first)][:3] == [0, 1, 2]
    lay_out.compiled.clear()
    assert [p.extract_text() for p in lay_out(bodies).pages] == [p.extract_text() for p in first.pages]
    assert not lay_out.compiled, "every piece is kept"
    bodies[3] = bodies[3].replace("Texte de la fiche.", "Texte corrigé.", 1)
    second = lay_out(bodies)
    assert len(lay_out.compiled) == 1 and b"Texte corrig" in lay_out.compiled[0]
    assert len(second.pages) == pages and "Texte corrigé." in "".join(p.extract_text() for p in second.pages)
    # a piece that grows by a page: laid out again with the new total, and the others with their new numbers
    lay_out.compiled.clear()
    bodies[2] += "\n#pagebreak()\nUne page de plus.\n"
    third = lay_out(bodies)
    assert len(third.pages) == pages + 1
    assert len(bodies) <= len(lay_out.compiled) <= len(bodies) + 1
    texts = [p.extract_text() for p in third.pages]
    assert texts == [p.extract_text() for p in lay_out.whole(bodies).pages]
    assert all(f"Page {n} / {pages + 1}" in text for n, text in enumerate(texts, start=1))
    assert_well_formed(third, tables=False)


def test_a_join_remembered_for_the_next_edit_gives_the_same_bytes(lay_out, monkeypatch):
    """In watch, the process that lays the log out keeps each piece read and renumbered in its last join:
    after an edit, only the piece that changed is read again, and the PDF is the one a join from nothing gives."""
    bodies = synthetic(4)
    lay_out(bodies, remember=True)
    bodies[2] = bodies[2].replace("Texte de la fiche.", "Texte corrigé.", 1)
    real, read = pdf_merge.parse, []
    monkeypatch.setattr(pdf_merge, "parse", lambda pdf: (read.append(pdf), real(pdf))[1])
    remembered = lay_out(bodies, remember=True)
    assert len(read) == 1 and "Texte corrigé." in "".join(p.extract_text() for p in remembered.pages)
    joined = lay_out.pdf
    read.clear()
    pdf_merge._READ.clear()
    pdf_merge._RENUMBERED.clear()
    lay_out(bodies)  # from nothing, not remembered: each piece read, the same bytes, and nothing kept after
    assert len(read) == len(bodies) and lay_out.pdf == joined
    assert not pdf_merge._READ and not pdf_merge._RENUMBERED
    assert_well_formed(remembered, tables=False)


def test_a_process_that_joins_two_documents_remembers_each_ones_last_join(lay_out, monkeypatch):
    """The resident builder joins the log and the skills matrix after each edit: the join of one does not
    drop what the other's last join read; a document joined without `remember` drops its own, not the
    other's; and the PDFs are those a join from nothing gives."""
    log, matrix = synthetic(4), synthetic(3)
    lay_out(log, remember=True, kept="log")
    lay_out(matrix, remember=True, kept="matrix")
    real, read = pdf_merge.parse, []
    monkeypatch.setattr(pdf_merge, "parse", lambda pdf: (read.append(pdf), real(pdf))[1])
    log[1] = log[1].replace("Texte de la fiche.", "Texte corrigé.", 1)
    lay_out(log, remember=True, kept="log")
    assert len(read) == 1, "only the piece that changed is read again, the others are in memory"
    joined = lay_out.pdf
    read.clear()
    lay_out(matrix, remember=True, kept="matrix")
    assert not read, "the matrix's pieces are still in memory after the log's join"
    lay_out(log, kept="log")  # not remembered: the log's pieces are dropped, the matrix's kept
    assert lay_out.pdf == joined
    read.clear()
    lay_out(matrix, remember=True, kept="matrix")
    assert not read
    assert str(lay_out.cache("matrix")) in pdf_merge._USED and str(lay_out.cache("log")) not in pdf_merge._USED
    # a process that stays keeps the last joins of the last few documents only (OWNERS)
    for k in range(pdf_merge.OWNERS):
        lay_out(synthetic(2), remember=True, kept=f"other{k}")
    assert str(lay_out.cache("matrix")) not in pdf_merge._USED and len(pdf_merge._USED) == pdf_merge.OWNERS
    read.clear()
    lay_out(matrix, remember=True, kept="matrix")
    assert read, "forgotten: read again"
    pdf_merge._READ.clear()
    pdf_merge._RENUMBERED.clear()
    pdf_merge._USED.clear()


def test_a_piece_that_gains_objects_leaves_the_numbers_of_the_pieces_after_it(lay_out):
    """A new entry of the log adds a line to the tracking table, and so objects to its piece: the pieces after
    it keep their numbers (each piece starts at a multiple of SLOT), so watch's join finds them renumbered
    already; the PDF is the one a join from nothing gives."""
    bodies = synthetic(4)
    lay_out(bodies, remember=True)
    before = {key[1]: key for key in pdf_merge._RENUMBERED}
    sizes = {key[1]: pdf_merge._READ[key[0]].size for key in pdf_merge._RENUMBERED}
    bodies[1] += "\nUne ligne de plus.\n"
    grown = lay_out(bodies, remember=True)
    after = {key[1]: key for key in pdf_merge._RENUMBERED}
    assert pdf_merge._READ[after[1][0]].size > sizes[1], "the piece has more objects"
    assert sorted(after) == sorted(before) == list(range(1, len(bodies))) and after[1] != before[1]
    assert [after[i] for i in range(2, len(bodies))] == [before[i] for i in range(2, len(bodies))]
    joined = lay_out.pdf
    pdf_merge._READ.clear()
    pdf_merge._RENUMBERED.clear()
    lay_out(bodies)
    assert lay_out.pdf == joined and "Une ligne de plus." in "".join(p.extract_text() for p in grown.pages)
    assert_well_formed(grown, tables=False)


def test_a_command_joins_with_the_pieces_kept_renumbered_beside_their_pdfs(lay_out, monkeypatch, tmp_path):
    """A command (no process that stays) keeps each piece's objects renumbered beside its PDF, with a summary
    of the piece: after an edit, only the piece that changed is read and renumbered, a damaged kept file is
    made again, and the PDF is always the one a join from nothing gives."""
    def kept_files(suffix: str) -> list[str]:
        return sorted(path.name for path in (tmp_path / "kept").glob("*.objects") if path.stem.endswith(suffix))

    bodies = synthetic(4)
    lay_out(bodies)
    kept, summaries = [name for name in kept_files("") if "-summary" not in name], kept_files("-summary")
    assert len(kept) == len(summaries) == len(bodies) - 1, "the first piece keeps its numbers: nothing to keep"
    real, renumbered = pdf_merge._written, []
    monkeypatch.setattr(pdf_merge, "_written", lambda objects: (renumbered.append(1), real(objects))[1])
    real_parse, parsed = pdf_merge.parse, []
    monkeypatch.setattr(pdf_merge, "parse", lambda pdf: (parsed.append(1), real_parse(pdf))[1])
    bodies[2] = bodies[2].replace("Texte de la fiche.", "Texte corrigé.", 1)
    edited = lay_out(bodies)
    assert len(renumbered) == 1 and "Texte corrigé." in "".join(p.extract_text() for p in edited.pages)
    assert len(parsed) == 2, "the first piece and the one that changed, not the others"
    after = [name for name in kept_files("") if "-summary" not in name]
    assert len(after) == len(bodies) - 1 and len(set(after) - set(kept)) == 1, "the stale one is gone"
    assert len(kept_files("-summary")) == len(bodies) - 1 and len(set(kept_files("-summary")) - set(summaries)) == 1
    joined = lay_out.pdf
    assert pdf_of(lay_out, bodies, kept="fresh") == joined
    other = next(name for name in kept_files("-summary") if name[:40] != after[-1][:40])  # another piece's
    damaged = {name: (tmp_path / "kept" / name).read_bytes() for name in (after[-1], other)}
    for name, data in damaged.items():
        (tmp_path / "kept" / name).write_bytes(data[:-3] + b"###")
    renumbered.clear()
    parsed.clear()
    assert pdf_of(lay_out, bodies) == joined and len(renumbered) == 1 and len(parsed) == 3  # the first, both damaged
    assert all((tmp_path / "kept" / name).read_bytes() == data for name, data in damaged.items()), "written again"
    parsed.clear()
    assert pdf_of(lay_out, bodies) == joined and parsed == [1], "then only the first piece is read"
    assert_well_formed(edited, tables=False)


def test_references_cut_at_their_0_R_are_renumbered_as_the_full_scan_does(large):
    """pdf_merge renumbers a text of references alone by cutting it at each " 0 R" (not scanning each byte):
    the same bytes as the scan, for every object of every piece kept of the log and the skills matrix."""
    texts = [text for folder in (large.cache / "parts").iterdir() if folder.is_dir() for kept in folder.glob("*.pdf")
             for text, _ in pdf_merge.parse(kept.read_bytes()).objects.values()]
    texts += [b"[1 10 0 R 20 0 R]", b"/Pg 7 0 R/K 3", b"<</A 0 R>>", b"/T 12 0 R/Count 0 R"]
    assert sum(b" 0 R" in text and b"(" not in text for text in texts) > 1000
    swap = {7: 3, 10: 4}
    cut, scan = (pdf_merge._renumberer(500, 40, swap, {b"U1x2"}, b"2-", scan=flag) for flag in (False, True))
    assert [cut(text) for text in texts] == [scan(text) for text in texts]
    assert cut(b"[1 10 0 R 20 0 R]") == b"[1 4 0 R 520 0 R]"


def test_two_compilers_side_by_side_give_the_bytes_of_one(lay_out):
    """The worker lays pieces out two at a time with two compilers (a new page in the log lays every piece
    out again for its footer's total): the same PDF, byte for byte, as one compiler piece after piece."""
    bodies = synthetic(5)
    alone, two = lay_out(bodies, kept="alone"), lay_out(bodies, two=True, kept="two")
    assert lay_out.pdf == pdf_of(lay_out, bodies, kept="alone")
    assert [p.extract_text() for p in two.pages] == [p.extract_text() for p in alone.pages]
    bodies[1] += "\n#pagebreak()\nUne page de plus.\n"  # every piece laid out again: the total changed
    lay_out.compiled.clear()
    grown = pdf_of(lay_out, bodies, two=True, kept="two")
    assert len(lay_out.compiled) >= len(bodies)
    assert grown == pdf_of(lay_out, bodies, kept="alone")
    texts = [p.extract_text() for p in pypdf.PdfReader(io.BytesIO(grown)).pages]
    assert len(texts) == len(alone.pages) + 1
    assert all(f"Page {n} / {len(texts)}" in text for n, text in enumerate(texts, start=1))


def test_the_pieces_that_changed_are_laid_out_two_at_a_time(lay_out):
    """After an edit, with a second compiler (in watch, another process: typst_worker.py), the pieces that
    changed are laid out side by side, each told the counts of the last layout: each compiled once if none
    grows, again if the others did; the same PDF, byte for byte, as piece after piece."""
    bodies = synthetic(6)
    lay_out(bodies, two=True, kept="two")
    lay_out(bodies, kept="alone")
    for k in (1, 3, 4):
        bodies[k] = bodies[k].replace(f"Fiche {k - 1}-2", f"Fiche {k - 1}-2 modifiée")
    lay_out.compiled.clear()
    edited = pdf_of(lay_out, bodies, two=True, kept="two")
    assert sorted(lay_out.compiled) == sorted(pieces.source(*source_frame(META, pieces=True), bodies[k],
                                                            *numbers) for k, numbers in
                                              [(k, (sum(counts[:k]), sum(counts[k + 1:])))
                                               for counts in [pieces.kept_order(lay_out.cache("two"))]
                                               for k in (1, 3, 4)])
    assert edited == pdf_of(lay_out, bodies, kept="alone")
    for k in (2, 5):
        bodies[k] += "\n#pagebreak()\nUne page de plus.\n"
    lay_out.compiled.clear()
    grown = pdf_of(lay_out, bodies, two=True, kept="two")
    assert grown == pdf_of(lay_out, bodies, kept="alone")
    texts = [p.extract_text() for p in pypdf.PdfReader(io.BytesIO(grown)).pages]
    assert "Fiche 2-2 modifiée" in "".join(texts) and texts[-1].startswith("Une page de plus") is False
    assert all(f"Page {n} / {len(texts)}" in text for n, text in enumerate(texts, start=1))


def pdf_of(lay_out, bodies: list[str], **options) -> bytes:
    lay_out(bodies, **options)
    return lay_out.pdf


def test_pieces_that_cannot_be_joined_are_laid_out_whole_and_forgotten(tmp_path, monkeypatch):
    shutil.copyfile(STAGE_STYLE, tmp_path / "style.typ")
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept/stale.pdf").write_bytes(b"%PDF-1.7 damaged")
    bodies = synthetic(2)
    head, tail = source_frame(META, pieces=True)
    payload = "".join(bodies).encode()
    request = {"root": str(tmp_path), "timestamp": "2026-09-18T00:00:00+00:00", "pdf_standards": [],
               "head": head, "tail": tail, "salt": "s", "cache": str(tmp_path / "kept"),
               "sizes": [len(body.encode()) for body in bodies]}

    def refuse(pdfs, levels, remember=False, store=None, owner=""):
        raise pdf_merge.CannotMerge("pour voir")

    monkeypatch.setattr(pieces, "merge", refuse)
    replies = io.BytesIO()
    compilers = (new_compiler(REPO / "templates/fonts"), new_compiler(REPO / "templates/fonts"))
    typst_worker._answer(compilers, request, io.BytesIO(payload), replies)
    line, pdf = replies.getvalue().split(b"\n", 1)
    assert json.loads(line) == {"size": len(pdf)}
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    texts = [page.extract_text() for page in reader.pages]
    assert "Fiche 1-5" in texts[-1] and f"Page {len(texts)} / {len(texts)}" in texts[-1]
    assert not list((tmp_path / "kept").iterdir()), "nothing kept of pieces that could not be joined"


def test_a_kept_piece_that_is_damaged_costs_a_layout_not_the_document(large, tmp_path):
    project = replace(large, out=tmp_path / "out")
    for kept in large.cache.glob("parts/*/*.pdf"):
        kept.write_bytes(kept.read_bytes()[:200])
    report = build(project, force=True)
    assert not report.failed
    expected = pypdf.PdfReader(large.out / f"{LOG}.pdf")
    reader = pypdf.PdfReader(project.out / f"{LOG}.pdf")
    assert [p.extract_text() for p in reader.pages] == [p.extract_text() for p in expected.pages]
    # and the next build lays it out in pieces again: the same bytes as the first
    assert not build(project, force=True).failed
    assert (project.out / f"{LOG}.pdf").read_bytes() == (large.out / f"{LOG}.pdf").read_bytes()


class Recording:
    """A typst compiler whose compiles are counted (typst_worker._answer takes any object with compile())."""

    def __init__(self, compiled: list[bytes]):
        self.compiler, self.compiled = new_compiler(REPO / "templates/fonts"), compiled

    def compile(self, input: bytes, **options) -> bytes:  # noqa: A002 - typst's name
        self.compiled.append(input)
        return self.compiler.compile(input=input, **options)


def test_in_watch_a_process_beside_lays_out_pieces_too(tmp_path):
    """In watch, the worker lays out the pieces that changed two at a time, with a process of its own beside
    it (typst_worker.py: two compilers in one process barely go faster than one); the same PDF as alone. A
    process beside that has stopped leaves every piece to the worker, which says any typst error."""
    stage = tmp_path / "stage"
    stage.mkdir()
    shutil.copyfile(STAGE_STYLE, stage / "style.typ")
    laid: list[bytes] = []
    beside = LayoutProcess(REPO / "templates/fonts")

    def answer(bodies: list[str], kept: str, with_beside: LayoutProcess | None) -> bytes:
        head, tail = source_frame(META, pieces=True)
        request = {"root": str(stage), "timestamp": "2026-09-18T00:00:00+00:00", "pdf_standards": [],
                   "head": head, "tail": tail, "salt": "s", "cache": str(tmp_path / kept), "remember": True,
                   "sizes": [len(body.encode()) for body in bodies]}
        replies = io.BytesIO()
        typst_worker._answer((Recording(laid),), request, io.BytesIO("".join(bodies).encode()), replies,
                             beside=with_beside)
        line, pdf = replies.getvalue().split(b"\n", 1)
        assert json.loads(line) == {"size": len(pdf)}, line
        return pdf

    try:
        bodies = synthetic(5)
        answer(bodies, "kept", beside)
        for k in (1, 2, 4):
            bodies[k] = bodies[k].replace(f"Fiche {k - 1}-3", f"Fiche {k - 1}-3 modifiée")
        laid.clear()
        edited = answer(bodies, "kept", beside)
        assert 1 <= len(laid) <= 2, "the others were laid out beside"
        assert edited == answer(bodies, "alone", None)
        beside.process.kill()
        beside.process.wait()
        bodies[3] = bodies[3].replace("Fiche 2-1", "Fiche 2-1 modifiée")
        bodies[4] += "\n#pagebreak()\nUne page de plus.\n"
        laid.clear()
        again, here = answer(bodies, "kept", beside), list(laid)
        assert again == answer(bodies, "alone-2", None)
        assert any(b"Fiche 2-1 modifi" in source for source in here) and any(b"Une page de plus" in source
                                                                              for source in here)
        bodies[2] += "\n#text(fill: nulle-part)[?]\n"
        replies = io.BytesIO()
        head, tail = source_frame(META, pieces=True)
        typst_worker._answer((Recording(laid),), {
            "root": str(stage), "timestamp": "2026-09-18T00:00:00+00:00", "pdf_standards": [], "head": head,
            "tail": tail, "salt": "s", "cache": str(tmp_path / "kept"), "remember": True,
            "sizes": [len(body.encode()) for body in bodies]}, io.BytesIO("".join(bodies).encode()), replies,
            beside=beside)
        assert "nulle-part" in json.loads(replies.getvalue().split(b"\n", 1)[0])["error"]
    finally:
        beside.close()


def test_in_watch_the_pieces_are_laid_out_ahead_for_a_page_more(tmp_path):
    """A new log entry that adds a page changes every other piece's footer (the total): in watch, the worker
    has laid them out ahead, with one page more before or after them, while it waited for the edit. The
    edit then compiles only the piece that changed, and the PDF is, byte for byte, the one laid out without."""
    stage = tmp_path / "stage"
    stage.mkdir()
    shutil.copyfile(STAGE_STYLE, stage / "style.typ")
    laid, ahead_laid = [], []
    compilers = (Recording(laid), Recording(ahead_laid))
    ahead = pieces.Ahead(root=tmp_path / "ahead")
    ahead.root.mkdir()

    def answer(bodies: list[str], kept: str, with_ahead: pieces.Ahead | None) -> bytes:
        head, tail = source_frame(META, pieces=True)
        request = {"root": str(stage), "timestamp": "2026-09-18T00:00:00+00:00", "pdf_standards": [],
                   "head": head, "tail": tail, "salt": "s", "cache": str(tmp_path / kept), "remember": True,
                   "sizes": [len(body.encode()) for body in bodies]}
        replies = io.BytesIO()
        typst_worker._answer(compilers, request, io.BytesIO("".join(bodies).encode()), replies, with_ahead)
        line, pdf = replies.getvalue().split(b"\n", 1)
        assert json.loads(line) == {"size": len(pdf)}
        return pdf

    bodies = synthetic(5)
    first = answer(bodies, "kept", ahead)
    assert ahead.thread is not None
    ahead.thread.join()
    # each piece with one page more after it, before it, both, two after (none before the first, after the last)
    assert pieces.MORE_PAGES == ((0, 1), (1, 0), (1, 1), (0, 2))
    assert len(ahead.pdfs) == len(ahead_laid) == 4 * len(bodies) - 5
    assert (ahead.root / "style.typ").read_bytes() == STAGE_STYLE.read_bytes()
    assert not ahead.warm and typst_worker._warm_first(compilers, ahead) == compilers, "a first layout: none again"
    counts = pieces.kept_order(tmp_path / "kept")
    previous, numbers = bodies[2], (sum(counts[:2]), sum(counts[3:]))
    bodies[2] += "\n#pagebreak()\nUne page de plus.\n"
    laid.clear()
    grown = answer(bodies, "kept", ahead)
    assert len(laid) == 1 and b"Une page de plus" in laid[0], "only the piece that changed is compiled"
    # then, once laid out ahead, the piece that changed as it was before, with its numbers then: on the compiler
    # that lays out the next edit, typst has what the piece's table is laid out from (pieces.Ahead)
    ahead_laid.clear()
    ahead.thread.join()
    assert ahead.warm and typst_worker._warm_first(compilers, ahead) == compilers[::-1]
    assert ahead_laid[-1] == pieces.source(*source_frame(META, pieces=True), previous, *numbers)
    assert grown == answer(bodies, "alone", None)
    texts = [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(grown)).pages]
    assert len(texts) == len(pypdf.PdfReader(io.BytesIO(first)).pages) + 1
    assert all(f"Page {n} / {len(texts)}" in text for n, text in enumerate(texts, start=1))
    # a new entry in a piece, and a line more in the last block of the tracking table: two pieces grow
    ahead.thread.join()
    bodies[1] += "\n#pagebreak()\nUne autre page.\n"
    bodies[-1] += "\n#pagebreak()\nLa dernière page.\n"
    laid.clear()
    grown = answer(bodies, "kept", ahead)
    assert len(laid) <= 3 and all(b"Une autre page" in source or b"La derni" in source for source in laid)
    assert grown == answer(bodies, "alone", None)
    assert len(pypdf.PdfReader(io.BytesIO(grown)).pages) == len(texts) + 2
    # the next edit stops what is laid out ahead; a new style drops what was laid out with the old one
    ahead.stop()
    (stage / "style.typ").write_text(STAGE_STYLE.read_text(encoding="utf-8") + "\n// changé\n", encoding="utf-8")
    ahead.mirror(stage)
    assert ahead.pdfs == {} and (ahead.root / "style.typ").read_text(encoding="utf-8").endswith("// changé\n")


def test_a_line_more_in_the_last_table_block_moves_no_following_piece():
    """Pieces end after a landscape section (where the page turns anyway): a new log entry adds a line to
    the last block of the tracking table, and the entries' sheets that follow keep their pieces (before, the
    piece of that block went on with the first sheets, and where it ended moved every following piece)."""
    def log(lines: int, sheets: int) -> list[str]:
        table = "#set page(flipped: true)\n\n" + "\n".join(f"[ligne {n}]," for n in range(lines)) \
            + "\n\n#set page(flipped: false)"
        return ["= Registre\n\n== Synthèse\n\nTexte.", table, "== Fiches détaillées"] + [
            f"=== N° {n}\n\n" + " ".join(["Texte de la fiche."] * 200) for n in range(sheets)]

    before = chunks.pieces(log(40, 30))
    after = chunks.pieces(log(41, 31))  # a new entry: a line more in the table, a sheet more at the end
    assert before[1][0].startswith(chunks.LANDSCAPE_START) and len(before[1]) == 1, "the table alone"
    assert before[2][0] == "== Fiches détaillées"
    assert after[2:-1] == before[2:-1] and after[-1][:-1] == before[-1]
    assert all(sum(map(len, piece)) < 3 * chunks.PIECE_SIZE for piece in after)
    assert [fragment for piece in after for fragment in piece] == log(41, 31)
