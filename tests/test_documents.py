"""Every generated document holds the content's actual values, in the DOCX and in the PDF."""

from __future__ import annotations

from pathlib import Path

import docx
import pypdf
import pytest

from tests.helpers import docx_text, normalise, pdf_text

COURSES = ["excel-perfectionnement", "management-proximite", "rgpd-essentiel", "accueil-handicap", "prise-de-parole"]

# What a reader expects to see, written independently of the formatters the documents use.
MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre"]


def date_fr(day) -> str:  # type: ignore[no-untyped-def]
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


def date_long(day) -> str:  # type: ignore[no-untyped-def]
    return f"{'1er' if day.day == 1 else day.day} {MONTHS[day.month - 1]} {day.year}"


def money(amount: float) -> str:
    whole, cents = divmod(round(amount * 100), 100)
    grouped = f"{whole:,}".replace(",", " ")
    return f"{grouped} €" if cents == 0 else f"{grouped},{cents:02d} €"


def both(out: Path, stem: str) -> list[str]:
    return [docx_text(out / f"{stem}.docx"), pdf_text(out / f"{stem}.pdf")]


@pytest.mark.parametrize("cid", COURSES)
def test_programme_states_every_mandatory_mention(sample_out, catalogue, cid):
    course, org = catalogue.courses[cid], catalogue.organisation
    for text in both(sample_out, f"programmes/{cid}"):
        assert normalise(course.title) in text
        for objective in course.objectives:
            assert normalise(objective) in text
        assert normalise(course.access.delay) in text
        assert normalise(course.access.modalities) in text
        assert normalise(course.audience) in text
        assert normalise(course.accessibility) in text
        assert normalise(course.evaluation.final) in text
        assert normalise(course.methods.teaching[0]) in text
        for price in course.prices:
            assert normalise(price.label) in text
            if price.amount is not None:
                assert normalise(money(price.amount)) in text
        for module in course.modules:
            assert normalise(module.title) in text
            assert all(normalise(c) in text for c in module.contents)
        assert normalise(org.pedagogical_contact.email) in text
        assert normalise(org.disability_referent.name) in text
        assert f"Mis à jour le {normalise(date_long(course.updated))}" in text
        assert f"NDA {org.nda}" in text
        assert f"{course.reference} – version du {date_fr(course.updated)}" in text
        for tid in course.trainers:
            assert catalogue.trainers[tid].name in text
        assert "Qualiopi" not in text  # the mark's rules forbid it on a course document


def test_programme_states_absent_prerequisites(sample_out, catalogue):
    assert catalogue.courses["rgpd-essentiel"].prerequisites == "none"
    for text in both(sample_out, "programmes/rgpd-essentiel"):
        assert "Aucun prérequis" in text
    for text in both(sample_out, "programmes/excel-perfectionnement"):
        assert "Aucun prérequis" not in text


def test_certifying_programme_has_certification_block(sample_out, catalogue):
    cert = catalogue.courses["management-proximite"].certification
    for text in both(sample_out, "programmes/management-proximite"):
        assert "Certification préparée" in text
        assert cert.code in text
        assert normalise(cert.certifier) in text
        assert date_fr(cert.registered) in text
        assert "Taux d'obtention de la certification 89 %" in text
        assert "Taux de présentation à l'examen 95 %" in text
    for text in both(sample_out, "programmes/excel-perfectionnement"):
        assert "Certification préparée" not in text


def test_results_and_calculation_method(sample_out, catalogue):
    results = catalogue.courses["excel-perfectionnement"].results
    for text in both(sample_out, "programmes/excel-perfectionnement"):
        assert f"Période du {date_fr(results.period_start)} au {date_fr(results.period_end)}" in text
        assert "Stagiaires accueillis 64" in text
        assert "9,1 / 10" in text
        assert normalise(results.method) in text


def test_distance_course_describes_its_assistance(sample_out, catalogue):
    support = catalogue.courses["rgpd-essentiel"].methods.distance_support
    for text in both(sample_out, "programmes/rgpd-essentiel"):
        assert normalise(support) in text
        assert "Distanciel" in text


def test_programme_is_a4_with_logo_and_page_numbers(sample_out):
    document = docx.Document(str(sample_out / "programmes/excel-perfectionnement.docx"))
    section = document.sections[0]
    assert round(section.page_width.cm, 1) == 21.0 and round(section.page_height.cm, 1) == 29.7
    assert len(document.inline_shapes) == 1  # the organisation's logo
    footer_xml = section.footer._element.xml
    assert "PAGE" in footer_xml and "NUMPAGES" in footer_xml
    pdf = pypdf.PdfReader(str(sample_out / "programmes/excel-perfectionnement.pdf"))
    box = pdf.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)
    pages = len(pdf.pages)
    assert f"Page {pages} / {pages}" in normalise(pdf.pages[-1].extract_text())


@pytest.mark.parametrize("cid", COURSES)
def test_positioning_questionnaire_covers_course(sample_out, catalogue, cid):
    course = catalogue.courses[cid]
    for text in both(sample_out, f"positionnement/{cid}"):
        assert "Questionnaire de positionnement" in text
        assert "Nom et prénom" in text and "Fonction occupée" in text
        for objective in course.objectives:
            assert normalise(objective) in text
        if course.prerequisites != "none":
            for prerequisite in course.prerequisites:
                assert normalise(prerequisite) in text
        for question in course.positioning_questions:
            assert normalise(question) in text
        assert "Accessibilité et besoins d'adaptation" in text
        for decision in ("Admis(e) sur le parcours standard", "Admis(e) avec un parcours adapté",
                         "Réorienté(e) vers une autre formation"):
            assert decision in text
        assert "Signature" in text


def test_positioning_questionnaire_is_fillable_in_word(sample_out, catalogue):
    course = catalogue.courses["excel-perfectionnement"]
    document = docx.Document(str(sample_out / "positionnement/excel-perfectionnement.docx"))
    xml = document.element.xml
    boxes = xml.count("<w14:checkbox>")
    # 3 per prerequisite, 5 per objective, 2 for accessibility, 3 for the decision
    assert boxes == 3 * len(course.prerequisites) + 5 * len(course.objectives) + 2 + 3
    assert "QDCHECKBOX" not in xml  # every marker became a content control
    assert "QDCHECKBOX" not in pdf_text(sample_out / "positionnement/excel-perfectionnement.pdf")
    identity = document.tables[0]
    assert identity.rows[1].cells[0].text == "Nom et prénom"
    assert identity.rows[1].cells[1].text.strip() == ""


def test_skills_matrix(sample_out, catalogue):
    for text in both(sample_out, "intervenants/matrice-competences"):
        assert "Matrice des compétences des intervenants" in text
        for trainer in catalogue.trainers.values():
            assert trainer.name in text
            for diploma in trainer.diplomas:
                assert normalise(diploma.title) in text
            for record in trainer.training:
                assert normalise(record.title) in text and date_fr(record.date) in text
        assert "Sous-traitant" in text
    document = docx.Document(str(sample_out / "intervenants/matrice-competences.docx"))
    matrix = document.tables[0]
    header = [c.text for c in matrix.rows[0].cells]
    assert header[:2] == ["Intervenant", "Statut"]
    claire = next(r for r in matrix.rows if r.cells[0].text == "Claire Martin")
    column = header.index(catalogue.courses["excel-perfectionnement"].reference)
    assert claire.cells[column].text == "✓"
    orientations = [s.orientation for s in document.sections]
    assert orientations[0] == 1 and 0 in orientations  # the matrix in landscape, the CVs in portrait
    first_page = pypdf.PdfReader(str(sample_out / "intervenants/matrice-competences.pdf")).pages[0].mediabox
    assert first_page.width > first_page.height


def test_improvement_log(sample_out, catalogue):
    entries = catalogue.improvements
    for text in both(sample_out, "amelioration/registre-amelioration"):
        assert "Registre d'amélioration continue" in text
        for entry in entries.values():
            assert normalise(entry.owner) in text
            assert normalise(entry.analysis) in text
            assert date_fr(entry.due) in text
        assert "Suivi des réclamations" in text
        complaint = entries["2026-01-attestation-tardive"].complaint
        assert normalise(complaint.response) in text
    document = docx.Document(str(sample_out / "amelioration/registre-amelioration.docx"))
    counts = {row.cells[0].text: row.cells[1].text for row in document.tables[0].rows[1:]}
    statuses = [e.status for e in entries.values()]
    assert counts["Ouvertes"] == str(statuses.count("open"))
    assert counts["Closes"] == str(statuses.count("closed"))
    assert counts["Total"] == str(len(entries))
    follow_up = document.tables[2]
    dates = [row.cells[1].text for row in follow_up.rows[1:]]
    assert dates == [date_fr(e.date) for e in sorted(entries.values(), key=lambda e: e.date)]


def test_conformity_matrix(sample_out):
    from pipeline.referential import load_referential

    referential = load_referential("V10")
    for text in both(sample_out, "conformite/matrice-conformite"):
        assert "Tableau de conformité au Référentiel national qualité" in text
        assert "Synthèse par critère" in text
        for indicator in referential.indicators:
            assert normalise(indicator.text) in text
        assert "non applicable" in text and "pièces de l'organisme" in text and "qualidoc" not in text
        assert "Non applicable : aucune formation en alternance" in text
        assert "programmes/*.pdf (7 documents)" in text
        assert "Vigilance : intervenant sous-traitant" in text
    document = docx.Document(str(sample_out / "conformite/matrice-conformite.docx"))
    summary = document.tables[0]
    total = [c.text for c in summary.rows[-1].cells]
    assert total[0] == "Total" and sum(int(x) for x in total[1:]) == 33
    assert int(total[2]) == 0  # nothing to complete in the conforming sample


def test_bilan_programme_and_interview_guide(sample_out):
    for text in both(sample_out, "programmes/bilan-competences"):
        assert "Programme du bilan de compétences" in text and "le bénéficiaire sera capable de" in text
        assert "le stagiaire" not in text and "Prérequis" not in text
        assert "de 18 h à 24 h, selon le format retenu" in text
        assert "Présentiel ou distanciel au choix, individuel" in text
        for phase in ("1. Phase préliminaire.", "2. Phase d'investigation.", "3. Phase de conclusion."):
            assert phase in text
        assert "pour une durée de 24 heures au plus" in text and "document de synthèse remis au seul" in text
        assert "Éligible au CPF Oui" in text and "1 980 € net de taxe par personne" in text
    for text in both(sample_out, "positionnement/bilan-competences"):
        assert "Guide de l'entretien préliminaire" in text and "Qu'est-ce qui vous amène" in text
        assert "je ne connais pas" not in text and "Auto-évaluation" not in text


def test_certificate_outside_the_registers(sample_out):
    for text in both(sample_out, "programmes/habilitation-electrique-b0"):
        assert "Certificat délivré" in text and "Norme NF C 18-510" in text
        assert "Ce certificat n'est pas enregistré au RNCP ni au répertoire spécifique." in text
        assert "Code" not in text.split("Certificat délivré")[1].split("Contacts")[0]
        assert "(45 min)" in text and "(2 h 15)" in text and "(1 h 30)" in text
        assert ("Intra-entreprise : sur devis (à partir de 1 150 € HT par groupe ; selon le nombre de "
                "participants (12 au plus) et le lieu)") in text
        assert "À compléter" not in text


def test_rncp_certification_with_blocks(sample_out, catalogue):
    cert = catalogue.courses["management-proximite"].certification
    for text in both(sample_out, "programmes/management-proximite"):
        assert "RNCP38512" in text and "Répertoire national des certifications professionnelles" in text
        for block in cert.blocks:
            assert normalise(block) in text


def test_group_size_and_objectives_read_as_french(sample_out):
    for text in both(sample_out, "programmes/rgpd-essentiel"):
        assert "Effectif Jusqu'à 12 participants" in text


def test_objectives_written_as_capable_of(tmp_path):
    from pipeline.build import build
    from pipeline.project import Project
    from tests.helpers import copy_project, edit_yaml

    copy_project(tmp_path)
    edit_yaml(tmp_path / "content/courses/excel-perfectionnement.yaml",
              objectives=["Être capable de construire un tableau croisé dynamique",
                          "être capable d'importer des données"])
    edit_yaml(tmp_path / "content/courses/rgpd-essentiel.yaml",
              objectives=["Les bases légales du RGPD", "Identifier une donnée sensible"])
    assert not build(Project.at(tmp_path)).failed
    for text in both(tmp_path / "build", "programmes/excel-perfectionnement"):
        assert "sera capable de :" in text and "Construire un tableau croisé dynamique" in text
        assert "Importer des données" in text and "tre capable" not in text
    for text in both(tmp_path / "build", "programmes/rgpd-essentiel"):
        assert "Objectifs visés à l'issue de la formation :" in text and "Les bases légales du RGPD" in text
        assert "sera capable de" not in text


def test_trainer_without_continuing_training_builds(tmp_path):
    from pipeline.build import build
    from pipeline.project import Project
    from tests.helpers import copy_project, edit_yaml

    copy_project(tmp_path)
    edit_yaml(tmp_path / "content/trainers/claire-martin.yaml", training=None, role=None, cv=None)
    report = build(Project.at(tmp_path))
    assert not report.failed, report.failed
    for text in both(tmp_path / "build", "intervenants/matrice-competences"):
        assert "Claire Martin" in text and "[À compléter : résumé du CV]" in text


def test_conformity_matrix_and_check_agree(sample_out):
    import re

    from pipeline.content import load_catalogue
    from pipeline.plan import check_project, plan_project
    from pipeline.project import Project

    project = Project.at(sample_out.parent)
    catalogue = load_catalogue(project.content, project.root)
    [matrix] = [d for d in plan_project(project, catalogue) if d.kind == "conformite"]
    result = check_project(project, catalogue, matrix.version)
    for text in both(sample_out, "conformite/matrice-conformite"):
        assert f"Contrôles établis au {normalise(date_long(matrix.version))}" in text
        assert "qualidoc" not in text  # the auditor reads the référentiel's terms, not the tool's
        assert result.referential.label.split(" (")[0] in text
        errors = len(result.errors())
        warnings = len(result.findings) - errors
        assert re.search(rf"Contrôles automatiques : {errors} écarts? à corriger, {warnings} points? de vigilance",
                         text)


def test_skills_matrix_beyond_24_courses_lists_each_trainers_courses(tmp_path):
    """Beyond 24 courses the assignment grid becomes one line per trainer listing the courses they deliver, in
    the courses' order, and each CV names them; a trainer without a course says so."""
    import yaml

    from pipeline.build import build
    from pipeline.project import Project
    from tests.helpers import copy_project, edit_yaml

    copy_project(tmp_path)
    courses = tmp_path / "content/courses"
    seed = yaml.safe_load((courses / "excel-perfectionnement.yaml").read_text(encoding="utf-8"))
    for number in range(20):  # 27 courses in all; Claire Martin and Sophie Lefebvre deliver them in turn
        trainers = ["claire-martin"] if number % 2 else ["claire-martin", "sophie-lefebvre"]
        data = {**seed, "title": f"Excel, groupe {number:02d}", "reference": f"EXC-G{number:02d}", "trainers": trainers}
        (courses / f"excel-groupe-{number:02d}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True),
                                                                 encoding="utf-8")
    edit_yaml(courses / "accueil-handicap.yaml", trainers=["karim-benali"])  # Thomas Girard: no course left
    report = build(Project.at(tmp_path))
    assert not report.failed, report.failed
    from pipeline.content import load_catalogue

    catalogue = load_catalogue(tmp_path / "content", tmp_path)
    assert len(catalogue.courses) > 24
    expected = {tid: [(c.reference or cid, c.title) for cid, c in catalogue.courses.items() if tid in c.trainers]
                for tid in catalogue.trainers}
    assert expected["thomas-girard"] == [] and len(expected["claire-martin"]) >= 21
    document = docx.Document(str(tmp_path / "build/intervenants/matrice-competences.docx"))
    grid = document.tables[0]
    assert [c.text for c in grid.rows[0].cells] == ["Intervenant", "Statut", "Formations assurées"]
    lines = {row.cells[0].text: row.cells[2].text for row in grid.rows[1:]}
    for tid, trainer in catalogue.trainers.items():
        assert lines[trainer.name] == (", ".join(ref for ref, _ in expected[tid]) or "Aucune")
    for text in both(tmp_path / "build", "intervenants/matrice-competences"):
        text = normalise(text).replace("- ", "-")  # a line of the PDF may end after a reference's hyphen
        for tid in catalogue.trainers:
            if expected[tid]:
                listed = " ; ".join(f"{ref} – {title}" for ref, title in expected[tid])
                assert normalise(f"Formations assurées. {listed}").replace("- ", "-") in text
        assert "Formations assurées. Aucune formation affectée actuellement." in text
