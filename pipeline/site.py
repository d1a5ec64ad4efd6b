"""The public web catalogue (`build/site/`): one page per course, an index with filters, JSON-LD, a sitemap.

Built by `qualidoc build` with the documents, from the same content and the same mention rules as the
programme sheets, incrementally: each page records what it reads while it renders (inputs.py), as a
document does, and is rewritten only when that changed. Pages are HTML rendered by Jinja with autoescaping
(templates/site/, overridable like every template); the PDF and DOCX of each programme are copied beside
them, so that the folder can be published as it is. Nothing in a page asks for another site: styles are a
file of the site, the filters are CSS (they work without JavaScript), no font or script is fetched.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from pipeline.content import Catalogue
from pipeline.document_kinds import Document
from pipeline.inputs import CatalogueView, Reads, recording
from pipeline.mentions import sheet_context
from pipeline.project import Project
from pipeline.referential import referential_for
from pipeline.state import Copy, read_with_identity
from pipeline.templating import (
    FrenchLoader,
    RecordingEnvironment,
    bytecode_cache,
    date_fr,
    date_long,
    date_range,
    duration,
    hours,
    infinitive_objectives,
    mention,
    money,
    number_fr,
    objective_text,
    percent,
    price,
    upcoming,
)
from pipeline.tools import tool_versions

SITE = "site"  # the site's folder in the output folder
COURSE_MODE = {"presentiel": "onsite", "distanciel": "online", "mixte": "blended"}


@dataclass(frozen=True)
class Page:
    """One file of the site: an HTML page from a template, or a file copied (a style sheet, a document)."""

    path: str  # relative to the output folder: site/formations/x.html
    template: str = ""  # a template of templates/site/, rendered; empty for a copy
    title: str = ""
    version: dt.date = dt.date(2000, 1, 1)
    context: Callable[[CatalogueView, Page], dict[str, Any]] = field(default=lambda view, page: {}, hash=False,
                                                                      compare=False)
    copy: str = ""  # what a copy reads: `template:site/style.css`, `output:programmes/x.pdf`
    reference: str = ""
    make: Callable[[CatalogueView, Page], bytes | None] | None = field(default=None, hash=False, compare=False)

    @property
    def stamp_text(self) -> str:
        return ""

    @property
    def files(self) -> list[str]:
        return [self.path]


def plan_site(catalogue: Catalogue, documents: list[Document]) -> list[Page]:
    """Every file of the site the content calls for."""
    programmes = {d.path.split("/", 1)[1]: d for d in documents if d.kind == "programme"}
    pages = [Page(f"{SITE}/style.css", copy="template:site/style.css")]
    for cid in catalogue.courses:
        document = programmes.get(cid)
        if document is None:
            continue
        for extension in ("pdf", "docx"):
            pages.append(Page(f"{SITE}/documents/{cid}.{extension}", copy=f"output:{document.path}.{extension}"))

        def course_context(view: CatalogueView, page: Page, cid: str = cid) -> dict[str, Any]:
            course, org = view.courses[cid], view.organisation
            version = referential_for(org.referential, org.next_audit).version
            files = {extension: _document_link(cid, extension) for extension in ("pdf", "docx")}
            return {"course": course, "course_id": cid, "trainers": [view.trainers[t] for t in course.trainers],
                    "files": files, "json_ld": json_ld(course, cid, org, page.version, base_url(org)),
                    **sheet_context(course, org, version)}

        pages.append(Page(f"{SITE}/formations/{cid}.html", "site/formation.html.j2", document.title,
                          document.version, course_context, reference=document.reference))

    def index_context(view: CatalogueView, page: Page) -> dict[str, Any]:
        org = view.organisation
        courses = sorted(view.courses.items(), key=lambda item: item[1].title.lower())
        return {"courses": courses, "item_list": item_list(courses, org, base_url(org))}

    latest = max((d.version for d in programmes.values()), default=dt.date(2000, 1, 1))
    pages.append(Page(f"{SITE}/index.html", "site/index.html.j2", "Catalogue des formations", latest, index_context))
    if base_url(catalogue.organisation):
        pages.append(Page(f"{SITE}/sitemap.xml", "site/sitemap.xml.j2", "Plan du site", latest, _sitemap_context))
    pages.append(Page(LHEO_EXPORT, title="Offre de formation au format LHÉO 2.3", version=latest, make=_lheo_export))
    return pages


LHEO_EXPORT = "lheo/offre-lheo.xml"


def _lheo_export(view: CatalogueView, page: Page) -> bytes | None:
    """The LHÉO export of every course that has what LHÉO requires (None when none has: no file)."""
    from pipeline.lheo import Shelf, export

    org = view.organisation
    salt = tool_versions()["tool:qualidoc"]  # its code: a formation written by another qualidoc is not taken
    shelf = None if view.cache is None else Shelf(view.cache / "lheo.json", salt, view.source_hash)
    data, _ = export(sorted(view.courses.items()), org, page.version, base_url(org), shelf)
    return data


def _sitemap_context(view: CatalogueView, page: Page) -> dict[str, Any]:
    org = view.organisation
    base = base_url(org) or ""
    urls = [(f"{base}/index.html", None)]
    urls += [(f"{base}/formations/{cid}.html", course.updated) for cid, course in sorted(view.courses.items())]
    return {"urls": urls}


def base_url(org: Any) -> str | None:
    """The public address of the catalogue: `site_url`, else the organisation's website."""
    url = org.site_url or org.website
    return url.rstrip("/") if url and url.startswith(("https://", "http://")) else None


def _document_link(cid: str, extension: str) -> dict[str, Any]:
    """The link to a programme's copy beside the pages."""
    return {"href": f"../documents/{cid}.{extension}", "extension": extension}


# schema.org, for search engines ------------------------------------------------------------------------------

def json_ld(course: Any, cid: str, org: Any, as_of: dt.date, base: str | None) -> str:
    """The schema.org `Course` of a course page, with a `CourseInstance` per published session."""
    data: dict[str, Any] = {"@context": "https://schema.org", "@type": "Course", "name": course.title,
                            "inLanguage": "fr"}
    if course.summary:
        data["description"] = course.summary
    if course.reference:
        data["courseCode"] = course.reference
    if base:
        data["url"] = f"{base}/formations/{cid}.html"
    provider: dict[str, Any] = {"@type": "Organization", "name": org.name}
    if org.website:
        provider["url"] = org.website
    data["provider"] = provider
    if course.audience:
        data["audience"] = {"@type": "Audience", "audienceType": course.audience}
    if isinstance(course.prerequisites, list) and course.prerequisites:
        data["coursePrerequisites"] = list(course.prerequisites)
    if course.objectives:
        data["teaches"] = [objective_text(o) for o in course.objectives]
    if course.duration and course.duration.hours:
        whole, minutes = divmod(round(course.duration.hours * 60), 60)
        data["timeRequired"] = f"PT{whole}H" + (f"{minutes}M" if minutes else "")
    if course.certification and course.certification.title:
        data["educationalCredentialAwarded"] = course.certification.title
    offers = [{"@type": "Offer", "category": p.label or "Tarif", "price": p.amount, "priceCurrency": "EUR"}
              for p in course.prices if p.amount is not None and not p.on_quote]
    if offers:
        data["offers"] = offers
    instances = []
    for session in upcoming(course.sessions, as_of):
        instance: dict[str, Any] = {"@type": "CourseInstance"}
        mode = session.format or (course.formats[0] if len(course.formats) == 1 else None)
        if mode:
            instance["courseMode"] = COURSE_MODE[mode]
        if session.start:
            instance["startDate"] = session.start.isoformat()
            instance["endDate"] = (session.end or session.start).isoformat()
        if session.permanent:
            instance["courseSchedule"] = {"@type": "Schedule", "description": "Entrées et sorties permanentes"}
        place = session.place or course.location
        if place:
            instance["location"] = place if mode == "distanciel" else {"@type": "Place", "name": place}
        instances.append(instance)
    if instances:
        data["hasCourseInstance"] = instances
    return _script_json(data)


def item_list(courses: list[tuple[str, Any]], org: Any, base: str | None) -> str:
    """The schema.org `ItemList` of the index: every course, by its page."""
    items = []
    for position, (cid, course) in enumerate(courses, 1):
        item: dict[str, Any] = {"@type": "ListItem", "position": position, "name": course.title}
        if base:
            item["url"] = f"{base}/formations/{cid}.html"
        items.append(item)
    return _script_json({"@context": "https://schema.org", "@type": "ItemList", "name": f"Formations – {org.name}",
                         "itemListElement": items})


def _script_json(data: dict[str, Any]) -> str:
    """JSON for a `<script>` element: no `<`, `>` or `&` is left to end it or comment it out."""
    text = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


# Rendering ---------------------------------------------------------------------------------------------------

def _finalize(value: Any) -> Any:
    if isinstance(value, dt.date):
        return date_fr(value)
    if isinstance(value, float):
        return number_fr(value)
    return "" if value is None else value


def _todo(label: str) -> Markup:
    """The « À compléter » marker of the web pages (the documents' is Markdown)."""
    return Markup('<strong class="a-completer">[À compléter : {}]</strong>').format(label)


@functools.cache
def html_environment(template_dirs: tuple[Path, ...], cache_dir: Path | None = None) -> jinja2.Environment:
    """The Jinja environment of the site: HTML autoescaping, French typography in the templates' own text."""
    env = RecordingEnvironment(loader=FrenchLoader([str(p) for p in template_dirs]), autoescape=True,
                               finalize=_finalize, undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                               trim_blocks=True, lstrip_blocks=True, bytecode_cache=bytecode_cache(cache_dir))
    env.filters.update({"date_fr": date_fr, "date_long": date_long, "date_range": date_range, "money": money,
                        "hours": hours, "duration": duration, "objective": objective_text, "price": price,
                        "percent": percent, "number": number_fr, "upcoming": upcoming,
                        "infinitives": infinitive_objectives})
    env.globals.update(mention=mention, todo=_todo)
    return env


class SiteRenderer:
    """Renders the site's pages of one catalogue with the project's templates."""

    def __init__(self, project: Project, catalogue: Catalogue):
        self.project, self.catalogue = project, catalogue
        self.env = html_environment(project.template_folders, project.cache_dir / "site-templates")
        self.sources: dict[str, Copy] = {}  # a copy's file in build/

    def render(self, page: Page) -> tuple[bytes | None, Reads]:
        """A page's bytes and what it read; None for a copy whose source is missing (a failed document)."""
        reads = Reads()
        if page.copy:
            reads.names.add(page.copy)
            kind, _, name = page.copy.partition(":")
            source = self.project.template(name) if kind == "template" else self.project.out / name
            if kind == "template":  # never linked to: a template may be edited in place
                return (source.read_bytes() if source.is_file() else None), reads
            try:
                data, identity = read_with_identity(source)
            except (FileNotFoundError, IsADirectoryError):
                return None, reads
            self.sources[page.path] = (source, identity)  # what its copy can be a hard link to
            return data, reads
        with recording(reads):
            view = CatalogueView(self.catalogue, reads, self.project.cache_dir)
            if page.make is not None:
                return page.make(view, page), reads
            template = self.env.get_template(page.template)
            text = template.render(org=view.organisation, page=page, **page.context(view, page))
        return text.encode("utf-8"), reads
