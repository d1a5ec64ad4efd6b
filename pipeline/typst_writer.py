"""Write typst markup from pandoc's document tree (its JSON form).

Pandoc reads each document's Markdown once (convert.lua) and hands the tree over as JSON; writing typst
here costs a fifth of pandoc's typst writer with the Lua filter it needed (measured), and the escaping
is ours: every ASCII punctuation character of the text is backslash-escaped, so that nothing typed in
the content is read as typst markup (`...`, `--`, `~`, `1.`, `//`, `#`, `$`, `<label>`, `@ref`…).

The blocks and inlines are those the Markdown reader can produce, plus the classes the templates use:
`.table` (column widths; `rows="whole"`: no row split across pages), `.pagebreak`, `.landscape`,
`.answer`, `.signature`, `.checkbox` and `custom-style` (a typst function `style-<Name>` in style.typ).
Anything else fails the document with the element's name.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import Any

ESCAPED = re.compile("[" + re.escape(string.punctuation) + "]")  # faster than str.translate on French text
STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})
LENGTH = re.compile(r"(\d+(?:\.\d+)?)(mm|cm|in|pt|em|%|px)")
NUMBERING = {"Decimal": "1", "DefaultStyle": "1", "Example": "1", "LowerAlpha": "a", "UpperAlpha": "A",
             "LowerRoman": "i", "UpperRoman": "I"}
ALIGN = {"AlignLeft": "left", "AlignRight": "right", "AlignCenter": "center", "AlignDefault": "auto"}
STYLED = {"Emph": "emph", "Strong": "strong", "Strikeout": "strike", "Superscript": "super", "Subscript": "sub",
          "SmallCaps": "smallcaps", "Underline": "underline"}


class Unsupported(ValueError):
    """An element the typst writer does not handle."""


def write_typst(tree: dict[str, Any]) -> str:
    """Return the typst markup of a pandoc document."""
    return _blocks(tree["blocks"]) + "\n"


def write_part(tree: dict[str, Any]) -> str:
    """The typst markup of one part of a document, joined to the others by chunks.join."""
    return _blocks(tree["blocks"])


LONG_WORD = 24  # characters without a break opportunity before the PDF may break inside a word
ZWSP = "\u200b"


def breakable(word: str) -> str:
    """A long word (a URL, a long reference) with invisible break opportunities, so it wraps, never overflows."""
    if len(word) <= LONG_WORD:
        return word
    return ZWSP.join(word[i:i + 12] for i in range(0, len(word), 12))


def text(value: str) -> str:
    """Typst markup that shows exactly this text."""
    return ESCAPED.sub(r"\\\g<0>", value)


def string_literal(value: str) -> str:
    """A typst string literal holding exactly this text."""
    return '"' + value.translate(STRING_ESCAPES) + '"'


def _blocks(blocks: list[dict[str, Any]]) -> str:
    return "\n\n".join(part for part in map(_block, blocks) if part)


def _inlines(inlines: list[dict[str, Any]]) -> str:
    parts, words = [], []
    for inline in inlines:  # runs of words and spaces, most of the tree, are escaped in one go
        kind = inline["t"]
        if kind == "Str":
            words.append(breakable(inline["c"]))
        elif kind == "Space" or kind == "SoftBreak":
            words.append(" ")
        else:
            if words:
                parts.append(text("".join(words)))
                words = []
            parts.append(_inline(inline))
    if words:
        parts.append(text("".join(words)))
    return "".join(parts)


def _block(block: dict[str, Any]) -> str:
    kind: str = block["t"]
    c: Any = block.get("c")
    if kind in ("Plain", "Para"):
        return _inlines(c)
    if kind == "Header":
        level, _, content = c
        return "=" * level + " " + _inlines(content).replace("\n", " ")
    if kind == "BulletList":
        return _list("list", [], c)
    if kind == "OrderedList":
        (start, style, delimiter), items = c
        number = NUMBERING.get(style["t"], "1")
        pattern = {"OneParen": f"{number})", "TwoParens": f"({number})"}.get(delimiter["t"], f"{number}.")
        options = [f"numbering: {string_literal(pattern)}"] + ([f"start: {start}"] if start != 1 else [])
        return _list("enum", options, items)
    if kind == "BlockQuote":
        return f"#quote(block: true)[\n{_blocks(c)}\n]"
    if kind == "CodeBlock":
        return f"#raw(block: true, {string_literal(c[1])})"
    if kind == "HorizontalRule":
        return "#(horizontalrule)"
    if kind == "Div":
        return _div(c[0], c[1])
    if kind == "Table":
        return _table(block)
    if kind == "LineBlock":
        return " #linebreak()\n".join(_inlines(line) for line in c)
    if kind == "RawBlock":
        return c[1] if c[0] == "typst" else ""
    raise Unsupported(f"typst: unsupported element {kind}")


def _list(function: str, options: list[str], items: list[list[dict[str, Any]]]) -> str:
    tight = all(not item or item[0]["t"] == "Plain" for item in items)
    arguments = [*options, f"tight: {'true' if tight else 'false'}"]
    arguments += [f"[{_blocks(item)}]" for item in items]
    return f"#{function}(\n  " + ",\n  ".join(arguments) + ",\n)"


def _div(attr: list[Any], blocks: list[dict[str, Any]]) -> str:
    _, classes, pairs = attr
    attributes = dict(pairs)
    if "table" in classes and blocks and blocks[0]["t"] == "Table":
        widths = [int(w) for w in re.findall(r"\d+", attributes.get("widths", ""))]
        if attributes.get("rows") == "whole":  # rows kept whole on a page (templating.table)
            return f"#[\n#set table.cell(breakable: false)\n{_table(blocks[0], widths)}\n]"
        return _table(blocks[0], widths)
    if "pagebreak" in classes:
        return "#pagebreak(weak: true)"
    if "landscape" in classes:
        return f"#set page(flipped: true)\n\n{_blocks(blocks)}\n\n#set page(flipped: false)"
    if "answer" in classes:
        lines = attributes.get("lines", "3")
        return f"#answer-box({int(lines) if lines.isdigit() else 3})"
    if "signature" in classes:
        return f"#signature-box[\n{_blocks(blocks)}\n]"
    if "custom-style" in attributes:
        return f"#{_style(attributes['custom-style'])}[\n{_blocks(blocks)}\n]"
    return _blocks(blocks)


def _style(name: str) -> str:
    return "style-" + re.sub(r"[^0-9A-Za-z]", "", name)


def _table(table: dict[str, Any], widths: list[int] | None = None) -> str:
    _, caption, specs, head, bodies, foot = table["c"]
    if widths and len(widths) >= len(specs):
        total = sum(widths[: len(specs)])
        columns = "(" + ", ".join(_percent(w / total) for w in widths[: len(specs)]) + ",)"
    elif any(spec[1]["t"] == "ColWidth" for spec in specs):
        columns = "(" + ", ".join(_percent(s[1]["c"]) if s[1]["t"] == "ColWidth" else "auto" for s in specs) + ",)"
    else:
        columns = str(len(specs))
    lines = [f"columns: {columns}", "align: (" + ", ".join(ALIGN[s[0]["t"]] for s in specs) + ",)"]
    if head[1]:
        lines.append("table.header(" + _rows(head[1]) + ",)")
        lines.append("table.hline()")
    for body in bodies:
        rows = body[2] + body[3]
        if rows:
            lines.append(_rows(rows))
    if foot[1]:
        lines.append("table.footer(" + _rows(foot[1]) + ",)")
    result = "#figure(\n  align(center)[#table(\n    " + ",\n    ".join(lines) + ",\n  )],\n  kind: table"
    caption_blocks = caption[1]
    if caption_blocks:
        result += f",\n  caption: [{_blocks(caption_blocks)}]"
    return result + ",\n)"


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.3f}".rstrip("0").rstrip(".") + "%"


def _rows(rows: list[list[Any]]) -> str:
    cells = []
    for _, row_cells in rows:
        for _, align, rowspan, colspan, blocks in row_cells:
            content = f"[{_blocks(blocks)}]"
            options = [f"{name}: {value}" for name, value in (("rowspan", rowspan), ("colspan", colspan)) if value != 1]
            if align["t"] != "AlignDefault":
                options.append(f"align: {ALIGN[align['t']]}")
            cells.append(f"table.cell({', '.join(options)}){content}" if options else content)
    return ", ".join(cells)


def _inline(inline: dict[str, Any]) -> str:
    kind = inline["t"]
    handler = INLINES.get(kind)
    if handler is None:
        raise Unsupported(f"typst: unsupported element {kind}")
    return handler(inline.get("c"))


def _styled(function: str) -> Callable[[Any], str]:
    return lambda c: f"#{function}[{_inlines(c)}]"


def _quoted(c: list[Any]) -> str:
    mark = '\\"' if c[0]["t"] == "DoubleQuote" else "\\'"
    return mark + _inlines(c[1]) + mark


def _link(c: list[Any]) -> str:
    return f"#link({string_literal(c[2][0])})[{_inlines(c[1])}]"


def _plain(inlines: list[Any]) -> str:
    """The text of inlines, without their formatting (an image's alternative text)."""
    parts = []
    for inline in inlines:
        if inline["t"] == "Str":
            parts.append(inline["c"])
        elif inline["t"] in ("Space", "SoftBreak", "LineBreak"):
            parts.append(" ")
        elif isinstance(inline.get("c"), list):
            parts.append(_plain([i for i in inline["c"] if isinstance(i, dict) and "t" in i] or
                                next((x for x in inline["c"] if isinstance(x, list) and x and
                                      isinstance(x[0], dict)), [])))
    return "".join(parts).strip()


def _image(c: list[Any]) -> str:
    attr, description, (source, _) = c
    if re.match(r"[A-Za-z][\w+.-]*:", source) or source.startswith("/") or ".." in source:
        raise Unsupported(f"image {source} refusée : seules les images préparées par la construction peuvent être "
                          "insérées")
    options = [string_literal(source)]
    for name, value in attr[2]:
        found = LENGTH.fullmatch(value.strip()) if name in ("width", "height") else None
        if found:
            number, unit = found.groups()
            options.append(f"{name}: {float(number) * 0.75:g}pt" if unit == "px" else f"{name}: {number}{unit}")
    alternative = _plain(description)
    if alternative:  # read aloud by screen readers, and required by PDF/A-2a
        options.append(f"alt: {string_literal(alternative)}")
    return f"#box(image({', '.join(options)}))"


def _span(c: list[Any]) -> str:
    _, classes, pairs = c[0]
    if "checkbox" in classes:
        return "#(checkbox)"  # in parentheses: a letter right after it is text, not part of the name
    attributes = dict(pairs)
    if "custom-style" in attributes:
        return f"#{_style(attributes['custom-style'])}[{_inlines(c[1])}]"
    return _inlines(c[1])


INLINES: dict[str, Callable[[Any], str]] = {
    "Str": text,
    "Space": lambda _: " ",
    "SoftBreak": lambda _: " ",
    "LineBreak": lambda _: "#linebreak()",
    "Code": lambda c: f"#raw({string_literal(c[1])})",
    "Link": _link,
    "Image": _image,
    "Span": _span,
    "Quoted": _quoted,
    "RawInline": lambda c: c[1] if c[0] == "typst" else "",
    **{kind: _styled(function) for kind, function in STYLED.items()},
}
