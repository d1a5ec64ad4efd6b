"""Real-looking programme sheets: each loads, builds, and `check` finds exactly what an auditor would raise."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml

from pipeline.build import build
from pipeline.content import load_catalogue
from pipeline.plan import check_project
from pipeline.project import Project
from tests.helpers import REPO, docx_text, pdf_text

CORPUS = Path(__file__).parent / "corpus"
AS_OF = dt.date(2026, 11, 27)
EXPECTED: dict[str, list[str]] = yaml.safe_load((CORPUS / "expected.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = tmp_path_factory.mktemp("corpus")
    shutil.copytree(CORPUS / "content", root / "content")
    shutil.copytree(REPO / "templates", root / "templates")
    return Project.at(root)


@pytest.fixture(scope="module")
def found(corpus: Project) -> dict[str, set[str]]:
    result = check_project(corpus, load_catalogue(corpus.content, corpus.root), AS_OF)
    by_sheet: dict[str, set[str]] = {}
    for finding in result.findings:
        if finding.file.startswith("content/courses/"):
            sheet = finding.file.removeprefix("content/courses/").removesuffix(".yaml")
            by_sheet.setdefault(sheet, set()).add(f"{finding.indicator} {finding.field}")
    return by_sheet


def test_corpus_lists_every_sheet():
    sheets = {p.stem for p in (CORPUS / "content/courses").glob("*.yaml")}
    assert sheets == set(EXPECTED) and len(sheets) >= 10
    categories = {yaml.safe_load(p.read_text(encoding="utf-8")).get("category", "AFC")
                  for p in (CORPUS / "content/courses").glob("*.yaml")}
    assert categories == {"AFC", "BC", "VAE", "CFA"}


@pytest.mark.parametrize("sheet", sorted(EXPECTED))
def test_check_finds_what_an_auditor_raises(found, sheet):
    expected = set(EXPECTED[sheet])
    actual = found.get(sheet, set())
    assert actual - expected == set(), f"false alarms on {sheet}"
    assert expected - actual == set(), f"missed on {sheet}"


def test_every_sheet_builds_and_shows_what_is_missing(corpus):
    report = build(corpus)
    assert not report.failed, report.failed
    incomplete = {p.removeprefix("programmes/") for p in report.incomplete if p.startswith("programmes/")}
    assert incomplete == {"sst-sauveteur-secouriste", "habilitation-electrique-br", "vae-accompagnement",
                          "cfa-cap-coiffure", "prise-de-parole-distanciel", "management-equipe",
                          "accessibilite-numerique", "bilan-competences", "sensibilisation-handicap"}
    pdf = pdf_text(corpus.out / "programmes/sst-sauveteur-secouriste.pdf")
    assert "[À compléter : délai d'accès]" in pdf and "[À compléter : tarifs]" in pdf
    docx = docx_text(corpus.out / "programmes/sst-sauveteur-secouriste.docx")
    assert "[À compléter : délai d'accès]" in docx
    assert "[À compléter" not in pdf_text(corpus.out / "programmes/excel-initiation.pdf")
    bilan = pdf_text(corpus.out / "programmes/bilan-competences.pdf")
    assert bilan.startswith("Atelier Compétences Sud") and "Programme du bilan de compétences" in bilan
    assert "le bénéficiaire sera capable de" in bilan and "stagiaire" not in bilan
    assert "Phase d'investigation. [À compléter : phase d'investigation]" in bilan
    assert "24 h maximum" in bilan and "Prérequis" not in bilan
    guide = pdf_text(corpus.out / "positionnement/bilan-competences.pdf")
    assert "Guide de l'entretien préliminaire" in guide and "je ne connais pas" not in guide
    caces = pdf_text(corpus.out / "programmes/caces-r489.pdf")
    assert "de 21 h à 35 h, selon l'expérience" in caces
    assert "Certificat délivré" in caces and "Recommandation CNAM R489" in caces
