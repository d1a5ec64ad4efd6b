"""The content model: what each YAML file may hold, with a French description of every key.

Keys are English; `description` is the French label shown to users (`qualidoc fields`) and taken
from the RNQ glossary where one exists. Unknown keys are errors, never silently dropped.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Annotated, Literal

# pydantic looks for its plugins in the entry points of every installed package when the first model is built:
# 20 ms of each command, for plugins qualidoc has none of (a user's own setting is left as it is).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator

from pipeline.project import PDF_ARCHIVE_LEVELS

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Percent = Annotated[float, Field(ge=0, le=100)]
Id = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$")]


def describe(text: str, **kwargs):  # type: ignore[no-untyped-def]
    """Declare a field with its French description."""
    return Field(description=text, **kwargs)


class Strict(BaseModel):
    """Every content object refuses unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Contact(Strict):
    model_config = ConfigDict(title="Contact")

    name: Text | None = describe("Nom et prénom", default=None)
    role: Text | None = describe("Fonction", default=None)
    email: Text | None = describe("Adresse électronique", default=None)
    phone: Text | None = describe("Téléphone", default=None)


class Address(Strict):
    model_config = ConfigDict(title="Adresse")

    street: Text | None = describe("Numéro et voie", default=None)
    postcode: Text | None = describe("Code postal", default=None)
    city: Text | None = describe("Commune", default=None)


Category = Literal["AFC", "BC", "VAE", "CFA"]
CATEGORY_ALIASES = {"af": "AFC", "afc": "AFC", "formation": "AFC", "action de formation": "AFC",
                    "bc": "BC", "bilan": "BC", "bilan de competences": "BC", "bilan de compétences": "BC",
                    "vae": "VAE", "cfa": "CFA", "apprentissage": "CFA"}


def category_code(value: object) -> object:
    """Accept AF as well as AFC, lower case, and the French names of the action categories."""
    return CATEGORY_ALIASES.get(value.strip().lower(), value) if isinstance(value, str) else value


class QualiopiCertificate(Strict):
    model_config = ConfigDict(title="Certificat Qualiopi")

    certifier: Text = describe("Organisme certificateur")
    number: Text = describe("Numéro du certificat")
    valid_from: dt.date | None = describe("Date de délivrance", default=None)
    valid_until: dt.date = describe("Date de fin de validité")
    categories: list[Category] = describe("Catégories d'actions certifiées", default_factory=list)

    @field_validator("categories", mode="before")
    @classmethod
    def _category_names(cls, value: object) -> object:
        return [category_code(v) for v in value] if isinstance(value, list) else value


class CheckSettings(Strict):
    model_config = ConfigDict(title="Réglages des contrôles")

    update_max_months: Annotated[int, Field(ge=1)] = describe(
        "Âge maximal de la date de mise à jour d'un programme, en mois", default=12)
    results_max_months: Annotated[int, Field(ge=1)] = describe(
        "Âge maximal des indicateurs de résultats (fin de période), en mois", default=18)
    training_max_months: Annotated[int, Field(ge=1)] = describe(
        "Délai maximal depuis la dernière formation continue d'un intervenant, en mois", default=24)


class Organisation(Strict):
    model_config = ConfigDict(title="Organisme de formation")

    name: Text = describe("Raison sociale", examples=["Formavenir Conseil SARL"])
    trade_name: Text | None = describe("Nom commercial", default=None)
    siret: Annotated[str, StringConstraints(pattern=r"^\d{14}$")] | None = describe(
        "Numéro SIRET (14 chiffres)", default=None, examples=["05234567800027"])
    nda: Annotated[str, StringConstraints(pattern=r"^\d{11}$")] | None = describe(
        "Numéro de déclaration d'activité (NDA, 11 chiffres)", default=None, examples=["84691234569"])
    nda_region: Text | None = describe("Préfecture de région d'enregistrement du NDA", default=None,
                                       examples=["Auvergne-Rhône-Alpes"])
    address: Address | None = describe("Adresse du siège", default=None)
    phone: Text | None = describe("Téléphone", default=None)
    email: Text | None = describe("Adresse électronique", default=None)
    website: Text | None = describe("Site internet", default=None, examples=["https://www.formavenir.example"])
    site_url: Text | None = describe(
        "Adresse publique du catalogue web (le dossier build/site/ une fois publié), pour le plan du site et les "
        "moteurs de recherche ; par défaut, le site internet", default=None,
        examples=["https://www.formavenir.example/formations"])
    logo: Text | None = describe("Logo : chemin d'une image PNG ou JPEG dans le projet", default=None,
                                 examples=["content/assets/logo.png"])
    disability_referent: Contact | None = describe("Référent handicap (nom et contact)", default=None)
    pedagogical_contact: Contact | None = describe("Contact pédagogique", default=None)
    administrative_contact: Contact | None = describe("Contact administratif", default=None)
    categories: list[Category] = describe(
        "Catégories d'actions : AFC (actions de formation), BC (bilans de compétences), VAE, CFA (apprentissage)",
        default_factory=lambda: ["AFC"])
    qualiopi: QualiopiCertificate | None = describe("Certificat Qualiopi, lorsque l'organisme est certifié",
                                                    default=None)
    terms_url: Text | None = describe("Lien vers les conditions générales de vente", default=None)
    complaints: Text | None = describe("Modalités de réclamation (canal, délai de réponse)", default=None)
    mediator: Text | None = describe("Médiateur de la consommation", default=None)
    next_audit: dt.date | None = describe("Date du prochain audit Qualiopi", default=None)
    referential: Literal["V9", "V10"] | None = describe(
        "Version du référentiel à appliquer (par défaut : celle en vigueur à la date du prochain audit, "
        "`next_audit` ; sans date d'audit : V10, en vigueur depuis le 1er novembre 2026)", default=None)
    checks: CheckSettings = describe("Réglages des contrôles de `qualidoc check`", default_factory=CheckSettings)
    pdf_archive: Literal[PDF_ARCHIVE_LEVELS] | None = describe(  # type: ignore[valid-type]
        "PDF d'archivage PDF/A-2 : 2a (structure balisée conservée, recommandé), 2u ou 2b ; vide : PDF ordinaire "
        "(balisé aussi)", default=None, examples=["2a"])

    @field_validator("categories", mode="before")
    @classmethod
    def _category_names(cls, value: object) -> object:
        return [category_code(v) for v in value] if isinstance(value, list) else value


Hours = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class Duration(Strict):
    model_config = ConfigDict(title="Durée")

    hours: Hours | None = describe("Durée en heures (une valeur fixe)", default=None, examples=[21])
    min_hours: Hours | None = describe("Durée minimale en heures, pour une durée variable (« de 7 à 21 h »)",
                                       default=None)
    max_hours: Hours | None = describe("Durée maximale en heures (« 24 h maximum », ou la borne haute d'une "
                                       "fourchette)", default=None)
    days: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = describe("Durée en jours", default=None)
    note: Text | None = describe("Précision sur la durée (« selon le positionnement », « estimée »…)",
                                 default=None)

    @property
    def stated(self) -> bool:
        """Say whether a duration is given at all (fixed, range or maximum)."""
        return any(v is not None for v in (self.hours, self.min_hours, self.max_hours))

    @property
    def longest(self) -> float:
        """The longest duration the course may take, in hours (0 when none is given)."""
        return self.hours or self.max_hours or self.min_hours or 0


class GroupSize(Strict):
    model_config = ConfigDict(title="Effectif")

    min: Annotated[int, Field(ge=1)] | None = describe("Effectif minimum", default=None)
    max: Annotated[int, Field(ge=1)] | None = describe("Effectif maximum", default=None)


class Access(Strict):
    model_config = ConfigDict(title="Modalités et délai d'accès")

    modalities: Text | None = describe("Modalités d'accès : processus d'inscription à l'action", default=None)
    delay: Text | None = describe(
        "Délai d'accès : durée estimée entre la demande du bénéficiaire et le début de la prestation", default=None,
        examples=["2 à 4 semaines entre la demande et le début de la formation"])


class Price(Strict):
    model_config = ConfigDict(title="Tarif")

    label: Text | None = describe("Libellé du tarif (inter-entreprises, intra, individuel…)", default=None)
    amount: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = describe(
        "Montant en euros (indicatif lorsque le tarif est sur devis)", default=None, examples=[1290])
    tax: Literal["HT", "TTC", "net"] | None = describe(
        "HT, TTC, ou net (net de taxe : organisme exonéré de TVA)", default=None)
    per: Literal["person", "group", "day", "person_day", "hour", "person_hour"] | None = describe(
        "Assiette : par personne (person), par groupe (group), par jour (day), par personne et par jour "
        "(person_day), par heure (hour), par personne et par heure (person_hour)", default=None)
    on_quote: bool = describe("Sur devis", default=False)
    basis: Text | None = describe("Ce qui détermine le prix sur devis (nombre de participants, lieu, "
                                  "adaptation du programme…)", default=None)

    @field_validator("tax", mode="before")
    @classmethod
    def _tax_in_french(cls, value: object) -> object:
        """Accept « net de taxe » and lower case."""
        if isinstance(value, str):
            folded = value.strip().lower()
            return "net" if folded.startswith("net") else folded.upper()
        return value


Format = Literal["presentiel", "distanciel", "mixte"]


def format_code(value: object) -> object:
    """Accept « présentiel » with its accent, and capitals."""
    return value.replace("é", "e").replace("É", "e").lower().strip() if isinstance(value, str) else value


class Module(Strict):
    model_config = ConfigDict(title="Module du programme")

    title: Text = describe("Intitulé du module")
    hours: Hours | None = describe("Durée du module en heures", default=None)
    distance: bool | None = describe("Module réalisé à distance (true) ou en présentiel (false) ; par défaut, "
                                     "selon la modalité de la formation", default=None)
    contents: list[Text] = describe("Contenus du module (une ligne par point)", default_factory=list)


class Methods(Strict):
    model_config = ConfigDict(title="Méthodes et moyens pédagogiques")

    teaching: list[Text] = describe("Méthodes mobilisées : modalités pédagogiques", default_factory=list)
    resources: list[Text] = describe("Moyens et ressources pédagogiques et techniques", default_factory=list)
    distance_support: Text | None = describe(
        "Formation à distance : assistance technique et pédagogique, activités à distance et leur durée moyenne",
        default=None)


class Evaluation(Strict):
    model_config = ConfigDict(title="Modalités d'évaluation")

    entry: Text | None = describe("Évaluation à l'entrée (positionnement)", default=None)
    during: Text | None = describe("Évaluation en cours de formation", default=None)
    final: Text | None = describe("Évaluation des acquis en fin de formation", default=None)
    satisfaction: Text | None = describe("Évaluation de la satisfaction", default=None)


class Results(Strict):
    model_config = ConfigDict(title="Indicateurs de résultats")

    scope: Literal["course", "organisation"] = describe(
        "Périmètre des chiffres : cette formation (course) ou l'ensemble de l'organisme (organisation)",
        default="course")
    period_start: dt.date | None = describe("Début de la période mesurée", default=None)
    period_end: dt.date | None = describe("Fin de la période mesurée", default=None)
    trainees: Annotated[int, Field(ge=0)] | None = describe("Nombre de stagiaires (ou bénéficiaires) accueillis",
                                                           default=None)
    sessions: Annotated[int, Field(ge=0)] | None = describe("Nombre de sessions", default=None)
    satisfaction: Annotated[float, Field(ge=0, le=10)] | None = describe("Satisfaction moyenne sur 10", default=None)
    satisfaction_rate: Percent | None = describe("Taux de satisfaction (% de satisfaits)", default=None)
    completion_rate: Percent | None = describe("Taux d'assiduité ou d'achèvement (%)", default=None)
    success_rate: Percent | None = describe("Taux de réussite aux évaluations (%)", default=None)
    dropout_rate: Percent | None = describe("Taux d'abandon (%)", default=None)
    method: Text | None = describe("Modalités de calcul des indicateurs", default=None)

    @property
    def rates(self) -> list[str]:
        """The names of the rates given."""
        return [n for n in ("satisfaction", "satisfaction_rate", "completion_rate", "success_rate", "dropout_rate")
                if getattr(self, n) is not None]


class Certification(Strict):
    model_config = ConfigDict(title="Certification")

    registry: Literal["RNCP", "RS", "none"] | None = describe(
        "Répertoire : RNCP, RS, ou none pour un certificat hors répertoire délivré selon un texte de référence "
        "(CACES®, SST, habilitation électrique…) ; par défaut, celui du code", default=None)
    title: Text | None = describe("Libellé exact de la certification", default=None)
    code: Annotated[str, StringConstraints(pattern=r"^(RNCP|RS)\d+$")] | None = describe(
        "Code RNCP ou RS (ex. RS5890)", default=None, examples=["RS5890", "RNCP37682"])
    certifier: Text | None = describe("Nom du certificateur (ou de l'organisme qui délivre le certificat)",
                                      default=None)
    registered: dt.date | None = describe("Date d'enregistrement de la certification au répertoire", default=None)
    reference_text: Text | None = describe(
        "Certificat hors répertoire : texte de référence (recommandation CNAM R489, norme NF C 18-510, "
        "référentiel INRS…)", default=None)
    validity: Text | None = describe("Durée de validité du certificat et recyclage", default=None)
    pass_rate: Percent | None = describe("Taux d'obtention de la certification (%)", default=None)
    presentation_rate: Percent | None = describe("Taux de présentation à l'examen (%)", default=None)
    rates_period: Text | None = describe("Période sur laquelle les taux sont calculés", default=None)
    blocks: list[Text] = describe("Blocs de compétences et possibilité de les valider", default_factory=list)
    equivalences: Text | None = describe("Équivalences", default=None)
    bridges: Text | None = describe("Passerelles", default=None)
    follow_on: Text | None = describe("Suites de parcours, poursuites d'études", default=None)
    job_outcomes: Text | None = describe("Débouchés (taux d'insertion de la fiche RNCP le cas échéant)", default=None)

    @property
    def register(self) -> str | None:
        """RNCP, RS or none: as stated, else read from the code."""
        if self.registry:
            return self.registry
        if self.code:
            return "RNCP" if self.code.startswith("RNCP") else "RS"
        return None

    @property
    def registered_in_repertoire(self) -> bool:
        """A certification professionnelle (RNCP or RS), as opposed to a certificate outside the registers."""
        return self.register in ("RNCP", "RS")


class BilanPhases(Strict):
    model_config = ConfigDict(title="Phases du bilan de compétences")

    preliminary: Text | None = describe("Phase préliminaire : analyse de la demande, définition des modalités",
                                        default=None)
    investigation: Text | None = describe("Phase d'investigation : intérêts, compétences, pistes d'évolution",
                                          default=None)
    conclusion: Text | None = describe("Phase de conclusion : résultats, projet, étapes, document de synthèse",
                                       default=None)


SESSION_STATUS_ALIASES = {"ouverte": "open", "ouvert": "open", "complète": "full", "complet": "full",
                          "complete": "full",
                          "annulée": "cancelled", "annulee": "cancelled", "annulé": "cancelled"}


class Session(Strict):
    """One upcoming run of a course: dates (or permanent entries), place, status. No personal data."""

    model_config = ConfigDict(title="Session de formation")

    start: dt.date | None = describe("Date de début", default=None, examples=["2027-01-12"])
    end: dt.date | None = describe("Date de fin (la date de début pour une session d'un jour)", default=None,
                                   examples=["2027-01-14"])
    permanent: bool = describe("Entrées et sorties permanentes (pas de dates fixes)", default=False)
    place: Text | None = describe("Lieu (ville, adresse) ou « distanciel »", default=None,
                                  examples=["Lyon 3e, 18 rue Paul-Bert", "distanciel"])
    format: Format | None = describe("Modalité de cette session, si elle diffère de celle de la formation : "
                                     "presentiel, distanciel ou mixte", default=None)
    status: Literal["open", "full", "cancelled"] = describe(
        "Statut : ouverte (open, par défaut), complète (full) ou annulée (cancelled)", default="open")
    registration_deadline: dt.date | None = describe("Date limite d'inscription", default=None,
                                                     examples=["2027-01-05"])
    note: Text | None = describe("Précision (horaires, rythme…)", default=None, examples=["9 h – 17 h"])

    @field_validator("status", mode="before")
    @classmethod
    def _status_in_french(cls, value: object) -> object:
        """Accept « ouverte », « complète », « annulée »."""
        return SESSION_STATUS_ALIASES.get(value.strip().lower(), value) if isinstance(value, str) else value

    @field_validator("format", mode="before")
    @classmethod
    def _format_accents(cls, value: object) -> object:
        return format_code(value)

    @property
    def last_day(self) -> dt.date | None:
        return self.end or self.start


def _lheo_choice(dictionary: str):  # type: ignore[no-untyped-def]
    """A value of an LHÉO list, written by its name in the content and kept as the list's label."""
    def check(value: object) -> object:
        from pipeline.lheo_codes import canonical

        return None if value is None else canonical(dictionary, value)
    return check


class LheoCourse(Strict):
    """What the LHÉO export needs that the rest of the course sheet does not say (all optional)."""

    model_config = ConfigDict(title="Données LHÉO (export vers les Carif-Oref)")

    formacode: list[Annotated[str, StringConstraints(pattern=r"^\d{5}$")]] = describe(
        "Codes FORMACODE du domaine de formation (5 chiffres, 5 au plus)", default_factory=list,
        max_length=5, examples=[["35054"]])
    nsf: list[Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{3}$")]] = describe(
        "Codes NSF (nomenclature des spécialités de formation, 3 caractères, 3 au plus)", default_factory=list,
        max_length=3, examples=[["315"]])
    rome: list[Annotated[str, StringConstraints(pattern=r"^[A-N]\d{4}$")]] = describe(
        "Codes ROME des métiers visés (une lettre et 4 chiffres, 5 au plus)", default_factory=list, max_length=5,
        examples=[["M1607"]])
    public: list[Annotated[str, StringConstraints(pattern=r"^\d{5}$")]] = describe(
        "Codes de public visé, issus du FORMACODE (5 chiffres, 10 au plus ; obligatoire pour l'export)",
        default_factory=list, max_length=10, examples=[["15061"]])
    formacode_version: Text | None = describe("Version du FORMACODE des codes (ex. V14)", default=None,
                                              examples=["V14"])
    entry_level: Annotated[str | None, BeforeValidator(_lheo_choice("dict-niveaux"))] = describe(
        "Niveau d'entrée, par son nom dans la liste LHÉO (« sans niveau spécifique », « information non "
        "communiquée », « Niveau 4 (Bac)… ») ; obligatoire pour l'export", default=None,
        examples=["sans niveau spécifique"])
    exit_level: Annotated[str | None, BeforeValidator(_lheo_choice("dict-niveaux"))] = describe(
        "Niveau de sortie, par son nom dans la liste LHÉO", default=None)
    path: Annotated[str | None, BeforeValidator(_lheo_choice("dict-type-parcours"))] = describe(
        "Type de parcours : « en groupe », « individualisé », « modularisé » ou « mixte » ; obligatoire pour "
        "l'export", default=None, examples=["en groupe"])
    rhythm: Text | None = describe("Rythme de la formation (temps plein, horaires, jours…) ; obligatoire pour "
                                   "l'export", default=None, examples=["Temps plein, de 9 h à 17 h"])
    entry_level_required: bool = describe("Le niveau d'entrée est exigé (niveau-entree-obligatoire)", default=False)
    alternance: Text | None = describe("Modalités de l'alternance, pour une formation en alternance", default=None)
    funders: list[Annotated[str, BeforeValidator(_lheo_choice("dict-financeurs"))]] = describe(
        "Financeurs possibles, par leur nom dans la liste LHÉO (« Entreprise », « OPCO »…)", default_factory=list,
        max_length=8, examples=[["Entreprise"]])
    price_ttc: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = describe(
        "Prix total TTC par stagiaire, en euros (sinon : le tarif par personne TTC ou net de taxe)", default=None,
        examples=[1548])


NO_PREREQUISITE = {"none", "aucun", "aucune", "aucun prérequis", "aucun prérequis n'est exigé", "pas de prérequis",
                   "aucun pré-requis", "pas de pré-requis", "néant"}

Mention = Literal["audience", "prerequisites", "objectives", "duration", "format", "access_modalities",
                  "access_delay", "prices", "contacts", "methods", "evaluation", "accessibility", "recognition",
                  "funding", "results", "certification"]


class Course(Strict):
    model_config = ConfigDict(title="Formation (ou prestation)")

    title: Text = describe("Intitulé de la formation (ou de la prestation)",
                           examples=["Prendre la parole en public avec aisance"])
    category: Category = describe(
        "Catégorie d'action : AFC (action de formation, par défaut), BC (bilan de compétences), "
        "VAE (accompagnement à la validation des acquis de l'expérience), CFA (apprentissage)", default="AFC")
    reference: Text | None = describe("Référence interne", default=None, examples=["COM-PAR-01"])
    updated: dt.date | None = describe("Date de dernière mise à jour du programme", default=None,
                                       examples=["2026-04-07"])
    summary: Text | None = describe("Présentation de la formation", default=None)
    audience: Text | None = describe("Public visé", default=None,
                                     examples=["Managers et chefs de projet amenés à présenter en réunion"])
    prerequisites: list[Text] | Literal["none"] | None = describe(
        "Prérequis : une liste, ou « none » (ou « aucun ») pour indiquer explicitement l'absence de prérequis",
        default=None)
    objectives: list[Text] = describe(
        "Objectifs opérationnels et évaluables (aptitudes et compétences visées)", default_factory=list,
        examples=[["Structurer une intervention orale de 5 minutes autour d'un message clé"]])
    duration: Duration | None = describe("Durée : fixe (hours), fourchette (min_hours, max_hours) ou maximum "
                                         "(max_hours)", default=None)
    format: Format | list[Format] | None = describe(
        "Modalité : presentiel, distanciel ou mixte ; une liste ([presentiel, distanciel]) pour une modalité "
        "au choix", default=None)
    delivery: list[Literal["inter", "intra", "individual"]] = describe(
        "Inter-entreprises (inter), intra-entreprise (intra), individuel (individual)", default_factory=list)
    group_size: GroupSize | None = describe("Effectif", default=None)
    location: Text | None = describe("Lieu de formation", default=None, examples=["18 rue Paul-Bert, 69003 Lyon"])
    access: Access | None = describe("Modalités et délai d'accès", default=None)
    prices: list[Price] = describe("Tarifs", default_factory=list)
    vat_note: Text | None = describe("Mention relative à la TVA (ex. exonération, art. 261-4-4° du CGI)", default=None)
    modules: list[Module] = describe("Programme : modules dans l'ordre", default_factory=list)
    phases: BilanPhases | None = describe("Bilan de compétences : contenu des trois phases", default=None)
    methods: Methods | None = describe("Méthodes mobilisées et moyens pédagogiques", default=None)
    evaluation: Evaluation | None = describe("Modalités d'évaluation", default=None)
    sanction: Text | None = describe("Sanction de la formation (attestation, certification…)", default=None,
                                     examples=["Attestation de fin de formation"])
    recognition: Text | None = describe("Type de reconnaissance de la formation délivrée", default=None)
    funding: list[Text] = describe("Modalités de financement", default_factory=list,
                                   examples=[["Plan de développement des compétences", "OPCO"]])
    cpf: bool | None = describe("Éligible au CPF (mon compte formation)", default=None)
    accessibility: Text | None = describe("Accessibilité aux personnes en situation de handicap", default=None)
    engagement: Text | None = describe("Mesures favorisant l'engagement et prévenant les ruptures de parcours",
                                       default=None)
    trainers: list[Id] = describe("Intervenants (identifiants des fiches formateurs)", default_factory=list,
                                  examples=[["claire-martin"]])
    contact: Contact | None = describe("Contact pédagogique propre à la formation (comme pedagogical_contact)",
                                       default=None)
    pedagogical_contact: Contact | None = describe(
        "Référent pédagogique de la formation (sinon, le contact pédagogique de l'organisme)", default=None)
    administrative_contact: Contact | None = describe(
        "Contact administratif de la formation (sinon, celui de l'organisme)", default=None)
    results: Results | None = describe("Indicateurs de résultats", default=None)
    certification: Certification | None = describe(
        "Certification préparée ou certificat délivré (RNCP, RS, ou hors répertoire)", default=None)
    published_elsewhere: dict[Mention, Text] = describe(
        "Mentions publiées sur un autre support public que la fiche (CGV, page web) : la mention et le support "
        "(ex. `prices: CGV, https://…`)", default_factory=dict)
    lheo: LheoCourse | None = describe("Données propres à l'export LHÉO (codes FORMACODE, NSF, ROME, public "
                                       "visé, niveaux, parcours, rythme, financeurs)", default=None)
    sessions: list[Session] = describe(
        "Prochaines sessions : dates de début et de fin (ou `permanent: true` pour des entrées et sorties "
        "permanentes), lieu, statut, date limite d'inscription", default_factory=list)
    positioning_questions: list[Text] = describe("Questions de positionnement propres à la formation",
                                                 default_factory=list)
    new: bool = describe("Nouvelle formation, pas encore réalisée (pas encore d'indicateurs de résultats)",
                         default=False)
    alternance: bool = describe("Formation en alternance (contrat de professionnalisation, apprentissage)",
                                default=False)
    work_situation: bool = describe("Comprend des périodes de formation en situation de travail (stage, AFEST)",
                                    default=False)

    @field_validator("prerequisites", mode="before")
    @classmethod
    def _none_in_french(cls, value: object) -> object:
        """Accept « aucun » as well as « none » for an explicit absence of prerequisites."""
        def says_none(text: object) -> bool:
            return isinstance(text, str) and text.strip().rstrip(".").lower() in NO_PREREQUISITE

        if says_none(value) or (isinstance(value, list) and len(value) == 1 and says_none(value[0])):
            return "none"
        return value

    @field_validator("format", mode="before")
    @classmethod
    def _format_accents(cls, value: object) -> object:
        """Accept the accented spelling of « présentiel »."""
        return [format_code(v) for v in value] if isinstance(value, list) else format_code(value)

    @field_validator("category", mode="before")
    @classmethod
    def _category_name(cls, value: object) -> object:
        return category_code(value)

    @property
    def formats(self) -> list[str]:
        """The modalities offered: one, or several offered as a choice."""
        if self.format is None:
            return []
        return list(self.format) if isinstance(self.format, list) else [self.format]

    @property
    def remote(self) -> bool:
        """Say whether any part of the course may take place at a distance."""
        return any(f != "presentiel" for f in self.formats) or any(m.distance for m in self.modules)

    @property
    def pedagogical(self) -> Contact | None:
        return self.pedagogical_contact or self.contact

    @property
    def certifying(self) -> bool:
        """Leads to a certification professionnelle (RNCP or RS)."""
        return bool(self.certification and self.certification.registered_in_repertoire)


class Diploma(Strict):
    model_config = ConfigDict(title="Diplôme")

    title: Text = describe("Intitulé du diplôme ou de la certification")
    year: Annotated[int, Field(ge=1950, le=2100)] = describe("Année d'obtention")
    institution: Text | None = describe("Établissement ou certificateur", default=None)


class Experience(Strict):
    model_config = ConfigDict(title="Expérience professionnelle")

    role: Text = describe("Fonction occupée")
    organisation: Text = describe("Employeur ou client")
    start: Annotated[int, Field(ge=1950, le=2100)] = describe("Année de début")
    end: Annotated[int, Field(ge=1950, le=2100)] | None = describe("Année de fin (vide si en cours)", default=None)
    description: Text | None = describe("Missions principales", default=None)


class TrainingRecord(Strict):
    model_config = ConfigDict(title="Formation continue suivie")

    title: Text = describe("Intitulé de la formation suivie")
    organisation: Text = describe("Organisme")
    date: dt.date = describe("Date")
    hours: Hours = describe("Durée en heures")


class Trainer(Strict):
    model_config = ConfigDict(title="Intervenant")

    name: Text = describe("Nom et prénom", examples=["Claire Martin"])
    status: Literal["employee", "independent", "subcontractor"] | None = describe(
        "Statut : salarié (employee), indépendant (independent), sous-traitant (subcontractor)", default=None)
    company: Text | None = describe("Société du sous-traitant", default=None)
    role: Text | None = describe("Fonction", default=None)
    email: Text | None = describe("Adresse électronique", default=None)
    diplomas: list[Diploma] = describe("Diplômes et certifications, avec l'année", default_factory=list)
    experience: list[Experience] = describe("Expérience professionnelle", default_factory=list)
    skills: list[Text] = describe("Domaines de compétence", default_factory=list)
    training: list[TrainingRecord] = describe("Formation continue suivie (titre, organisme, date, heures)",
                                              default_factory=list)
    last_review: dt.date | None = describe("Date de la dernière revue des compétences", default=None)
    disability_awareness: bool = describe("Sensibilisé à l'accueil des personnes en situation de handicap",
                                          default=False)
    cv: Text | None = describe("Résumé du CV", default=None)


Source = Literal["complaint", "trainee_feedback", "funder_feedback", "company_feedback", "trainer_feedback",
                 "audit", "watch", "incident", "dropout", "risk_analysis"]


class Complaint(Strict):
    model_config = ConfigDict(title="Réclamation")

    received: dt.date = describe("Date de réception de la réclamation")
    channel: Text = describe("Canal (courriel, courrier, formulaire…)")
    complainant: Text = describe("Réclamant (qualité : stagiaire, entreprise, financeur…)")
    acknowledged: dt.date | None = describe("Date de l'accusé de réception", default=None)
    response: Text | None = describe("Réponse apportée au réclamant", default=None)
    responded: dt.date | None = describe("Date de la réponse", default=None)


class Action(Strict):
    model_config = ConfigDict(title="Action décidée")

    type: Literal["correction", "corrective", "preventive"] = describe(
        "Nature : correction, action corrective, action préventive")
    description: Text = describe("Action décidée")


class Risk(Strict):
    model_config = ConfigDict(title="Cotation du risque")

    probability: Annotated[int, Field(ge=1, le=4)] = describe("Probabilité, de 1 (rare) à 4 (très probable)")
    impact: Annotated[int, Field(ge=1, le=4)] = describe("Impact sur la qualité, de 1 (faible) à 4 (critique)")


class ImprovementEntry(Strict):
    model_config = ConfigDict(title="Entrée du registre d'amélioration continue")

    date: dt.date = describe("Date du constat", examples=["2026-01-15"])
    source: Source = describe(
        "Source : réclamation, retour stagiaire, financeur, entreprise, formateur, audit, veille, aléa, abandon, "
        "analyse des risques")
    courses: list[Id] = describe("Formations concernées", default_factory=list)
    description: Text = describe("Constat")
    complaint: Complaint | None = describe("Suivi de la réclamation (source « complaint »)", default=None)
    analysis: Text = describe("Analyse des causes")
    action: Action = describe("Action décidée")
    owner: Text = describe("Responsable", examples=["Responsable qualité"])
    due: dt.date = describe("Échéance")
    status: Literal["open", "in_progress", "closed"] = describe("Statut : ouvert, en cours, clos")
    closed: dt.date | None = describe("Date de clôture", default=None)
    effectiveness: Text | None = describe("Vérification de l'efficacité", default=None)
    risk: Risk | None = describe("Cotation du risque (source « risk_analysis »)", default=None)
    indicators: list[Annotated[int, Field(ge=1, le=33)]] = describe("Indicateurs RNQ concernés", default_factory=list)
