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
from pipeline.errors import relative
from pipeline.referential import Indicator, Referential, referential_for
from pipeline.state import write_atomic

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


@dataclass
class Context:
    catalogue: Catalogue
    referential: Referential
    as_of: dt.date
    templates: Any = None  # pipeline.project.Project, for rules that read templates
    findings: list[Finding] = field(default_factory=list)

    @property
    def v10(self) -> bool:
        return self.referential.version == "V10"

    def add(self, indicator: int, severity: str, key: str, location: tuple[str | int, ...], message: str) -> None:
        """Record a finding located at a field of a content object."""
        catalogue = self.catalogue
        path = relative(catalogue.file_of(key), catalogue.root)
        line = catalogue.line_of(key, location)
        field_name = ".".join(str(p + 1) if isinstance(p, int) else p for p in location)
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


def courses(ctx: Context) -> Iterator[tuple[str, str, Any]]:
    for cid, course in ctx.catalogue.courses.items():
        yield cid, f"courses/{cid}", course


# Indicator 1: information to the public ---------------------------------------------------------

@rule(1)
def mandatory_mentions(ctx: Context) -> None:
    for _, key, course in courses(ctx):
        if not course.evaluation.final and not course.evaluation.during:
            ctx.add(1, ERROR, key, ("evaluation",), "aucune modalité d'évaluation (`evaluation.final`)")
        if ctx.v10 and not course.recognition:
            ctx.add(1, ERROR, key, ("title",), "V10 : indiquer le type de reconnaissance de la formation délivrée "
                    "(`recognition` : attestation, certification RNCP/RS, habilitation…)")
        if ctx.v10 and not course.funding:
            ctx.add(1, ERROR, key, ("title",), "V10 : indiquer les modalités de financement (`funding` : CPF, OPCO, "
                    "plan de développement des compétences, financement personnel…)")


@rule(1)
def programme_is_current(ctx: Context) -> None:
    limit = ctx.catalogue.organisation.checks.update_max_months
    for _, key, course in courses(ctx):
        age = months_between(course.updated, ctx.as_of)
        if course.updated > ctx.as_of:
            ctx.add(1, ERROR, key, ("updated",), f"la date de mise à jour {course.updated} est dans le futur")
        elif age >= limit:
            ctx.add(1, ERROR, key, ("updated",), f"mis à jour le {course.updated}, il y a {age} mois : revoir le "
                    f"programme et actualiser `updated` (information datée et actualisée, limite {limit} mois)")


@rule(1)
def no_qualiopi_logo_on_course_documents(ctx: Context) -> None:
    if ctx.templates is None:
        return
    for name in ("programme.md.j2", "positionnement.md.j2"):
        path = ctx.templates.templates / name
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        for number, line in enumerate(text.splitlines(), 1):
            if "qualiopi" in line.lower() and ("![" in line or "image" in line.lower()):
                ctx.findings.append(Finding(1, ERROR, relative(path, ctx.catalogue.root), number, "",
                                            "le logo Qualiopi ne doit pas figurer sur un document relatif à "
                                            "une action de formation (règles d'usage de la marque)"))


# Indicator 2: results ----------------------------------------------------------------------------

@rule(2)
def results_published(ctx: Context) -> None:
    limit = ctx.catalogue.organisation.checks.results_max_months
    for _, key, course in courses(ctx):
        results = course.results
        if results is None:
            if not course.new:
                ctx.add(2, ERROR, key, ("title",), "aucun indicateur de résultats (`results`) ; pour une formation "
                        "pas encore réalisée, indiquer `new: true`")
            continue
        age = months_between(results.period_end, ctx.as_of)
        if age > limit:
            ctx.add(2, ERROR, key, ("results", "period_end"), f"résultats arrêtés au {results.period_end}, "
                    f"il y a {age} mois : publier les indicateurs d'une période récente (limite {limit} mois)")
        if ctx.v10 and not results.method:
            ctx.add(2, ERROR, key, ("results",),
                    "V10 : préciser les modalités de calcul des indicateurs (`results.method`)")


# Indicator 3: certifying courses -----------------------------------------------------------------

@rule(3)
def certification_outcomes(ctx: Context) -> None:
    for _, key, course in courses(ctx):
        cert = course.certification
        if cert is None:
            continue
        if cert.pass_rate is None:
            ctx.add(3, ERROR, key, ("certification",), "taux d'obtention absent (`certification.pass_rate`) : "
                    "son absence n'est jamais une non-conformité mineure")
        if cert.presentation_rate is None:
            ctx.add(3, ERROR, key, ("certification",), "le taux d'obtention doit être mis en relation avec le taux de "
                    "présentation à l'examen (`certification.presentation_rate`)")
        for name, label in (("blocks", "blocs de compétences"), ("equivalences", "équivalences"),
                            ("bridges", "passerelles"), ("follow_on", "suites de parcours"),
                            ("job_outcomes", "débouchés")):
            if not getattr(cert, name):
                ctx.add(3, WARNING, key, ("certification",), f"{label} non renseigné(e)s (`certification.{name}`)")


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
    for _, key, course in courses(ctx):
        for index, objective in enumerate(course.objectives):
            verb = first_verb(objective)
            if verb.startswith(("s'", "se ")):
                verb = verb[2:]
            if verb in VAGUE_VERBS and VAGUE_VERBS[verb] is not None:
                ctx.add(5, ERROR, key, ("objectives", index), f"« {verb} » n'est ni observable ni évaluable : "
                        f"commencer par un verbe d'action comme {VAGUE_VERBS[verb]}")
            elif verb not in ACTION_VERBS:
                ctx.add(5, WARNING, key, ("objectives", index), f"« {verb} » ne figure pas dans la liste des verbes "
                        "d'action observables : vérifier que cet objectif est évaluable")


# Indicator 6: contents and modalities --------------------------------------------------------------

@rule(6)
def module_durations_add_up(ctx: Context) -> None:
    for _, key, course in courses(ctx):
        total = sum(m.hours for m in course.modules)
        if abs(total - course.duration.hours) > 0.01:
            ctx.add(6, ERROR, key, ("duration", "hours"), f"les modules totalisent {total:g} h mais la formation dure "
                    f"{course.duration.hours:g} h")


@rule(6)
def distance_learning_assistance(ctx: Context) -> None:
    for _, key, course in courses(ctx):
        remote = course.format != "presentiel" or any(m.distance for m in course.modules)
        if remote and not course.methods.distance_support:
            ctx.add(6, ERROR, key, ("methods",), "formation à distance : décrire l'assistance technique et "
                    "pédagogique, les activités à distance et leur durée moyenne (`methods.distance_support`, "
                    "art. D.6313-3-1 du Code du travail)")


# Indicator 8: positioning --------------------------------------------------------------------------

@rule(8)
def positioning_procedure(ctx: Context) -> None:
    gaps = _PositioningGaps(ctx) if ctx.templates is not None else None
    for cid, key, course in courses(ctx):
        if not course.evaluation.entry:
            ctx.add(8, ERROR, key, ("evaluation",),
                    "aucune procédure de positionnement à l'entrée (`evaluation.entry`)")
        for field_name, index in gaps.of(cid, course) if gaps else ():
            ctx.add(8, ERROR, key, (field_name, index), "le questionnaire de positionnement ne reprend pas cet "
                    "élément : vérifier templates/positionnement.md.j2")
    if gaps:
        gaps.save()


class _PositioningGaps:
    """The objectives and prerequisites a course's positioning questionnaire leaves out.

    Finding them renders the questionnaire of every course; the answers are kept in the build's state
    folder, by the hashes of what the questionnaire reads (course, organisation, templates, qualidoc), so that a
    build after editing one course renders one questionnaire, not all of them.
    """

    def __init__(self, ctx: Context):
        self.ctx, self.project = ctx, ctx.templates
        self.path = self.project.state_dir / "positioning-check.json"
        try:
            self.known: dict[str, list[list[Any]]] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.known = {}
        self.used: dict[str, list[list[Any]]] = {}
        self.loaded = set(self.known)
        from pipeline.build import package_hash

        templates = sorted(self.project.templates.rglob("*.j2"))
        self.common = _digest([ctx.catalogue.file_of("organisation"), *templates], package_hash())
        self._questionnaires: Callable[[str], str] | None = None

    def of(self, cid: str, course: Any) -> list[tuple[str, int]]:
        key = _digest([self.ctx.catalogue.file_of(f"courses/{cid}")], self.common)
        if key not in self.known:
            text = self._questionnaire(cid)
            items = [("objectives", i, o) for i, o in enumerate(course.objectives)]
            if course.prerequisites != "none":
                items += [("prerequisites", i, p) for i, p in enumerate(course.prerequisites)]
            self.known[key] = [[name, index] for name, index, item in items if _escaped(item) not in text]
        self.used[key] = self.known[key]
        return [(name, index) for name, index in self.used[key]]

    def save(self) -> None:
        if set(self.used) == self.loaded:
            return
        try:
            write_atomic(self.path, json.dumps(self.used, sort_keys=True).encode())
        except OSError:
            pass  # only a cache: the next check renders the questionnaires again

    def _questionnaire(self, cid: str) -> str:
        if self._questionnaires is None:
            from pipeline.documents import plan_documents
            from pipeline.render import Renderer

            renderer = Renderer(self.project, self.ctx.catalogue, 1)
            documents = {d.context["course_id"]: d for d in plan_documents(self.ctx.catalogue)
                         if d.kind == "positionnement"}
            self._questionnaires = lambda c: renderer.markdown(documents[c])
        return self._questionnaires(cid)


def _digest(paths: list[Path], *extra: str) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path.name).encode() + b"\0" + path.read_bytes() + b"\0")
    for text in extra:
        digest.update(text.encode())
    return digest.hexdigest()


def _escaped(text: str) -> str:
    from pipeline.markdown import escape

    return escape(text)


# Indicators 11 and 12 ----------------------------------------------------------------------------------

@rule(11)
def achievement_is_evaluated(ctx: Context) -> None:
    for _, key, course in courses(ctx):
        if not course.evaluation.final:
            ctx.add(11, ERROR, key, ("evaluation",), "préciser comment l'atteinte des objectifs est évaluée en fin "
                    "de formation (`evaluation.final`)")


@rule(12)
def engagement_measures(ctx: Context) -> None:
    for _, key, course in courses(ctx):
        if _over_two_days(course) and not course.engagement:
            ctx.add(12, ERROR, key, ("duration",), "formation de plus de 2 jours : décrire les mesures qui "
                    "favorisent l'engagement et préviennent les ruptures de parcours (`engagement`)")


def _over_two_days(course: Any) -> bool:
    return (course.duration.days or 0) > 2 or course.duration.hours > 14


# Indicators 21 and 22: trainers --------------------------------------------------------------------------

@rule(21)
def trainers_are_competent(ctx: Context) -> None:
    catalogue = ctx.catalogue
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
        for cid in catalogue.courses_of_trainer(tid):
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
    if not (referent.email or referent.phone):
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
    "certifying": (lambda c: any(x.certification for x in c.courses.values()),
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
    categories = set(catalogue.organisation.categories)
    if not categories & set(indicator.categories):
        return (f"réservé aux catégories {', '.join(indicator.categories)} ; l'organisme relève de "
                f"{', '.join(sorted(categories))}")
    if indicator.when:
        condition, reason = CONDITIONS[indicator.when]
        if not condition(catalogue):
            return reason
    return None


def check(catalogue: Catalogue, as_of: dt.date, project: Any = None) -> CheckResult:
    """Run every rule of the référentiel in force and return the findings."""
    org = catalogue.organisation
    referential = referential_for(org.referential, org.next_audit, as_of)
    ctx = Context(catalogue, referential, as_of, project)
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
        return "hors périmètre de qualidoc"
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
