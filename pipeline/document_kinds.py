"""The document kinds: what each reads, which template renders it, where it lands.

Adding a kind means adding a template and one entry in KINDS; the build never names a kind.
A kind's plan says which documents the content calls for, their titles and dates; what each one reads
is recorded while it renders (inputs.py), never listed here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pipeline.content import Catalogue
from pipeline.inputs import CatalogueView
from pipeline.mentions import sheet_context, sheet_gaps
from pipeline.referential import referential_for

if TYPE_CHECKING:
    from pipeline.history import History
    from pipeline.rules import CheckResult


Context = Callable[["CatalogueView", "Document"], dict[str, Any]]
Check = Callable[[Catalogue, dt.date], "CheckResult"]


@dataclass(frozen=True)
class Document:
    """One document to produce, as DOCX and PDF.

    What it reads is not declared here: its `context` function reads the content through a recording view
    while the document renders, and the build keeps what was read (see inputs.py).
    """

    kind: str
    path: str  # output path without extension, relative to the output folder
    template: str
    title: str
    reference: str
    version: dt.date
    # The content whose last change dates the document (its version, and the commit in its header): a
    # programme is dated by its course sheet and the organisation, not by a trainer's CV.
    dated_by: tuple[str, ...]
    context: Context = field(hash=False, compare=False, default=lambda view, document: {})
    incomplete: bool = False  # shows « À compléter » where a mandatory mention is missing
    stamp: str = ""  # shown in the header: "version du 14/09/2026 (a1b2c3d)" or "version de travail, non validée"
    last: bool = False  # its context takes time (the RNQ check): rendered after the others

    @property
    def stamp_text(self) -> str:
        return self.stamp or f"version du {self.version.strftime('%d/%m/%Y')}"


@dataclass(frozen=True)
class DocumentKind:
    name: str
    # The documents of this kind the content calls for, given those of the kinds planned before it and the
    # RNQ check (which only the conformity matrix runs).
    plan: Callable[[Catalogue, list[Document], Check], list[Document]]


def _dates(catalogue: Catalogue, keys: list[str]) -> list[dt.date]:
    """Collect the dates that say when each source was last changed."""
    dates: list[dt.date] = []
    for key in keys:
        folder, _, ident = key.partition("#")[0].partition("/")
        if folder == "courses":
            dates += [d for d in (catalogue.courses[ident].updated,) if d]
        elif folder == "trainers":
            trainer = catalogue.trainers[ident]
            dates += [d for d in [trainer.last_review, *(t.date for t in trainer.training)] if d]
        elif folder == "improvements":
            entry = catalogue.improvements[ident]
            dates += [d for d in (entry.date, entry.closed, entry.complaint and entry.complaint.responded) if d]
    return dates


def version_of(catalogue: Catalogue, keys: list[str]) -> dt.date:
    """Return the version date of a document: the latest date found in its sources."""
    return max(_dates(catalogue, keys), default=dt.date(2000, 1, 1))


def _course_version(catalogue: Catalogue, cid: str) -> dt.date:
    return catalogue.courses[cid].updated or version_of(catalogue, [])


def _programmes(catalogue: Catalogue, planned: list[Document], check: Check) -> list[Document]:
    org = catalogue.organisation
    version = referential_for(org.referential, org.next_audit).version
    documents = []
    for cid, course in catalogue.courses.items():
        kind = {"BC": "Programme du bilan de compétences", "VAE": "Programme de l'accompagnement VAE"}.get(
            course.category, "Programme de formation")

        def context(view: CatalogueView, document: Document, cid: str = cid) -> dict[str, Any]:
            course, org = view.courses[cid], view.organisation
            version = referential_for(org.referential, org.next_audit).version
            return {"course": course, "course_id": cid, "trainers": [view.trainers[t] for t in course.trainers],
                    **sheet_context(course, org, version)}

        documents.append(Document(
            "programme", f"programmes/{cid}", "programme.md.j2", f"{kind} – {course.title}",
            course.reference or "", _course_version(catalogue, cid),
            ("organisation", f"courses/{cid}", *(f"trainers/{t}" for t in course.trainers)), context,
            incomplete=bool(sheet_gaps(course, org, version)),
            stamp="" if course.updated else "date de mise à jour à compléter"))
    return documents


def _positioning(catalogue: Catalogue, planned: list[Document], check: Check) -> list[Document]:
    documents = []
    for cid, course in catalogue.courses.items():
        title = ("Guide de l'entretien préliminaire" if course.category == "BC"
                 else "Questionnaire de positionnement")

        def context(view: CatalogueView, document: Document, cid: str = cid) -> dict[str, Any]:
            return {"course": view.courses[cid], "course_id": cid}

        documents.append(Document("positionnement", f"positionnement/{cid}", "positionnement.md.j2",
                                  f"{title} – {course.title}", course.reference or "",
                                  _course_version(catalogue, cid), ("organisation", f"courses/{cid}"), context,
                                  incomplete=course.category != "BC" and (not course.objectives
                                                                          or course.prerequisites is None),
                                  stamp="" if course.updated else "date de mise à jour à compléter"))
    return documents


def _skills_matrix(catalogue: Catalogue, planned: list[Document], check: Check) -> list[Document]:
    trainers = [f"trainers/{t}" for t in catalogue.trainers]

    def context(view: CatalogueView, document: Document) -> dict[str, Any]:
        # Each trainer's courses, in the courses' order, gathered once: looked up by the template for every
        # trainer, the courses took 1.2 s to render at N = 1000 (250 trainers × 1000 courses).
        assigned: dict[str, list[tuple[str, Any]]] = {tid: [] for tid in view.trainers}
        for cid, course in view.courses.items():
            for tid in dict.fromkeys(course.trainers):
                assigned.setdefault(tid, []).append((cid, course))
        return {"trainers": view.trainers, "courses": view.courses, "assigned": assigned}

    return [Document("matrice-competences", "intervenants/matrice-competences", "matrice-competences.md.j2",
                     "Matrice des compétences des intervenants", "MAT-COMP", version_of(catalogue, trainers),
                     ("organisation", *trainers, *(f"courses/{c}" for c in catalogue.courses)), context)]


def _improvement_log(catalogue: Catalogue, planned: list[Document], check: Check) -> list[Document]:
    cited = sorted({c for entry in catalogue.improvements.values() for c in entry.courses})
    entries = [f"improvements/{e}" for e in catalogue.improvements]

    def context(view: CatalogueView, document: Document) -> dict[str, Any]:
        ordered = sorted(view.improvements.items(), key=lambda item: (item[1].date, item[0]))
        return {"entries": ordered, "courses": view.courses, "as_of": document.version}

    return [Document("registre-amelioration", "amelioration/registre-amelioration", "registre-amelioration.md.j2",
                     "Registre d'amélioration continue", "REG-AMEL", version_of(catalogue, entries),
                     ("organisation", *entries, *(f"courses/{c}" for c in cited)), context)]


# Which generated documents carry the evidence of each indicator.
EVIDENCE_KINDS = {1: ["programme"], 2: ["programme"], 3: ["programme"], 5: ["programme"], 6: ["programme"],
                  8: ["positionnement"], 11: ["programme", "positionnement"], 12: ["programme"],
                  21: ["matrice-competences"], 22: ["matrice-competences"], 26: ["programme", "positionnement"],
                  27: ["matrice-competences"], 30: ["registre-amelioration"], 31: ["registre-amelioration"],
                  32: ["registre-amelioration"], 23: ["registre-amelioration"]}


def _evidence(documents: list[Document], kind: str) -> str:
    """Name the documents of one kind: all of them when few, the folder and the count when many."""
    paths = sorted(f"{d.path}.pdf" for d in documents if d.kind == kind)
    if len(paths) <= 6:
        return ", ".join(paths)
    return f"{paths[0].rsplit('/', 1)[0]}/*.pdf ({len(paths)} documents)"


def _conformity(catalogue: Catalogue, planned: list[Document], check: Check) -> list[Document]:
    """The conformity matrix: each indicator, its status from the RNQ check, the planned documents as evidence."""
    everything = ("organisation", *(f"{folder}/{ident}" for folder in ("courses", "trainers", "improvements")
                                    for ident in getattr(catalogue, folder)))

    def context(view: CatalogueView, document: Document) -> dict[str, Any]:
        """Run the check only when the document is rendered, at the document's own date (its commit's)."""
        from pipeline.rules import indicator_status

        result = check(view.everything(), document.version)
        rows = []
        for indicator in result.referential.indicators:
            evidence = [_evidence(planned, kind) for kind in EVIDENCE_KINDS.get(indicator.number, [])]
            rows.append({"indicator": indicator, "status": indicator_status(result, indicator),
                         "reason": result.applicability[indicator.number], "evidence": evidence,
                         "findings": result.of(indicator.number)})
        incomplete = []
        for cid, course in view.courses.items():
            gaps = sheet_gaps(course, view.organisation, result.referential.version)
            if gaps:
                incomplete.append({"path": f"programmes/{cid}.pdf", "title": course.title, "missing": gaps})
        return {"result": result, "rows": rows, "as_of": document.version, "incomplete": incomplete,
                "working": document.stamp.startswith("version de travail")}

    return [Document("conformite", "conformite/matrice-conformite", "conformite.md.j2",
                     "Tableau de conformité au Référentiel national qualité", "MAT-CONF",
                     version_of(catalogue, list(everything)), everything, context, last=True)]


KINDS: list[DocumentKind] = [
    DocumentKind("programme", _programmes),
    DocumentKind("positionnement", _positioning),
    DocumentKind("matrice-competences", _skills_matrix),
    DocumentKind("registre-amelioration", _improvement_log),
    DocumentKind("conformite", _conformity),  # last: it lists the others as evidence
]


def plan_documents(catalogue: Catalogue, check: Check, history: History | None = None,
                   kinds: list[str] | None = None) -> list[Document]:
    """List every document the content calls for (or those of some kinds), stamped by git when there is one.

    `check` runs the RNQ check of this content at a date (pipeline.plan.check_project gives the project's).
    """
    documents: list[Document] = []
    for kind in KINDS:
        if kinds is None or kind.name in kinds:
            documents += kind.plan(catalogue, list(documents), check)
    return [stamp(doc, catalogue, history) for doc in documents] if history else documents


def stamp(document: Document, catalogue: Catalogue, history: History) -> Document:
    """Date a document by the last commit of what dates it; say so when one of those files is not committed."""
    files = sorted({history.canonical(catalogue.file_of(key)) for key in document.dated_by})
    commit, dirty = history.stamp(files)
    if dirty or commit is None:
        return replace(document, stamp="version de travail, non validée")
    return replace(document, version=commit.date,
                   stamp=f"version du {commit.date.strftime('%d/%m/%Y')} ({commit.short})")
