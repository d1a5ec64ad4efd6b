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
from docx.oxml import parse_xml
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


# Children of the elements written here, in the order the WordprocessingML schema (ECMA-376) requires.
ORDER = {
    "tblPr": ["tblStyle", "tblpPr", "tblOverlap", "bidiVisual", "tblStyleRowBandSize", "tblStyleColBandSize",
              "tblW", "jc", "tblCellSpacing", "tblInd", "tblBorders", "shd", "tblLayout", "tblCellMar", "tblLook"],
    "tblStylePr": ["pPr", "rPr", "tblPr", "trPr", "tcPr"],
    "tcPr": ["cnfStyle", "tcW", "gridSpan", "hMerge", "vMerge", "tcBorders", "shd", "noWrap", "tcMar",
             "textDirection", "tcFitText", "vAlign", "hideMark"],
    "style": ["name", "aliases", "basedOn", "next", "link", "autoRedefine", "hidden", "uiPriority", "semiHidden",
              "unhideWhenUsed", "qFormat", "locked", "personal", "personalCompose", "personalReply", "rsid", "pPr",
              "rPr", "tblPr", "trPr", "tcPr", "tblStylePr"],
}
BORDER = '<w:{side} w:val="single" w:sz="4" w:space="0" w:color="A6A6A6"/>'
ANSWER_BOX = (
    f'<w:style {nsdecls("w")} w:type="table" w:customStyle="1" w:styleId="AnswerBox"><w:name w:val="AnswerBox"/>'
    '<w:basedOn w:val="TableNormal"/><w:uiPriority w:val="99"/><w:pPr><w:spacing w:before="0" w:after="0"/></w:pPr>'
    '<w:tblPr><w:tblW w:w="5000" w:type="pct"/><w:tblBorders>'
    + "".join(BORDER.format(side=side) for side in ("top", "left", "bottom", "right"))
    + '</w:tblBorders><w:tblCellMar><w:top w:w="60" w:type="dxa"/><w:left w:w="108" w:type="dxa"/>'
    '<w:bottom w:w="60" w:type="dxa"/><w:right w:w="108" w:type="dxa"/></w:tblCellMar></w:tblPr></w:style>'
)
RUN_PROPERTIES = f'<w:rPr><w:rFonts w:ascii="{FONT}" w:hAnsi="{FONT}" w:cs="{FONT}"/><w:color w:val="595959"/>' \
                 '<w:sz w:val="16"/><w:szCs w:val="16"/></w:rPr>'


def _in_order(parent, child) -> None:  # type: ignore[no-untyped-def]
    """Insert an element among its siblings where the schema wants it."""
    order = ORDER[parent.tag.split("}")[1]]
    name = child.tag.split("}")[1]
    later = order[order.index(name) + 1:]
    for sibling in parent:
        if sibling.tag.split("}")[1] in later:
            sibling.addprevious(child)
            return
    parent.append(child)


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
    _french_and_explicit_fonts(document)
    document.core_properties.author = ""
    document.core_properties.title = ""
    document.save(str(target))


def _page_setup(document: docx.document.Document) -> None:
    section = document.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.left_margin = section.right_margin = Cm(2)
    section.top_margin, section.bottom_margin = Cm(2.2), Cm(2)
    section.header_distance = section.footer_distance = Cm(1)
    section.gutter = Cm(0)  # w:gutter is a required attribute of w:pgMar


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
    _in_order(tbl_pr, parse_xml(TABLE_BORDERS))
    margins = tbl_pr.find(qn("w:tblCellMar"))
    for side in ("top", "bottom"):
        margins.find(qn(f"w:{side}")).set(qn("w:w"), "40")
    first_row = style.element.find(qn("w:tblStylePr"))
    _in_order(first_row, parse_xml(f'<w:rPr {nsdecls("w")}><w:b/></w:rPr>'))
    tc_pr = first_row.find(qn("w:tcPr"))
    _in_order(tc_pr, parse_xml(f'<w:shd {nsdecls("w")} w:val="clear" w:color="auto" w:fill="DCE6F2"/>'))
    _in_order(first_row, parse_xml(f'<w:trPr {nsdecls("w")}><w:tblHeader/></w:trPr>'))
    style.element.getparent().append(parse_xml(ANSWER_BOX))  # the questionnaires' answer boxes


def _french_and_explicit_fonts(document: docx.document.Document) -> None:
    """French as the language of every style; fonts named, not taken from the theme (Aptos, absent in LibreOffice)."""
    styles = document.styles.element
    for fonts in styles.iter(qn("w:rFonts")):
        for name in list(fonts.attrib):
            if name.lower().endswith("theme"):
                del fonts.attrib[name]
        for name in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
            fonts.set(qn(name), FONT)
    for language in styles.iter(qn("w:lang")):
        language.set(qn("w:val"), "fr-FR")


def _header_footer(section) -> None:  # type: ignore[no-untyped-def]
    """Header and footer as full-width tables: the right part ends at the right margin in portrait and landscape."""
    _two_sided(section.header, "QD_HEADER_LEFT", "QD_HEADER_RIGHT", (50, 50), border=True)
    _two_sided(section.footer, "QD_FOOTER_LEFT", None, (78, 22), border=False)


def _two_sided(part, left: str, right: str | None, widths: tuple[int, int], border: bool) -> None:  # type: ignore[no-untyped-def]
    """Write a two-cell table spanning the text width: text on the left, right-aligned text or page numbers."""
    cells = []
    for index, (text, width) in enumerate(zip((left, right), widths)):
        jc = '<w:jc w:val="right"/>' if index else ""
        runs = _text_run(text) if text else _page_x_of_y()
        cells.append(f'<w:tc><w:tcPr><w:tcW w:w="{width * 50}" w:type="pct"/></w:tcPr><w:p><w:pPr>'
                     f'<w:spacing w:before="0" w:after="40"/>{jc}</w:pPr>{runs}</w:p></w:tc>')
    borders = f'<w:tblBorders>{BORDER.format(side="bottom")}</w:tblBorders>' if border else ""
    grid = "".join(f'<w:gridCol w:w="{round(9638 * w / 100)}"/>' for w in widths)
    table = (f'<w:tbl {nsdecls("w")}><w:tblPr><w:tblW w:w="5000" w:type="pct"/>{borders}'
             '<w:tblCellMar><w:left w:w="0" w:type="dxa"/><w:right w:w="0" w:type="dxa"/></w:tblCellMar>'
             '<w:tblLook w:val="0000" w:firstRow="0" w:lastRow="0" w:firstColumn="0" w:lastColumn="0" w:noHBand="0" '
             f'w:noVBand="0"/></w:tblPr><w:tblGrid>{grid}</w:tblGrid><w:tr>{"".join(cells)}</w:tr></w:tbl>')
    container = part._element
    for child in list(container):
        container.remove(child)
    container.append(parse_xml(table))
    # A header or footer ends with a paragraph; this one takes no room.
    container.append(parse_xml(f'<w:p {nsdecls("w")}><w:pPr><w:spacing w:before="0" w:after="0" w:line="20" '
                               'w:lineRule="exact"/><w:rPr><w:sz w:val="2"/></w:rPr></w:pPr></w:p>'))


def _text_run(text: str) -> str:
    return f'<w:r>{RUN_PROPERTIES}<w:t xml:space="preserve">{text}</w:t></w:r>'


def _page_x_of_y() -> str:
    """« Page X / Y », each part of each field in a run of the same size (LibreOffice sizes fields by their runs)."""
    def field(instruction: str) -> str:
        return (f'<w:r>{RUN_PROPERTIES}<w:fldChar w:fldCharType="begin"/></w:r>'
                f'<w:r>{RUN_PROPERTIES}<w:instrText xml:space="preserve"> {instruction} </w:instrText></w:r>'
                f'<w:r>{RUN_PROPERTIES}<w:fldChar w:fldCharType="separate"/></w:r>'
                f'<w:r>{RUN_PROPERTIES}<w:t>1</w:t></w:r>'
                f'<w:r>{RUN_PROPERTIES}<w:fldChar w:fldCharType="end"/></w:r>')
    return _text_run("Page ") + field("PAGE") + _text_run(" / ") + field("NUMPAGES")


if __name__ == "__main__":
    build_reference(Path(sys.argv[1] if len(sys.argv) > 1 else "templates/reference.docx"))
