"""A large document's DOCX joined from its parts (docx_parts.py): the same document as written whole, and the
same bytes whether a part was written with the others (a full build) or alone (after an edit)."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import docx
import pytest

from pipeline.docx_parts import join, part_fragments, split_parts
from pipeline.docx_split import split_docx
from pipeline.tools import pandoc_path

ROOT = Path(__file__).resolve().parent.parent
MARKER = "# \ue000QDSPLIT\ue000\n\n"
PARTS = [
    "![Logo](logo.png){height=15mm}\n\nIntroduction, sans titre.\n",
    "## Compétences\n\n- tableur\n- traitement de texte\n  - publipostage\n\nVoir [le site](https://example.org/a).\n",
    "## Parcours\n\n1. positionnement\n2. formation\n\n- une autre liste\n\nEt [encore](https://example.org/b).\n",
    "## Fin\n\n3. reprise\n4. suite\n",
]


def write(tmp_path: Path, name: str, markdown: str) -> bytes:
    (tmp_path / f"{name}.md").write_text(markdown, encoding="utf-8")
    subprocess.run([pandoc_path(), "-f", "commonmark+pipe_tables+fenced_divs+bracketed_spans+attributes-raw_html",
                    "-t", "docx", "--reference-doc", str(ROOT / "templates/reference.docx"), f"{name}.md",
                    "-o", f"{name}.docx"], cwd=tmp_path, check=True, env={"SOURCE_DATE_EPOCH": "0"})
    return (tmp_path / f"{name}.docx").read_bytes()


def zipped(parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_parts_join_to_the_whole_document_and_the_same_bytes_written_alone_or_together(tmp_path):
    copy_logo(tmp_path)
    together = write(tmp_path, "together", "".join(f"{part}\n{MARKER}" for part in PARTS))
    whole = split_docx(write(tmp_path, "whole", "\n".join(PARTS) + "\n" + MARKER), 1)[0]
    frame, fragments = split_parts(together, len(PARTS))
    joined = join(frame, fragments)
    assert joined == whole  # lists, links and images numbered as one document, in the same order
    alone = [part_fragments(write(tmp_path, f"alone{n}", part + "\n" + MARKER), 1)[0] for n, part in enumerate(PARTS)]
    assert join(frame, alone) == joined
    # after an edit, the parts that changed are written together: each the same as alone
    changed = [0, 2, 3]  # an image, links, lists
    some = part_fragments(write(tmp_path, "some", "".join(f"{PARTS[n]}\n{MARKER}" for n in changed)), len(changed))
    assert some == [alone[n] for n in changed] == [fragments[n] for n in changed]
    # and Word's reading of it: every list, link and image is there
    document = docx.Document(io.BytesIO(zipped(joined)))
    texts = [p.text for p in document.paragraphs]
    assert "publipostage" in texts and "reprise" in texts
    links = [r.target_ref for r in document.part.rels.values() if r.reltype.endswith("/hyperlink")]
    assert sorted(links) == ["https://example.org/a", "https://example.org/b"]
    assert len(document.inline_shapes) == 1


def copy_logo(tmp_path: Path) -> None:
    shutil.copyfile(next(ROOT.glob("content/**/*.png")), tmp_path / "logo.png")


def test_a_link_or_an_image_repeated_in_two_parts_has_a_relationship_in_each(tmp_path):
    """Pandoc gives one relationship to a link or an image repeated in a document; joined, each part keeps
    its own: another number, the same target (the document differs from the whole one, and is as valid)."""
    copy_logo(tmp_path)
    parts = ["## Un\n\n![Logo](logo.png)\n\n[site](https://example.org/)\n",
             "## Deux\n\n![Logo](logo.png)\n\n[site](https://example.org/)\n"]
    frame, fragments = split_parts(write(tmp_path, "together", "".join(f"{p}\n{MARKER}" for p in parts)), 2)
    document = docx.Document(io.BytesIO(zipped(join(frame, fragments))))
    links = [r.target_ref for r in document.part.rels.values() if r.reltype.endswith("/hyperlink")]
    assert links == ["https://example.org/", "https://example.org/"]
    assert [p.text for p in document.paragraphs][-1] == "site"
    assert len(document.inline_shapes) == 2
    assert len({r.target_ref for r in document.part.rels.values() if r.reltype.endswith("/image")}) == 2


def test_a_joined_docx_is_valid_wordprocessingml_and_opens_in_libreoffice(tmp_path):
    from tests.test_word import EXTENSIONS, SOFFICE, WML

    copy_logo(tmp_path)
    frame, fragments = split_parts(write(tmp_path, "together", "".join(f"{p}\n{MARKER}" for p in PARTS)), len(PARTS))
    joined = join(frame, fragments)
    if WML is not None:
        from lxml import etree

        schema = etree.XMLSchema(etree.parse(str(WML)))
        for name in ("word/document.xml", "word/numbering.xml"):
            tree = etree.fromstring(joined[name])
            for element in [e for e in tree.iter() if isinstance(e.tag, str) and e.tag.startswith(EXTENSIONS)]:
                element.getparent().remove(element)
            assert schema.validate(tree), f"{name}: {schema.error_log.last_error}"
    if SOFFICE is None or not shutil.which("pdftotext"):
        pytest.skip("LibreOffice or pdftotext absent (Debian: libreoffice-writer-nogui poppler-utils); .ci/run "
                    "installs them")
    (tmp_path / "joined.docx").write_bytes(zipped(joined))
    subprocess.run([SOFFICE, f"-env:UserInstallation=file://{tmp_path / 'profile'}", "--headless", "--convert-to",
                    "pdf", "--outdir", str(tmp_path), str(tmp_path / "joined.docx")], check=True, capture_output=True,
                   timeout=180)
    text = subprocess.run(["pdftotext", str(tmp_path / "joined.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    for words in ("Introduction, sans titre.", "publipostage", "positionnement", "une autre liste", "reprise"):
        assert words in text, words
