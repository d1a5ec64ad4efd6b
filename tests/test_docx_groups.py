"""Documents written by pandoc in groups and split: each DOCX is the same as if written alone, and holds
nothing of the other documents of its group."""

from __future__ import annotations

import io
import re
import zipfile

import docx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import render
from pipeline.content import load_catalogue
from pipeline.docx_split import COUNTED, counted, counted_sub, split_docx
from pipeline.history import load_history
from pipeline.plan import plan_project
from pipeline.project import Project

# Per course, something that numbers parts of the DOCX with pandoc's counters or adds shared parts.
EXTRAS = """
Marqueur propre à ce programme : jeton-{{ course_id }}.

{% if course_id == "rgpd-essentiel" %}
Plus d'informations sur [le site de la CNIL](https://www.cnil.fr) et `code`.

## Ancre {% raw %}{#ancre-rgpd}{% endraw %}

![]({{ "logo.png" }}){height=10mm}

::: {custom-style="Citation propre"}
Un paragraphe au style propre.
:::
{% elif course_id in ("excel-perfectionnement", "accueil-handicap") %}
[Commentaire propre à {{ course.title }}]{.comment-start id="1" author="Qualité"}Texte commenté[]{.comment-end id="1"}
{% else %}
1. premier
2. second

3) autre liste
{% endif %}
"""


def rendered(project: Project, group: int, jobs: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    monkeypatch.setattr(render, "DOCX_GROUP", group)
    catalogue = load_catalogue(project.content, project.root)
    documents = plan_project(project, catalogue, load_history(project.content))
    outcomes = list(render.Renderer(project, catalogue, jobs).render(documents))
    failed = [o for o in outcomes if isinstance(o, render.Failed)]
    assert not failed, failed
    return {o.document.path: o.docx for o in outcomes if isinstance(o, render.Rendered)}


@pytest.fixture
def project(project: Project) -> Project:
    tmp_path = project.root
    template = tmp_path / "templates/programme.md.j2"
    template.write_text(template.read_text(encoding="utf-8") + EXTRAS, encoding="utf-8")
    style = tmp_path / "templates/style.typ"  # a custom style needs its typst function for the PDF
    style.write_text(style.read_text(encoding="utf-8") + "\n#let style-Citationpropre(body) = emph(body)\n",
                     encoding="utf-8")
    return project


def test_grouped_documents_are_the_documents_written_alone(project, monkeypatch):
    alone = rendered(project, 1, 1, monkeypatch)
    for group, jobs in ((20, 1), (3, 2), (50, 2)):
        assert rendered(project, group, jobs, monkeypatch) == alone


def test_a_grouped_document_holds_only_its_own_parts(project, monkeypatch):
    documents = rendered(project, 20, 1, monkeypatch)
    programmes = {path for path in documents if path.startswith("programmes/")}
    assert len(programmes) == len(list((project.content / "courses").glob("*.yaml")))
    for path, data in documents.items():
        archive = zipfile.ZipFile(io.BytesIO(data))
        everything = " ".join(archive.read(n).decode() for n in archive.namelist() if n.endswith((".xml", ".rels")))
        tokens = set(re.findall(r"jeton-[a-z0-9-]+", everything))
        assert tokens == ({f"jeton-{path.split('/')[1]}"} if path in programmes else set()), path
        assert docx.Document(io.BytesIO(data)).paragraphs  # opens
        media = [n for n in archive.namelist() if n.startswith("word/media/")]
        relations = archive.read("word/_rels/document.xml.rels").decode()
        assert len(media) == relations.count("relationships/image")
        body = archive.read("word/document.xml").decode()
        for rid in re.findall(r'r:(?:embed|id)="(rId\d+)"', body):
            assert f'Id="{rid}"' in relations
        numbering = archive.read("word/numbering.xml").decode()
        for num in set(re.findall(r'<w:numId w:val="(\d+)"', body)) - {"0"}:
            assert f'<w:num w:numId="{num}">' in numbering
        if path == "programmes/rgpd-essentiel":
            assert "https://www.cnil.fr" in relations and len(media) == 1 and body.count("<wp:docPr ") == 2
            assert "ancre-rgpd" in body and "Citationpropre" in archive.read("word/styles.xml").decode()
        else:
            assert "hyperlink" not in relations and "Citationpropre" not in archive.read("word/styles.xml").decode()
        if path == "programmes/excel-perfectionnement":
            comments = re.sub(r"<[^>]+>", "", archive.read("word/comments.xml").decode())
            assert "Commentaire propre à Excel" in comments


def test_a_group_that_does_not_split_as_announced_is_refused(project, monkeypatch):
    documents = rendered(project, 1, 1, monkeypatch)
    with pytest.raises(ValueError, match="expected 2 documents"):
        split_docx(documents["programmes/rgpd-essentiel"], 2)


PIECES = ['r:embed="rId', 'r:id="rId', 'r:link="rId', "<wp:docPr ", "<pic:cNvPr ", '<w:bookmarkStart w:id="',
          '<w:bookmarkEnd w:id="', "12", '7"', '"', " id=\"", "\\bid=", ">", "<w:p>", "x", " ", "rId", "<wp:docPr"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40))
def test_the_counted_numbers_are_found_where_the_scan_finds_them(pieces):
    """docx_split.counted looks for COUNTED only where one of its starts is: the same matches as a scan of
    every character, and the same text renumbered."""
    text = "".join(pieces)
    found = [(m.start(), m.end(), m.groups()) for m in counted(text)]
    assert found == [(m.start(), m.end(), m.groups()) for m in COUNTED.finditer(text)]
    assert counted_sub(lambda m: f"{m.group(1)}#{m.group(2)}\"", text) == COUNTED.sub(
        lambda m: f"{m.group(1)}#{m.group(2)}\"", text)
