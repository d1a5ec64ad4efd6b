"""Regenerate templates/reference.docx, the Word styles of every DOCX (`python -m pipeline.refdoc`).

Users restyle documents by editing templates/reference.docx in Word (styles, margins, header and
footer); this script only recreates the default from pandoc's own reference document. Keep the
placeholders QD_HEADER_LEFT, QD_HEADER_RIGHT and QD_FOOTER_LEFT in the header and footer: they are
replaced by the organisation, course reference, version and document title of each document.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import docx
from docx.enum.text import WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Cm, Pt, RGBColor

from pipeline.tools import pandoc_path

BLUE = RGBColor(0x1F, 0x4E, 0x79)
GREY = RGBColor(0x59, 0x59, 0x59)
FONT = "Calibri"
TABLE_BORDERS = (
    f'<w:tblBorders {nsdecls("w")}>'
    + "".join(f'<w:{side} w:val="single" w:sz="4" w:space="0" w:color="A6A6A6"/>'
              for side in ("top", "left", "bottom", "right", "insideH", "insideV"))
    + "</w:tblBorders>"
)


def build_reference(target: Path) -> None:
    """Write an A4, French-styled reference.docx with header and footer placeholders."""
    with tempfile.TemporaryDirectory() as tmp:
        default = Path(tmp) / "default.docx"
        subprocess.run([pandoc_path(), "-o", str(default), "--print-default-data-file", "reference.docx"],
                       check=True)
        document = docx.Document(str(default))
    _page_setup(document)
    _styles(document)
    _header_footer(document.sections[0])
    document.core_properties.author = ""
    document.core_properties.title = ""
    document.save(str(target))


def _page_setup(document: docx.document.Document) -> None:
    section = document.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.left_margin = section.right_margin = Cm(2)
    section.top_margin, section.bottom_margin = Cm(2.2), Cm(2)
    section.header_distance = section.footer_distance = Cm(1)


def _styles(document: docx.document.Document) -> None:
    styles = document.styles
    for name in ("Normal", "Body Text", "First Paragraph", "Compact"):
        font = styles[name].font
        font.name, font.size = FONT, Pt(10)
    styles["Body Text"].paragraph_format.space_after = Pt(6)
    styles["Body Text"].paragraph_format.space_before = Pt(0)
    for level, size in ((1, 15), (2, 12.5), (3, 11)):
        style = styles[f"Heading {level}"]
        style.font.name, style.font.size, style.font.bold = FONT, Pt(size), True
        style.font.color.rgb = BLUE
        style.paragraph_format.space_before = Pt(14 if level == 1 else 10)
        style.paragraph_format.space_after = Pt(4)
    title = styles["Title"]
    title.font.name, title.font.size, title.font.color.rgb = FONT, Pt(20), BLUE
    _table_style(styles["Table"])


def _table_style(style) -> None:  # type: ignore[no-untyped-def]
    tbl_pr = style.element.find(qn("w:tblPr"))
    tbl_pr.append(parse_xml(TABLE_BORDERS))
    margins = tbl_pr.find(qn("w:tblCellMar"))
    for side in ("top", "bottom"):
        margins.find(qn(f"w:{side}")).set(qn("w:w"), "40")
    first_row = style.element.find(qn("w:tblStylePr"))
    first_row.append(parse_xml(f'<w:rPr {nsdecls("w")}><w:b/></w:rPr>'))
    tc_pr = first_row.find(qn("w:tcPr"))
    tc_pr.append(parse_xml(f'<w:shd {nsdecls("w")} w:val="clear" w:color="auto" w:fill="DCE6F2"/>'))
    first_row.append(parse_xml(f'<w:trPr {nsdecls("w")}><w:tblHeader/></w:trPr>'))


def _header_footer(section) -> None:  # type: ignore[no-untyped-def]
    width = section.page_width - section.left_margin - section.right_margin
    header = section.header.paragraphs[0]
    _two_sided(header, width, "QD_HEADER_LEFT", "QD_HEADER_RIGHT")
    _bottom_border(header)
    footer = section.footer.paragraphs[0]
    _two_sided(footer, width, "QD_FOOTER_LEFT", None)
    _page_x_of_y(footer)


def _two_sided(paragraph, width, left: str, right: str | None) -> None:  # type: ignore[no-untyped-def]
    paragraph.paragraph_format.tab_stops.add_tab_stop(width, WD_TAB_ALIGNMENT.RIGHT)
    _run(paragraph, left)
    _run(paragraph, "\t" + right if right else "\t")


def _run(paragraph, text: str):  # type: ignore[no-untyped-def]
    run = paragraph.add_run(text)
    run.font.name, run.font.size, run.font.color.rgb = FONT, Pt(8), GREY
    return run


def _bottom_border(paragraph) -> None:  # type: ignore[no-untyped-def]
    border = parse_xml(f'<w:pBdr {nsdecls("w")}><w:bottom w:val="single" w:sz="4" w:space="4" '
                       f'w:color="A6A6A6"/></w:pBdr>')
    paragraph._p.get_or_add_pPr().append(border)


def _page_x_of_y(paragraph) -> None:  # type: ignore[no-untyped-def]
    _run(paragraph, "Page ")
    _field(paragraph, "PAGE")
    _run(paragraph, " / ")
    _field(paragraph, "NUMPAGES")


def _field(paragraph, instruction: str) -> None:  # type: ignore[no-untyped-def]
    run = _run(paragraph, "")
    parts: list[tuple[str | None, str]] = [("begin", ""), (None, f" {instruction} "), ("separate", ""),
                                           (None, "1"), ("end", "")]
    for kind, text in parts:
        if kind:
            element = OxmlElement("w:fldChar")
            element.set(qn("w:fldCharType"), kind)
        elif text.strip() == instruction:
            element = OxmlElement("w:instrText")
            element.set(qn("xml:space"), "preserve")
            element.text = text
        else:
            element = OxmlElement("w:t")
            element.text = text
        run._r.append(element)


if __name__ == "__main__":
    build_reference(Path(sys.argv[1] if len(sys.argv) > 1 else "templates/reference.docx"))
