"""The DOCX written by the build from a document's tree (docx_writer.py) is the DOCX pandoc writes, to the byte;
what the writer does not know is left to pandoc."""

from __future__ import annotations

import io
import json
import re
import zipfile
from base64 import b64decode, b64encode

import docx
import pytest

from pipeline import docx_writer, render
from pipeline.content import load_catalogue
from pipeline.history import load_history
from pipeline.plan import plan_project
from pipeline.project import Project
from tests.helpers import edit

# Per course, something the writer leaves to pandoc, or writes itself.
EXTRAS = """
{% if course_id == "rgpd-essentiel" %}
## Ancre {% raw %}{#ancre-rgpd}{% endraw %}
{% elif course_id == "excel-perfectionnement" %}
Un texte en japonais : 日本語のテキスト, et un trait d'union con\u00additionnel.
{% elif course_id == "management-proximite" %}
1. premier
2. second

3) autre liste

- une liste

  en deux paragraphes
{% else %}
1. premier
2. second

*Un paragraphe en italique* et **un en gras**.

::: {.table widths="1,2"}
| Case | Vide |
|---|---|
| pleine | |
:::

Après un tableau dont la dernière case est vide.
{% endif %}
"""

# A 64×20 JPEG (pdftoppm of a programme's header), as an organisation's logo may be.
JPEG_LOGO = b64decode(
    "/9j/4AAQSkZJRgABAQEAKAAoAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERXRTc4UG1RV19i"
    "Z2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2Nj"
    "Y2NjY2NjY2P/wAARCAAUAEADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUF"
    "BAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVW"
    "V1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi"
    "4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAEC"
    "AxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVm"
    "Z2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq"
    "8vP09fb3+Pn6/9oADAMBAAIRAxEAPwD0Cq87FZch5F+XosbMP0qxRQBR3y/8/EuMf8+x/wAKUySc4nl5HH+jtx+lXaKAKjSEklZJ"
    "Vz/0wY/0pu9yV3TSkAgkC3YZ/SrtFAFBixGBNOP+2L+uf/rVKJR5OwtMW243CF/z6VaooAK5XxlqV3aNbwW0zRK6lmKHDH8aKKun"
    "8SIn8Jy/9raj/wBBC6/7/N/jQNW1IH/kIXX/AH+b/GiiuqyOa7O+8OXk19o0M1w26TJUtjrg4rUoorjluzrWwUUUUhn/2Q=="
)


def rendered(project: Project, python: bool, monkeypatch: pytest.MonkeyPatch, calls: list | None = None
             ) -> dict[str, bytes]:
    monkeypatch.setattr(render, "PYTHON_DOCX", python)
    catalogue = load_catalogue(project.content, project.root)
    documents = plan_project(project, catalogue, load_history(project.content))
    renderer = render.Renderer(project, catalogue, reuse=False)
    if calls is not None:
        real = renderer._docx_from_tree
        renderer._docx_from_tree = lambda index, *args: (calls.append(documents[index].path), real(index, *args))[1]
    outcomes = list(renderer.render(documents))
    failed = [o for o in outcomes if isinstance(o, render.Failed)]
    assert not failed, failed
    return {o.document.path: o.docx for o in outcomes if isinstance(o, render.Rendered)}


def test_the_sample_documents_are_pandocs_to_the_byte(project, monkeypatch):
    written: list[str] = []
    ours = rendered(project, True, monkeypatch, written)
    pandocs = rendered(project, False, monkeypatch)
    assert ours == pandocs
    # every document of the sample (none is large enough to be written in parts) was written from its tree
    assert sorted(written) == sorted(ours)
    assert len(ours) == 2 * len(list((project.content / "courses").glob("*.yaml"))) + 3
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(ours["programmes/rgpd-essentiel"])).paragraphs)
    assert "Objectifs" in text and "RGPD" in text


def test_what_the_writer_does_not_know_is_written_by_pandoc(project, monkeypatch):
    template = project.root / "templates/programme.md.j2"
    template.write_text(template.read_text(encoding="utf-8") + EXTRAS, encoding="utf-8")
    written: list[str] = []
    ours = rendered(project, True, monkeypatch, written)
    assert ours == rendered(project, False, monkeypatch)
    # the Japanese text and the soft hyphen never reach the writer (convert.lua); a heading with an anchor
    # and a list in two paragraphs do, and are left to pandoc
    assert "programmes/excel-perfectionnement" not in written
    assert {"programmes/rgpd-essentiel", "programmes/management-proximite",
            "programmes/accueil-handicap"} <= set(written)
    body = zipfile.ZipFile(io.BytesIO(ours["programmes/rgpd-essentiel"])).read("word/document.xml").decode()
    assert 'w:name="ancre-rgpd"' in body
    body = zipfile.ZipFile(io.BytesIO(ours["programmes/excel-perfectionnement"])).read("word/document.xml").decode()
    assert "日本語" in body and "<w:softHyphen />" in body


def test_an_answer_box_has_the_lines_the_question_asks_for(project, monkeypatch):
    """Pandoc leaves empty paragraphs out: an answer box was one line high in Word and LibreOffice, whatever
    the template asked; it now holds as many blank lines (as the PDF's box is as high)."""
    ours = rendered(project, True, monkeypatch)
    path = "positionnement/excel-perfectionnement"
    catalogue = load_catalogue(project.content, project.root)
    document = next(d for d in plan_project(project, catalogue, load_history(project.content)) if d.path == path)
    text = render.Renderer(project, catalogue).markdown(document)
    asked = [int(n) for n in re.findall(r'\{\.answer lines="(\d+)"\}', text)]
    boxes = [t for t in docx.Document(io.BytesIO(ours[path])).tables if t.style.name == "AnswerBox"]
    assert len(asked) >= 3 and [len(box.cell(0, 0).paragraphs) for box in boxes] == asked
    assert all(p.text == "\u00a0" for box in boxes for p in box.cell(0, 0).paragraphs)


def test_the_writer_leaves_to_pandoc_what_it_does_not_write():
    def doc(*blocks):
        return {"blocks": list(blocks)}

    para = {"t": "Para", "c": [{"t": "Str", "c": "Texte"}]}
    frame = None  # not reached: each of these stops the writer first
    unwritten = [
        doc({"t": "Header", "c": [2, ["ancre", [], []], [{"t": "Str", "c": "Titre"}]]}),
        doc({"t": "CodeBlock", "c": [["", [], []], "code"]}),
        doc({"t": "BulletList", "c": [[para, para]]}),
        doc({"t": "OrderedList", "c": [[3, {"t": "Decimal"}, {"t": "Period"}], [[{"t": "Plain", "c": []}]]]}),
        doc({"t": "Para", "c": [{"t": "Link", "c": [["", [], []], [], ["https://example.org", ""]]}]}),
        doc({"t": "Para", "c": [{"t": "Str", "c": "漢字"}]}),
        doc({"t": "Para", "c": [{"t": "Str", "c": "con\u00additionnel"}]}),
        doc({"t": "Div", "c": [["", [], [["custom-style", "Citation"]]], [para]]}),
        doc({"t": "Para", "c": [{"t": "Image", "c": [["", [], [["height", "15mm"]]], [], ["autre.png", ""]]}]}),
    ]
    for tree in unwritten:
        assert docx_writer.write(tree, frame, None) is None, tree  # type: ignore[arg-type]


def frame_of(project: Project, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, dict]:
    rendered(project, True, monkeypatch)
    [kept] = (project.cache_dir / "docx-frames").glob("*.json")
    return json.loads(kept.read_bytes()), kept


def test_a_frame_the_writer_does_not_reproduce_leaves_every_docx_to_pandoc(project, monkeypatch):
    kept, path = frame_of(project, monkeypatch)
    parts = {name: b64decode(data) for name, data in kept["parts"].items()}
    logo = ("logo.png", parts["word/media/rId1002.png"])
    assert docx_writer.checked_frame(parts, kept["tree"], logo) is not None
    # another pandoc that writes tables otherwise: the writer must not be used
    document = parts["word/document.xml"].decode().replace('<w:tblHeader w:val="on" />', '<w:tblHeader />')
    assert docx_writer.checked_frame({**parts, "word/document.xml": document.encode()}, kept["tree"], logo) is None
    kept["parts"]["word/document.xml"] = b64encode(document.encode()).decode()
    path.write_text(json.dumps(kept))
    written: list[str] = []
    ours = rendered(project, True, monkeypatch, written)
    assert written == []  # no document went to the writer
    assert ours == rendered(project, False, monkeypatch)


def test_a_logo_other_than_png_leaves_every_docx_to_pandoc(project, monkeypatch):
    svg = project.content / "assets/logo.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="50">'
                   '<rect width="200" height="50" fill="#036"/></svg>', encoding="utf-8")
    edit(project.content / "organisation.yaml", "logo: content/assets/logo-formavenir.png",
         "logo: content/assets/logo.svg")
    written: list[str] = []
    ours = rendered(project, True, monkeypatch, written)
    assert written == []
    assert ours == rendered(project, False, monkeypatch)
    names = zipfile.ZipFile(io.BytesIO(ours["programmes/rgpd-essentiel"])).namelist()
    assert any(name.startswith("word/media/") and name.endswith(".svg") for name in names)


def test_a_jpeg_logo_is_written_as_pandoc_writes_it(project, monkeypatch):
    (project.content / "assets/logo.jpg").write_bytes(JPEG_LOGO)
    edit(project.content / "organisation.yaml", "logo: content/assets/logo-formavenir.png",
         "logo: content/assets/logo.jpg")
    written: list[str] = []
    ours = rendered(project, True, monkeypatch, written)
    assert sorted(written) == sorted(ours)
    assert ours == rendered(project, False, monkeypatch)
    archive = zipfile.ZipFile(io.BytesIO(ours["programmes/rgpd-essentiel"]))
    [media] = [name for name in archive.namelist() if name.startswith("word/media/")]
    assert archive.read(media) == JPEG_LOGO and media.endswith(".jpg")
    assert 'ContentType="image/jpeg"' in archive.read("[Content_Types].xml").decode()


def test_the_writer_gives_the_parts_docx_split_gives(project, monkeypatch):
    """A written DOCX opens as pandoc's does: its lists numbered on their own, its logo related."""
    ours = rendered(project, True, monkeypatch)
    archive = zipfile.ZipFile(io.BytesIO(ours["programmes/accueil-handicap"]))
    body = archive.read("word/document.xml").decode()
    numbering = archive.read("word/numbering.xml").decode()
    assert body.count("<w:numPr>") > 5
    for num in set(re.findall(r'<w:numId w:val="(\d+)"', body)):
        assert f'<w:num w:numId="{num}">' in numbering
    assert 'r:embed="rId1002"' in body and "media/rId1002.png" in archive.read("word/_rels/document.xml.rels").decode()


LOG = "amelioration/registre-amelioration"


@pytest.mark.parametrize("extra", ["", "japanese", "anchor"])
def test_a_large_document_in_parts_is_pandocs_to_the_byte(project, monkeypatch, extra):
    """The log in parts (chunks.py): its parts written here from their trees, joined (docx_parts.py); with
    Japanese text, pandoc writes them (convert.lua); with a heading the writer leaves to pandoc, a pandoc of
    its own writes the parts."""
    from tests.test_chunks import grow_the_log

    grow_the_log(project.root, 40)
    if extra == "japanese":
        edit_first_entry = next((project.content / "improvements").glob("copie-000.yaml"))
        edit_first_entry.write_text(edit_first_entry.read_text(encoding="utf-8").replace(
            "Constat numéro 0.", "Constat numéro 0, 日本語."), encoding="utf-8")
    elif extra == "anchor":
        template = project.root / "templates/registre-amelioration.md.j2"
        template.write_text(template.read_text(encoding="utf-8").replace(
            "## Synthèse", "## Synthèse {% raw %}{#synthese}{% endraw %}"), encoding="utf-8")
    written: list[str] = []
    real = render.Renderer._docx_parts_from_tree
    monkeypatch.setattr(render.Renderer, "_docx_parts_from_tree",
                        lambda self, *args: (written.append(args[1]), real(self, *args))[1])
    ours = rendered(project, True, monkeypatch)
    assert bool(written) == (extra != "japanese")
    assert ours == rendered(project, False, monkeypatch)
    body = zipfile.ZipFile(io.BytesIO(ours[LOG])).read("word/document.xml").decode()
    assert "Constat numéro 39" in body
    assert ("日本語" in body) == (extra == "japanese") and ('w:name="synthese"' in body) == (extra == "anchor")


@pytest.mark.parametrize("anchor", [False, True])
def test_after_an_edit_the_parts_read_again_are_written_here_to_the_same_bytes(tmp_path, monkeypatch, anchor):
    """An entry of a large log edited: the parts read again have their DOCX content written here (the part
    event says so), joined with the kept ones; the same bytes as pandoc's. A part the writer leaves to pandoc
    (a heading with an anchor) has the whole log written by a pandoc of its own."""
    from dataclasses import replace as with_cache

    from pipeline.build import build
    from tests.helpers import copy_project
    from tests.test_chunks import grow_the_log, spy

    docx_of = {}
    for python in (True, False):
        monkeypatch.setattr(render, "PYTHON_DOCX", python)
        root = copy_project(tmp_path / f"p{python}")
        grow_the_log(root, 40)
        if anchor:
            template = root / "templates/registre-amelioration.md.j2"
            template.write_text(template.read_text(encoding="utf-8").replace(
                "### N° {{ loop.index }}", "### N° {{ loop.index }} {% raw %}{#fiche}{% endraw %}"), encoding="utf-8")
        project = with_cache(Project.at(root), cache=tmp_path / f"cache{python}")
        assert not build(project).failed
        parts, by_pandoc = spy(monkeypatch, render.Renderer, "_part_docx"), \
            spy(monkeypatch, render.Renderer, "_docx_parts_by_pandoc")
        edit(root / "content/improvements/copie-007.yaml", "Constat numéro 7.", "Constat sept, corrigé.")
        report = build(project)
        assert LOG in report.rebuilt and not report.failed
        assert len(parts) == (2 if python else 0), parts
        assert len(by_pandoc) == (1 if python and anchor else 0)
        docx_of[python] = (project.out / f"{LOG}.docx").read_bytes()
        monkeypatch.undo()
    assert docx_of[True] == docx_of[False]
    assert "Constat sept, corrigé" in zipfile.ZipFile(io.BytesIO(docx_of[True])).read("word/document.xml").decode()
