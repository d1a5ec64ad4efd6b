"""Each RNQ rule fires on a minimal broken copy of the sample, and stays silent on the sample."""

from __future__ import annotations

import datetime as dt
import json

from pipeline.cli import main
from pipeline.content import load_catalogue
from pipeline.plan import check_project
from pipeline.project import Project
from pipeline.referential import load_referential, referential_for
from pipeline.rules import first_verb
from tests.helpers import REPO, edit, edit_yaml

TODAY = dt.date(2026, 11, 27)
BASELINE = {(21, "warning", "content/trainers/thomas-girard.yaml")}  # the subcontractor, flagged for ind. 27


def findings(project: Project, as_of: dt.date = TODAY):
    result = check_project(project, load_catalogue(project.content, project.root), as_of)
    return [f for f in result.findings if (f.indicator, f.severity, f.file) not in BASELINE]



def line_of(project: Project, name: str, text: str) -> int:
    return next(i for i, line in enumerate((project.root / name).read_text(encoding="utf-8").splitlines(), 1)
                if text in line)


EXCEL = "content/courses/excel-perfectionnement.yaml"
RGPD = "content/courses/rgpd-essentiel.yaml"
MANAGEMENT = "content/courses/management-proximite.yaml"


def test_sample_conforms():
    project = Project.at(REPO)
    result = check_project(project, load_catalogue(project.content, project.root), TODAY)
    assert result.referential.version == "V10"
    assert not result.errors()
    assert {(f.indicator, f.severity, f.file) for f in result.findings} == BASELINE


def only(found, indicator, severity="error"):
    matching = [f for f in found if f.indicator == indicator and f.severity == severity]
    assert matching, found
    return matching


def test_ind1_v10_recognition_and_funding(project):
    edit(project.root / EXCEL, "recognition: Attestation", "# recognition: Attestation")
    assert not [f for f in findings(project) if f.indicator == 1]  # the sanction states the recognition
    edit(project.root / EXCEL, "sanction: Attestation", "# sanction: Attestation")
    [f] = only(findings(project), 1)
    assert (f.file, f.line, f.field) == (EXCEL, 1, "recognition") and "type de reconnaissance" in f.message
    (project.root / "content/organisation.yaml").write_text(
        (project.root / "content/organisation.yaml").read_text(encoding="utf-8") + "referential: V9\n",
        encoding="utf-8")
    assert not [f for f in findings(project) if f.indicator == 1]  # not a V9 requirement


def test_ind1_outdated_programme(project):
    [f] = [f for f in only(findings(project, dt.date(2027, 4, 10)), 1, "warning") if f.field == "updated"]
    assert f.file == "content/courses/prise-de-parole.yaml" and f.field == "updated"
    assert "il y a 12 mois" in f.message
    assert not [f for f in findings(project) if f.indicator == 1]


def test_ind1_no_qualiopi_logo_on_course_templates(project):
    edit(project.root / "templates/programme.md.j2", "# {{ course.title }}",
         "![](logo-qualiopi.png)\n\n# {{ course.title }}")
    [f] = only(findings(project), 1)
    assert f.file == "templates/programme.md.j2" and "logo Qualiopi" in f.message


def test_ind2_results_missing_is_error_unless_new(project):
    text = (project.root / RGPD).read_text(encoding="utf-8")
    start, end = text.index("results:"), text.index("positioning_questions:")
    (project.root / RGPD).write_text(text[:start] + text[end:], encoding="utf-8")
    [f] = only(findings(project), 2)
    assert f.file == RGPD
    (project.root / RGPD).write_text(text[:start] + "new: true\n" + text[end:], encoding="utf-8")
    assert not [f for f in findings(project) if f.indicator == 2]


def test_ind2_stale_results_and_calculation_method(project):
    edit(project.root / EXCEL, "  period_end: 2026-09-30", "  period_end: 2025-03-31")
    text = (project.root / EXCEL).read_text(encoding="utf-8")
    start, end = text.index("  method: >-"), text.index("positioning_questions:")
    (project.root / EXCEL).write_text(text[:start] + text[end:], encoding="utf-8")
    found = only(findings(project), 2)
    assert any(f.field == "results.period_end" and "il y a 19 mois" in f.message for f in found)
    assert any("modalités de calcul" in f.message for f in found)


def test_ind3_certification_rates(project):
    edit(project.root / MANAGEMENT, "  pass_rate: 89\n", "")
    edit(project.root / MANAGEMENT, "  equivalences: Aucune équivalence n'est prévue par le certificateur.\n", "")
    found = findings(project)
    [error] = only(found, 3)
    assert error.file == MANAGEMENT and "taux d'obtention absent" in error.message
    [warning] = only(found, 3, "warning")
    assert "équivalences" in warning.message


def test_ind5_vague_and_unknown_verbs(project):
    edit(project.root / EXCEL, "  - Construire des formules", "  - Connaître les formules")
    edit(project.root / EXCEL, "  - Concevoir un tableau de bord", "  - Tableau de bord")
    found = findings(project)
    [error] = only(found, 5)
    assert (error.line, error.field) == (line_of(project, EXCEL, "Connaître les formules"), "objectives[1]")
    assert "citer, identifier, décrire" in error.message
    [warning] = only(found, 5, "warning")
    assert warning.field == "objectives[3]" and "verbe à l'infinitif" in warning.message


def test_first_verb():
    assert first_verb("Être capable de rédiger un courriel") == "rédiger"
    assert first_verb("Savoir utiliser Excel") == "utiliser"
    assert first_verb("Identifier, dans une situation") == "identifier"


def test_ind6_durations_and_distance_support(project):
    edit(project.root / EXCEL, "    hours: 3.5\n    contents:\n      - RECHERCHEX",
         "    hours: 4\n    contents:\n      - RECHERCHEX")
    edit(project.root / RGPD, "  distance_support: >-", "  # distance_support: >-")
    text = (project.root / RGPD).read_text(encoding="utf-8")
    start = text.index("  # distance_support")
    end = text.index("evaluation:")
    (project.root / RGPD).write_text(text[:start] + text[end:], encoding="utf-8")
    found = only(findings(project), 6)
    assert any(f.file == EXCEL and "totalisent 14.5 h" in f.message for f in found)
    assert any(f.file == RGPD and "D.6313-3-1" in f.message for f in found)


def test_ind8_positioning(project):
    edit(project.root / EXCEL, "  entry: Questionnaire de positionnement", "  # entry: Questionnaire")
    assert not [f for f in findings(project) if f.indicator == 8]  # the generated questionnaire is the procedure
    edit(project.root / "templates/positionnement.md.j2", "(objective | objective), checkbox()",
         "(objective | objective)[:10], checkbox()")
    found = only(findings(project), 8)
    assert any(f.file == EXCEL and f.field == "objectives[1]" and "ne reprend pas" in f.message for f in found)
    assert all(f.file != "content/courses/bilan-competences.yaml" for f in found)  # no indicator 8 for a bilan
    # The answers are kept by what the questionnaire reads: the course's file edited, its gap is found again.
    edit(project.root / EXCEL, "  - Construire des formules de recherche (RECHERCHEX, INDEX/EQUIV) pour croiser deux "
                               "tables de données", "  - Construire")  # the first objective, now shown whole
    assert not [f for f in findings(project) if f.indicator == 8 and f.file == EXCEL and f.field == "objectives[1]"]
    assert any(f.field == "objectives[2]" for f in only(findings(project), 8) if f.file == EXCEL)


def test_ind11_and_ind12(project):
    edit(project.root / "content/courses/prise-de-parole.yaml", "  final: Intervention finale",
         "  # final: Intervention")
    edit(project.root / "content/courses/prise-de-parole.yaml", "engagement: >-", "engagement_removed: >-")
    text = (project.root / "content/courses/prise-de-parole.yaml").read_text(encoding="utf-8")
    start = text.index("engagement_removed")
    end = text.index("trainers:")
    (project.root / "content/courses/prise-de-parole.yaml").write_text(text[:start] + text[end:], encoding="utf-8")
    found = findings(project)
    assert only(found, 11)[0].file == "content/courses/prise-de-parole.yaml"
    assert "plus de 2 jours" in only(found, 12)[0].message


def test_ind21_evidence_and_domain(project):
    name = "content/trainers/sophie-lefebvre.yaml"
    text = (project.root / name).read_text(encoding="utf-8")
    start, end = text.index("diplomas:"), text.index("skills:")
    (project.root / name).write_text(text[:start] + text[end:], encoding="utf-8")
    edit(project.root / name, "  - Protection des données personnelles (RGPD)", "  - Cuisine")
    edit(project.root / name, "  - Droit du numérique", "  - Jardinage")
    found = findings(project)
    assert only(found, 21)[0].file == name
    assert any("relèvent du domaine" in f.message for f in only(found, 21, "warning"))


def test_ind22_continuing_training(project):
    found = findings(project, dt.date(2028, 7, 1))
    errors = only(found, 22)
    assert {f.file for f in errors} >= {"content/trainers/claire-martin.yaml", "content/trainers/karim-benali.yaml"}
    assert "content/trainers/thomas-girard.yaml" not in {f.file for f in errors}  # subcontractor: ind. 27


def test_ind26_disability_referent_contact(project):
    edit(project.root / "content/organisation.yaml", "  email: handicap@formavenir.example\n", "")
    edit(project.root / "content/organisation.yaml", "  phone: 04 78 00 12 36\n", "")
    assert only(findings(project), 26)[0].file == "content/organisation.yaml"


def test_ind30_feedback_from_stakeholders(project):
    for name in ("2026-03-ecrans-salle-2", "2026-05-opco-deroule", "2026-10-classe-virtuelle-son",
                 "2026-11-entreprise-bilan-intra"):
        (project.root / f"content/improvements/{name}.yaml").unlink()
    messages = [f.message for f in only(findings(project), 30)]
    assert len(messages) == 2


def test_ind31_complaint_follow_up(project):
    name = "content/improvements/2026-01-attestation-tardive.yaml"
    edit(project.root / name, "  acknowledged: 2026-01-16\n", "")
    [f] = only(findings(project), 31)
    assert f.file == name and "accusé de réception" in f.message


def test_ind32_overdue_effectiveness_and_risk_analysis(project):
    found = findings(project, dt.date(2026, 12, 20))
    [overdue] = only(found, 32)
    assert overdue.file == "content/improvements/2026-10-classe-virtuelle-son.yaml" and overdue.field == "due"
    edit(project.root / "content/improvements/2026-03-ecrans-salle-2.yaml", "effectiveness: >-", "# effectiveness: >-")
    edit(project.root / "content/improvements/2026-03-ecrans-salle-2.yaml", "  Plus aucune remarque", "  # Plus")
    assert only(findings(project), 32, "warning")[0].field == "status"
    (project.root / "content/improvements/2026-10-analyse-risques.yaml").unlink()
    assert "analyse des risques" in only(findings(project), 32)[0].message


def test_not_applicable_indicators_say_why(project):
    result = check_project(project, load_catalogue(project.content, project.root), TODAY)
    assert result.applicability[13] == "aucune formation en alternance"
    assert "CFA" in result.applicability[14]
    assert result.applicability[3] is None and result.applicability[27] is None
    for path in (project.content / "courses").glob("*.yaml"):  # no course leads to a certification any more
        edit_yaml(path, certification=None, cpf=None)
    catalogue = load_catalogue(project.content, project.root)
    assert not any(course.certifying for course in catalogue.courses.values())
    result = check_project(project, catalogue, TODAY)
    assert result.applicability[3] == result.applicability[16] == (
        "aucune formation ne conduit à une certification professionnelle")
    assert not result.of(3) and result.applicability[1] is None


def test_referential_versions():
    assert len(load_referential("V9").indicators) == 32 and len(load_referential("V10").indicators) == 33
    assert referential_for(None, dt.date(2026, 10, 15)).version == "V9"
    assert referential_for(None, dt.date(2026, 11, 1)).version == "V10"
    assert referential_for("V9", dt.date(2027, 1, 1)).version == "V9"
    assert referential_for(None, None).version == "V10"  # never the clock nor the content's dates
    assert "analyse des risques" in load_referential("V10").indicator(32).text


def test_check_cli_exit_codes_and_json(project, capsys, monkeypatch):
    monkeypatch.chdir(project.root)
    assert main(["check", "--as-of", "2026-11-27"]) == 0
    out = capsys.readouterr().out
    assert "Indicateur 21 (critère 5)" in out and "Non applicables : 13 (aucune formation en alternance)" in out
    assert out.strip().splitlines()[-1].startswith("Contrôle RNQ V10 : 0 erreur, 1 avertissement")
    assert main(["check", "--as-of", "2026-11-27", "--strict"]) == 1
    capsys.readouterr()
    assert main(["check", "--as-of", "2026-12-20", "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["referential"] == "V10" and report["loaded"] and report["load_problems"] == []
    items = report["findings"]
    assert {"kind", "indicator", "severity", "file", "line", "field", "message"} == set(items[0])
    assert any(i["indicator"] == 32 and i["severity"] == "error" for i in items)
    assert report["summary"]["errors"] == sum(i["severity"] == "error" for i in items)


def test_check_parses_again_only_the_files_edited_since_the_last_parse(project, capsys, monkeypatch):
    """`make build` runs a check after the build: it takes the files the build parsed from the user cache, and
    parses those edited since; an edit is never hidden by the cache."""
    from pipeline import yamlfile

    monkeypatch.chdir(project.root)
    real, read = yamlfile.read_yaml, []
    monkeypatch.setattr(yamlfile, "read_yaml", lambda path, shown: (read.append(shown), real(path, shown))[1])
    assert main(["check", "--summary", "--as-of", "2026-11-27"]) == 0
    assert EXCEL in read and RGPD in read  # an empty cache: every file
    capsys.readouterr()
    read.clear()
    edit(project.root / EXCEL, "title:", "titre:")

    assert main(["check", "--as-of", "2026-11-27"]) == 3

    assert read == [EXCEL]
    assert f"{EXCEL}:1: titre: clé inconnue `titre`" in capsys.readouterr().err


def test_check_json_when_content_cannot_be_read(project, capsys, monkeypatch):
    monkeypatch.chdir(project.root)
    edit(project.root / EXCEL, "title:", "titre:")
    edit(project.root / RGPD, "delivery: [inter, intra]", "delivery: [inter, intra")
    assert main(["check", "--format", "json"]) == 3
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["loaded"] is False and report["findings"] == [] and report["referential"] is None
    problems = {(p["kind"], p["file"], p["field"]) for p in report["load_problems"]}
    assert ("load", EXCEL, "titre") in problems and ("load", EXCEL, "title") in problems
    assert any(p["file"] == RGPD and p["line"] > 1 for p in report["load_problems"])
    assert main(["check"]) == 3
    captured = capsys.readouterr()
    assert "Contrôle RNQ impossible : 3 problèmes de lecture du contenu (ci-dessus)" in captured.out
    assert f"{EXCEL}:1: titre: clé inconnue `titre`" in captured.err and "Traceback" not in captured.err
    assert main(["check", "--summary"]) == 3  # after `make build`'s build, which listed them: the count only
    captured = capsys.readouterr()
    assert captured.out.strip() == ("Contrôle RNQ impossible : 3 problèmes de lecture du contenu "
                                    "(`qualidoc check` les détaille)") and EXCEL not in captured.err
