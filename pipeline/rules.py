"""`qualidoc check`: the RNQ rules run over the content, before the auditor does.

Each rule is a small function registered for one indicator; it returns findings located in the
content (file, line, field). Severity "error" is what an auditor would record as a non-conformity,
"warning" a weakness. Indicators that do not apply (by category or condition) say why.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.content import Catalogue
from pipeline.errors import excerpt, relative
from pipeline.inputs import Reads, record, recording
from pipeline.mentions import (
    addresses_disability,
    certification_gaps,
    gives_way_to_referent,
    has_text,
    missing_mentions,
    reachable,
)
from pipeline.project import inside
from pipeline.referential import Indicator, Referential, referential_for
from pipeline.state import write_atomic
from pipeline.templating import INFINITIVE, number_fr
from pipeline.tools import package_hash
from pipeline.yamlfile import field_path

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True, order=True)
class Finding:
    indicator: int
    severity: str
    file: str
    line: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CheckResult:
    referential: Referential
    as_of: dt.date
    findings: list[Finding]
    applicability: dict[int, str | None]  # indicator -> None if it applies, else the reason it does not

    def errors(self, strict: bool = False) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR or (strict and f.severity == WARNING)]

    def of(self, number: int) -> list[Finding]:
        return [f for f in self.findings if f.indicator == number]


@dataclass(frozen=True)
class TemplateAccess:
    """What the rules read of a project's templates, given by the caller: rules render nothing themselves.

    `pipeline.plan.check_project` gives the project's; a test may give its own.
    """

    folders: tuple[Path, ...]  # the template folders, first found wins, whose text the rules read (Qualiopi logo)
    cache: Path  # where the positioning check keeps what it found, between runs
    questionnaire: Callable[[str], str]  # a course id → the Markdown of its positioning questionnaire

    def text(self, name: str) -> tuple[Path, str]:
        """A template's path and text ("" when absent); what a document that runs the check has read."""
        record(f"template:{name}")
        for folder in self.folders:
            path = folder / name
            if path.is_file() and inside(path, folder):
                return path, path.read_text(encoding="utf-8")
        return self.folders[-1] / name, ""


@dataclass
class Context:
    catalogue: Catalogue
    referential: Referential
    as_of: dt.date
    templates: TemplateAccess
    findings: list[Finding] = field(default_factory=list)

    @property
    def v10(self) -> bool:
        return self.referential.version == "V10"

    def add(self, indicator: int, severity: str, key: str, location: tuple[str | int, ...], message: str) -> None:
        """Record a finding located at a field of a content object."""
        catalogue = self.catalogue
        path = relative(catalogue.file_of(key), catalogue.root)
        line = catalogue.line_of(key, location)
        field_name = field_path(location)
        self.findings.append(Finding(indicator, severity, path, line, field_name, message))


Rule = Callable[[Context], None]
RULES: list[tuple[int, Rule]] = []


def rule(indicator: int) -> Callable[[Rule], Rule]:
    """Register a rule for an indicator."""
    def register(function: Rule) -> Rule:
        RULES.append((indicator, function))
        return function
    return register


def months_between(earlier: dt.date, later: dt.date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month - (later.day < earlier.day)


def courses(ctx: Context, indicator: int | None = None) -> Iterator[tuple[str, str, Any]]:
    """The courses an indicator applies to, by their action category (all of them without an indicator)."""
    categories = ctx.referential.indicator(indicator).categories if indicator else None
    for cid, course in ctx.catalogue.courses.items():
        if categories is None or course.category in categories:
            yield cid, f"courses/{cid}", course


# Indicator 1: information to the public ---------------------------------------------------------

@rule(1)
def mandatory_mentions(ctx: Context) -> None:
    org = ctx.catalogue.organisation
    for _, key, course in courses(ctx, 1):
        for mention in missing_mentions(course, org, ctx.referential.version).values():
            support = course.published_elsewhere.get(mention.key)  # type: ignore[call-overload]
            if support:
                ctx.add(1, WARNING, key, ("published_elsewhere", mention.key), f"{mention.label} : publié sur un "
                        f"autre support (« {excerpt(support)} »), accepté comme preuve, mais la fiche ne l'indique "
                        "pas ; l'auditeur vérifiera ce support")
            else:
                ctx.add(1, ERROR, key, mention.location, f"mention obligatoire absente : {mention.label}"
                        + _placeholder_note(course, mention.location))
        for name, label in certification_gaps(course):
            ctx.add(1, ERROR, key, ("certification", name), f"certification : {label} à indiquer (libellé exact, "
                    "code RNCP/RS, certificateur et date d'enregistrement figurent sur la fiche)")


def _placeholder_note(course: Any, location: tuple[str, ...]) -> str:
    """Say so when the field holds a placeholder rather than nothing."""
    value: Any = course
    for part in location:
        value = getattr(value, part, None) if value is not None else None
    if isinstance(value, list):
        value = " ; ".join(str(v) for v in value) if value else None
    if isinstance(value, str) and value != "none":
        return f" (« {excerpt(value)} » n'est pas une information)"
    return ""




@rule(1)
def sheet_is_consistent(ctx: Context) -> None:
    org = ctx.catalogue.organisation
    for _, key, course in courses(ctx, 1):
        size = course.group_size
        if size and size.min and size.max and size.min > size.max:
            ctx.add(1, ERROR, key, ("group_size",), f"effectif minimum ({size.min}) supérieur au maximum "
                    f"({size.max})")
        if course.accessibility and has_text(course.accessibility):
            if not addresses_disability(course.accessibility):
                ctx.add(1, ERROR, key, ("accessibility",), "l'accessibilité ne traite que des locaux : dire comment "
                        "les personnes en situation de handicap sont accueillies (adaptations, compensation, "
                        "référent handicap)")
            elif not gives_way_to_referent(course, org):
                ctx.add(1, ERROR, key, ("accessibility",), "aucun moyen de joindre le référent handicap (ni sur la "
                        "fiche, ni dans `disability_referent` de l'organisme)")
        _prices_are_verifiable(ctx, key, course)
        duration = course.duration
        if duration and duration.min_hours and duration.max_hours and duration.min_hours > duration.max_hours:
            ctx.add(1, ERROR, key, ("duration",), "durée minimale supérieure à la durée maximale")
        if course.category == "BC" and duration and duration.longest > 24:
            ctx.add(1, ERROR, key, ("duration",), f"un bilan de compétences dure 24 h au plus (art. L.6313-4 du "
                    f"Code du travail) : {duration.longest:g} h annoncées")
        if course.cpf and course.category == "AFC" and not course.certifying:
            ctx.add(1, ERROR, key, ("cpf",), "mention de nature à induire en erreur : une action de formation "
                    "n'est éligible au CPF que si elle prépare une certification enregistrée au RNCP ou au RS")


def _prices_are_verifiable(ctx: Context, key: str, course: Any) -> None:
    for index, price in enumerate(course.prices):
        where = ("prices", index)
        if price.amount is None and not price.on_quote:
            if any(p.amount is not None or p.on_quote for p in course.prices):  # else: the mention is missing
                ctx.add(1, ERROR, key, where, "tarif sans montant ni mention « sur devis » (`amount` ou `on_quote`)")
            continue
        if price.amount is None:
            ctx.add(1, WARNING, key, where, "tarif sur devis sans montant indicatif : indiquer un prix de "
                    "référence (« à partir de ») et ce qui le détermine (`basis`)")
            continue
        if price.amount is not None and price.per is None:
            ctx.add(1, WARNING, key, (*where, "per"), "tarif sans assiette : par personne, par groupe, par jour… "
                    "(`per`)")
        if price.amount is not None and price.tax is None:
            ctx.add(1, WARNING, key, (*where, "tax"), "tarif sans mention HT, TTC ou net de taxe (`tax`)")


@rule(1)
def programme_is_current(ctx: Context) -> None:
    limit = ctx.catalogue.organisation.checks.update_max_months
    for _, key, course in courses(ctx, 1):
        if course.updated is None:
            continue  # a mention of its own
        age = months_between(course.updated, ctx.as_of)
        if course.updated > ctx.as_of:
            ctx.add(1, ERROR, key, ("updated",), f"la date de mise à jour {course.updated} est dans le futur")
        elif age >= limit:
            ctx.add(1, WARNING, key, ("updated",), f"mis à jour le {course.updated}, il y a {age} mois : revoir le "
                    f"programme et actualiser `updated` (information datée et actualisée, limite {limit} mois)")


HOURS_PER_DAY_AT_MOST = 10  # more hours a day than this, over a session's calendar days, is not a plausible date


def _day(value: dt.date) -> str:
    return value.strftime("%d/%m/%Y")


@rule(1)
def sessions_are_current(ctx: Context) -> None:
    """The dates published must be true: none already past, none inconsistent with the course's duration."""
    for _, key, course in courses(ctx, 1):
        for index, session in enumerate(course.sessions):
            where: tuple[str | int, ...] = ("sessions", index)
            if session.permanent:
                continue
            if session.start is None:
                ctx.add(1, WARNING, key, where, "session sans date de début : indiquer `start` (et `end`), ou "
                        "`permanent: true` pour des entrées et sorties permanentes")
                continue
            last = session.last_day or session.start
            if last < session.start:
                ctx.add(1, ERROR, key, (*where, "end"), f"la session finit le {_day(last)}, avant son début "
                        f"({_day(session.start)})")
                continue
            if session.registration_deadline and session.registration_deadline > session.start:
                ctx.add(1, ERROR, key, (*where, "registration_deadline"), "date limite d'inscription "
                        f"({_day(session.registration_deadline)}) après le début de la session ({_day(session.start)})")
            if last < ctx.as_of and session.status != "cancelled":
                ctx.add(1, WARNING, key, (*where, "start"), f"session du {_day(session.start)} déjà passée : la "
                        "retirer des prochaines dates publiées, ou la remplacer par la suivante")
            _session_fits_duration(ctx, key, where, course, session.start, last)


def _session_fits_duration(ctx: Context, key: str, where: tuple[str | int, ...], course: Any,
                           start: dt.date, last: dt.date) -> None:
    duration = course.duration
    if duration is None:
        return
    span = (last - start).days + 1
    shown = f"du {_day(start)} au {_day(last)}" if span > 1 else f"le {_day(start)}"
    if duration.days and span < duration.days:
        ctx.add(1, WARNING, key, where, f"la session se tient {shown} ({span} jour{'s' if span > 1 else ''}), "
                f"la formation dure {number_fr(duration.days)} jours (`duration.days`) : dates ou durée à corriger")
    elif duration.stated and duration.longest > span * HOURS_PER_DAY_AT_MOST and not course.remote:
        hours = duration.hours or duration.min_hours or duration.longest
        if hours > span * HOURS_PER_DAY_AT_MOST:
            ctx.add(1, WARNING, key, where, f"la session se tient {shown} ({span} jour{'s' if span > 1 else ''}) pour "
                    f"{number_fr(hours)} h de formation, plus de {HOURS_PER_DAY_AT_MOST} h par jour : dates ou "
                    "durée à corriger")


@rule(1)
def organisation_mentions(ctx: Context) -> None:
    org = ctx.catalogue.organisation
    if not org.nda:
        ctx.add(1, WARNING, "organisation", ("nda",), "numéro de déclaration d'activité absent : il doit figurer "
                "sur les documents d'information (art. L.6352-12 du Code du travail)")


@rule(1)
def no_qualiopi_logo_on_course_documents(ctx: Context) -> None:
    for name in ("programme.md.j2", "positionnement.md.j2"):
        path, text = ctx.templates.text(name)
        for number, line in enumerate(text.splitlines(), 1):
            if "qualiopi" in line.lower() and ("![" in line or "image" in line.lower()):
                ctx.findings.append(Finding(1, ERROR, relative(path, ctx.catalogue.root), number, "",
                                            "le logo Qualiopi ne doit pas figurer sur un document relatif à "
                                            "une action de formation (règles d'usage de la marque)"))


# Indicator 2: results ----------------------------------------------------------------------------

@rule(2)
def results_published(ctx: Context) -> None:
    limit = ctx.catalogue.organisation.checks.results_max_months
    for _, key, course in courses(ctx, 2):
        results = course.results
        if results is None:
            if course.published_elsewhere.get("results"):
                ctx.add(2, WARNING, key, ("published_elsewhere", "results"), "indicateurs de résultats publiés sur "
                        "un autre support : accepté comme preuve, l'auditeur vérifiera ce support")
            elif not course.new:
                ctx.add(2, ERROR, key, ("results",), "aucun indicateur de résultats (`results`) ; pour une "
                        "formation pas encore réalisée, indiquer `new: true`")
            continue
        if results.scope == "organisation":
            ctx.add(2, ERROR, key, ("results", "scope"), "résultats de l'ensemble de l'organisme : publier les "
                    "indicateurs de cette formation")
        if results.period_end is None:
            ctx.add(2, ERROR, key, ("results", "period_end"), "période de mesure des résultats non précisée "
                    "(`period_start`, `period_end`)")
        elif months_between(results.period_end, ctx.as_of) > limit:
            age = months_between(results.period_end, ctx.as_of)
            ctx.add(2, ERROR, key, ("results", "period_end"), f"résultats arrêtés au {results.period_end}, "
                    f"il y a {age} mois : publier les indicateurs d'une période récente (limite {limit} mois)")
        if results.trainees is None:
            ctx.add(2, ERROR, key, ("results", "trainees"), "nombre de stagiaires (ou bénéficiaires) sur lequel "
                    "portent les résultats non indiqué")
        elif results.trainees == 0 and results.rates:
            ctx.add(2, ERROR, key, ("results", "trainees"), "des taux sont publiés pour 0 stagiaire : chiffres "
                    "invérifiables")
        if not results.rates:
            ctx.add(2, ERROR, key, ("results",), "aucun indicateur chiffré (satisfaction, réussite, abandon…)")
        if ctx.v10 and not results.method:
            ctx.add(2, ERROR, key, ("results", "method"),
                    "V10 : préciser les modalités de calcul des indicateurs (`results.method`)")


# Indicator 3: certifying courses -----------------------------------------------------------------

@rule(3)
def certification_outcomes(ctx: Context) -> None:
    for _, key, course in courses(ctx, 3):
        cert = course.certification
        if cert is None or not cert.registered_in_repertoire:
            continue
        if cert.pass_rate is None:
            ctx.add(3, ERROR, key, ("certification", "pass_rate"), "taux d'obtention absent "
                    "(`certification.pass_rate`) : son absence n'est jamais une non-conformité mineure")
        if cert.presentation_rate is None:
            ctx.add(3, ERROR, key, ("certification", "presentation_rate"), "le taux d'obtention doit être mis en "
                    "relation avec le taux de présentation à l'examen (`certification.presentation_rate`)")
        for name, label in (("blocks", "blocs de compétences"), ("equivalences", "équivalences"),
                            ("bridges", "passerelles"), ("follow_on", "suites de parcours"),
                            ("job_outcomes", "débouchés")):
            if name == "blocks" and cert.register == "RS":
                continue  # a certification of the Répertoire spécifique has no blocks
            if not getattr(cert, name):
                ctx.add(3, WARNING, key, ("certification", name), f"{label} non renseignés "
                        f"(`certification.{name}`)")


# Indicator 5: operational, evaluable objectives --------------------------------------------------

ACTION_VERBS = frozenset("""
accueillir adapter administrer affecter agir analyser animer annoter anticiper appliquer argumenter arbitrer
articuler assembler assurer auditer automatiser calculer caractériser catégoriser chiffrer choisir citer
classer coder collecter combiner communiquer comparer compléter composer concevoir conduire configurer
construire contrôler convaincre coordonner corriger créer critiquer débattre décider déclencher décrire
définir déléguer démontrer dépanner déployer dessiner détecter déterminer développer diagnostiquer
différencier diffuser diriger distinguer documenter dresser échanger effectuer élaborer émettre encadrer
énoncer enregistrer entretenir énumérer équilibrer estimer établir étiqueter évaluer exécuter expliquer
exploiter exposer exprimer extraire fabriquer facturer filtrer fixer formaliser formuler gérer hiérarchiser
identifier illustrer implanter importer informer installer intégrer interpréter interroger intervenir
inventorier justifier lister localiser manipuler mener mesurer mettre mobiliser modéliser modifier monter
motiver négocier nettoyer nommer observer opérer optimiser ordonner organiser orienter paramétrer
participer photographier piloter planifier pratiquer préparer présenter prévenir prioriser procéder
produire programmer proposer protéger publier qualifier quantifier rapporter rassembler réagir réaliser
recenser rechercher recommander reconnaître recruter rédiger redresser reformuler réguler relever
remplir réparer repérer répondre reproduire résoudre respecter restituer résumer rétablir rédiger
sauvegarder schématiser sécuriser sélectionner signaler simuler situer soigner souligner structurer
superviser synthétiser tester tracer traduire traiter transférer transmettre trier utiliser valider
vérifier
""".split())
VAGUE_VERBS = {
    "connaître": "citer, identifier, décrire", "connaitre": "citer, identifier, décrire",
    "comprendre": "expliquer, distinguer, illustrer", "savoir": "réaliser, appliquer, utiliser",
    "maîtriser": "réaliser, appliquer, utiliser", "maitriser": "réaliser, appliquer, utiliser",
    "sensibiliser": "identifier, repérer, signaler", "découvrir": "identifier, décrire, utiliser",
    "appréhender": "identifier, expliquer", "acquérir": "appliquer, réaliser", "s'initier": "utiliser, réaliser",
    "initier": "utiliser, réaliser", "familiariser": "utiliser, manipuler", "approfondir": "appliquer, analyser",
    "percevoir": "identifier, repérer", "prendre": "identifier, expliquer", "améliorer": "appliquer, réaliser",
    "développer": None, "être": "citer le comportement observable attendu (identifier, appliquer…)",
}
LEADING = re.compile(r"^(?:être capable d[e']\s*|savoir\s+(?=\w+er\b))", re.IGNORECASE)


def first_verb(objective: str) -> str:
    """Return the first word of an objective, lower-case, after « être capable de »."""
    text = LEADING.sub("", objective.strip())
    word = re.split(r"[\s,;:()]+", text, maxsplit=1)[0].lower()
    return unicodedata.normalize("NFC", word.replace("’", "'"))


@rule(5)
def objectives_are_evaluable(ctx: Context) -> None:
    for _, key, course in courses(ctx, 5):
        for index, objective in enumerate(course.objectives):
            verb = first_verb(objective)
            if verb.startswith(("s'", "se ")):
                verb = verb[2:]
            if verb in VAGUE_VERBS and VAGUE_VERBS[verb] is not None:
                ctx.add(5, ERROR, key, ("objectives", index), f"« {verb} » n'est ni observable ni évaluable : "
                        f"commencer par un verbe d'action comme {VAGUE_VERBS[verb]}")
            elif verb not in ACTION_VERBS and not INFINITIVE.fullmatch(verb):
                ctx.add(5, WARNING, key, ("objectives", index), f"« {excerpt(objective, 40)} » n'est pas formulé "
                        "comme une action observable : commencer par un verbe à l'infinitif (identifier, réaliser…)")


# Indicator 6: contents and modalities --------------------------------------------------------------

@rule(6)
def module_durations_add_up(ctx: Context) -> None:
    for _, key, course in courses(ctx, 6):
        timed = [m.hours for m in course.modules if m.hours is not None]
        duration = course.duration
        if not timed or len(timed) < len(course.modules) or duration is None or not duration.stated:
            continue
        total = sum(timed)
        if duration.hours is not None and abs(total - duration.hours) > 0.01:
            ctx.add(6, ERROR, key, ("duration", "hours"), f"les modules totalisent {total:g} h mais la formation dure "
                    f"{duration.hours:g} h")
        elif duration.hours is None and total > (duration.max_hours or float("inf")) + 0.01:
            ctx.add(6, ERROR, key, ("duration", "max_hours"), f"les modules totalisent {total:g} h, plus que la "
                    f"durée maximale annoncée ({duration.max_hours:g} h)")


@rule(6)
def contents_are_described(ctx: Context) -> None:
    for _, key, course in courses(ctx, 6):
        if course.category != "BC" and not course.modules:
            ctx.add(6, ERROR, key, ("modules",), "contenu de la prestation non décrit : lister les modules ou "
                    "séquences, avec leur durée (`modules`)")


@rule(6)
def modules_match_modality(ctx: Context) -> None:
    for _, key, course in courses(ctx, 6):
        if course.formats == ["distanciel"]:
            for index, module in enumerate(course.modules):
                if module.distance is False:
                    ctx.add(6, ERROR, key, ("modules", index, "distance"), "module en présentiel dans une "
                            "formation annoncée entièrement à distance : corriger la modalité (mixte) ou le module")
        elif course.formats == ["presentiel"]:
            for index, module in enumerate(course.modules):
                if module.distance:
                    ctx.add(6, ERROR, key, ("modules", index, "distance"), "module à distance dans une formation "
                            "annoncée en présentiel : corriger la modalité (mixte) ou le module")


@rule(6)
def distance_learning_assistance(ctx: Context) -> None:
    for _, key, course in courses(ctx, 6):
        if course.remote and not (course.methods and has_text(course.methods.distance_support)):
            ctx.add(6, ERROR, key, ("methods", "distance_support"), "formation à distance : décrire l'assistance "
                    "technique et pédagogique, les activités à distance et leur durée moyenne "
                    "(`methods.distance_support`, art. D.6313-3-1 du Code du travail)")


@rule(6)
def bilan_phases(ctx: Context) -> None:
    for _, key, course in courses(ctx, 6):
        if course.category != "BC":
            continue
        phases = course.phases
        for name, label in (("preliminary", "préliminaire"), ("investigation", "d'investigation"),
                            ("conclusion", "de conclusion")):
            if not (phases and has_text(getattr(phases, name))):
                ctx.add(6, ERROR, key, ("phases", name), f"bilan de compétences : décrire la phase {label} "
                        "(art. R.6313-4 du Code du travail)")


# Indicator 8: positioning --------------------------------------------------------------------------

@rule(8)
def positioning_procedure(ctx: Context) -> None:
    gaps = _PositioningGaps(ctx)
    for cid, key, course in courses(ctx, 8):
        # The questionnaire qualidoc generates for every course is its positioning procedure; what can be
        # wrong is a questionnaire (a changed template) that leaves out an objective or a prerequisite.
        for field_name, index in gaps.of(cid, course):
            ctx.add(8, ERROR, key, (field_name, index), "le questionnaire de positionnement ne reprend pas cet "
                    "élément : vérifier templates/positionnement.md.j2")
    gaps.save()


class _PositioningGaps:
    """The objectives and prerequisites a course's positioning questionnaire leaves out.

    Finding them renders the questionnaire of every course; the answers are kept in the build's state
    folder, by the hashes of what the questionnaire reads (course, organisation, templates, qualidoc), so that a
    build after editing one course renders one questionnaire, not all of them.
    """

    def __init__(self, ctx: Context):
        self.ctx, self.templates = ctx, ctx.templates
        self.path = self.templates.cache / "positioning-check.json"
        try:
            self.known: dict[str, dict[str, Any]] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.known = {}
        self.used: dict[str, dict[str, Any]] = {}
        self.loaded = set(self.known)
        templates = sorted(p for folder in self.templates.folders for p in folder.rglob("*.j2") if inside(p, folder))
        self.common = _digest(templates, self._file("organisation"), package_hash())

    def _file(self, key: str) -> str:
        """A content file's name and hash: the hash of the bytes it was loaded from (not read again: N = 100,
        100 course files read at every check, 20 ms of the conformity matrix after an edit)."""
        catalogue = self.ctx.catalogue
        path, document = catalogue.file_of(key), catalogue.documents.get(key)
        sha256 = (document.sha256 if document is not None and document.sha256
                  else hashlib.sha256(path.read_bytes()).hexdigest())  # the same hash, of its bytes
        return f"{path.name}\0{sha256}"

    def of(self, cid: str, course: Any) -> list[tuple[str, int]]:
        key = _digest([], self._file(f"courses/{cid}"), self.common)
        known = self.known.get(key)
        if not isinstance(known, dict) or not isinstance(known.get("gaps"), list):
            with recording(Reads()) as reads:  # what the questionnaire reads, the document running the check reads
                text = self.templates.questionnaire(cid)
            items = [("objectives", i, objective_text(o)) for i, o in enumerate(course.objectives)]
            if isinstance(course.prerequisites, list):
                items += [("prerequisites", i, p) for i, p in enumerate(course.prerequisites)]
            known = {"gaps": [[name, index] for name, index, item in items if _escaped(item) not in text],
                     "templates": sorted(n for n in reads.names if n.startswith("template:"))}
            self.known[key] = known
        for name in known.get("templates", []):  # found in the cache: the same templates were read
            record(str(name))
        self.used[key] = known
        return [(name, index) for name, index in known["gaps"]]

    def save(self) -> None:
        if set(self.used) == self.loaded:
            return
        try:
            write_atomic(self.path, json.dumps(self.used, sort_keys=True).encode(), durable=False)
        except OSError:
            pass  # only a cache: the next check renders the questionnaires again


def _digest(paths: list[Path], *extra: str) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path.name).encode() + b"\0" + path.read_bytes() + b"\0")
    for text in extra:
        digest.update(text.encode())
    return digest.hexdigest()


def _escaped(text: str) -> str:
    from pipeline.templating import escape

    return escape(text)


def objective_text(objective: str) -> str:
    from pipeline.templating import objective_text as shown

    return shown(objective)


# Indicators 11 and 12 ----------------------------------------------------------------------------------

@rule(11)
def achievement_is_evaluated(ctx: Context) -> None:
    for _, key, course in courses(ctx, 11):
        if course.category == "BC":
            continue  # a bilan ends with its document de synthèse, stated on its sheet by law
        if not (course.evaluation and has_text(course.evaluation.final)):
            ctx.add(11, ERROR, key, ("evaluation", "final"), "préciser comment l'atteinte des objectifs est évaluée "
                    "en fin de formation (`evaluation.final`)")


@rule(12)
def engagement_measures(ctx: Context) -> None:
    for _, key, course in courses(ctx, 12):
        if _over_two_days(course) and not has_text(course.engagement):
            ctx.add(12, ERROR, key, ("duration",), "formation de plus de 2 jours : décrire les mesures qui "
                    "favorisent l'engagement et préviennent les ruptures de parcours (`engagement`)")


def _over_two_days(course: Any) -> bool:
    duration = course.duration
    return bool(duration) and ((duration.days or 0) > 2 or duration.longest > 14)


# Indicators 21 and 22: trainers --------------------------------------------------------------------------

@rule(21)
def trainers_are_competent(ctx: Context) -> None:
    catalogue = ctx.catalogue
    assigned: dict[str, list[str]] = {}  # each trainer's courses, the catalogue read once (not once a trainer)
    for cid, course in catalogue.courses.items() if catalogue.trainers else ():
        for tid in dict.fromkeys(course.trainers):  # a trainer named twice: the course once
            assigned.setdefault(tid, []).append(cid)
    for tid, trainer in catalogue.trainers.items():
        key = f"trainers/{tid}"
        if not trainer.diplomas and not trainer.experience:
            ctx.add(21, ERROR, key, ("name",), "aucune preuve de compétence : ajouter diplômes, certifications "
                    "ou expérience professionnelle")
        if trainer.status == "subcontractor":
            ctx.add(21, WARNING, key, ("status",), "intervenant sous-traitant : conserver le contrat de "
                    "sous-traitance et les preuves de sa compétence (indicateur 27)")
        evidence = _words(" ".join([*trainer.skills, *(d.title for d in trainer.diplomas),
                                    *(e.role + " " + (e.description or "") for e in trainer.experience)]))
        for cid in assigned.get(tid, []):
            course = catalogue.courses[cid]
            if not evidence & _words(course.title + " " + " ".join(course.objectives)):
                ctx.add(21, WARNING, key, ("skills",), f"ni les compétences, ni les diplômes, ni l'expérience ne "
                        f"relèvent du domaine de « {course.title} » : ajouter la preuve qui qualifie l'intervenant")


STOPWORDS = frozenset("""avec dans pour votre leurs leur selon entre après avant toute toutes tous cette cette
sur sous plus moins être avoir faire les des une aux par chaque ainsi""".split())


def _words(text: str) -> set[str]:
    folded = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    return {w[:6] for w in re.findall(r"[a-z]{5,}", folded) if w not in STOPWORDS}


@rule(22)
def trainers_keep_learning(ctx: Context) -> None:
    limit = ctx.catalogue.organisation.checks.training_max_months
    for tid, trainer in ctx.catalogue.trainers.items():
        if trainer.status == "subcontractor":
            continue
        recent = [t for t in trainer.training if months_between(t.date, ctx.as_of) < limit]
        if not recent:
            ctx.add(22, ERROR, f"trainers/{tid}", ("training",), f"aucune formation continue au cours des {limit} "
                    f"derniers mois")


# Indicator 26: disability ------------------------------------------------------------------------------

@rule(26)
def disability_referent(ctx: Context) -> None:
    referent = ctx.catalogue.organisation.disability_referent
    if referent is None:
        ctx.add(26, ERROR, "organisation", ("disability_referent",), "aucun référent handicap désigné "
                "(`disability_referent` : nom, courriel, téléphone)")
    elif not reachable(referent):
        ctx.add(26, ERROR, "organisation", ("disability_referent",),
                "indiquer le courriel ou le téléphone du référent handicap")


# Indicators 30 to 32: feedback, complaints, improvement --------------------------------------------------

STAKEHOLDERS = {"funder_feedback", "company_feedback", "trainer_feedback"}


@rule(30)
def feedback_is_collected(ctx: Context) -> None:
    recent = {e.source for e in ctx.catalogue.improvements.values() if months_between(e.date, ctx.as_of) < 12}
    if "trainee_feedback" not in recent:
        _organisation_finding(ctx, 30, ERROR, "aucune appréciation de stagiaires enregistrée au registre "
                              "d'amélioration depuis 12 mois")
    if not recent & STAKEHOLDERS:
        _organisation_finding(ctx, 30, ERROR, "aucune appréciation de financeurs, d'entreprises ou de "
                              "formateurs enregistrée depuis 12 mois")


@rule(31)
def complaints_are_handled(ctx: Context) -> None:
    for eid, entry in ctx.catalogue.improvements.items():
        if entry.source != "complaint":
            continue
        key = f"improvements/{eid}"
        complaint = entry.complaint
        if complaint is None:
            ctx.add(31, ERROR, key, ("source",), "réclamation sans suivi (`complaint` : réception, canal, "
                    "accusé de réception, réponse)")
            continue
        if not complaint.acknowledged:
            ctx.add(31, ERROR, key, ("complaint",), "pas d'accusé de réception (`complaint.acknowledged`)")
        if not complaint.response:
            ctx.add(31, ERROR, key, ("complaint",), "pas de réponse au réclamant (`complaint.response`)")


@rule(32)
def actions_are_followed(ctx: Context) -> None:
    for eid, entry in ctx.catalogue.improvements.items():
        key = f"improvements/{eid}"
        if entry.status != "closed" and entry.due < ctx.as_of:
            ctx.add(32, ERROR, key, ("due",), f"action non close après son échéance ({entry.due}) : la clore "
                    "ou la replanifier")
        if entry.status == "closed" and not entry.effectiveness:
            ctx.add(32, WARNING, key, ("status",), "action close sans vérification de son efficacité "
                    "(`effectiveness`)")
        if entry.status == "closed" and not entry.closed:
            ctx.add(32, WARNING, key, ("status",), "action close sans date de clôture (`closed`)")


@rule(32)
def risk_analysis(ctx: Context) -> None:
    if ctx.v10 and not any(e.source == "risk_analysis" for e in ctx.catalogue.improvements.values()):
        _organisation_finding(ctx, 32, ERROR, "V10 : le registre doit comporter une analyse des risques sur la "
                              "qualité des formations (une entrée `source: risk_analysis`)")


def _organisation_finding(ctx: Context, indicator: int, severity: str, message: str) -> None:
    path = relative(ctx.catalogue.root / "content" / "improvements", ctx.catalogue.root) + "/"
    ctx.findings.append(Finding(indicator, severity, path, 0, "", message))


# Applicability and the check itself --------------------------------------------------------------------

CONDITIONS: dict[str, tuple[Callable[[Catalogue], bool], str]] = {
    "certifying": (lambda c: any(x.certifying for x in c.courses.values()),
                   "aucune formation ne conduit à une certification professionnelle"),
    "alternance": (lambda c: any(x.alternance for x in c.courses.values()), "aucune formation en alternance"),
    "work_situation": (lambda c: any(x.work_situation for x in c.courses.values()),
                       "aucune période de formation en situation de travail"),
    "subcontracting": (lambda c: any(t.status == "subcontractor" for t in c.trainers.values()),
                       "aucun recours à la sous-traitance"),
    "over_2_days": (lambda c: any(_over_two_days(x) for x in c.courses.values()),
                    "aucune formation de plus de 2 jours"),
}


def applicability(indicator: Indicator, catalogue: Catalogue) -> str | None:
    """Return None when an indicator applies to the organisation, else the reason it does not."""
    categories = set(catalogue.organisation.categories) | {c.category for c in catalogue.courses.values()}
    if not categories & set(indicator.categories):
        return (f"réservé aux catégories {', '.join(indicator.categories)} ; l'organisme relève de "
                f"{', '.join(sorted(categories))}")
    if indicator.when:
        condition, reason = CONDITIONS[indicator.when]
        if not condition(catalogue):
            return reason
    return None


def check(catalogue: Catalogue, as_of: dt.date, templates: TemplateAccess) -> CheckResult:
    """Run every rule of the référentiel in force and return the findings."""
    org = catalogue.organisation
    referential = referential_for(org.referential, org.next_audit)
    ctx = Context(catalogue, referential, as_of, templates)
    applying = {i.number: applicability(i, catalogue) for i in referential.indicators}
    for number, function in RULES:
        if number in applying and applying[number] is None:
            function(ctx)
    return CheckResult(referential, as_of, sorted(set(ctx.findings)), applying)


def indicator_status(result: CheckResult, indicator: Indicator) -> str:
    """Return the status shown in the conformity matrix."""
    if result.applicability.get(indicator.number):
        return "non applicable"
    if indicator.scope == "outside":
        return "pièces de l\u2019organisme"  # evidence the organisation keeps outside the generated documents
    return "à compléter" if any(f.severity == ERROR for f in result.of(indicator.number)) else "couvert"


def describe_result(result: CheckResult, strict: bool = False) -> list[str]:
    """Write the findings grouped by indicator, the indicators that do not apply, and the counts."""
    ref = result.referential
    lines = [f"{ref.label} – situation au {result.as_of.strftime('%d/%m/%Y')}", ""]
    for indicator in ref.indicators:
        findings = result.of(indicator.number)
        if not findings:
            continue
        lines.append(f"Indicateur {indicator.number} (critère {indicator.criterion}) – {_shorten(indicator.text)}")
        for f in findings:
            where = f"{f.file}:{f.line}" if f.line else f.file
            label = "erreur" if f.severity == ERROR or strict else "avertissement"
            lines.append(f"  {label:<13} {where}: {f.field + ': ' if f.field else ''}{f.message}")
        lines.append("")
    skipped = [f"{n} ({reason})" for n, reason in result.applicability.items() if reason]
    if skipped:
        lines += ["Non applicables : " + " ; ".join(skipped), ""]
    per_criterion = []
    for criterion in sorted(ref.criteria):
        numbers = {i.number for i in ref.indicators if i.criterion == criterion}
        errors = sum(1 for f in result.errors(strict) if f.indicator in numbers)
        warnings = sum(1 for f in result.findings if f.indicator in numbers) - errors
        per_criterion.append(f"critère {criterion} : {errors} E / {warnings} A")
    errors = len(result.errors(strict))
    warnings = len(result.findings) - errors
    lines.append(f"Contrôle RNQ {ref.version} : {errors} erreur{'s' if errors > 1 else ''}, {warnings} "
                 f"avertissement{'s' if warnings > 1 else ''} ({' ; '.join(per_criterion)})")
    return lines


def _shorten(text: str, limit: int = 110) -> str:
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"
