"""The mentions the RNQ requires on a programme sheet, and whether a course states each of them.

One list serves the check (a missing mention is an indicator-1 finding) and the documents (a missing
mention is printed as « À compléter » where it belongs), so that both always agree. A value that only
stands in for information (« NC », « nous consulter », « - »…) counts as missing.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.model import Contact, Course, Organisation

PLACEHOLDERS = frozenset("""
nous consulter|nc|n c|oui|non|non precise|non precisee|non precises|non renseigne|non renseignee|voir cgv|cf cgv|
voir conditions generales|a definir|sur demande|a venir|na|n a|nd|n d|a completer|tbd|xxx|variable|a preciser|
nous contacter|contactez nous|voir site|voir notre site|voir site internet|voir notre site internet|selon profil|
selon besoin|selon besoins|en cours|neant|sans objet|idem|cf programme|voir programme|voir ci dessous|
voir ci dessus|communique ulterieurement|a confirmer|selon planning|selon calendrier
""".replace("\n", "").split("|"))
DISABILITY_WORDS = re.compile(r"handicap|\bpsh\b|besoins? (?:specifiques?|particuliers?)|amenagement|compensation|"
                              r"troubles?\b|deficien|\bdys")
REACH_WORDS = re.compile(r"@|\d{2}[ .]?\d{2}[ .]?\d{2}[ .]?\d{2}|referent|referente|https?:|www\.")


def ascii_lower(text: str) -> str:
    """Lower case, without accents."""
    return unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()


@functools.lru_cache(maxsize=8192)
def folded(text: str) -> str:
    """Lower case, without accents, punctuation reduced to single spaces."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", ascii_lower(text)).split())


def is_placeholder(text: str | None) -> bool:
    """Say whether a text only stands in for information (« NC », « nous consulter », « - »…). A text in
    another script (Greek, Cyrillic, Japanese…) is information: folded() keeps only Latin letters and digits."""
    if text is None:
        return True
    key = folded(text)
    return key in PLACEHOLDERS or not key and not any(c.isalnum() for c in text)


def has_text(text: str | None) -> bool:
    return not is_placeholder(text)


def has_items(items: list[str] | None) -> bool:
    return any(has_text(item) for item in items or [])


def reachable(person: Contact | None) -> bool:
    """A contact one can reach: an email or a phone number."""
    return bool(person and (has_text(person.email) or has_text(person.phone)))


@dataclass(frozen=True)
class Mention:
    """One mention of indicator 1: its key, its French name, where it lives, and whether a course states it."""

    key: str
    label: str
    location: tuple[str, ...]
    stated: Callable[[Course, Organisation | None], bool]
    applies: Callable[[Course, str], bool] = lambda course, version: True


def _contacts(course: Course, org: Organisation | None) -> bool:
    people = [course.pedagogical, course.administrative_contact]
    if org is not None:
        people += [org.pedagogical_contact, org.administrative_contact]
    return any(reachable(p) for p in people) or bool(org and (has_text(org.email) or has_text(org.phone)))


def _prices(course: Course, org: Organisation | None) -> bool:
    return any(p.amount is not None or p.on_quote for p in course.prices)


def _evaluation(course: Course, org: Organisation | None) -> bool:
    e = course.evaluation
    if e is None:
        return False
    if course.category == "BC":
        return any(has_text(x) for x in (e.entry, e.during, e.final, e.satisfaction))
    return has_text(e.final) or has_text(e.during)


def _recognition(course: Course, org: Organisation | None) -> bool:
    return has_text(course.recognition) or has_text(course.sanction) or course.certification is not None


MENTIONS: tuple[Mention, ...] = (
    Mention("updated", "date de mise à jour", ("updated",), lambda c, o: c.updated is not None),
    Mention("audience", "public visé", ("audience",), lambda c, o: has_text(c.audience)),
    Mention("prerequisites", "prérequis (ou « aucun prérequis »)", ("prerequisites",),
            lambda c, o: c.prerequisites == "none" or has_items(c.prerequisites),  # type: ignore[arg-type]
            lambda c, v: c.category != "BC"),  # GUIDE-V9: for a bilan, prerequisites need not be stated
    Mention("objectives", "objectifs", ("objectives",), lambda c, o: has_items(c.objectives)),
    Mention("duration", "durée", ("duration",), lambda c, o: bool(c.duration and c.duration.stated)),
    Mention("format", "modalité (présentiel, distanciel, mixte)", ("format",), lambda c, o: bool(c.formats)),
    Mention("access_modalities", "modalités d'accès", ("access", "modalities"),
            lambda c, o: bool(c.access and has_text(c.access.modalities))),
    Mention("access_delay", "délai d'accès", ("access", "delay"),
            lambda c, o: bool(c.access and has_text(c.access.delay))),
    Mention("prices", "tarifs", ("prices",), _prices),
    Mention("contacts", "contacts", ("pedagogical_contact",), _contacts),
    Mention("methods", "méthodes mobilisées", ("methods",),
            lambda c, o: bool(c.methods and (has_items(c.methods.teaching) or has_items(c.methods.resources)))),
    Mention("evaluation", "modalités d'évaluation", ("evaluation",), _evaluation),
    Mention("accessibility", "accessibilité aux personnes en situation de handicap", ("accessibility",),
            lambda c, o: has_text(c.accessibility)),
    Mention("recognition", "type de reconnaissance (attestation, certification…)", ("recognition",), _recognition,
            lambda c, v: v == "V10"),
    Mention("funding", "modalités de financement", ("funding",), lambda c, o: has_items(c.funding) or bool(c.cpf),
            lambda c, v: v == "V10"),
)
BY_KEY = {m.key: m for m in MENTIONS}


def missing_mentions(course: Course, org: Organisation | None, version: str) -> dict[str, Mention]:
    """Return the mentions of indicator 1 that a course does not state (placeholders count as missing)."""
    return {m.key: m for m in MENTIONS if m.applies(course, version) and not m.stated(course, org)}


def certification_gaps(course: Course) -> list[tuple[str, str]]:
    """The details a certification must state on the sheet (GUIDE-V9, ind. 1): (field, French name)."""
    cert = course.certification
    if cert is None:
        return []
    if cert.register is None:
        return [("registry", "répertoire (RNCP, RS, ou none pour un certificat hors répertoire)")]
    wanted = [("title", "libellé exact")]
    if cert.registered_in_repertoire:
        wanted += [("code", "code RNCP/RS"), ("certifier", "certificateur"), ("registered", "date d'enregistrement")]
    return [(name, label) for name, label in wanted if getattr(cert, name) in (None, "")
            or (isinstance(getattr(cert, name), str) and is_placeholder(getattr(cert, name)))]


def addresses_disability(text: str | None) -> bool:
    """Say whether an accessibility statement speaks of disability, not only of the premises."""
    return bool(text) and bool(DISABILITY_WORDS.search(folded(text or "")))


def gives_way_to_referent(course: Course, org: Organisation | None) -> bool:
    """A way to reach the disability referent: on the sheet, or the organisation's referent with a contact."""
    if org is not None and reachable(org.disability_referent):
        return True
    return bool(course.accessibility and REACH_WORDS.search(ascii_lower(course.accessibility)))


def sheet_context(course: Course, org: Organisation | None, version: str) -> dict[str, Any]:
    """What a template needs to show the mentions: the missing ones and where the others are published."""
    missing = missing_mentions(course, org, version)
    return {"missing": {k: m.label for k, m in missing.items()}, "elsewhere": dict(course.published_elsewhere)}


def sheet_gaps(course: Course, org: Organisation | None, version: str) -> list[str]:
    """Everything a programme sheet shows as « À compléter », by its French name."""
    gaps = [m.label for m in missing_mentions(course, org, version).values()]
    gaps += [f"certification : {label}" for _, label in certification_gaps(course)]
    if course.category == "BC":
        phases = course.phases
        gaps += [f"phase {label}" for name, label in (("preliminary", "préliminaire"),
                                                         ("investigation", "d'investigation"),
                                                         ("conclusion", "de conclusion"))
                 if not (phases and has_text(getattr(phases, name)))]
    elif not course.modules:
        gaps.append("contenu et déroulé")
    results = course.results
    if results is None and not course.new and not course.published_elsewhere.get("results"):
        gaps.append("indicateurs de résultats")
    elif results is not None:
        gaps += ["période de mesure des résultats"] if results.period_end is None else []
        gaps += ["nombre de stagiaires des résultats"] if results.trainees is None else []
    if org is None or org.disability_referent is None:
        gaps.append("référent handicap")
    if org is None or not org.nda:
        gaps.append("numéro de déclaration d'activité")
    return gaps
