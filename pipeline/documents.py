"""The document kinds: what each reads, which template renders it, where it lands.

Adding a kind means adding a template and one entry in KINDS; the build never names a kind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pipeline.content import Catalogue


@dataclass(frozen=True)
class Document:
    """One document to produce, as DOCX and PDF, from the content it reads."""

    kind: str
    path: str  # output path without extension, relative to the output folder
    template: str
    title: str
    reference: str
    version: dt.date
    # What the document reads: catalogue keys ("organisation", "courses/<id>"), or only some fields of an
    # object ("courses/<id>#reference,title"), so that an aggregate is not rebuilt for a change it does not show.
    sources: tuple[str, ...]
    context: dict[str, Any] = field(hash=False, compare=False, default_factory=dict)
    extra_templates: tuple[str, ...] = ()  # templates read besides its own (the conformity check reads some)
    lazy_context: Callable[[Document], dict[str, Any]] | None = field(default=None, hash=False, compare=False)
    incomplete: bool = False  # shows « À compléter » where a mandatory mention is missing
    stamp: str = ""  # shown in the header: "version du 14/09/2026 (a1b2c3d)" or "version de travail, non validée"

    @property
    def stamp_text(self) -> str:
        return self.stamp or f"version du {self.version.strftime('%d/%m/%Y')}"


@dataclass(frozen=True)
class DocumentKind:
    name: str
    plan: Callable[[Catalogue, Any], list[Document]]  # the documents of this kind the content calls for


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


def _programmes(catalogue: Catalogue, project: Any = None) -> list[Document]:
    from pipeline.mentions import sheet_context, sheet_gaps
    from pipeline.referential import referential_for

    org = catalogue.organisation
    version = referential_for(org.referential, org.next_audit).version
    documents = []
    for cid, course in catalogue.courses.items():
        sources = ["organisation", f"courses/{cid}", *(f"trainers/{t}#name,role" for t in course.trainers)]
        kind = {"BC": "Programme du bilan de compétences", "VAE": "Programme de l'accompagnement VAE"}.get(
            course.category, "Programme de formation")
        documents.append(Document(
            "programme", f"programmes/{cid}", "programme.md.j2", f"{kind} – {course.title}",
            course.reference or "", _course_version(catalogue, cid), tuple(sources),
            {"course": course, "course_id": cid, "trainers": [catalogue.trainers[t] for t in course.trainers],
             **sheet_context(course, org, version)},
            incomplete=bool(sheet_gaps(course, org, version)),
            stamp="" if course.updated else "date de mise à jour à compléter"))
    return documents


def _positioning(catalogue: Catalogue, project: Any = None) -> list[Document]:
    documents = []
    for cid, course in catalogue.courses.items():
        title = ("Guide de l'entretien préliminaire" if course.category == "BC"
                 else "Questionnaire de positionnement")
        documents.append(Document("positionnement", f"positionnement/{cid}", "positionnement.md.j2",
                                  f"{title} – {course.title}", course.reference or "",
                                  _course_version(catalogue, cid), ("organisation", f"courses/{cid}"),
                                  {"course": course, "course_id": cid},
                                  incomplete=course.category != "BC" and (not course.objectives
                                                                          or course.prerequisites is None),
                                  stamp="" if course.updated else "date de mise à jour à compléter"))
    return documents


def _skills_matrix(catalogue: Catalogue, project: Any = None) -> list[Document]:
    trainers = [f"trainers/{t}" for t in catalogue.trainers]
    sources = ["organisation", *trainers, *(f"courses/{c}#reference,title,trainers" for c in catalogue.courses)]
    return [Document("matrice-competences", "intervenants/matrice-competences", "matrice-competences.md.j2",
                     "Matrice des compétences des intervenants", "MAT-COMP",
                     version_of(catalogue, trainers), tuple(sources),
                     {"trainers": catalogue.trainers, "courses": catalogue.courses})]


def _improvement_log(catalogue: Catalogue, project: Any = None) -> list[Document]:
    cited = sorted({c for entry in catalogue.improvements.values() for c in entry.courses})
    sources = ["organisation", *(f"improvements/{e}" for e in catalogue.improvements),
               *(f"courses/{c}#reference,title" for c in cited)]
    version = version_of(catalogue, [f"improvements/{e}" for e in catalogue.improvements])
    entries = sorted(catalogue.improvements.items(), key=lambda item: (item[1].date, item[0]))
    return [Document("registre-amelioration", "amelioration/registre-amelioration", "registre-amelioration.md.j2",
                     "Registre d'amélioration continue", "REG-AMEL", version, tuple(sources),
                     {"entries": entries, "courses": catalogue.courses, "as_of": version})]


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


def _conformity(catalogue: Catalogue, project: Any = None) -> list[Document]:
    sources = ["organisation", *(f"{folder}/{ident}" for folder in ("courses", "trainers", "improvements")
                                 for ident in getattr(catalogue, folder))]

    def context(document: Document) -> dict[str, Any]:
        """Run the check only when the document is rendered, at the document's own date (its commit's)."""
        from pipeline.mentions import sheet_gaps
        from pipeline.rules import check, indicator_status

        result = check(catalogue, document.version, project)
        others = [d for kind in KINDS if kind.name != "conformite" for d in kind.plan(catalogue, project)]
        rows = []
        for indicator in result.referential.indicators:
            evidence = [_evidence(others, kind) for kind in EVIDENCE_KINDS.get(indicator.number, [])]
            rows.append({"indicator": indicator, "status": indicator_status(result, indicator),
                         "reason": result.applicability[indicator.number], "evidence": evidence,
                         "findings": result.of(indicator.number)})
        org = catalogue.organisation
        incomplete = []
        for cid, course in catalogue.courses.items():
            gaps = sheet_gaps(course, org, result.referential.version)
            if gaps:
                incomplete.append({"path": f"programmes/{cid}.pdf", "title": course.title, "missing": gaps})
        return {"result": result, "rows": rows, "as_of": document.version, "incomplete": incomplete,
                "working": document.stamp.startswith("version de travail")}

    as_of = version_of(catalogue, sources)
    return [Document("conformite", "conformite/matrice-conformite", "conformite.md.j2",
                     "Tableau de conformité au Référentiel national qualité", "MAT-CONF", as_of, tuple(sources),
                     extra_templates=("programme.md.j2", "positionnement.md.j2"), lazy_context=context)]


KINDS: list[DocumentKind] = [
    DocumentKind("programme", _programmes),
    DocumentKind("positionnement", _positioning),
    DocumentKind("matrice-competences", _skills_matrix),
    DocumentKind("registre-amelioration", _improvement_log),
    DocumentKind("conformite", _conformity),  # last: it lists the others as evidence
]


def plan_documents(catalogue: Catalogue, project: Any = None, history: Any = None) -> list[Document]:
    """List every document the content calls for (`project` lets the conformity check read templates)."""
    documents = [doc for kind in KINDS for doc in kind.plan(catalogue, project)]
    return [stamp(doc, catalogue, history) for doc in documents] if history else documents


def stamp(document: Document, catalogue: Catalogue, history: Any) -> Document:
    """Date a document by the last commit of its sources; say so when one of them is not committed."""
    files = sorted({catalogue.file_of(key.partition("#")[0]).resolve() for key in document.sources})
    commit, dirty = history.stamp(files)
    if dirty or commit is None:
        return replace(document, stamp="version de travail, non validée")
    return replace(document, version=commit.date,
                   stamp=f"version du {commit.date.strftime('%d/%m/%Y')} ({commit.short})")
