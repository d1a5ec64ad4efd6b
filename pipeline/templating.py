"""Render Jinja2 templates to Markdown in which every value from the content is literal text.

Each `{{ value }}` goes through `finalize`, which folds whitespace and backslash-escapes every ASCII
punctuation character, so that nothing typed in the content is read as Markdown, HTML, LaTeX, typst
or OpenXML. Template helpers that build Markdown on purpose return `Md`, which is left as is.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import string
from pathlib import Path
from typing import Any

import jinja2

from pipeline.inputs import record

PUNCTUATION = frozenset(string.punctuation) - frozenset(",;?'\"/%")  # these mean nothing to pandoc here
# A regular expression, not str.translate: translating French text (not ASCII) goes character by
# character through a dict, 40 % slower over a build's 30,000 values.
ESCAPED = re.compile("[" + re.escape("".join(sorted(PUNCTUATION))) + "]")
CHECKBOX_MARKER = "\ue000QDCHECKBOX\ue000"
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")


class Md(str):
    """Markdown produced by a template helper: inserted without escaping."""


SPACES = re.compile(r"[^\S\u00a0\u202f]+")  # white space, except the non-breaking spaces French typography needs


def escape(value: Any) -> str:
    """Return text that Markdown reads back as exactly this text, on one line."""
    return _escaped(str(value))


@functools.lru_cache(maxsize=1 << 16)
def _escaped(text: str) -> str:
    # Kept: a build prints the same values many times (labels, dates, names), and watch prints every value
    # of the log again after each edit (N = 100, the log's Markdown rendered again: 0.044 -> 0.024 s).
    return ESCAPED.sub(r"\\\g<0>", SPACES.sub(" ", text).strip())


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


def hours(value: float | None) -> str:
    """Format a duration in hours and minutes: `7 h`, `3 h 30`, `45 min`."""
    if value is None:
        return ""
    minutes = round(value * 60)
    whole, rest = divmod(minutes, 60)
    if whole == 0:
        return f"{rest}\u00a0min"
    if rest == 0:
        return f"{number_fr(whole)}\u00a0h"
    return f"{number_fr(whole)}\u00a0h\u00a0{rest:02d}"


def duration(value: Any) -> str:
    """Write a course duration: fixed, a range or a maximum, with days and a note."""
    if value is None or not value.stated:
        return ""
    if value.hours is not None:
        text = hours(value.hours)
    elif value.min_hours is not None and value.max_hours is not None:
        text = f"de {hours(value.min_hours)} à {hours(value.max_hours)}"
    elif value.max_hours is not None:
        text = f"{hours(value.max_hours)} maximum"
    else:
        text = f"{hours(value.min_hours)} minimum"
    if value.days:
        text += f" ({number_fr(value.days)} jour{'s' if value.days > 1 else ''})"
    if value.note:
        text += f", {value.note}"
    return text


TAX = {"HT": "HT", "TTC": "TTC", "net": "net de taxe"}
PER = {"person": "par personne", "group": "par groupe", "day": "par jour", "person_day": "par personne et par jour",
       "hour": "de l'heure", "person_hour": "par personne et par heure"}


def price(value: Any) -> str:
    """Write one price: `Inter-entreprises : 890 € HT par personne`, `Intra : sur devis (à partir de …)`."""
    amount = " ".join(p for p in (money(value.amount), TAX.get(value.tax or ""), PER.get(value.per or "")) if p)
    if value.on_quote:
        details = [f"à partir de {amount}" if amount else "", value.basis or ""]
        text = "sur devis" + (f" ({' ; '.join(d for d in details if d)})" if any(details) else "")
    else:
        text = amount
    return f"{value.label} : {text}" if value.label else text[:1].upper() + text[1:]


@jinja2.pass_context
def mention(context: Any, key: str, value: Any = None) -> Any:
    """A mandatory mention: its value, or where it is published, or the « À compléter » marker (the
    environment's own `todo`: Markdown for the documents, HTML for the web catalogue)."""
    missing = context.get("missing") or {}
    if key not in missing:
        return value
    support = (context.get("elsewhere") or {}).get(key)
    if support:
        return "Voir : " + str(support)
    return context["todo"](missing[key])


def todo(label: str = "") -> Md:
    """The marker of a mandatory mention the content does not state yet."""
    return Md("**" + escape(f"[À compléter{' : ' + label if label else ''}]") + "**")


CAPABLE = re.compile(r"^\s*(?:(?:l[ea]\s+\w+\s+)?(?:sera|seront|serez|être|etre)\s+(?:capables?|en mesure)\s+"
                     r"(?:de\s+|d['’]\s*))", re.IGNORECASE)
INFINITIVE = re.compile(r"^(?:s['’]|se\s+)?[\w'’-]+(?:er|ir|re|oir)\b", re.IGNORECASE)


def objective_text(objective: str) -> str:
    """An objective as shown after « sera capable de : », without a repeated « Être capable de »."""
    text = CAPABLE.sub("", objective, count=1)
    if text == objective or not text:
        return objective  # content text stays as typed
    return text[:1].upper() + text[1:]


def infinitive_objectives(objectives: list[str]) -> bool:
    """Say whether every objective reads as an infinitive phrase (so « sera capable de : » fits)."""
    return all(INFINITIVE.match(objective_text(o).strip()) for o in objectives)


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


def table(header: list[str], rows: list[list[Any]], widths: list[int], whole_rows: bool = False) -> Md:
    """Write a pipe table inside a div that gives its relative column widths.

    `whole_rows`: in the PDF, a row is not split across two pages (typst still splits a row taller than a
    page); for a table of short rows laid out in blocks, whose last row would otherwise leave its tail
    alone on a page before the next block.
    """
    def cells(values: list[Any]) -> str:
        return "| " + " | ".join(finalize(v) if v not in (None, "") else "\u00a0" for v in values) + " |"

    separator = "|" + "|".join("---" for _ in widths) + "|"
    whole = ' rows="whole"' if whole_rows else ""
    lines = [f'::: {{.table widths="{",".join(str(w) for w in widths)}"{whole}}}', cells(header), separator,
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
    if person is None:
        return ""
    name = ", ".join(p for p in (person.name, person.role) if p)
    return " – ".join(p for p in (name, person.email, person.phone) if p)


def tick(label: str = "") -> Md:
    """A tick box followed by a label."""
    return Md(checkbox() + (" " + escape(label) if label else ""))


def date_range(start: dt.date | None, end: dt.date | None) -> str:
    """A session's dates in words: `le 12 janvier 2027`, `du 12 au 14 janvier 2027`, `du 28 janvier au 2 février`…"""
    if start is None:
        return ""
    if end is None or end == start:
        return f"le {date_long(start)}"
    if (start.year, start.month) == (end.year, end.month):
        first = "1er" if start.day == 1 else str(start.day)
        return f"du {first} au {date_long(end)}"
    if start.year == end.year:
        return f"du {date_long(start).rsplit(' ', 1)[0]} au {date_long(end)}"
    return f"du {date_long(start)} au {date_long(end)}"


def upcoming(sessions: list[Any], as_of: dt.date) -> list[Any]:
    """The sessions to publish at a date: permanent entries first, then dated ones not over yet, by start date;
    cancelled ones left out."""
    kept = [s for s in sessions
            if s.status != "cancelled" and (s.permanent or (s.start and (s.end or s.start) >= as_of))]
    return sorted(kept, key=lambda s: (not s.permanent, s.start or dt.date.min))


FILTERS = {"date_fr": date_fr, "date_long": date_long, "number": number_fr, "money": money, "hours": hours,
           "duration": duration, "objective": objective_text, "infinitives": infinitive_objectives, "price": price,
           "percent": percent, "contact": contact, "paragraphs": paragraphs, "bullets": bullets, "strong": strong,
           "date_range": date_range, "upcoming": upcoming}


TAG = re.compile(r"({{.*?}}|{%.*?%}|{#.*?#})", re.S)
LITERAL = re.compile(r'"[^"\n]*"')
TYPOGRAPHY = [
    (re.compile(r"(?<=[^\W\d_])'(?=[^\W\d_])"), "\u2019"),  # l'action → l’action
    (re.compile(r"(?:(?<=\S)|\A) :(?=\s|$|\*)", re.M), "\u00a0:"),  # « : » after a non-breaking space
    (re.compile(r"(?:(?<=\S)|\A) ([;?!])(?=\s|$|\*|\)|\")", re.M), "\u202f\\1"),  # thin one before ; ? !
    (re.compile("« "), "«\u00a0"), (re.compile(" »"), "\u00a0»"), (re.compile("n° "), "n°\u00a0"),
]


def french_typography(source: str) -> str:
    """Apply French typography to a template's own words, in its text and its string literals.

    Content values are inserted by `{{ }}` at render time: they stay as typed.
    """
    def fix(text: str) -> str:
        for pattern, replacement in TYPOGRAPHY:
            text = pattern.sub(replacement, text)
        return text

    parts = TAG.split(source)
    for index, part in enumerate(parts):
        if index % 2 == 0:
            parts[index] = fix(part)
        elif not part.startswith("{#"):
            parts[index] = LITERAL.sub(lambda m: fix(m.group()), part)
    return "".join(parts)


class FrenchLoader(jinja2.FileSystemLoader):
    """Templates as written, with French typography applied to their own text."""

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Any]:
        source, filename, uptodate = super().get_source(environment, template)
        if not any(Path(filename).resolve().is_relative_to(Path(folder).resolve()) for folder in self.searchpath):
            raise jinja2.TemplateNotFound(f"{template} (lien symbolique hors du dossier templates/ : refusé)")
        return french_typography(source), filename, uptodate


class RecordingEnvironment(jinja2.Environment):
    """Records every template a document loads (its own, and those it imports or includes) as an input."""

    def get_template(self, name: str | jinja2.Template, parent: str | None = None,  # type: ignore[override]
                     globals: Any = None) -> jinja2.Template:
        if isinstance(name, str):
            record(f"template:{self.join_path(name, parent) if parent else name}")
        return super().get_template(name, parent, globals)

    def select_template(self, names: Any, parent: str | None = None,  # type: ignore[override]
                        globals: Any = None) -> jinja2.Template:
        for name in names if not isinstance(names, jinja2.Undefined) else ():
            if isinstance(name, str):
                record(f"template:{name}")  # each one tried: one that appears later changes the choice
        return super().select_template(names, parent, globals)


class _BytecodeCache(jinja2.FileSystemBytecodeCache):
    """A compiled template saved for the next process; its folder, removed while watch (one process, many
    builds) runs, is made again, and a template that cannot be saved costs only time."""

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            super().dump_bytecode(bucket)
        except OSError:
            pass


def bytecode_cache(cache_dir: Path | None) -> jinja2.BytecodeCache | None:
    """Compiled templates kept in the user's cache folder (created private), or none when it cannot be."""
    if cache_dir is None:
        return None
    try:
        cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None
    return _BytecodeCache(str(cache_dir))


@functools.cache
def environment(template_dirs: tuple[Path, ...], cache_dir: Path | None = None) -> jinja2.Environment:
    """Return the Jinja2 environment of template folders, first found wins (one per process, compiled once).

    Compiled templates are code: their cache lives in the user's own cache folder (`cache_dir`), keyed by
    each template's source, never in an output folder (shared, committed, mounted) whose files could be run.
    """
    env = RecordingEnvironment(loader=FrenchLoader([str(p) for p in template_dirs]), finalize=finalize,
                             undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True, bytecode_cache=bytecode_cache(cache_dir))
    env.filters.update(FILTERS)
    env.globals.update(table=table, checkbox=checkbox, tick=tick, todo=todo, mention=mention)
    return env
