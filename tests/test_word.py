"""The DOCX as Word and LibreOffice read it: styles, settings, sections, characters; the PDF's viewer title.

Tests that need LibreOffice (Debian: libreoffice-writer-nogui, fonts-crosextra-carlito, poppler-utils)
skip with the reason when it is absent; `.ci/run` installs it, so CI always runs them.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import zipfile
from dataclasses import replace
from pathlib import Path

import docx
import pypdf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.build import build
from pipeline.content import load_catalogue
from pipeline.errors import ContentError
from pipeline.project import Project
from tests.helpers import copy_project, docx_text, pdf_text
from tests.test_chunks import grow_the_log
from tests.test_hardening import squash
from tests.test_property import CHARACTERS

KINDS = ["programmes/excel-perfectionnement", "positionnement/excel-perfectionnement",
         "intervenants/matrice-competences", "amelioration/registre-amelioration", "conformite/matrice-conformite",
         "programmes/bilan-competences"]
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def part(path: Path, name: str) -> str:
    with zipfile.ZipFile(path) as archive:
        return archive.read(name).decode()


@pytest.mark.parametrize("stem", KINDS)
def test_french_language_named_fonts_and_current_word_mode(sample_out, stem):
    path = sample_out / f"{stem}.docx"
    styles, settings_xml = part(path, "word/styles.xml"), part(path, "word/settings.xml")
    assert "Theme=" not in styles and "theme=" not in styles  # no Aptos from the theme
    languages = set(re.findall(r'<w:lang [^>]*w:val="([^"]+)"', styles))
    assert languages == {"fr-FR"}
    heading = re.search(r'<w:style [^>]*w:styleId="Heading1".*?</w:style>', styles, re.S).group()
    assert 'w:ascii="Calibri"' in heading
    compat = re.search(r'<w:compatSetting w:name="compatibilityMode" [^>]*w:val="15"', settings_xml)
    assert compat and settings_xml.index("<w:compat>") < settings_xml.index("<w:rsids")
    assert '<w:themeFontLang w:val="fr-FR"' in settings_xml and "<dc:language>fr-FR" in part(path, "docProps/core.xml")


def test_answer_boxes_are_drawn_and_tick_boxes_are_content_controls(sample_out):
    path = sample_out / "positionnement/excel-perfectionnement.docx"
    body, styles = part(path, "word/document.xml"), part(path, "word/styles.xml")
    assert body.count('<w:tblStyle w:val="AnswerBox"') >= 4
    style = re.search(r'<w:style [^>]*w:styleId="AnswerBox".*?</w:style>', styles, re.S).group()
    for side in ("top", "left", "bottom", "right"):
        assert re.search(rf'<w:{side} [^>]*w:val="single"', style), side
    assert "<w14:checkbox>" in body  # still tick boxes in Word's current mode


def test_header_and_footer_span_the_text_width(sample_out):
    header = part(sample_out / "intervenants/matrice-competences.docx", "word/header1.xml")
    footer = part(sample_out / "intervenants/matrice-competences.docx", "word/footer1.xml")
    for xml in (header, footer):
        assert '<w:tblW w:w="5000" w:type="pct"/>' in xml and '<w:jc w:val="right"/>' in xml
    assert "NUMPAGES" in footer and "QD_" not in header + footer


def test_a_landscape_end_leaves_no_empty_section(sample_out):
    document = docx.Document(str(sample_out / "conformite/matrice-conformite.docx"))
    last = document.sections[-1]
    assert last.page_width > last.page_height  # the landscape part is the last section itself
    body = document.element.body
    assert body[-1].tag == f"{W}sectPr" and body[-2].tag == f"{W}tbl"


def test_pdf_viewers_show_the_title(sample_out):
    for path in sorted(sample_out.rglob("*.pdf")):
        reader = pypdf.PdfReader(str(path), strict=True)
        assert bool(reader.trailer["/Root"]["/ViewerPreferences"]["/DisplayDocTitle"]), path
        assert reader.metadata.title and pdf_text(path)


def test_non_breaking_spaces_are_kept(sample_out):
    reader = pypdf.PdfReader(str(sample_out / "programmes/prise-de-parole.pdf"))
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "1\u202f350\u00a0€ HT" in text and "1\u202f290\u00a0€ HT" in text
    assert "1\u202f350\u00a0€ HT" in part(sample_out / "programmes/prise-de-parole.docx", "word/document.xml")


COURSE = "content/courses/excel-perfectionnement.yaml"


@pytest.mark.parametrize("escape", ["\\0", "\\v", "\\x01", "\\e", "\\x7f", "\\x85", "\\uFFFE", "\\uE000",
                                    "\\uE000QDSPLIT\\uE000"])
def test_control_and_private_characters_are_content_errors(tmp_path, escape):
    copy_project(tmp_path)
    path = tmp_path / COURSE
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('title: "Excel', f'title: "Excel{escape}', 1), encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        load_catalogue(tmp_path / "content", tmp_path)
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.field) == (COURSE, 1, "title")
    assert "U+" in problem.message


def test_a_raw_control_character_is_located(tmp_path):
    copy_project(tmp_path)
    path = tmp_path / COURSE
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2] + "\x0b"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        load_catalogue(tmp_path / "content", tmp_path)
    [problem] = caught.value.problems
    assert (problem.file, problem.line) == (COURSE, 3) and "U+000B" in problem.message


CONTROLS = [chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0))]
SPECIAL = CONTROLS + ["\ufffe", "\uffff", "\ue000", "\uf8ff", "\U000f0000", "\t"]


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.sampled_from(CHARACTERS), st.sampled_from(SPECIAL)), min_size=1, max_size=12)
       .map("".join).filter(lambda s: s.strip()))
def test_any_string_is_an_error_or_a_document_that_holds_it(tmp_path_factory, value):
    root = copy_project(tmp_path_factory.mktemp("any"))
    path = root / COURSE
    text = path.read_text(encoding="utf-8")
    quoted = value.encode("unicode_escape").decode().replace('"', '\\"')
    path.write_text(text.replace("vat_note: TVA au taux de 20 %. Repas non compris.", f'vat_note: "{quoted}"'),
                    encoding="utf-8")
    try:
        load_catalogue(root / "content", root)
    except ContentError as e:
        assert any(c in value for c in SPECIAL[:-1])  # only the forbidden characters are refused
        assert [(p.file, p.line, p.field) for p in e.problems] == [(COURSE, 47, "vat_note")], e.problems
        return
    assert not any(c in value for c in SPECIAL[:-1])
    report = build(Project.at(root))
    assert not report.failed, report.failed
    out = root / "build/programmes/excel-perfectionnement"
    docx.Document(str(out.with_suffix(".docx")))  # opens
    assert squash(value) in squash(docx_text(out.with_suffix(".docx")))
    assert squash(value) in squash(pdf_text(out.with_suffix(".pdf")))


# LibreOffice, as users open the DOCX ------------------------------------------------------------------------

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
needs_libreoffice = pytest.mark.skipif(
    not (SOFFICE and shutil.which("pdftotext")),
    reason="LibreOffice or pdftotext absent (Debian: libreoffice-writer-nogui fonts-crosextra-carlito poppler-utils); "
           ".ci/run installs them")
MARGIN = 2 / 2.54 * 72  # 2 cm, in points
CM = 72 / 2.54


@pytest.fixture(scope="module")
def converted(sample_out, tmp_path_factory) -> dict[str, Path]:
    """Every kind of DOCX converted to PDF by LibreOffice."""
    target = tmp_path_factory.mktemp("libreoffice")
    profile = tmp_path_factory.mktemp("profile")
    result = {}
    for stem in KINDS:
        folder = target / stem.split("/")[0]
        folder.mkdir(exist_ok=True)
        subprocess.run([SOFFICE, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
                        "--outdir", str(folder), str(sample_out / f"{stem}.docx")],
                       check=True, capture_output=True, timeout=180)
        result[stem] = folder / f"{stem.split('/')[1]}.pdf"
        assert result[stem].exists(), f"LibreOffice did not convert {stem}"
    return result


def pages(pdf: Path) -> list[tuple[float, float, list[tuple[float, float, float, str]]]]:
    """Each page's width, height and words (xMin, yMin, xMax, text), from pdftotext -bbox."""
    html = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    found = []
    for page in re.finditer(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', html, re.S):
        words = [(float(a), float(b), float(c), w) for a, b, c, w in
                 re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>',
                            page.group(3))]
        found.append((float(page.group(1)), float(page.group(2)), words))
    return found


@needs_libreoffice
@pytest.mark.parametrize("stem", KINDS)
def test_libreoffice_opens_every_kind_without_blank_pages(converted, stem):
    laid_out = pages(converted[stem])
    assert laid_out, stem
    for number, (_, height, words) in enumerate(laid_out, 1):
        body = [w for w in words if 60 < w[1] < height - 60]
        assert body, f"{stem}: page {number} is blank"


@needs_libreoffice
@pytest.mark.parametrize("stem", ["programmes/excel-perfectionnement", "intervenants/matrice-competences",
                                  "conformite/matrice-conformite"])
def test_header_and_page_number_end_at_the_right_margin(converted, stem):
    orientations = set()
    for width, height, words in pages(converted[stem]):
        orientations.add("landscape" if width > height else "portrait")
        header = [w for w in words if w[1] < MARGIN]
        footer = [w for w in words if w[1] > height - MARGIN]
        for zone, name in ((header, "header"), (footer, "page number")):
            right = max(w[2] for w in zone)
            assert abs(right - (width - MARGIN)) < CM, f"{stem}: {name} ends at {right:.0f} of {width:.0f}"
        assert footer[-1][3].isdigit() and "Page" in [w[3] for w in footer]
    if stem != "programmes/excel-perfectionnement":
        assert orientations == {"portrait", "landscape"}


@needs_libreoffice
def test_conformity_columns_keep_their_words_whole(converted):
    words = [w[3] for _, _, page in pages(converted["conformite/matrice-conformite"]) for w in page]
    for word in ("Couverts", "compléter", "Pièces", "applicables", "Indicateur", "Statut", "Preuves", "Constats",
                 "ouverts", "applicable", "tenues"):
        assert word in words, word
    assert not [w for w in words if re.fullmatch(r"(applicab|applicabl|applica|Constat|ouvert)", w)]


@needs_libreoffice
def test_libreoffice_shows_the_same_text(converted, sample_out):
    text = pdf_text(converted["programmes/excel-perfectionnement"])
    for expected in ("Excel perfectionnement", "Délai d'accès", "890 € HT par personne", "Référent handicap"):
        assert expected in text


@pytest.fixture(scope="module")
def long_log(tmp_path_factory) -> tuple[Path, int]:
    """A project whose log's follow-up table has more rows than a block (50: templates/registre-amelioration)."""
    root = copy_project(tmp_path_factory.mktemp("long-log"))
    grow_the_log(root, 60)
    project = replace(Project.at(root), cache=root / "cache")
    assert not build(project).failed
    return project.out / "amelioration/registre-amelioration", len(load_catalogue(root / "content", root).improvements)


def test_a_long_table_is_written_in_landscape_blocks_with_no_page_between(long_log):
    """A long table is cut in blocks, each a landscape section of its own (an edit lays out the block that
    changed): in the DOCX, the sections follow one another with no portrait section between; each block
    repeats its header row; every entry is there once, in order; the PDF's landscape pages all show a header."""
    stem, count = long_log
    document = docx.Document(str(stem.with_suffix(".docx")))
    orientations = ["landscape" if s.page_width > s.page_height else "portrait" for s in document.sections]
    assert orientations == ["portrait", "landscape", "landscape", "portrait"]
    follow_up = [t for t in document.tables if t.rows[0].cells[0].text == "N°"]
    assert [len(t.rows) - 1 for t in follow_up] == [50, count - 50]
    assert [row.cells[0].text for t in follow_up for row in t.rows[1:]] == [str(n) for n in range(1, count + 1)]
    for table in follow_up:
        assert table.rows[0]._tr.find(f"{W}trPr/{W}tblHeader") is not None
    reader = pypdf.PdfReader(str(stem.with_suffix(".pdf")))
    turned = [" ".join(page.extract_text().split()) for page in reader.pages
              if page.mediabox.width > page.mediabox.height]
    assert len(turned) >= 2
    for text in turned:
        assert "Action décidée" in text or "Réponse apportée" in text, text[:200]
    text = " ".join(turned)
    assert all(f"Constat numéro {n}." in text for n in range(60))


@needs_libreoffice
def test_libreoffice_shows_a_long_table_in_blocks_with_no_blank_page(long_log, tmp_path):
    stem, _ = long_log
    subprocess.run([SOFFICE, f"-env:UserInstallation=file://{tmp_path / 'profile'}", "--headless", "--convert-to",
                    "pdf", "--outdir", str(tmp_path), str(stem.with_suffix(".docx"))],
                   check=True, capture_output=True, timeout=180)
    laid_out = pages(tmp_path / "registre-amelioration.pdf")
    turns = "".join("L" if width > height else "P" for width, height, _ in laid_out)
    assert re.fullmatch(r"P+L{2,}P+", turns), turns
    for number, (_, height, words) in enumerate(laid_out, 1):
        assert [w for w in words if 60 < w[1] < height - 60], f"page {number} is blank"


def test_docx_reopens_after_python_docx(sample_out):
    for path in sorted(sample_out.rglob("*.docx")):
        document = docx.Document(io.BytesIO(path.read_bytes()))
        assert document.paragraphs and docx_text(path)


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="pdftotext absent (Debian: poppler-utils; .ci/run installs)")
def test_long_unbreakable_strings_wrap_in_the_pdf(tmp_path):
    copy_project(tmp_path)
    long_reference = "REF-" + "ABCDEFGHIJ" * 13
    url = "https://www.exemple.example/" + "chemin-sans-espace/" * 6 + "index.html"
    path = tmp_path / COURSE
    text = path.read_text(encoding="utf-8").replace("reference: BUR-EXC-02", f"reference: {long_reference}")
    text = text.replace("  - Construire des formules", f"  - {url} Construire des formules")
    text = text.replace("  - label: Inter-entreprises", f"  - label: Inter-entreprises {url}")
    path.write_text(text.replace('title: "Excel perfectionnement', f'title: "{url} Excel perfectionnement'),
                    encoding="utf-8")
    assert not build(Project.at(tmp_path)).failed
    pdf = tmp_path / "build/programmes/excel-perfectionnement.pdf"
    for width, _, words in pages(pdf):
        assert max(w[2] for w in words) <= width - MARGIN + 2, "a word runs past the right margin"
    shown = squash(pdf_text(pdf))  # line breaks aside, the text is whole (the invisible breaks are ignored)
    assert shown.count(squash(url)) >= 3 and long_reference in shown
    assert url in docx_text(pdf.with_suffix(".docx"))


def test_french_typography_in_template_text_not_in_content(sample_out):
    reader = pypdf.PdfReader(str(sample_out / "programmes/excel-perfectionnement.pdf"))
    raw = " ".join(page.extract_text() for page in reader.pages)
    assert "Modalités d’accès." in raw and "Délai d’accès." in raw  # the template's words
    assert "Référent handicap\u00a0:" in raw
    assert "l'affecter à un bouton" in raw  # content stays as typed
    markdown = " ".join(p.read_text(encoding="utf-8") for p in (Path(__file__).parent / "golden").rglob("*.md"))
    assert "(s)" not in markdown  # plurals written out where the number is known
    assert " :" not in markdown.replace("\\:", "") and "\u00a0:" in markdown
    from pipeline.templating import french_typography

    assert french_typography("« Oui » ou non ?") == "«\u00a0Oui\u00a0» ou non\u202f?"


# ECMA-376 schema validity: the transitional WordprocessingML schema (wml.xsd and the files it imports, as
# python-docx's repository keeps them under ref/xsd, with a small xml.xsd for xml:space) is kept in tests/ooxml/
# (see its README); QUALIDOC_OOXML_SCHEMAS may point elsewhere.
SCHEMAS = [Path(p) for p in (os.environ.get("QUALIDOC_OOXML_SCHEMAS", ""), str(Path(__file__).parent / "ooxml")) if p]
WML = next((folder / "wml.xsd" for folder in SCHEMAS if (folder / "wml.xsd").is_file()), None)
EXTENSIONS = ("{http://schemas.microsoft.com/office/word/2010/wordml}",
              "{http://schemas.openxmlformats.org/markup-compatibility/2006}")


@pytest.mark.skipif(WML is None, reason="ECMA-376 schema files absent: set QUALIDOC_OOXML_SCHEMAS to a folder "
                                        "holding wml.xsd and its imports (python-docx's ref/xsd)")
def test_the_schema_refuses_elements_out_of_order():
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(str(WML)))
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    pair = ('<w:pPr><w:keepNext/></w:pPr>', '<w:rPr><w:b/></w:rPr>')  # a style's pPr comes before its rPr
    style = (f'<w:styles xmlns:w="{w}"><w:style w:type="paragraph" w:styleId="A"><w:name w:val="A"/>{{}}'
             '</w:style></w:styles>')
    assert schema.validate(etree.fromstring(style.format("".join(pair))))
    assert not schema.validate(etree.fromstring(style.format("".join(reversed(pair)))))


@pytest.mark.skipif(WML is None, reason="ECMA-376 schema files absent: set QUALIDOC_OOXML_SCHEMAS to a folder "
                                        "holding wml.xsd and its imports (python-docx's ref/xsd)")
def test_every_docx_part_is_valid_wordprocessingml(sample_out):
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(str(WML)))
    for path in sorted(sample_out.rglob("*.docx")):
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if not re.fullmatch(r"word/(document|styles|settings|numbering|header\d*|footer\d*|footnotes|"
                                    r"comments|fontTable|webSettings)\.xml", name):
                    continue
                tree = etree.fromstring(archive.read(name))
                for element in list(tree.iter()):  # Word's w14 extensions are read through mc:Ignorable
                    if isinstance(element.tag, str) and element.tag.startswith(EXTENSIONS):
                        element.getparent().remove(element)
                    elif isinstance(element.tag, str):
                        for attribute in [a for a in element.attrib if a.startswith(EXTENSIONS)]:
                            del element.attrib[attribute]
                assert schema.validate(tree), f"{path.name} {name}: {schema.error_log.last_error}"


@needs_libreoffice
def test_log_numbers_of_three_digits_stay_whole_in_libreoffice(tmp_path):
    """An organisation keeps hundreds of log entries: in Word and LibreOffice, « 104 » must not wrap in the
    N° column of the follow-up table (it read « 10 / 4 » when that column was 1/33 of the width)."""
    from tests.test_chunks import LOG, grow_the_log

    root = copy_project(tmp_path / "p")
    grow_the_log(root, 105)
    assert not build(Project.at(root)).failed
    profile, target = tmp_path / "profile", tmp_path / "lo"
    subprocess.run([SOFFICE, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
                    "--outdir", str(target), str(root / f"build/{LOG}.docx")],
                   check=True, capture_output=True, timeout=180)
    # the words of the N° column: on the landscape pages, those that start within 1 cm of the left margin
    numbers = {int(w[3]) for width, height, page in pages(target / "registre-amelioration.pdf") if width > height
               for w in page if w[0] < MARGIN + CM and w[3].isdigit()}
    assert set(range(95, 111)) <= numbers, sorted(numbers)[-20:]
