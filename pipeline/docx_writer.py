"""The DOCX of a small document written here from the tree pandoc has read, not by pandoc's DOCX writer.

Pandoc's DOCX writer was half of pandoc's time in a full build (2.1 s of CPU at 100 courses, then 0.5 s to
split its group files): the programme sheets and questionnaires use a handful of elements (paragraphs,
headings, tight lists, tables, bold and italic, tick boxes, the logo), written here as pandoc writes them,
to the byte: the frame they share (styles, settings, header, footer, numbering definitions) is taken from
a DOCX pandoc writes once per reference document (`frame_markdown`). A document holding anything else
(a link, a note, a nested list, a heading with an identifier…) is not written here: `write` returns None
and pandoc writes it, as before. tests/test_docx_writer.py compares both writers, document by document.

The element rules below were found by comparing pandoc's output for the sample and a generated catalogue;
pandoc's code was not read for them.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.docx_split import ABSTRACT_REF, DOCUMENT, FIRST_ID, NUMBERING, RELS, TYPES, _Lists
from pipeline.project import pixel_size

BETWEEN_BLOCKS = "\n    "  # how pandoc writes the blocks of a body
# What convert.lua's filter makes of some blocks (its `docx_filter`): the same raw WordprocessingML.
PAGE_BREAK = '<w:p><w:r><w:br w:type="page"/></w:r></w:p>'
SECTION_END = '<w:p><w:pPr><w:sectPr w:rsidR="QD{kind}"/></w:pPr></w:p>'
INCH_PER_MM, EMU_PER_INCH = 0.0393700787, 914400  # (an image's size as pandoc rounds it)
MAX_WIDTH = 127 * 36000
MEDIA_TYPES = {".png": "image/png", ".jpg": "image/jpeg"}  # a logo's, by the suffix image_suffix gives it
IMAGE_RELATION = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/image"
# The frame: a document pandoc writes once per reference DOCX (and logo) with every element written here;
# its bullet list, then its numbered list, give the numbering definitions. Unless this module writes the
# same bytes for it, every document is left to pandoc (another pandoc, another reference DOCX).
FRAME_MARKDOWN = """{logo}# Titre

Un paragraphe, **gras** et *italique* ; un autre.

- un
- deux

1. trois

Texte [\ue000QDCHECKBOX\ue000]{{.checkbox}} coché.

::: {{.table widths="1,3"}}
| A | B |
|---|---|
| x | **y** |
:::

::: {{.answer lines="2"}}
:::

::::: signature
::: {{.table widths="1,1"}}
| C | D |
|---|---|
| z | w |
:::
:::::

::: pagebreak
:::

Fin.
"""
# Text pandoc writes its own way (runs of their own for CJK scripts, w:softHyphen…), or control characters.
WRITTEN_OTHERWISE = re.compile("[^\x20-\x7e\xa0-\u2e7f\ue000-\uf8ff]|\u00ad")
MEDIA_ENTRY = re.compile(r"<(?:Relationship|Override) [^>]*media/[^>]*/>")
TABLE_LOOK = ('<w:tblLook w:firstRow="{first}" w:lastRow="0" w:firstColumn="0" w:lastColumn="0" w:noHBand="0" '
              'w:noVBand="0" w:val="{val}" />')


class Unwritten(Exception):
    """The document holds something this writer does not write: pandoc writes it."""


def escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
            .replace("'", "&#39;"))


def frame_markdown(logo: str | None) -> str:
    """The frame document's Markdown (see FRAME_MARKDOWN), with the logo as the templates show it."""
    return FRAME_MARKDOWN.format(logo=f"![Logo]({logo}){{height=15mm}}\n\n" if logo else "")


class Frame:
    """What every document written here shares: the parts of the frame DOCX pandoc wrote, its lists."""

    def __init__(self, parts: dict[str, bytes]):
        parts = {name: data for name, data in parts.items() if not name.startswith("word/media/")}
        for name in (RELS, TYPES):  # the logo's relationship and content type are each document's own
            parts[name] = MEDIA_ENTRY.sub("", parts[name].decode()).encode()
        self.parts = parts
        xml = parts[DOCUMENT].decode()
        start = xml.index("<w:body>") + len("<w:body>")
        end = xml.index("<w:sectPr")
        self.head, self.tail = xml[:start], xml[end:]
        self.lists = _Lists(parts[NUMBERING].decode())
        own = [n for n in self.lists.nums if n not in self.lists.everyone]
        if len(own) != 2:
            raise ValueError("the frame DOCX should hold two lists")
        # the frame's bullet list, then its numbered list: each list written here is one of these kinds
        self.kinds = {"bullet": self.lists.nums[own[0]], "decimal": self.lists.nums[own[1]]}
        self.kind_ids = {"bullet": own[0], "decimal": own[1]}


class _Writer:
    def __init__(self, logo: tuple[str, int, int] | None):
        self.counter = FIRST_ID
        self.lists: list[str] = []  # the kind of each list, in order (numbered from the first free id)
        self.images: list[tuple[int, str]] = []
        self.first = True
        self.logo = logo  # (file name, width, height in pixels) of the only image a document may hold

    # blocks
    def blocks(self, blocks: list[dict]) -> list[str]:
        """The body's blocks, one string each (a list: one per item)."""
        written: list[str] = []
        previous = None
        blocks = list(blocks)
        i = 0
        while i < len(blocks):
            block = blocks[i]
            kind = block["t"]
            content: Any = block.get("c")
            if kind == "Div":  # replaced by what convert.lua's filter makes of it, then written
                blocks[i:i + 1] = self.div(content)
                continue
            if kind in ("Para", "Plain"):
                style = "FirstParagraph" if self.first else "BodyText"
                written.append(self.paragraph(content, style if kind == "Para" else "Compact"))
            elif kind == "Header":
                level, attr, inlines = content
                if attr[0] or attr[1] or attr[2]:
                    raise Unwritten("heading attributes")
                written.append(self.paragraph(inlines, f"Heading{level}"))
                self.first = True
            elif kind == "BulletList":
                written.extend(self.items(content, "bullet"))
                self.first = True
            elif kind == "OrderedList":
                (start, style, delimiter), items = content
                if start != 1 or style["t"] != "Decimal" or delimiter["t"] != "Period":
                    raise Unwritten("numbered list style")
                written.extend(self.items(items, "decimal"))
                self.first = True
            elif kind == "Table":
                if previous == "Table":
                    written.append("<w:p />")
                written.append(self.table(content))
            elif kind == "RawBlock" and content[0] == "openxml":
                written.append(content[1])
            else:
                raise Unwritten(kind)
            previous = kind
            i += 1
        return written

    def div(self, content: list) -> list[dict]:
        """What convert.lua's filter makes of a Div (the same rules: keep both in step)."""
        (_, classes, attributes), blocks = content
        attributes = dict(attributes)
        if "custom-style" in attributes:
            raise Unwritten("custom style")
        if classes == ["table"]:
            return [self.sized_table(attributes.get("widths"), blocks)]
        if classes == ["pagebreak"]:
            return [{"t": "RawBlock", "c": ["openxml", PAGE_BREAK]}]
        if classes and classes[0] == "landscape" and set(classes) <= {"landscape", "continued"}:
            around = []
            if not attributes.get("first") and "continued" not in classes:
                around.append({"t": "RawBlock", "c": ["openxml", SECTION_END.format(kind="PORTRAIT")]})
            return [*around, *blocks, {"t": "RawBlock", "c": ["openxml", SECTION_END.format(kind="LANDSCAPE")]}]
        if classes == ["answer"]:
            lines = attributes.get("lines") or "3"
            if not lines.isdigit():
                raise Unwritten("answer lines")
            line = {"t": "Para", "c": [{"t": "Str", "c": "\u00a0"}]}  # a blank line to write on
            cell = [["", [], []], {"t": "AlignDefault"}, 1, 1, [line] * int(lines)]
            return [{"t": "Table", "c": [["", [], [["custom-style", "AnswerBox"]]], [None, []],
                                         [[{"t": "AlignDefault"}, {"t": "ColWidth", "c": 1.0}]],
                                         [["", [], []], []], [[["", [], []], 0, [], [[["", [], []], [cell]]]]],
                                         [["", [], []], []]]}]
        if classes == ["signature"]:
            return blocks
        raise Unwritten("division")

    @staticmethod
    def sized_table(widths: str | None, blocks: list[dict]) -> dict:
        if not widths or not blocks or blocks[0]["t"] != "Table":
            raise Unwritten("table division")
        numbers = [int(w) for w in "".join(c if c.isdigit() else " " for c in widths).split()]
        if len(blocks) > 1 or not sum(numbers):
            raise Unwritten("table division")
        table = blocks[0]
        specs, total = table["c"][2], sum(numbers)  # a new table: the tree is the PDF's too
        specs = [[spec[0], {"t": "ColWidth", "c": numbers[i] / total}] if i < len(numbers) else spec
                 for i, spec in enumerate(specs)]
        return {"t": "Table", "c": [*table["c"][:2], specs, *table["c"][3:]]}

    def items(self, items: list[list[dict]], kind: str) -> list[str]:
        self.lists.append(kind)
        number = f"\0list{len(self.lists) - 1}\0"
        written = []
        for item in items:
            if len(item) != 1 or item[0]["t"] != "Plain":
                raise Unwritten("list item")
            written.append(self.paragraph(item[0]["c"], "Compact",
                                          f'<w:numPr><w:ilvl w:val="0" /><w:numId w:val="{number}" /></w:numPr>'))
        return written

    def paragraph(self, inlines: list[dict], style: str, numbering: str = "") -> str:
        if not inlines:
            raise Unwritten("empty paragraph")  # (pandoc leaves some out)
        self.first = False  # the next paragraph is a body text's (FirstParagraph: after a heading, a list)
        return (f'<w:p><w:pPr><w:pStyle w:val="{style}" />{numbering}</w:pPr>{self.inlines(inlines, "")}</w:p>')

    def table(self, content: list) -> str:
        attr, caption, specs, head, bodies, foot = content
        if caption[0] is not None or caption[1] or foot[1] or any(body[1] or body[2] for body in bodies):
            raise Unwritten("table parts")
        styles = dict(attr[2])
        style = styles.pop("custom-style", "Table")
        if attr[0] or attr[1] or styles:
            raise Unwritten("table attributes")
        widths = []
        for align, width in specs:
            if align["t"] != "AlignDefault" or width["t"] != "ColWidth":
                raise Unwritten("column")
            widths.append(width["c"])
        head_rows = head[1]
        self.first = True  # a table's first paragraph is a first paragraph
        look = TABLE_LOOK.format(first=1 if head_rows else 0, val="0020" if head_rows else "0000")
        out = [f'<w:tbl><w:tblPr><w:tblStyle w:val="{escape(style)}" /><w:tblW w:type="pct" w:w="5000" />'
               f'<w:tblLayout w:type="fixed" />{look}</w:tblPr><w:tblGrid>']
        out.extend(f'<w:gridCol w:w="{int(width * 7920)}" />' for width in widths)
        out.append("</w:tblGrid>")
        for row in head_rows:
            out.append(self.row(row, '<w:trPr><w:tblHeader w:val="on" /></w:trPr>', len(widths)))
        for body in bodies:
            for row in body[3]:
                out.append(self.row(row, "", len(widths)))
        out.append("</w:tbl>")
        return "".join(out)

    def row(self, row: list, properties: str, columns: int) -> str:
        attr, cells = row
        if attr[0] or attr[1] or attr[2] or len(cells) != columns:
            raise Unwritten("row")
        out = [f"<w:tr>{properties}"]
        for cell_attr, align, rows, cols, blocks in cells:
            if rows != 1 or cols != 1 or align["t"] != "AlignDefault" or cell_attr[1] or cell_attr[2]:
                raise Unwritten("cell")
            out.append("<w:tc><w:tcPr />")
            if not blocks:
                out.append('<w:p><w:pPr><w:pStyle w:val="Compact" /></w:pPr></w:p>')
            written = []
            for block in blocks:
                if block["t"] == "Plain":
                    written.append(self.paragraph(block["c"], "Compact"))
                elif block["t"] == "Para" and block["c"]:
                    written.append(self.paragraph(block["c"], "FirstParagraph" if self.first else "BodyText"))
                elif block["t"] != "Para":
                    raise Unwritten("cell content")
            if blocks:  # (an empty paragraph is left out)
                out.append("".join(written) or "<w:p />")
            out.append("</w:tc>")
        out.append("</w:tr>")
        return "".join(out)

    # inlines
    def inlines(self, inlines: list[dict], properties: str) -> str:
        out: list[str] = []
        text: str | None = None  # the words run together, as one run
        count = len(inlines)
        i = 0
        while i < count:
            inline = inlines[i]
            kind = inline["t"]
            if kind == "Str":
                text = inline["c"] if text is None else text + inline["c"]
            elif kind == "Space" and text is not None and i + 1 < count and inlines[i + 1]["t"] == "Str":
                text += " " + inlines[i + 1]["c"]
                i += 1
            else:
                if text is not None:
                    out.append(self.run(text, properties))
                    text = None
                if kind == "Space":
                    out.append(self.run(" ", properties))
                elif kind == "Strong":
                    out.append(self.inlines(inline["c"], properties + "<w:b /><w:bCs />"))
                elif kind == "Emph":
                    out.append(self.inlines(inline["c"], properties + "<w:i /><w:iCs />"))
                elif kind == "Span":
                    attr, content = inline["c"]
                    if attr[0] or attr[1] != ["checkbox"] or attr[2]:
                        raise Unwritten("span")
                    out.append(self.inlines(content, properties))
                elif kind == "Image":
                    out.append(self.image(inline["c"]))
                else:
                    raise Unwritten(kind)
            i += 1
        if text is not None:
            out.append(self.run(text, properties))
        return "".join(out)

    @staticmethod
    def run(text: str, properties: str) -> str:
        if WRITTEN_OTHERWISE.search(text):
            raise Unwritten("text pandoc writes its own way")
        rpr = f"<w:rPr>{properties}</w:rPr>" if properties else ""
        return f'<w:r>{rpr}<w:t xml:space="preserve">{escape(text)}</w:t></w:r>'

    def image(self, content: list) -> str:
        (ident, classes, attributes), alt, (source, title) = content
        attributes = dict(attributes)
        if (ident or classes or set(attributes) != {"height"} or not self.logo or source != self.logo[0]
                or not attributes["height"].endswith("mm")):
            raise Unwritten("image")
        _, width_px, height_px = self.logo
        inches = float(attributes["height"][:-2]) * INCH_PER_MM
        cx, cy = int(inches * width_px / height_px * EMU_PER_INCH), int(inches * EMU_PER_INCH)
        if cx > MAX_WIDTH:  # pandoc fits it to the page
            raise Unwritten("image wider than the page")
        docpr, cnvpr, relation = self.counter, self.counter + 1, self.counter + 2
        self.counter += 3
        self.images.append((relation, source))
        description = escape(_text(alt))
        return (f'<w:r><w:drawing><wp:inline><wp:extent cx="{cx}" cy="{cy}" /><wp:effectExtent b="0" l="0" r="0" '
                f't="0" /><wp:docPr descr="{description}" title="{escape(title)}" id="{docpr}" name="Picture" />'
                '<a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/picture"><pic:pic>'
                f'<pic:nvPicPr><pic:cNvPr descr="{escape(source)}" id="{cnvpr}" name="Picture" /><pic:cNvPicPr>'
                '<a:picLocks noChangeArrowheads="1" noChangeAspect="1" /></pic:cNvPicPr></pic:nvPicPr><pic:blipFill>'
                f'<a:blip r:embed="rId{relation}" /><a:stretch><a:fillRect /></a:stretch></pic:blipFill>'
                f'<pic:spPr bwMode="auto"><a:xfrm><a:off x="0" y="0" /><a:ext cx="{cx}" cy="{cy}" /></a:xfrm>'
                '<a:prstGeom prst="rect"><a:avLst /></a:prstGeom><a:noFill /><a:ln w="9525"><a:noFill /><a:headEnd />'
                "<a:tailEnd /></a:ln></pic:spPr></pic:pic></a:graphicData></a:graphic></wp:inline></w:drawing></w:r>")


def _text(inlines: list[dict]) -> str:
    words = []
    for inline in inlines:
        if inline["t"] == "Str":
            words.append(inline["c"])
        elif inline["t"] == "Space":
            words.append(" ")
        else:
            raise Unwritten("image description")
    return "".join(words)


def checked_frame(parts: dict[str, bytes], tree: dict[str, Any], logo: tuple[str, bytes] | None) -> Frame | None:
    """The frame of the DOCX pandoc wrote for FRAME_MARKDOWN (`parts`, its tree), if this module writes that
    document to the same bytes; else None: pandoc writes every document."""
    try:
        frame = Frame(parts)
    except (ValueError, KeyError, UnicodeDecodeError):
        return None
    written = write(tree, frame, logo)
    return frame if written is not None and list(written.items()) == list(parts.items()) else None


def write(tree: dict[str, Any], frame: Frame, logo: tuple[str, bytes] | None) -> dict[str, bytes] | None:
    """The parts (name → bytes, in zip order) of a document's DOCX, as pandoc and docx_split give them;
    None if pandoc must write it. `logo`: the image file a document may show (its name, its bytes)."""
    size = pixel_size(logo[1]) if logo else None
    writer = _Writer((logo[0], *size) if logo and size else None)
    try:
        body = BETWEEN_BLOCKS.join(writer.blocks(tree["blocks"]))
    except (Unwritten, LookupError, TypeError, ValueError, AttributeError):  # (a tree of another shape: pandoc's)
        return None
    lists = frame.lists
    ids = [str(lists.start + k) for k in range(len(writer.lists))]
    for k, number in enumerate(ids):
        body = body.replace(f"\0list{k}\0", number)
    parts = dict(frame.parts)
    parts[DOCUMENT] = f"{frame.head}\n{body}\n{frame.tail}".encode()
    kept = [lists.nums[n] for n in lists.everyone]
    kept += [frame.kinds[kind].replace(f'w:numId="{frame.kind_ids[kind]}"', f'w:numId="{number}"', 1)
             for kind, number in zip(writer.lists, ids, strict=True)]
    used = {a for num in kept for a in ABSTRACT_REF.findall(num)}
    abstracts = [lists.abstracts[a] for a in sorted(used & set(lists.abstracts), key=int)]
    parts[NUMBERING] = (lists.head + "".join(abstracts) + "".join(kept) + lists.tail).encode()
    if writer.images:
        assert logo is not None
        rels, types = parts[RELS].decode(), parts[TYPES].decode()
        for relation, source in writer.images:
            suffix = source[source.rfind("."):]
            rels = rels.replace("</Relationships>", f'<Relationship Type="{IMAGE_RELATION}" Id="rId{relation}" '
                                f'Target="media/rId{relation}{suffix}" /></Relationships>')
            types = types.replace("</Types>", f'<Override PartName="/word/media/rId{relation}{suffix}" '
                                  f'ContentType="{MEDIA_TYPES[suffix]}" /></Types>')
            parts[f"word/media/rId{relation}{suffix}"] = logo[1]
        parts[RELS], parts[TYPES] = rels.encode(), types.encode()
    return parts
