"""Every mention of indicator 1 may be missing: the course loads, builds with « À compléter », and the check says so."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from pipeline.build import build
from pipeline.cli import main
from pipeline.content import load_catalogue
from pipeline.mentions import MENTIONS, is_placeholder
from pipeline.plan import check_project, plan_project
from pipeline.project import Project
from pipeline.render import Renderer
from tests.helpers import copy_project, docx_text, normalise, pdf_text

COURSE = "content/courses/excel-perfectionnement.yaml"
AS_OF = dt.date(2026, 11, 27)
# How to take each mention away from the sample course (and, for contacts, from the organisation).
REMOVALS: dict[str, tuple[list[str], str]] = {
    "updated": (["updated"], "updated"), "audience": (["audience"], "audience"),
    "prerequisites": (["prerequisites"], "prerequisites"), "objectives": (["objectives"], "objectives"),
    "duration": (["duration"], "duration"), "format": (["format"], "format"),
    "access_modalities": (["access.modalities"], "access.modalities"),
    "access_delay": (["access.delay"], "access.delay"), "prices": (["prices"], "prices"),
    "contacts": ([], "pedagogical_contact"), "methods": (["methods"], "methods"),
    "evaluation": (["evaluation"], "evaluation"), "accessibility": (["accessibility"], "accessibility"),
    "recognition": (["recognition", "sanction"], "recognition"), "funding": (["funding"], "funding"),
}


def remove(root: Path, keys: list[str]) -> None:
    path = root / COURSE
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key in keys:
        parent, _, name = key.rpartition(".")
        (data[parent] if parent else data).pop(name)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def remove_contacts(root: Path) -> None:
    path = root / "content/organisation.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key in ("pedagogical_contact", "administrative_contact", "email", "phone"):
        data.pop(key)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_every_mention_has_a_removal():
    assert set(REMOVALS) == {m.key for m in MENTIONS}


@pytest.mark.parametrize("key", sorted(REMOVALS))
def test_a_missing_mention_loads_shows_a_marker_and_is_reported(tmp_path, key):
    keys, field = REMOVALS[key]
    copy_project(tmp_path)
    remove(tmp_path, keys)
    if key == "contacts":
        remove_contacts(tmp_path)
    project = Project.at(tmp_path)
    catalogue = load_catalogue(project.content, project.root)
    ind1 = [f for f in check_project(project, catalogue, AS_OF).findings if f.indicator == 1 and f.file == COURSE]
    assert [(f.severity, f.field) for f in ind1] == [("error", field)]
    line = next((i for i, text in enumerate((tmp_path / COURSE).read_text(encoding="utf-8").splitlines(), 1)
                 if text.startswith(field.split(".")[0] + ":")), 1)
    assert ind1[0].line == line
    label = next(m.label for m in MENTIONS if m.key == key)
    assert label in ind1[0].message
    programme = next(d for d in plan_project(project, catalogue)
                     if d.path == "programmes/excel-perfectionnement")
    markdown = Renderer(project, catalogue).markdown(programme)
    assert "À compléter" in markdown and programme.incomplete


def test_a_course_with_every_mention_missing_builds_with_markers(tmp_path, capsys, monkeypatch):
    copy_project(tmp_path)
    remove(tmp_path, sorted({k for keys, _ in REMOVALS.values() for k in keys} - {"access.modalities",
                                                                                 "access.delay"}) + ["access"])
    remove_contacts(tmp_path)
    (tmp_path / COURSE).write_text("title: Une formation dont la fiche ne dit rien d'autre\n", encoding="utf-8")
    report = build(Project.at(tmp_path))
    assert not report.failed and "programmes/excel-perfectionnement" in report.incomplete
    pdf = pdf_text(tmp_path / "build/programmes/excel-perfectionnement.pdf")
    docx = docx_text(tmp_path / "build/programmes/excel-perfectionnement.docx")
    for mention in MENTIONS:
        assert normalise(f"À compléter : {mention.label}") in pdf, mention.label
        assert normalise(f"À compléter : {mention.label}") in docx, mention.label
    matrix = pdf_text(tmp_path / "build/conformite/matrice-conformite.pdf")
    assert "Fiches incomplètes" in matrix and "Une formation dont la fiche ne dit rien d'autre" in matrix
    monkeypatch.chdir(tmp_path)
    assert main(["build"]) == 0
    assert "incomplets (« À compléter »)" in capsys.readouterr().out
    assert main(["build", "--strict"]) == 1
    err = capsys.readouterr().err
    assert "non construit (--strict)" in err and "excel-perfectionnement" in err


@pytest.mark.parametrize("text", ["NC", "n/c", "Nous consulter", "  -  ", "Non précisé.", "À définir", "voir CGV",
                                  "sur demande", "Oui", "...", "…", "— ? —", "🎉"])
def test_placeholders_are_not_mentions(text):
    assert is_placeholder(text)


@pytest.mark.parametrize("text", ["Sur demande, sous 15 jours ouvrés", "2 semaines",
                                  "Non-voyants : supports en braille",
                                  # another script is information too (found by tests/test_property.py: a course's
                                  # evaluation in Greek and Cyrillic was replaced by « À compléter »)
                                  "ψ:", "Экзамен", "Τεστ", "筆記試験", "٣"])
def test_real_information_is_not_a_placeholder(text):
    assert not is_placeholder(text)
