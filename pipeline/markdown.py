"""Render Jinja2 templates to Markdown in which every value from the content is literal text.

Each `{{ value }}` goes through `finalize`, which folds whitespace and backslash-escapes every ASCII
punctuation character, so that nothing typed in the content is read as Markdown, HTML, LaTeX, typst
or OpenXML. Template helpers that build Markdown on purpose return `Md`, which is left as is.
"""

from __future__ import annotations

import datetime as dt
import functools
import string
from pathlib import Path
from typing import Any

import jinja2

PUNCTUATION = frozenset(string.punctuation) - frozenset(",;?'\"/%")  # these mean nothing to pandoc here
ESCAPES = str.maketrans({c: "\\" + c for c in PUNCTUATION})
CHECKBOX_MARKER = "\ue000QDCHECKBOX\ue000"
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")


class Md(str):
    """Markdown produced by a template helper: inserted without escaping."""


def escape(value: Any) -> str:
    """Return text that Markdown reads back as exactly this text, on one line."""
    return " ".join(str(value).split()).translate(ESCAPES)


def finalize(value: Any) -> str:
    """Escape every value a template prints, unless it is already Markdown."""
    if value is None:
        return ""
    if isinstance(value, Md):
        return value
    if isinstance(value, dt.date):
        return escape(date_fr(value))
    if isinstance(value, float):
        return escape(number_fr(value))
    return escape(value)


def date_fr(value: dt.date | None) -> str:
    """Format a date as `14/09/2026`."""
    return value.strftime("%d/%m/%Y") if value else ""


def date_long(value: dt.date | None) -> str:
    """Format a date as `14 septembre 2026`."""
    if not value:
        return ""
    day = "1er" if value.day == 1 else str(value.day)
    return f"{day} {MONTHS[value.month - 1]} {value.year}"


def number_fr(value: float | int | None, decimals: int = 1) -> str:
    """Format a number the French way: `3,5`, `1 900`."""
    if value is None:
        return ""
    if float(value).is_integer():
        return f"{int(value):,}".replace(",", "\u202f")
    return f"{value:,.{decimals}f}".replace(",", "\u202f").replace(".", ",")


def money(value: float | None) -> str:
    """Format an amount in euros: `1 900 €`, `12,50 €`."""
    if value is None:
        return ""
    if float(value).is_integer():
        return f"{number_fr(value)}\u00a0€"
    return f"{value:,.2f}".replace(",", "\u202f").replace(".", ",") + "\u00a0€"


def hours(value: float) -> str:
    """Format a duration: `3,5 h`."""
    return f"{number_fr(value)}\u00a0h"


def paragraphs(value: str | None) -> Md:
    """Keep the blank-line paragraphs of a long text, each one escaped."""
    if not value:
        return Md("")
    parts = [escape(p) for p in str(value).split("\n\n") if p.strip()]
    return Md("\n\n".join(parts))


def bullets(items: list[Any] | None, ordered: bool = False) -> Md:
    """Write a list of texts as a Markdown list."""
    lines = [f"{i}. {escape(item)}" if ordered else f"- {escape(item)}" for i, item in enumerate(items or [], 1)]
    return Md("\n".join(lines))


def table(header: list[str], rows: list[list[Any]], widths: list[int]) -> Md:
    """Write a pipe table inside a div that gives its relative column widths."""
    def cells(values: list[Any]) -> str:
        return "| " + " | ".join(finalize(v) if v not in (None, "") else "\u00a0" for v in values) + " |"

    separator = "|" + "|".join("---" for _ in widths) + "|"
    lines = [f'::: {{.table widths="{",".join(str(w) for w in widths)}"}}', cells(header), separator,
             *(cells(row) for row in rows), ":::"]
    return Md("\n".join(lines))


def strong(value: Any) -> Md:
    """Write a text in bold."""
    return Md(f"**{escape(value)}**")


def checkbox() -> Md:
    """An empty tick box (a content control in Word, a drawn box in the PDF).

    Its text is a marker (private-use characters) that docx_finish.py turns into the content control,
    so that pandoc needs no filter for it; the typst writer draws the box from the class.
    """
    return Md(f"[{CHECKBOX_MARKER}]{{.checkbox}}")


def percent(value: float | None) -> str | None:
    """Format a rate: `94 %`; nothing when absent."""
    return None if value is None else f"{number_fr(value)}\u00a0%"


def contact(person: Any) -> str:
    """Write a contact on one line: name, role, email, phone."""
    parts = [person.name + (f", {person.role}" if person.role else ""), person.email, person.phone]
    return " – ".join(p for p in parts if p)


def tick(label: str = "") -> Md:
    """A tick box followed by a label."""
    return Md(checkbox() + (" " + escape(label) if label else ""))


FILTERS = {"date_fr": date_fr, "date_long": date_long, "number": number_fr, "money": money, "hours": hours,
           "percent": percent, "contact": contact, "paragraphs": paragraphs, "bullets": bullets, "strong": strong}


@functools.cache
def environment(template_dir: Path, cache_dir: Path | None = None) -> jinja2.Environment:
    """Return the Jinja2 environment of a templates folder (one per process; compiled templates are cached)."""
    bytecode = None
    if cache_dir is not None:
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            bytecode = jinja2.FileSystemBytecodeCache(str(cache_dir))
        except OSError:
            bytecode = None
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(template_dir)), finalize=finalize,
                             undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True, bytecode_cache=bytecode)
    env.filters.update(FILTERS)
    env.globals.update(table=table, checkbox=checkbox, tick=tick)
    return env
