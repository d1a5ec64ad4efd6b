"""The content model: what each YAML file may hold, with a French description of every key.

Keys are English; `description` is the French label shown to users (`qualidoc fields`) and taken
from the RNQ glossary where one exists. Unknown keys are errors, never silently dropped.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

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
    name: Text = describe("Nom et prénom")
    role: Text | None = describe("Fonction", default=None)
    email: Text | None = describe("Adresse électronique", default=None)
    phone: Text | None = describe("Téléphone", default=None)


class Address(Strict):
    street: Text = describe("Numéro et voie")
    postcode: Text = describe("Code postal")
    city: Text = describe("Commune")


class QualiopiCertificate(Strict):
    certifier: Text = describe("Organisme certificateur")
    number: Text = describe("Numéro du certificat")
    valid_from: dt.date | None = describe("Date de délivrance", default=None)
    valid_until: dt.date = describe("Date de fin de validité")
    categories: list[Literal["AFC", "BC", "VAE", "CFA"]] = describe(
        "Catégories d'actions certifiées", default_factory=list)


class CheckSettings(Strict):
    update_max_months: Annotated[int, Field(ge=1)] = describe(
        "Âge maximal de la date de mise à jour d'un programme, en mois", default=12)
    results_max_months: Annotated[int, Field(ge=1)] = describe(
        "Âge maximal des indicateurs de résultats (fin de période), en mois", default=18)
    training_max_months: Annotated[int, Field(ge=1)] = describe(
        "Délai maximal depuis la dernière formation continue d'un intervenant, en mois", default=24)


class Organisation(Strict):
    name: Text = describe("Raison sociale")
    trade_name: Text | None = describe("Nom commercial", default=None)
    siret: Annotated[str, StringConstraints(pattern=r"^\d{14}$")] = describe("Numéro SIRET (14 chiffres)")
    nda: Annotated[str, StringConstraints(pattern=r"^\d{11}$")] = describe(
        "Numéro de déclaration d'activité (NDA, 11 chiffres)")
    nda_region: Text | None = describe("Préfecture de région d'enregistrement du NDA", default=None)
    address: Address = describe("Adresse du siège")
    phone: Text = describe("Téléphone")
    email: Text = describe("Adresse électronique")
    website: Text | None = describe("Site internet", default=None)
    logo: Text | None = describe("Logo : chemin d'une image PNG ou JPEG dans le projet", default=None)
    disability_referent: Contact = describe("Référent handicap (nom et contact)")
    pedagogical_contact: Contact = describe("Contact pédagogique")
    administrative_contact: Contact = describe("Contact administratif")
    categories: list[Literal["AFC", "BC", "VAE", "CFA"]] = describe(
        "Catégories d'actions : AFC (actions de formation), BC (bilans de compétences), VAE, CFA (apprentissage)",
        min_length=1)
    qualiopi: QualiopiCertificate | None = describe("Certificat Qualiopi, lorsque l'organisme est certifié",
                                                    default=None)
    terms_url: Text = describe("Lien vers les conditions générales de vente")
    complaints: Text = describe("Modalités de réclamation (canal, délai de réponse)")
    mediator: Text | None = describe("Médiateur de la consommation", default=None)
    next_audit: dt.date | None = describe("Date du prochain audit Qualiopi", default=None)
    referential: Literal["V9", "V10"] | None = describe(
        "Version du référentiel à appliquer (par défaut : V10 pour un audit à partir du 1er novembre 2026)",
        default=None)
    checks: CheckSettings = describe("Réglages des contrôles de `qualidoc check`", default_factory=CheckSettings)


class Duration(Strict):
    hours: Annotated[float, Field(gt=0)] = describe("Durée en heures")
    days: Annotated[float, Field(gt=0)] | None = describe("Durée en jours", default=None)


class GroupSize(Strict):
    min: Annotated[int, Field(ge=1)] | None = describe("Effectif minimum", default=None)
    max: Annotated[int, Field(ge=1)] = describe("Effectif maximum")


class Access(Strict):
    modalities: Text = describe("Modalités d'accès : processus d'inscription à l'action")
    delay: Text = describe(
        "Délai d'accès : durée estimée entre la demande du bénéficiaire et le début de la prestation")


class Price(Strict):
    label: Text = describe("Libellé du tarif (inter-entreprises, intra, individuel…)")
    amount: Annotated[float, Field(ge=0)] | None = describe("Montant en euros (absent si sur devis)", default=None)
    tax: Literal["HT", "TTC", "net"] = describe("HT, TTC, ou net de taxe (organisme exonéré de TVA)")
    per: Literal["person", "group", "day", "person_day"] = describe(
        "Assiette : par personne, par groupe, par jour, par personne et par jour")
    on_quote: bool = describe("Sur devis", default=False)


class Module(Strict):
    title: Text = describe("Intitulé du module")
    hours: Annotated[float, Field(gt=0)] = describe("Durée du module en heures")
    distance: bool = describe("Module réalisé à distance", default=False)
    contents: list[Text] = describe("Contenus du module (une ligne par point)", min_length=1)


class Methods(Strict):
    teaching: list[Text] = describe("Méthodes mobilisées : modalités pédagogiques", min_length=1)
    resources: list[Text] = describe("Moyens et ressources pédagogiques et techniques", min_length=1)
    distance_support: Text | None = describe(
        "Formation à distance : assistance technique et pédagogique, activités à distance et leur durée moyenne",
        default=None)


class Evaluation(Strict):
    entry: Text | None = describe("Évaluation à l'entrée (positionnement)", default=None)
    during: Text | None = describe("Évaluation en cours de formation", default=None)
    final: Text | None = describe("Évaluation des acquis en fin de formation", default=None)
    satisfaction: Text | None = describe("Évaluation de la satisfaction", default=None)


class Results(Strict):
    period_start: dt.date = describe("Début de la période mesurée")
    period_end: dt.date = describe("Fin de la période mesurée")
    trainees: Annotated[int, Field(ge=0)] = describe("Nombre de stagiaires formés")
    sessions: Annotated[int, Field(ge=0)] | None = describe("Nombre de sessions", default=None)
    satisfaction: Annotated[float, Field(ge=0, le=10)] | None = describe("Satisfaction moyenne sur 10", default=None)
    completion_rate: Percent | None = describe("Taux d'assiduité ou d'achèvement (%)", default=None)
    success_rate: Percent | None = describe("Taux de réussite aux évaluations (%)", default=None)
    dropout_rate: Percent | None = describe("Taux d'abandon (%)", default=None)
    method: Text | None = describe("Modalités de calcul des indicateurs", default=None)


class Certification(Strict):
    title: Text = describe("Libellé exact de la certification")
    code: Annotated[str, StringConstraints(pattern=r"^(RNCP|RS)\d+$")] = describe("Code RNCP ou RS (ex. RS5890)")
    certifier: Text = describe("Nom du certificateur")
    registered: dt.date = describe("Date d'enregistrement de la certification")
    pass_rate: Percent | None = describe("Taux d'obtention de la certification (%)", default=None)
    presentation_rate: Percent | None = describe("Taux de présentation à l'examen (%)", default=None)
    rates_period: Text | None = describe("Période sur laquelle les taux sont calculés", default=None)
    blocks: list[Text] = describe("Blocs de compétences et possibilité de les valider", default_factory=list)
    equivalences: Text | None = describe("Équivalences", default=None)
    bridges: Text | None = describe("Passerelles", default=None)
    follow_on: Text | None = describe("Suites de parcours, poursuites d'études", default=None)
    job_outcomes: Text | None = describe("Débouchés (taux d'insertion de la fiche RNCP le cas échéant)", default=None)


class Course(Strict):
    title: Text = describe("Intitulé de la formation")
    reference: Text = describe("Référence interne")
    updated: dt.date = describe("Date de dernière mise à jour du programme")
    summary: Text = describe("Présentation de la formation")
    audience: Text = describe("Public visé")
    prerequisites: list[Text] | Literal["none"] = describe(
        "Prérequis : une liste, ou « none » pour indiquer explicitement l'absence de prérequis")
    objectives: list[Text] = describe(
        "Objectifs opérationnels et évaluables (aptitudes et compétences visées)", min_length=1)
    duration: Duration = describe("Durée")
    format: Literal["presentiel", "distanciel", "mixte"] = describe("Modalité : présentiel, distanciel ou mixte")
    delivery: list[Literal["inter", "intra"]] = describe("Inter-entreprises et/ou intra-entreprise", min_length=1)
    group_size: GroupSize | None = describe("Effectif", default=None)
    location: Text | None = describe("Lieu de formation", default=None)
    access: Access = describe("Modalités et délai d'accès")
    prices: list[Price] = describe("Tarifs", min_length=1)
    vat_note: Text | None = describe("Mention relative à la TVA (ex. exonération, art. 261-4-4° du CGI)", default=None)
    modules: list[Module] = describe("Programme : modules dans l'ordre", min_length=1)
    methods: Methods = describe("Méthodes mobilisées et moyens pédagogiques")
    evaluation: Evaluation = describe("Modalités d'évaluation")
    sanction: Text = describe("Sanction de la formation (attestation, certification…)")
    recognition: Text | None = describe("Type de reconnaissance de la formation délivrée", default=None)
    funding: list[Text] = describe("Modalités de financement", default_factory=list)
    accessibility: Text = describe("Accessibilité aux personnes en situation de handicap")
    engagement: Text | None = describe("Mesures favorisant l'engagement et prévenant les ruptures de parcours",
                                       default=None)
    trainers: list[Id] = describe("Intervenants (identifiants des fiches formateurs)", min_length=1)
    contact: Contact | None = describe("Contact propre à la formation (sinon, ceux de l'organisme)", default=None)
    results: Results | None = describe("Indicateurs de résultats", default=None)
    certification: Certification | None = describe("Certification préparée (formations certifiantes)", default=None)
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
        if isinstance(value, str) and value.strip().lower() in {"none", "aucun", "aucune"}:
            return "none"
        return value

    @field_validator("format", mode="before")
    @classmethod
    def _format_accents(cls, value: object) -> object:
        """Accept the accented spelling of « présentiel »."""
        return value.replace("é", "e").lower() if isinstance(value, str) else value


class Diploma(Strict):
    title: Text = describe("Intitulé du diplôme ou de la certification")
    year: Annotated[int, Field(ge=1950, le=2100)] = describe("Année d'obtention")
    institution: Text | None = describe("Établissement ou certificateur", default=None)


class Experience(Strict):
    role: Text = describe("Fonction occupée")
    organisation: Text = describe("Employeur ou client")
    start: Annotated[int, Field(ge=1950, le=2100)] = describe("Année de début")
    end: Annotated[int, Field(ge=1950, le=2100)] | None = describe("Année de fin (vide si en cours)", default=None)
    description: Text | None = describe("Missions principales", default=None)


class TrainingRecord(Strict):
    title: Text = describe("Intitulé de la formation suivie")
    organisation: Text = describe("Organisme")
    date: dt.date = describe("Date")
    hours: Annotated[float, Field(gt=0)] = describe("Durée en heures")


class Trainer(Strict):
    name: Text = describe("Nom et prénom")
    status: Literal["employee", "independent", "subcontractor"] = describe(
        "Statut : salarié (employee), indépendant (independent), sous-traitant (subcontractor)")
    company: Text | None = describe("Société du sous-traitant", default=None)
    role: Text = describe("Fonction")
    email: Text | None = describe("Adresse électronique", default=None)
    diplomas: list[Diploma] = describe("Diplômes et certifications, avec l'année", default_factory=list)
    experience: list[Experience] = describe("Expérience professionnelle", default_factory=list)
    skills: list[Text] = describe("Domaines de compétence", min_length=1)
    training: list[TrainingRecord] = describe("Formation continue suivie (titre, organisme, date, heures)",
                                              default_factory=list)
    last_review: dt.date | None = describe("Date de la dernière revue des compétences", default=None)
    disability_awareness: bool = describe("Sensibilisé à l'accueil des personnes en situation de handicap",
                                          default=False)
    cv: Text = describe("Résumé du CV")


Source = Literal["complaint", "trainee_feedback", "funder_feedback", "company_feedback", "trainer_feedback",
                 "audit", "watch", "incident", "dropout", "risk_analysis"]


class Complaint(Strict):
    received: dt.date = describe("Date de réception de la réclamation")
    channel: Text = describe("Canal (courriel, courrier, formulaire…)")
    complainant: Text = describe("Réclamant (qualité : stagiaire, entreprise, financeur…)")
    acknowledged: dt.date | None = describe("Date de l'accusé de réception", default=None)
    response: Text | None = describe("Réponse apportée au réclamant", default=None)
    responded: dt.date | None = describe("Date de la réponse", default=None)


class Action(Strict):
    type: Literal["correction", "corrective", "preventive"] = describe(
        "Nature : correction, action corrective, action préventive")
    description: Text = describe("Action décidée")


class Risk(Strict):
    probability: Annotated[int, Field(ge=1, le=4)] = describe("Probabilité, de 1 (rare) à 4 (très probable)")
    impact: Annotated[int, Field(ge=1, le=4)] = describe("Impact sur la qualité, de 1 (faible) à 4 (critique)")


class ImprovementEntry(Strict):
    date: dt.date = describe("Date du constat")
    source: Source = describe(
        "Source : réclamation, retour stagiaire, financeur, entreprise, formateur, audit, veille, aléa, abandon, "
        "analyse des risques")
    courses: list[Id] = describe("Formations concernées", default_factory=list)
    description: Text = describe("Constat")
    complaint: Complaint | None = describe("Suivi de la réclamation (source « complaint »)", default=None)
    analysis: Text = describe("Analyse des causes")
    action: Action = describe("Action décidée")
    owner: Text = describe("Responsable")
    due: dt.date = describe("Échéance")
    status: Literal["open", "in_progress", "closed"] = describe("Statut : ouvert, en cours, clos")
    closed: dt.date | None = describe("Date de clôture", default=None)
    effectiveness: Text | None = describe("Vérification de l'efficacité", default=None)
    risk: Risk | None = describe("Cotation du risque (source « risk_analysis »)", default=None)
    indicators: list[Annotated[int, Field(ge=1, le=33)]] = describe("Indicateurs RNQ concernés", default_factory=list)
