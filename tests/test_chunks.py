"""Large documents in parts (chunks.py): the cut is safe, and a PDF laid out from kept parts is the same bytes."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pypdf
import pytest
import yaml

from pipeline import chunks
from pipeline.build import build
from pipeline.content import load_catalogue
from pipeline.history import load_history
from pipeline.pandoc_adapter import LARGE, Pandoc
from pipeline.plan import plan_project
from pipeline.project import Project
from pipeline.render import Renderer
from tests.helpers import copy_project, docx_text, edit, pdf_text

LOG = "amelioration/registre-amelioration"
MATRIX = "intervenants/matrice-competences"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def markdown_of_every_document(root: Path) -> dict[str, str]:
    project = Project.at(root)
    catalogue = load_catalogue(project.content, project.root)
    renderer = Renderer(project, catalogue)
    return {d.path: renderer.markdown(d) for d in plan_project(project, catalogue, load_history(project.content))}


def grow_the_log(root: Path, entries: int) -> None:
    """Copy the sample's improvement entries until the log is a large document."""
    sources = sorted((root / "content/improvements").glob("*.yaml"))
    for n in range(entries):
        data = yaml.safe_load(sources[n % len(sources)].read_text(encoding="utf-8"))
        data["description"] = f"Constat numéro {n}. {data['description']}"
        (root / f"content/improvements/copie-{n:03d}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True),
                                                                       encoding="utf-8")


def spy(monkeypatch, cls: type, name: str) -> list[tuple]:
    """Record the calls of a method (their arguments), and still make them."""
    calls: list[tuple] = []
    real = getattr(cls, name)
    monkeypatch.setattr(cls, name, lambda self, *args, **kw: (calls.append(args), real(self, *args, **kw))[1])
    return calls


def parts_showing(root: Path, words: str) -> list[str]:
    parts = chunks.split(markdown_of_every_document(root)[LOG]) or []
    return [part for part in parts if words in part]


def test_parts_join_back_to_the_text_and_are_cut_only_before_top_level_headings_and_landscape_sections(tmp_path):
    root = copy_project(tmp_path)
    grow_the_log(root, 40)
    texts = markdown_of_every_document(root)
    assert len(texts[LOG]) >= LARGE, "the log must be a large document for this test"
    cut = 0
    for path, text in texts.items():
        parts = chunks.split(text)
        if parts is None:
            continue
        cut += 1
        assert "\n".join(parts) == text, path
        for part in parts[1:]:
            assert chunks.HEADING.match(part) or chunks.LANDSCAPE.match(part.split("\n")[0]), (path, part[:80])
        depth = 0
        for part in parts:  # every fenced div opened in a part is closed in it
            for line in part.split("\n"):
                if line.startswith(":::"):
                    depth += 1 if line.strip(":").strip() else -1
            assert depth == 0, (path, part[:80])
    assert cut >= len(texts) // 2


@pytest.mark.parametrize("text", [
    "Intro\n\n[a]: https://example.org\n\n## Titre\n\nVoir [a].\n",  # a reference definition is global
    "Intro\n```\n\n## pas un titre\n```\n",  # inside code
    "::: landscape\nIntro\n\n## Dans le bloc\n:::\n",  # inside a fenced div
    "::: encadre\nIntro\n\n::: landscape\nDans le bloc\n:::\n:::\n",  # a landscape section inside a div
    "Intro\n::: landscape\nCollé au paragraphe\n:::\n",  # no blank line before
    "Intro\n## collé au paragraphe\n",  # no blank line before
])
def test_text_that_cannot_be_cut_safely_is_not(text):
    assert chunks.split(text) is None


def test_a_log_laid_out_from_kept_parts_is_the_same_pdf_as_from_the_whole(tmp_path, monkeypatch):
    root = copy_project(tmp_path / "p")
    grow_the_log(root, 40)
    project = replace(Project.at(root), cache=tmp_path / "cache")
    assert not build(project).failed
    kept = list((tmp_path / "cache/parts").glob("*.json"))
    assert kept, "the parts of the log are kept"
    sent: list[str] = []
    real = Pandoc.send_part
    monkeypatch.setattr(Pandoc, "send_part",
                        lambda self, name, size, **kw: (sent.append(name), real(self, name, size, **kw)))
    joined, whole = spy(monkeypatch, Renderer, "_docx_fits"), spy(monkeypatch, Renderer, "_docx_in_parts")
    docx_written = spy(monkeypatch, Pandoc, "send_parts_docx")
    edit(root / "content/improvements/copie-007.yaml", "Constat numéro 7.", "Constat sept, corrigé.")
    report = build(project)
    assert LOG in report.rebuilt and not report.failed
    # only the parts that show the entry were read again: the follow-up table and the entry's own sheet;
    # the DOCX was joined from them and the kept parts, pandoc never read nor wrote the whole log
    assert len(sent) == len(parts_showing(root, "Constat sept, corrigé")) == 2, sent
    assert len(joined) == 1 and not whole
    assert [names for names, in docx_written] == [sent]  # the two parts' DOCX written in one call
    assert "Constat sept, corrigé" in docx_text(project.out / f"{LOG}.docx")
    from_parts = {kind: sha(project.out / f"{LOG}.{kind}") for kind in ("pdf", "docx")}
    shutil.rmtree(tmp_path / "cache")  # from scratch: every part read, every piece of the PDF laid out
    assert not build(project, force=True).failed
    assert {kind: sha(project.out / f"{LOG}.{kind}") for kind in ("pdf", "docx")} == from_parts
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(project.out / f"{LOG}.pdf").pages)
    assert "Constat sept, corrigé" in " ".join(text.split())
    # the whole document, as before parts existed: the same DOCX (the PDF laid out whole: test_pieces.py)
    monkeypatch.setattr(chunks, "split", lambda text: None)
    assert not build(project, force=True).failed
    assert sha(project.out / f"{LOG}.docx") == from_parts["docx"]


def test_a_full_build_with_every_part_kept_gives_the_log_no_pandoc_and_the_same_bytes(tmp_path, monkeypatch):
    """After `make clean`, the log's PDF is laid out from the kept markup of its parts and its DOCX joined from
    their kept DOCX content: pandoc neither reads nor writes it, and the files are those of a build from scratch."""
    root = copy_project(tmp_path / "p")
    grow_the_log(root, 40)
    project = replace(Project.at(root), cache=tmp_path / "cache")
    assert not build(project).failed
    from_scratch = {kind: sha(project.out / f"{LOG}.{kind}") for kind in ("pdf", "docx")}
    sent: list[int] = []
    real = Pandoc.send
    monkeypatch.setattr(Pandoc, "send", lambda self, index, size, **kw: (sent.append(size), real(self, index, size,
                                                                                                    **kw)))
    # (_keep_parts_docx: the DOCX of every part written again, by pandoc or from their trees: docx_writer.py)
    joined, whole = spy(monkeypatch, Renderer, "_docx_fits"), spy(monkeypatch, Renderer, "_keep_parts_docx")
    shutil.rmtree(project.out)
    report = build(project)
    assert LOG in report.rebuilt and not report.failed
    assert len(joined) == 1 and not whole
    assert not sent  # the log came from its kept parts, the small documents from their kept files (test_kept_files)
    assert {kind: sha(project.out / f"{LOG}.{kind}") for kind in ("pdf", "docx")} == from_scratch
    # a kept frame written for other styles than the parts need: the DOCX is written again, as before
    (kept,) = (tmp_path / "cache/parts").glob("*.docx.json")
    data = json.loads(kept.read_text(encoding="utf-8"))
    data["needs"] = "Some style the parts do not use"
    kept.write_text(json.dumps(data), encoding="utf-8")
    joined.clear()
    assert not build(project, force=True).failed
    assert not joined and len(whole) == 1
    assert sent and max(sent) >= LARGE  # the log went to pandoc whole, for its DOCX
    assert {kind: sha(project.out / f"{LOG}.{kind}") for kind in ("pdf", "docx")} == from_scratch


def test_parts_are_read_one_by_one_only_when_at_most_half_of_the_distinct_ones_are_missing(tmp_path):
    """A document whose parts repeat themselves (the same entry, word for word) counts each text once: with
    nothing kept, its PDF comes from the whole tree, not from its parts read one by one besides it."""
    cache = tmp_path / "parts.json"
    repeated = ["## Entrée A\n\nUn constat.", "## Entrée B\n\nUn autre."] * 10 + ["## Entrée C\n\nLe dernier."]
    held = chunks.Parts.of(repeated, cache, salt="s")
    assert len(held.keys) == 21 and len(held.missing) == 3
    assert not held.from_parts  # 3 distinct parts to read, of 3
    held.fragments = {key: "markup" for key in held.keys[:2]}  # A and B kept: only C to read
    assert held.missing == [held.keys[-1]] and held.from_parts
    held.fragments = {held.keys[0]: "markup"}  # A kept, B and C to read: 2 of 3
    assert not held.from_parts


def test_a_damaged_parts_cache_is_read_again(tmp_path):
    root = copy_project(tmp_path / "p")
    grow_the_log(root, 40)
    project = replace(Project.at(root), cache=tmp_path / "cache")
    assert not build(project).failed
    good = sha(project.out / f"{LOG}.pdf")
    good_docx = sha(project.out / f"{LOG}.docx")
    for kept in (tmp_path / "cache/parts").glob("*.json"):
        kept.write_text("{not json", encoding="utf-8")
    assert not build(project, force=True).failed
    assert sha(project.out / f"{LOG}.pdf") == good and sha(project.out / f"{LOG}.docx") == good_docx


def test_parts_that_need_other_styles_than_the_kept_frame_have_the_whole_docx_written(tmp_path, monkeypatch):
    """The DOCX is joined from parts only if they need together the styles the kept frame was written with
    (convert.lua's `fits`); otherwise pandoc writes the document from all its parts, as a full build does."""
    root = copy_project(tmp_path / "p")
    grow_the_log(root, 40)
    project = replace(Project.at(root), cache=tmp_path / "cache")
    assert not build(project).failed
    (kept,) = (tmp_path / "cache/parts").glob("*.docx.json")
    data = json.loads(kept.read_text(encoding="utf-8"))
    data["needs"] = "Some style the parts do not use"
    kept.write_text(json.dumps(data), encoding="utf-8")
    joined, whole = spy(monkeypatch, Renderer, "_docx_fits"), spy(monkeypatch, Renderer, "_docx_in_parts")
    edit(root / "content/improvements/copie-007.yaml", "Constat numéro 7.", "Constat sept, corrigé.")
    assert not build(project).failed
    assert not joined and len(whole) == 1
    after_edit = sha(project.out / f"{LOG}.docx")
    assert "Constat sept, corrigé" in docx_text(project.out / f"{LOG}.docx")
    shutil.rmtree(tmp_path / "cache")
    assert not build(project, force=True).failed
    assert sha(project.out / f"{LOG}.docx") == after_edit


def test_a_log_without_complaints_shows_no_markup_and_its_sheets_are_upright(tmp_path):
    """The landscape part of the log ends before the detailed sheets, also when no complaint is recorded
    (it used to swallow its closing `:::` into the last paragraph: printed, and the rest in landscape)."""
    root = copy_project(tmp_path)
    for path in (root / "content/improvements").glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if data.get("complaint") or data.get("source") == "complaint":
            path.unlink()
    project = Project.at(root)
    assert not build(project).failed
    reader = pypdf.PdfReader(project.out / f"{LOG}.pdf")
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "Aucune réclamation enregistrée" in " ".join(text.split())
    assert ":::" not in text
    last = reader.pages[-1].mediabox
    assert last.height > last.width  # the detailed sheets are in portrait


def test_after_an_edit_the_changed_parts_are_not_queued_behind_a_whole_document(tmp_path, monkeypatch):
    """A title edit changes several documents held in parts (here every document is a large one): the
    pandoc that reads their changed parts must not get a whole document before them, or the PDFs laid out
    from those parts wait for that whole read (the log's PDF waited for its own whole read: 0.8 s)."""
    import pipeline.render

    root = copy_project(tmp_path / "p")
    grow_the_log(root, 12)
    monkeypatch.setattr(pipeline.render, "LARGE", 2048)
    project = replace(Project.at(root), cache=tmp_path / "cache")
    assert not build(project).failed
    jobs: dict[int, list[dict]] = {}
    real = Pandoc._write
    monkeypatch.setattr(Pandoc, "_write", lambda self, job: (jobs.setdefault(id(self), []).append(job),
                                                             real(self, job)))
    edit(root / "content/courses/excel-perfectionnement.yaml", "Excel perfectionnement :", "Excel avancé :")
    report = build(project)
    assert not report.failed and LOG in report.rebuilt
    assert sum(job.get("part", False) for queue in jobs.values() for job in queue) >= 4, jobs
    for queue in jobs.values():
        kinds = ["part" if job.get("part") else "whole" for job in queue]
        assert "whole" not in kinds or "part" not in kinds[kinds.index("whole"):], kinds
    assert "Excel avancé" in pdf_text(project.out / f"{LOG}.pdf")
    assert "Excel avancé" in docx_text(project.out / f"{LOG}.docx")


def test_an_edit_whose_changed_parts_are_read_before_the_log_is_handed_over_builds(tmp_path, monkeypatch):
    """The helper pandoc may answer the changed parts (their markup kept, their DOCX not yet) before the
    rendering thread lists the parts whose DOCX is kept: it must list them as they were when it sent them
    (seen once in `make bench`: KeyError on a part's key, the build ended with a traceback)."""
    root = copy_project(tmp_path / "p")
    grow_the_log(root, 40)
    project = replace(Project.at(root), cache=tmp_path / "cache")
    assert not build(project).failed
    real = Renderer._from_parts

    def answered_at_once(self, stage, index, outcomes, helper, docx=False):
        real(self, stage, index, outcomes, helper, docx=docx)
        held = self.parts[index]
        for _ in range(200):  # the helper's answers, before this thread goes on
            if not held.missing:
                break
            time.sleep(0.05)
        assert not held.missing, "the helper answered the changed parts"

    monkeypatch.setattr(Renderer, "_from_parts", answered_at_once)
    edit(root / "content/improvements/copie-007.yaml", "Constat numéro 7.", "Constat sept, corrigé.")
    report = build(project)
    assert LOG in report.rebuilt and not report.failed
    assert "Constat sept, corrigé" in docx_text(project.out / f"{LOG}.docx")
    assert "Constat sept, corrigé" in " ".join(pdf_text(project.out / f"{LOG}.pdf").split())


def test_after_an_edit_the_large_documents_are_rendered_after_the_small_ones_the_longest_first(tmp_path, monkeypatch):
    """The longest layout (the log's) starts while the other large documents' Markdown is rendered; at the next
    edit, the document whose changed parts were the longest goes first: as the process remembers it (watch, the
    resident builder), or as the last command left it in the user cache (a new process)."""
    import pipeline.render

    root = copy_project(tmp_path / "p")
    grow_the_log(root, 12)
    texts = markdown_of_every_document(root)
    # both are large, after the edits too (a shorter title); the conformity matrix is not
    monkeypatch.setattr(pipeline.render, "LARGE", min(len(texts[LOG]), len(texts[MATRIX])) - 1000)
    assert len(texts["conformite/matrice-conformite"]) < pipeline.render.LARGE
    monkeypatch.setattr(pipeline.render, "LAST_READ", {})  # as in a new process
    project = replace(Project.at(root), cache=tmp_path / "cache")
    assert not build(project).failed
    calls = spy(monkeypatch, Renderer, "markdown")
    edit(root / "content/courses/excel-perfectionnement.yaml", "Excel perfectionnement :", "Excel avancé :")
    report = build(project)
    assert not report.failed and LOG in report.rebuilt
    rendered = [document.path for (document,) in calls]
    renderer = Renderer(project, load_catalogue(project.content, project.root))
    kept = {path: renderer._kept_size(SimpleNamespace(path=path)) for path in report.rebuilt}
    # the conformity matrix, which runs the RNQ check (rendering questionnaires again), goes last of all
    rendered = [path for path in dict.fromkeys(rendered) if path != "conformite/matrice-conformite"]
    large = [path for path in rendered if kept.get(path)]
    assert LOG in large and MATRIX in large, kept
    assert rendered[-len(large):] == large, (rendered, kept)  # after the small documents
    assert [kept[path] for path in large] == sorted((kept[path] for path in large), reverse=True)
    # what pandoc read again of each (the parts that name the course), for the next edit
    read = pipeline.render.LAST_READ
    assert set(read) == {LOG, MATRIX} and all(read.values()), read
    assert read[MATRIX] == sum(len(part) for part in set(chunks.split(markdown_of_every_document(root)[MATRIX]))
                               if "Excel avancé \\:" in part)
    # the next command, a new process, finds it in the user cache
    hint = project.cache_dir / "parts" / "last-read.json"
    assert json.loads(hint.read_text()) == read
    shorter = min(large, key=kept.__getitem__)
    hint.write_text(json.dumps({**read, shorter: max(read.values()) + 1}))  # its changed parts were the longest
    monkeypatch.setattr(pipeline.render, "LAST_READ", {})
    calls.clear()
    edit(root / "content/courses/excel-perfectionnement.yaml", "Excel avancé :", "Excel expert :")
    assert not build(project).failed
    rendered = [document.path for (document,) in calls]
    assert [path for path in dict.fromkeys(rendered) if path in large] == [shorter, *(p for p in large if p != shorter)]
    # in the same process (watch, the resident builder), what it keeps in memory: here, the other one first
    longer = next(path for path in large if path != shorter)
    pipeline.render.LAST_READ[longer] = max(pipeline.render.LAST_READ.values()) + 1
    calls.clear()
    edit(root / "content/courses/excel-perfectionnement.yaml", "Excel expert :", "Excel confirmé :")
    assert not build(project).failed
    rendered = [document.path for (document,) in calls]
    assert [path for path in dict.fromkeys(rendered) if path in large] == [longer, shorter]
    # a damaged hint is no hint: the build goes on, and leaves a good one
    hint.write_text("[not json")
    monkeypatch.setattr(pipeline.render, "LAST_READ", {})
    edit(root / "content/courses/excel-perfectionnement.yaml", "Excel confirmé :", "Excel maîtrisé :")
    assert not build(project).failed
    assert set(json.loads(hint.read_text())) == {LOG, MATRIX}
