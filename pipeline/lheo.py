"""The LHÉO 2.3 export (`build/lheo/offre-lheo.xml`): the offer in the national exchange format of the
Carif-Oref regional databases, from the same content as the documents.

Each course becomes a `formation` with one `action` holding its sessions; the organisation is the
`organisme-formation-responsable`. What LHÉO requires and a course does not say is listed by `gaps` (and by
`qualidoc check`, apart from the RNQ findings); such a course is left out of the export, with the reason.
Every export is validated against the official schema before it is written: the file is never invalid.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import textwrap
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from lxml import etree

from pipeline.inputs import Reads, Watched, watch
from pipeline.lheo_codes import code
from pipeline.state import write_atomic
from pipeline.templating import duration as duration_text
from pipeline.templating import objective_text, upcoming

NS = "http://lheo.gouv.fr/2.3"
TEACHING = {"presentiel": "0", "mixte": "1", "distanciel": "2"}  # dict-modalites-enseignement
RECRUITMENT = {"open": "1", "full": "2"}  # dict-etat-recrutement: ouvert, fermé
CONTACT_PEDAGOGICAL, CONTACT_DISABILITY, CONTACT_RECEPTION = "3", "1", "4"  # dict-type-contact


@functools.cache
def schema() -> etree.XMLSchema:
    path = resources.files("pipeline") / "data" / "lheo" / "lheo-2.3.xsd"
    return etree.XMLSchema(etree.fromstring(path.read_bytes()))


# What a course lacks --------------------------------------------------------------------------------------------

Gaps = list[tuple[tuple[str, ...], str]]  # where in the content file, and what is missing


def organisation_gaps(org: Any) -> Gaps:
    """What LHÉO requires of the organisation (every course needs it), located at its field."""
    gaps: Gaps = []
    if not org.nda:
        gaps.append((("nda",), "numéro de déclaration d'activité (numero-activite) absent"))
    if not org.siret:
        gaps.append((("siret",), "SIRET absent (SIRET-organisme-formation)"))
    address = org.address
    if not (address and address.street and address.postcode and address.city):
        gaps.append((("address",), "adresse complète (voie, code postal, commune) absente : elle sert d'adresse "
                                   "d'inscription"))
    elif not (len(address.postcode) == 5 and address.postcode.isdigit()):
        gaps.append((("address", "postcode"), "code postal de 5 chiffres attendu"))
    return gaps


def course_gaps(course: Any, as_of: dt.date) -> Gaps:
    """What LHÉO requires of a course that its sheet does not say, each located at the field to fill in."""
    gaps: Gaps = []
    lheo = course.lheo
    if not course.objectives:
        gaps.append((("objectives",), "objectifs absents (objectif-formation)"))
    if not (course.sanction or course.recognition or course.certification):
        gaps.append((("sanction",), "résultats attendus absents (resultats-attendus) : indiquer `sanction` ou "
                                    "`recognition`"))
    if not (course.modules or course.summary or course.phases):
        gaps.append((("modules",), "contenu absent (contenu-formation) : indiquer les modules"))
    if course.prerequisites is None and course.category != "BC":
        gaps.append((("prerequisites",), "prérequis absents (conditions-specifiques) : une liste, ou `none`"))
    if not course.formats:
        gaps.append((("format",), "modalité absente (modalites-enseignement)"))
    if not upcoming(course.sessions, as_of):
        gaps.append((("sessions",), f"aucune session à venir au {as_of.strftime('%d/%m/%Y')} ni entrée permanente "
                                    "(session) : indiquer les prochaines sessions"))
    if lheo is None:
        gaps.append((("lheo",), "bloc `lheo` absent : codes de public visé (`public`), niveau d'entrée "
                                "(`entry_level`), type de parcours (`path`) et rythme (`rhythm`) sont obligatoires"))
        return gaps
    for name, label in (("public", "codes de public visé (code-public-vise)"),
                        ("entry_level", "niveau d'entrée (code-niveau-entree)"),
                        ("path", "type de parcours (parcours-de-formation)"), ("rhythm", "rythme (rythme-formation)")):
        if not getattr(lheo, name):
            gaps.append((("lheo", name), f"{label} absent"))
    if course.alternance and not lheo.alternance:
        gaps.append((("lheo", "alternance"), "formation en alternance : modalités de l'alternance "
                                             "(modalites-alternance) absentes"))
    return gaps


def advice(course: Any) -> Gaps:
    """What the regional databases expect without the schema requiring it (reported as warnings)."""
    lheo = course.lheo
    if lheo is not None and not lheo.formacode:
        return [(("lheo", "formacode"), "aucun code FORMACODE : les bases régionales classent l'offre par ce code")]
    return []


def check(catalogue: Any, as_of: dt.date) -> list[dict[str, Any]]:
    """LHÉO's findings, kept apart from the RNQ's: what leaves a course out of the export, and advice."""
    from pipeline.errors import relative
    from pipeline.yamlfile import field_path

    found = []

    def add(key: str, location: tuple[str, ...], message: str, excluded: bool) -> None:
        found.append({"file": relative(catalogue.file_of(key), catalogue.root),
                      "line": catalogue.line_of(key, location), "field": field_path(location),
                      "message": message, "excluded": excluded})

    org = catalogue.organisation
    for location, message in organisation_gaps(org):
        add("organisation", location, f"{message} : aucune formation ne peut être exportée", True)
    for cid, course in sorted(catalogue.courses.items()):
        for location, message in course_gaps(course, as_of):
            add(f"courses/{cid}", location, message, True)
        for location, message in advice(course):
            add(f"courses/{cid}", location, message, False)
    return found


def describe(findings: list[dict[str, Any]], courses: int) -> list[str]:
    """The LHÉO section of `qualidoc check`."""
    if not findings:
        return [f"Export LHÉO : les {courses} formations sont exportées dans build/lheo/offre-lheo.xml", ""]
    left_out = len({f["file"] for f in findings if f["excluded"] and f["file"].startswith("content/courses/")})
    if any(f["excluded"] and not f["file"].startswith("content/courses/") for f in findings):
        left_out = courses
    lines = [f"Export LHÉO (format d'échange des Carif-Oref, hors référentiel qualité) : {left_out} formation"
             f"{'s' if left_out > 1 else ''} sur {courses} laissée{'s' if left_out > 1 else ''} hors de "
             "build/lheo/offre-lheo.xml"]
    for f in findings:
        where = f"{f['file']}:{f['line']}" if f["line"] else f["file"]
        label = "exclue" if f["excluded"] else "conseil"
        lines.append(f"  {label:<13} {where}: {f['field'] + ': ' if f['field'] else ''}{f['message']}")
    return [*lines, ""]


# Writing ------------------------------------------------------------------------------------------------------

def _add(parent: etree._Element, tag: str, text: str | None = None, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{NS}}}{tag}", attributes)
    if text is not None:
        element.text = text
    return element


def _clip(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _lines(text: str, limit: int = 50, count: int = 4) -> tuple[str, ...]:
    """A text as address lines of at most `limit` characters (LHÉO's `ligne`), at most `count` of them."""
    return _wrapped(" ".join(str(text).split()), limit, count)


@functools.lru_cache(maxsize=1024)  # the same places come back in every course (N = 100: 400 wraps, 10 ms a build)
def _wrapped(text: str, limit: int, count: int) -> tuple[str, ...]:
    lines = textwrap.wrap(text, limit) or [""]
    if len(lines) > count:
        lines = [*lines[: count - 1], _clip(" ".join(lines[count - 1:]), limit)]
    return tuple(lines)


def _coordinates(parent: etree._Element, tag: str, name: str | None = None, lines: tuple[str, ...] | None = None,
                 address: Any = None, phone: str | None = None, email: str | None = None,
                 web: str | None = None) -> etree._Element:
    element = _add(parent, tag)
    if name:
        _add(element, "nom", _clip(name, 50))
    for line in (lines or ())[:3]:
        _add(element, "ligne", line)
    if address is not None:
        _address(element, address)
    if phone:
        _add(_add(element, "telfixe"), "numtel", _clip(phone, 25))
    if email and 3 <= len(email) <= 160:
        _add(element, "courriel", email)
    if web and 3 <= len(web) <= 400:
        _add(_add(element, "web"), "urlweb", web)
    return element


def _address(parent: etree._Element, address: Any) -> None:
    element = _add(parent, "adresse")
    for line in _lines(address.street or "", 50, 4):
        _add(element, "ligne", line)
    _add(element, "codepostal", address.postcode)
    _add(element, "ville", _clip(address.city, 50))


def _date(value: dt.date) -> str:
    return value.strftime("%Y%m%d")


def _price_ttc(course: Any) -> str | None:
    """The total price per trainee, tax included: given for LHÉO, or a per-person price TTC or net of tax."""
    amount = course.lheo.price_ttc if course.lheo else None
    if amount is None:
        amount = next((p.amount for p in course.prices if p.amount is not None and not p.on_quote
                       and p.tax in ("TTC", "net") and p.per == "person"), None)
    return None if amount is None else _clip(f"{amount:.2f}", 10)


def formation(course: Any, cid: str, org: Any, as_of: dt.date, base: str | None) -> etree._Element:
    """One course as an LHÉO `formation` (its gaps must be empty)."""
    lheo = course.lheo
    element = etree.Element(f"{{{NS}}}formation", {"numero": course.reference or cid}, nsmap={None: NS})
    domain = _add(element, "domaine-formation")
    version = {"ref": lheo.formacode_version} if lheo.formacode_version else {}
    for value in lheo.formacode:
        _add(domain, "code-FORMACODE", value, **version)
    for value in lheo.nsf:
        _add(domain, "code-NSF", value)
    for value in lheo.rome:
        _add(domain, "code-ROME", value)
    _add(element, "intitule-formation", _clip(course.title, 255))
    _add(element, "objectif-formation", _clip(" ; ".join(objective_text(o) for o in course.objectives), 3000))
    results = course.sanction or course.recognition or (course.certification and course.certification.title) or ""
    _add(element, "resultats-attendus", _clip(results, 3000))
    if course.modules:
        contents = " ; ".join(f"{m.title} : {', '.join(m.contents)}" if m.contents else m.title for m in course.modules)
    elif course.phases:
        contents = " ".join(p for p in (course.phases.preliminary, course.phases.investigation,
                                        course.phases.conclusion) if p)
    else:
        contents = course.summary
    _add(element, "contenu-formation", _clip(contents, 3000))
    _add(element, "certifiante", "1" if course.certifying else "0")
    contact = course.pedagogical or org.pedagogical_contact or org.administrative_contact
    contact_element = _add(element, "contact-formation")
    _add(contact_element, "type-contact", CONTACT_PEDAGOGICAL if contact else CONTACT_RECEPTION)
    if contact:
        _coordinates(contact_element, "coordonnees", contact.name, phone=contact.phone, email=contact.email)
    else:
        _coordinates(contact_element, "coordonnees", org.name, phone=org.phone, email=org.email)
    _add(element, "parcours-de-formation", code("dict-type-parcours", lheo.path))
    _add(element, "code-niveau-entree", code("dict-niveaux", lheo.entry_level))
    if course.certification and course.certifying and course.certification.code:
        certification = _add(element, "certification")
        number = course.certification.code
        if number.startswith("RNCP"):
            _add(certification, "code-RNCP", number.removeprefix("RNCP"))
        else:
            _add(certification, "code-RS", number.removeprefix("RS"))
    if lheo.exit_level:
        _add(element, "code-niveau-sortie", code("dict-niveaux", lheo.exit_level))
    if base:
        _add(_add(element, "url-formation"), "urlweb", f"{base}/formations/{cid}.html")
    _action(element, course, org, as_of)
    _responsible(element, org)
    return element


def _action(parent: etree._Element, course: Any, org: Any, as_of: dt.date) -> None:
    lheo = course.lheo
    action = _add(parent, "action", numero=f"{course.reference or 'action'}-1")
    _add(action, "rythme-formation", _clip(lheo.rhythm, 3000))
    version = {"ref": lheo.formacode_version} if lheo.formacode_version else {}
    for value in lheo.public:
        _add(action, "code-public-vise", value, **version)
    if course.audience:
        _add(action, "info-public-vise", _clip(course.audience, 3000))
    _add(action, "niveau-entree-obligatoire", "1" if lheo.entry_level_required else "0")
    _add(action, "modalites-alternance", _clip(lheo.alternance or "Sans objet (formation non alternée)", 3000))
    formats = course.formats
    teaching = "1" if len(formats) > 1 else TEACHING[formats[0]]
    _add(action, "modalites-enseignement", teaching)
    if course.prerequisites is None:  # a bilan de compétences states none (RNQ indicator 1)
        conditions = "Sans objet (bilan de compétences)"
    else:
        conditions = "Aucun prérequis" if course.prerequisites == "none" else " ; ".join(course.prerequisites)
    _add(action, "conditions-specifiques", _clip(conditions, 3000))
    _add(action, "prise-en-charge-frais-possible", "1" if course.funding or lheo.funders else "0")
    if course.location:
        place = _add(action, "lieu-de-formation")
        _coordinates(place, "coordonnees", lines=_lines(course.location, 50, 3))
    sessions = upcoming(course.sessions, as_of)
    _add(action, "modalites-entrees-sorties", "1" if any(s.permanent for s in sessions) else "0")
    for session in sessions:
        element = _add(action, "session", numero=f"{session.start.isoformat() if session.start else 'permanente'}")
        period = _add(element, "periode")
        if session.permanent or session.start is None:
            _add(period, "debut", "00000000")
            _add(period, "fin", "99999999")
        else:
            _add(period, "debut", _date(session.start))
            _add(period, "fin", _date(session.end or session.start))
        registration = _add(element, "adresse-inscription")
        _address(registration, org.address)
        if session.registration_deadline:
            period = _add(element, "periode-inscription")
            inner = _add(period, "periode")
            _add(inner, "debut", "00000000")
            _add(inner, "fin", _date(session.registration_deadline))
        _add(element, "etat-recrutement", RECRUITMENT[session.status])
    if course.accessibility:
        _add(action, "acces-handicapes", _clip(course.accessibility, 250))
    price = _price_ttc(course)
    if price:
        _add(action, "prix-total-TTC", price)
    if course.duration and course.duration.stated:
        if course.duration.hours is not None and float(course.duration.hours).is_integer():
            _add(action, "nombre-heures-total", str(int(course.duration.hours)))
        else:
            _add(action, "duree-indicative", _clip(duration_text(course.duration) or "durée à préciser", 3000))
    for funder in lheo.funders:
        _add(_add(action, "organisme-financeur"), "code-financeur", code("dict-financeurs", funder))


def _responsible(parent: etree._Element, org: Any) -> None:
    element = _add(parent, "organisme-formation-responsable")
    _add(element, "numero-activite", org.nda)
    _add(_add(element, "SIRET-organisme-formation"), "SIRET", org.siret)
    _add(element, "nom-organisme", _clip(org.trade_name or org.name, 250))
    _add(element, "raison-sociale", _clip(org.name, 250))
    _coordinates(_add(element, "coordonnees-organisme"), "coordonnees", org.name, address=org.address,
                 phone=org.phone, email=org.email, web=org.website)
    contact = _add(element, "contact-organisme")
    _add(contact, "type-contact", CONTACT_RECEPTION)
    _coordinates(contact, "coordonnees", org.name, phone=org.phone, email=org.email)
    referent = org.disability_referent
    if referent:
        contact = _add(element, "contact-organisme")
        _add(contact, "type-contact", CONTACT_DISABILITY)
        _coordinates(contact, "coordonnees", referent.name, phone=referent.phone, email=referent.email)


# The document -------------------------------------------------------------------------------------------------

class _Entry:
    """A course's part of the last export: its gaps and `formation` (as written in the export), what they read,
    and what they were made of (the content objects themselves: watch and the resident builder keep an
    unchanged file's object)."""

    __slots__ = ("course", "org", "as_of", "base", "reasons", "element", "text", "reads", "shelved")

    def __init__(self, course: Any, org: Any, as_of: dt.date, base: str | None, reasons: list[str],
                 element: Any, reads: frozenset[str], text: bytes | None = None, shelved: str | None = None):
        self.course, self.org, self.as_of, self.base = course, org, as_of, base
        self.reasons, self.reads = reasons, reads
        self.element = element  # a `formation` just made, until it is written (`text`)
        self.text = text  # the `formation`'s lines in the export, UTF-8 (exported: element or text is set)
        self.shelved = shelved  # the key it is kept under on the shelf (Shelf), if any


# The last export's entries, by course id: after an edit, the 99 other courses of N = 100 are not written
# again (60 ms of the 90 that the export took in the resident builder after a title edit, holding the
# interpreter while the long documents were laid out and joined).
_KEPT: dict[str, _Entry] = {}


class Shelf:
    """The last export's entries kept in the user cache, for the next process: a command after an edit writes
    the `formation` of the edited course only, and takes the others' lines from here (at N = 100, 60-90 ms of
    the interpreter in a command after a title edit; at N = 1000, ten times as much).

    An entry is taken again only for the same course file (its bytes' hash), the same organisation file, the
    same date, address and qualidoc (`salt`: its code); what it read is recorded again. A file cut short or
    damaged is ignored (its first line is the hash of the rest), and rewritten by the export.
    """

    def __init__(self, path: Path, salt: str, file_hash: Callable[[str], str | None]):
        self.path, self.salt, self.file_hash = path, salt, file_hash
        self._entries: dict[str, Any] | None = None
        self._lines = memoryview(b"")

    def key(self, cid: str, course_key: str, org_key: str, as_of: dt.date, base: str | None,
            exported: bool) -> str | None:
        course, org = self.file_hash(course_key), self.file_hash(org_key)
        if course is None or org is None:
            return None
        text = "\0".join((self.salt, cid, course, org, as_of.isoformat(), base or "", str(exported)))
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def entries(self) -> dict[str, Any]:
        if self._entries is None:
            self._entries, self._lines = {}, memoryview(b"")
            try:  # its hash, the entries, then their lines one after another (not copied: 8 MB at N = 1000)
                raw = self.path.read_bytes()
                first = raw.find(b"\n")
                second = raw.find(b"\n", first + 1)
                rest = memoryview(raw)[first + 1:]
                if second > first > 0 and hashlib.sha256(rest).hexdigest().encode() == raw[:first]:
                    data = json.loads(raw[first + 1:second])
                    self._entries = data if isinstance(data, dict) else {}
                    self._lines = memoryview(raw)[second + 1:]
            except (OSError, ValueError):
                pass
            _SHELVED[self.path] = {cid: str(kept.get("key")) for cid, kept in self._entries.items()
                                   if isinstance(kept, dict)}
        return self._entries

    def take(self, cid: str, key: str) -> tuple[list[str], bytes | None, frozenset[str]] | None:
        """The reasons, `formation` lines and reads kept for a course under this key, or None."""
        kept = self.entries.get(cid)
        if not isinstance(kept, dict) or kept.get("key") != key:
            return None
        reasons, at, reads = kept.get("reasons"), kept.get("at"), kept.get("reads")
        if not (isinstance(reasons, list) and isinstance(reads, list) and (at is None or isinstance(at, list))):
            return None
        try:
            text = None if at is None else self._lines[at[0]:at[1]].tobytes()
        except (TypeError, IndexError):
            return None
        return [str(reason) for reason in reasons], text, frozenset(str(name) for name in reads)

    def put(self, entries: dict[str, _Entry]) -> None:
        """Keep this export's entries in place of the last one's, unless they are the same."""
        keys = {cid: entry.shelved for cid, entry in entries.items() if entry.shelved is not None}
        if _SHELVED.get(self.path) == keys:
            return
        index: dict[str, Any] = {}
        lines: list[bytes] = []
        size = 0
        for cid, entry in entries.items():
            if entry.shelved is None:
                continue
            at = None
            if entry.text is not None:
                lines.append(entry.text)
                at, size = [size, size + len(entry.text)], size + len(entry.text)
            index[cid] = {"key": entry.shelved, "reasons": entry.reasons, "reads": sorted(entry.reads), "at": at}
        parts = [json.dumps(index, ensure_ascii=False).encode(), b"\n", *lines]
        digest = hashlib.sha256()
        for part in parts:
            digest.update(part)
        with contextlib.suppress(OSError):
            write_atomic(self.path, [digest.hexdigest().encode(), b"\n", *parts], durable=False)
            _SHELVED[self.path] = keys
        self._entries = None  # read again if needed


# What each shelf holds, as this process last read or wrote it (course id → key): an export that changed
# nothing (watch, after an edit of a trainer) does not write it again.
_SHELVED: dict[Path, dict[str, str]] = {}


def _course_entry(cid: str, course: Any, org: Any, as_of: dt.date, base: str | None, exported: bool,
                  shelf: Shelf | None = None) -> _Entry:
    """A course's gaps and, if it has none and `exported` (the organisation has none), its `formation`.

    Read through content views (a build's page, inputs.py), it is kept with the names of what it read, and
    given again, those names recorded again, while the course and the organisation are the same objects, or,
    in another process, while their files are the same (`shelf`).
    """
    watched = isinstance(course, Watched) and isinstance(org, Watched)
    shelved = None
    if watched:
        reads: Reads = course._reads
        same, model, organisation = _KEPT.get(cid), course._object, org._object
        if (same is not None and same.course is model and same.org is organisation and same.as_of == as_of
                and same.base == base and (same.text is not None) == (exported and not same.reasons)):
            reads.names |= same.reads
            return same
        if shelf is not None:
            shelved = shelf.key(cid, course._key, org._key, as_of, base, exported)
            taken = shelf.take(cid, shelved) if shelved is not None else None
            if taken is not None and (taken[1] is not None) == (exported and not taken[0]):
                reasons, text, names = taken
                reads.names |= names
                return _Entry(model, organisation, as_of, base, reasons, None, names, text, shelved)
        own = Reads()
        course, org = watch(model, course._key, own), watch(organisation, org._key, own)
    reasons = [message for _, message in course_gaps(course, as_of)]
    element = formation(course, cid, org, as_of, base) if exported and not reasons else None
    if not watched:  # nothing recorded: not given again
        return _Entry(None, None, as_of, base, reasons, element, frozenset())
    reads.names |= own.names
    return _Entry(model, organisation, as_of, base, reasons, element, frozenset(own.names), shelved=shelved)


# The export around its `formation`s, as lxml writes it (pretty_print): each `formation` is written once, in
# a document of its own (validated), and its lines are kept; the export is these lines between HEAD and TAIL.
HEAD = f"<?xml version='1.0' encoding='UTF-8'?>\n<lheo xmlns=\"{NS}\">\n  <offres>\n".encode()
TAIL = b"  </offres>\n</lheo>\n"
_FORMATION = b"\n    <formation "  # where one starts (deeper elements are indented further; text is escaped)


def _write(entries: list[_Entry]) -> None:
    """Write the `formation`s just made (`element`) as their lines in the export (`text`), once validated."""
    made = [entry for entry in entries if entry.element is not None]
    if not made:
        return
    root = etree.Element(f"{{{NS}}}lheo", nsmap={None: NS})
    offers = etree.SubElement(root, f"{{{NS}}}offres")
    for entry in made:
        offers.append(entry.element)
    schema().assertValid(root)  # a failure here is a bug of qualidoc: reported as an internal error
    text = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    if not (text.startswith(HEAD) and text.endswith(TAIL)):  # another lxml would need another HEAD or TAIL
        raise RuntimeError("export LHÉO : en-tête inattendu de lxml")
    starts = [len(HEAD)] + [at + 1 for at in _starts(text, len(HEAD))] + [len(text) - len(TAIL)]
    if len(starts) != len(made) + 1:
        raise RuntimeError("export LHÉO : formations mal délimitées")
    for entry, begin, end in zip(made, starts, starts[1:]):
        entry.text, entry.element = text[begin:end], None


def _starts(text: bytes, after: int) -> list[int]:
    """Where each `formation` but the first begins (the newline before it)."""
    found, position = [], text.find(_FORMATION, after)
    while position >= 0:
        found.append(position)
        position = text.find(_FORMATION, position + 1)
    return found


def export(courses: list[tuple[str, Any]], org: Any, as_of: dt.date,
           base: str | None, shelf: Shelf | None = None) -> tuple[bytes | None, dict[str, list[str]]]:
    """The LHÉO document of the courses that have what LHÉO requires; the others with their reasons.

    None when no course can be exported (LHÉO needs at least one `formation`). `shelf`: the entries of the
    last export, kept in the user cache (taken again through content views only).
    """
    left_out: dict[str, list[str]] = {}
    organisation = [message for _, message in organisation_gaps(org)]
    kept, exported = {}, []
    for cid, course in courses:
        entry = kept[cid] = _course_entry(cid, course, org, as_of, base, not organisation, shelf)
        reasons = organisation + entry.reasons
        if reasons:
            left_out[cid] = reasons
            continue
        exported.append(entry)
    _write(exported)
    _KEPT.clear()
    _KEPT.update(kept)
    if shelf is not None:
        shelf.put(kept)
    if not exported:
        return None, left_out
    return b"".join([HEAD, *(entry.text or b"" for entry in exported), TAIL]), left_out
