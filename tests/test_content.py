"""Bad input: each kind stops the build with the file, the line, the field and what was expected."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.content import load_catalogue
from pipeline.errors import ContentError
from pipeline.project import Project
from pipeline.yamlfile import parse_yaml
from tests.helpers import edit

COURSE = "content/courses/excel-perfectionnement.yaml"


@pytest.fixture
def project(project: Project, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sample's folder, the current directory (as a user runs qualidoc)."""
    monkeypatch.chdir(project.root)
    return project.root



def line_of(project: Path, name: str, text: str) -> int:
    lines = (project / name).read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def problems(project: Path) -> list[str]:
    with pytest.raises(ContentError) as caught:
        load_catalogue(project / "content", project)
    return [str(p) for p in caught.value.problems]


def test_sample_content_is_valid(catalogue):
    assert len(catalogue.courses) >= 5 and len(catalogue.trainers) >= 4 and len(catalogue.improvements) >= 6


def test_yaml_syntax_error(project):
    edit(project / COURSE, "delivery: [inter, intra]", "delivery: [inter, intra")
    line = line_of(project, COURSE, "delivery: [inter, intra")
    [message] = problems(project)
    assert message.startswith(f"{COURSE}:")
    assert "erreur de syntaxe YAML" in message
    assert int(message.split(":")[1]) >= line


ENGLISH = re.compile(r"\b(?:while|did not|found|expected|allowed|but|scanning|parsing|token|stream)\b")


@pytest.mark.parametrize("text, french", [
    ("title: [oops\n", "une virgule ou le crochet fermant ] était attendu"),
    ("title: Excel: les bases\n", "« : » inattendu ici"),
    ("title: x\n  - y\n z: 2\n", "« : » inattendu ici"),
    ("title: x\nobjectives:\n  - a\n b: 2\n", "une clé était attendue"),
    ("title: 'sans fin\n", "fin du fichier atteinte avant le guillemet fermant"),
    ('title: "C:\\q"\n', "barre oblique inverse"),
    ("title: x\nobjectives:\n\t- a\n", "caractère qui ne peut pas commencer une valeur"),
    ("- a\ntitle: 2\n", "un élément de liste « - » était attendu"),
    ("title: @formavenir\n", "caractère qui ne peut pas commencer une valeur"),
    ("title: {a: 1\n", "l'accolade fermante } était attendue"),
])
def test_a_yaml_syntax_error_is_told_in_french(tmp_path, text, french):
    """The quality lead reads French: the parser's words are translated, its token names left out."""
    [problem] = parse_yaml(text, "content/courses/x.yaml")[1]
    message = str(problem)
    assert message.startswith("content/courses/x.yaml:") and "erreur de syntaxe YAML" in message
    assert french in message
    assert not ENGLISH.search(message.split(" (vérifiez")[0]), message


def test_missing_title_is_the_only_missing_field_that_stops_loading(project):
    edit(project / COURSE, "audience: >-", "public: >-")
    edit(project / COURSE, "title:", "# title:")  # the mapping then starts on line 2
    found = problems(project)
    assert f"{COURSE}:2: title: champ obligatoire absent – Intitulé de la formation (ou de la prestation)" in found
    assert any(m.startswith(f"{COURSE}:{line_of(project, COURSE, 'public:')}: public: clé inconnue `public`")
               for m in found)
    assert len(found) == 2  # a missing audience is a finding of `qualidoc check`, not a load problem


def test_wrong_type(project):
    edit(project / COURSE, "  hours: 14\n", "  hours: quatorze\n")
    line = line_of(project, COURSE, "hours: quatorze")
    assert problems(project) == [
        f"{COURSE}:{line}: duration.hours: attendu : un nombre (avec un point pour les décimales : 12.5), "
        "trouvé : « quatorze » – Durée en heures (une valeur fixe)"]


def test_a_number_out_of_its_bounds_or_of_the_wrong_kind_is_told_in_french(project):
    edit(project / COURSE, "  hours: 14\n", "  hours: 0\n")
    trainer = "content/trainers/claire-martin.yaml"
    edit(project / trainer, "year: 2009", "year: 1800")
    edit(project / trainer, "    hours: 14", "    hours: {}")
    found = problems(project)
    assert (f"{COURSE}:{line_of(project, COURSE, 'hours: 0')}: duration.hours: attendu : un nombre supérieur à 0, "
            "trouvé : « 0 » – Durée en heures (une valeur fixe)") in found
    assert (f"{trainer}:{line_of(project, trainer, 'year: 1800')}: diplomas[1].year: attendu : un nombre supérieur "
            "ou égal à 1950, trouvé : « 1800 » – Année d'obtention") in found
    assert (f"{trainer}:{line_of(project, trainer, 'hours: {}')}: training[1].hours: attendu : un nombre (avec un "
            "point pour les décimales : 12.5), trouvé : des clés – Durée en heures") in found


# What a user may write in place of any value: every kind of YAML value, and numbers around every bound.
WRONG_VALUES = [{}, [], [{}], "x", "", True, -1, 0, 0.5, 101, 1800, 2200, 10**30, float("nan"), float("inf"), None]


def _leaves(data: object, path: tuple = ()) -> list[tuple]:
    if isinstance(data, dict):
        return [leaf for key, value in data.items() for leaf in _leaves(value, (*path, key))] + [path]
    if isinstance(data, list):
        return [leaf for i, value in enumerate(data) for leaf in _leaves(value, (*path, i))] + [path]
    return [path]


def _replaced(data: object, path: tuple, value: object) -> object:
    if not path:
        return value
    copy = dict(data) if isinstance(data, dict) else list(data)  # type: ignore[call-overload]
    copy[path[0]] = _replaced(copy[path[0]], path[1:], value)
    return copy


def test_no_message_about_a_value_is_left_in_pydantics_english():
    """Every value of every sample file replaced in turn by each wrong value: each problem is told in French,
    at a field the file has."""
    from pipeline.content import COLLECTIONS, validate
    from pipeline.model import Organisation
    from pipeline.yamlfile import YamlDocument

    sample = Path(__file__).parent.parent / "content"
    files = [(sample / "organisation.yaml", Organisation),
             *((path, model) for folder, model in COLLECTIONS.items()
               for path in sorted((sample / folder).glob("*.yaml")))]
    messages: set[str] = set()
    fields: set[str] = set()
    for path, model in files:
        doc, _ = parse_yaml(path.read_text(encoding="utf-8"), path.name)
        assert doc is not None
        for leaf in _leaves(doc.data)[:-1]:  # not the whole file (told apart: test_wrong_type's cousins)
            for value in WRONG_VALUES:
                found: list = []
                validate(YamlDocument(path.name, _replaced(doc.data, leaf, value), doc.lines), model, found)
                messages.update(problem.message for problem in found)
                fields.update(problem.field for problem in found)
    assert len(messages) > 50  # the sweep did meet problems of many kinds
    # A field is named by the file's own keys and indexes, never by pydantic's name of a union's branch.
    assert sorted(f for f in fields if not re.fullmatch(r"[a-z_]+(\[\d+\])*(\.[a-z_]+(\[\d+\])*)*", f)) == []
    english = sorted(m for m in messages if re.search(r"\b(Input|should|valid|Value error)\b", m)
                     or "valeur refusée" in m)
    assert english == []


def test_text_with_colon_gets_a_hint(project):
    edit(project / COURSE, "- Préparer les données sous forme de tableau", "- Étape 1 : préparer les données")
    line = line_of(project, COURSE, "Étape 1 : préparer")
    [message] = problems(project)
    assert message.startswith(f"{COURSE}:{line}: modules[2].contents[1]: attendu : un texte, trouvé : des clés")
    assert "entre guillemets droits" in message


def test_unknown_key_suggests_nearest(project):
    edit(project / COURSE, "objectives:", "objectifs:")
    found = problems(project)
    line = line_of(project, COURSE, "objectifs:")
    assert f"{COURSE}:{line}: objectifs: clé inconnue `objectifs` ; vouliez-vous dire `objectives` ?" in found


def test_unknown_nested_key(project):
    edit(project / COURSE, "  delay: >-", "  delai: >-")
    line = line_of(project, COURSE, "delai:")
    assert f"{COURSE}:{line}: access.delai: clé inconnue `delai` ; vouliez-vous dire `delay` ?" in problems(project)


def test_duplicate_key(project):
    edit(project / COURSE, "reference: BUR-EXC-02", "reference: BUR-EXC-02\nreference: BUR-EXC-03")
    assert problems(project) == [f"{COURSE}:3: reference: clé en double (déjà donnée ligne 2) : n'en garder qu'une"]


def test_unresolved_references(project):
    edit(project / COURSE, "trainers: [claire-martin]", "trainers: [claire-martn]")
    entry = "content/improvements/2026-03-ecrans-salle-2.yaml"
    edit(project / entry, "courses: [excel-perfectionnement]", "courses: [excel-perfectionement]")
    found = problems(project)
    assert (f"{COURSE}:{line_of(project, COURSE, 'trainers:')}: trainers[1]: aucun intervenant `claire-martn` "
            "dans content/trainers/ ; vouliez-vous dire `claire-martin` ?") in found
    assert (f"{entry}:3: courses[1]: aucune formation `excel-perfectionement` dans "
            "content/courses/ ; vouliez-vous dire `excel-perfectionnement` ?") in found


def test_date_that_does_not_exist(project):
    edit(project / COURSE, "updated: 2026-09-14", "updated: 2026-02-30")
    assert problems(project) == [
        f"{COURSE}:3: updated: attendu : une date existante écrite AAAA-MM-JJ, trouvé : « 2026-02-30 »"
        " – Date de dernière mise à jour du programme"]


def test_all_problems_are_reported_together(project):
    edit(project / COURSE, "updated: 2026-09-14", "updated: 2026-02-30")
    edit(project / "content/trainers/claire-martin.yaml", "status: employee", "status: salariee")
    edit(project / "content/organisation.yaml", 'siret: "05234567800027"', 'siret: "0523"')
    found = problems(project)
    assert len(found) == 3
    assert any(m.startswith("content/trainers/claire-martin.yaml:2: status: attendu : l'une des valeurs")
               for m in found)
    assert any(m.startswith("content/organisation.yaml:5: siret:") for m in found)


def test_cli_reports_errors_without_traceback_and_keeps_documents(project, capsys):
    assert main(["build"]) == 0
    pdf = project / "build/programmes/excel-perfectionnement.pdf"
    before = pdf.read_bytes()
    capsys.readouterr()
    edit(project / COURSE, "updated: 2026-09-14", "updated: 2026-02-30")
    edit(project / COURSE, "objectives:", "objectifs:")
    assert main(["build"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{COURSE}:3: updated:" in err
    assert "clé inconnue `objectifs`" in err
    assert "2 problèmes dans le contenu : rien n'a été construit" in err
    assert pdf.read_bytes() == before


def test_file_name_is_the_id(project):
    (project / "content/courses/Excel Avancé.yaml").write_text("title: x\n", encoding="utf-8")
    assert any("content/courses/Excel Avancé.yaml: le nom du fichier ne doit contenir que des minuscules" in m
               for m in problems(project))


def test_usage_error_exits_2(project, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["build", "--jobs", "0"])
    assert caught.value.code == 2
    with pytest.raises(SystemExit) as caught:
        main(["frobnicate"])
    assert caught.value.code == 2


def test_fields_lists_french_descriptions(capsys):
    assert main(["fields", "course"]) == 0
    out = capsys.readouterr().out
    assert "prerequisites: Prérequis" in out
    assert "title: Intitulé de la formation (ou de la prestation) (obligatoire)" in out
    assert "audience: Public visé (mention RNQ : signalée par `qualidoc check` si absente)" in out
    assert "category: Catégorie d'action : AFC (action de formation, par défaut), BC (bilan de compétences)" in out
    assert "  delay: Délai d'accès : durée estimée entre la demande du bénéficiaire" in out


def test_a_process_that_loads_again_reuses_only_the_files_that_have_not_moved(project):
    """Watch loads the content at each rebuild: the files that have not moved keep their validated model, an
    edited file is read and validated again (its new value, or its error with its line)."""
    cache = project / "build/.qualidoc/parsed.json"

    def load():  # type: ignore[no-untyped-def]
        return load_catalogue(project / "content", project, cache=cache)

    first = load()
    again = load()
    assert again.courses["rgpd-essentiel"] is first.courses["rgpd-essentiel"], "an unchanged file is reused"
    edit(project / COURSE, 'title: "Excel', 'title: "Nouvel intitulé – Excel')
    edited = load()
    assert edited.courses["excel-perfectionnement"].title.startswith("Nouvel intitulé – ")
    assert edited.courses["rgpd-essentiel"] is first.courses["rgpd-essentiel"]
    edit(project / COURSE, "  hours: 14\n", "  hours: quatorze\n")
    with pytest.raises(ContentError) as caught:
        load()
    line = line_of(project, COURSE, "hours: quatorze")
    assert [str(p) for p in caught.value.problems][0].startswith(f"{COURSE}:{line}: duration.hours: attendu")
    edit(project / COURSE, "  hours: quatorze\n", "  hours: 14\n")
    cache.write_text("{}", encoding="utf-8")  # another process rewrote the cache: it is read again
    reread = load()
    assert reread.courses["excel-perfectionnement"].duration.hours == 14
    assert reread.courses["excel-perfectionnement"].title.startswith("Nouvel intitulé – ")
    assert json.loads(cache.read_text(encoding="utf-8")), "and written again whole"
