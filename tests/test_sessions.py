"""Training dates: in the content, on the programme sheets (next ones only), checked against the date and the
duration."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline.build import build
from pipeline.content import load_catalogue
from pipeline.plan import check_project
from pipeline.project import Project
from pipeline.templating import date_long
from tests.helpers import docx_text, edit, normalise, pdf_text

pytestmark = pytest.mark.built


def sessions_of(project: Project, course: str, as_of: dt.date) -> list[tuple[str, str]]:
    result = check_project(project, load_catalogue(project.content, project.root), as_of)
    return [(f.field, f.message) for f in result.findings if f.file == f"content/courses/{course}.yaml"
            and f.field.startswith("sessions")]


def test_the_sample_sessions_are_consistent_before_they_pass(project):
    assert sessions_of(project, "prise-de-parole", dt.date(2026, 12, 1)) == []
    late = sessions_of(project, "prise-de-parole", dt.date(2026, 12, 20))
    assert late == [("sessions[1].start", "session du 07/12/2026 déjà passée : la retirer des prochaines dates "
                                           "publiées, ou la remplacer par la suivante")]
    # a cancelled session is not « past »: it is not published
    assert not [m for f, m in sessions_of(project, "management-proximite", dt.date(2027, 3, 1)) if "passée" in m]


def test_dates_inconsistent_with_the_duration_or_with_themselves_are_flagged(project):
    path = project.content / "courses/prise-de-parole.yaml"
    edit(path, "  - start: 2027-02-08\n    end: 2027-02-10\n", "  - start: 2027-02-08\n    end: 2027-02-09\n")
    edit(path, "    registration_deadline: 2027-01-25\n", "    registration_deadline: 2027-02-15\n")
    edit(path, "  - start: 2026-12-07\n    end: 2026-12-09\n", "  - start: 2026-12-07\n    end: 2026-12-01\n")
    found = dict(sessions_of(project, "prise-de-parole", dt.date(2026, 12, 1)))
    assert found["sessions[1].end"] == "la session finit le 01/12/2026, avant son début (07/12/2026)"
    assert found["sessions[2]"].startswith("la session se tient du 08/02/2027 au 09/02/2027 (2 jours), la formation "
                                           "dure 3 jours")
    assert found["sessions[2].registration_deadline"].startswith("date limite d'inscription (15/02/2027) après")
    assert sessions_of(project, "rgpd-essentiel", dt.date(2026, 12, 1)) == []  # 7 h, no days: one day will do
    other = project.content / "courses/accueil-handicap.yaml"
    edit(other, "  hours: 7\n  days: 1\n", "  hours: 35\n")
    edit(other, "trainers:", "sessions:\n  - start: 2027-01-26\n    place: Lyon\ntrainers:")
    [(where, message)] = sessions_of(project, "accueil-handicap", dt.date(2026, 12, 1))
    assert where == "sessions[1]" and "pour 35 h de formation, plus de 10 h par jour" in message
    edit(other, "  - start: 2027-01-26\n", "  - note: à fixer\n")
    [(_, message)] = sessions_of(project, "accueil-handicap", dt.date(2026, 12, 1))
    assert message.startswith("session sans date de début")


def test_the_programme_shows_the_next_sessions_and_only_them(project):
    build(project)
    for text in (pdf_text(project.out / "programmes/management-proximite.pdf"),
                 normalise(docx_text(project.out / "programmes/management-proximite.docx"))):
        assert "Prochaines sessions" in text
        assert f"Du 6 avril au {normalise(date_long(dt.date(2027, 5, 4)))}" in text and "19/03/2027" in text
        assert "reportée" not in text and "11 janvier" not in text  # the cancelled one is not published
    edit(project.content / "courses/bilan-competences.yaml", "    note: premier entretien gratuit sous 15 jours",
         '    note: "*premier* entretien `gratuit` <b>sous</b> 15 jours #2"')
    build(project)
    bilan = pdf_text(project.out / "programmes/bilan-competences.pdf")
    assert "*premier* entretien `gratuit` <b>sous</b> 15 jours #2" in bilan  # as typed, not read as markup
    assert "*premier* entretien `gratuit` <b>sous</b> 15 jours #2" in normalise(
        docx_text(project.out / "programmes/bilan-competences.docx"))
    assert "Entrées et sorties permanentes" in bilan
    assert "Prochaines sessions" not in pdf_text(project.out / "programmes/accueil-handicap.pdf")
    # a session over before the document's date is no longer published
    path = project.content / "courses/excel-perfectionnement.yaml"
    edit(path, "updated: ", "updated: 2027-02-01\nupdated_before: ")
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("updated_before: ", "# "), encoding="utf-8")
    report = build(project)
    assert "programmes/excel-perfectionnement" in report.rebuilt and not report.failed, report.failed
    text = pdf_text(project.out / "programmes/excel-perfectionnement.pdf")
    assert "Du 22 au 23 mars 2027" in text and "18 au 19 janvier" not in text
