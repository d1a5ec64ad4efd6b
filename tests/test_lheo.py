"""The LHÉO 2.3 export: valid against the official schema for every content corpus, round-tripped, coded values
by name, what is missing reported by the check apart from the RNQ, built incrementally with the documents."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from lxml import etree

from pipeline.build import build
from pipeline.cli import main
from pipeline.content import load_catalogue
from pipeline.errors import ContentError
from pipeline.lheo import NS, export
from pipeline.project import Project
from pipeline.templating import objective_text, upcoming
from tests.helpers import REPO, copy_project, edit, edit_yaml

REFERENCE = REPO.parent / "shared" / "reference" / "lheo" / "lheo-2.3.xsd"
PACKAGED = REPO / "pipeline" / "data" / "lheo" / "lheo-2.3.xsd"
CORPORA = {"sample": REPO / "content", "corpus": REPO / "tests" / "corpus" / "content"}
L = f"{{{NS}}}"


@pytest.fixture(scope="module")
def official() -> etree.XMLSchema:
    """The official schema: the shared reference when this checkout has it, else the copy qualidoc ships."""
    if REFERENCE.is_file():
        assert PACKAGED.read_bytes() == REFERENCE.read_bytes(), "pipeline/data/lheo/ differs from the reference"
    return etree.XMLSchema(etree.parse(str(REFERENCE if REFERENCE.is_file() else PACKAGED)))


def exported(folder: Path, as_of: dt.date) -> tuple[bytes | None, dict, object]:
    catalogue = load_catalogue(folder, folder.parent)
    data, left_out = export(sorted(catalogue.courses.items()), catalogue.organisation, as_of, None)
    return data, left_out, catalogue


@pytest.mark.parametrize("corpus", sorted(CORPORA))
def test_the_export_of_every_corpus_is_valid_lheo(corpus, official):
    data, left_out, catalogue = exported(CORPORA[corpus], dt.date(2026, 11, 27))
    assert data is not None
    document = etree.fromstring(data)
    official.assertValid(document)
    titles = [f.findtext(f"{L}intitule-formation") for f in document.iter(f"{L}formation")]
    assert len(titles) == len(catalogue.courses) - len(left_out) >= 3  # type: ignore[attr-defined]


def test_the_schema_refuses_what_lheo_refuses(official):
    data, _, _ = exported(CORPORA["sample"], dt.date(2026, 12, 1))
    document = etree.fromstring(data)
    level = next(document.iter(f"{L}code-niveau-entree"))
    level.text = "99"  # not a code of dict-niveaux
    assert not official.validate(document)


def test_round_trip_finds_titles_objectives_durations_dates_and_prices(official):
    as_of = dt.date(2026, 12, 1)
    data, left_out, catalogue = exported(CORPORA["sample"], as_of)
    document = etree.fromstring(data)
    formations = {f.findtext(f"{L}intitule-formation"): f for f in document.iter(f"{L}formation")}
    for cid, course in catalogue.courses.items():  # type: ignore[attr-defined]
        if cid in left_out:
            assert course.title not in formations
            continue
        formation = formations[course.title]
        objectives = formation.findtext(f"{L}objectif-formation")
        assert all(objective_text(o) in objectives for o in course.objectives)
        action = formation.find(f"{L}action")
        if course.duration.hours:
            assert action.findtext(f"{L}nombre-heures-total") == str(int(course.duration.hours))
        periods = [(s.findtext(f"{L}periode/{L}debut"), s.findtext(f"{L}periode/{L}fin"))
                   for s in action.iter(f"{L}session")]
        expected = [("00000000", "99999999") if s.permanent else
                    (s.start.strftime("%Y%m%d"), (s.end or s.start).strftime("%Y%m%d"))
                    for s in upcoming(course.sessions, as_of)]
        assert periods == expected and periods
        price = course.lheo.price_ttc or next(p.amount for p in course.prices if p.tax == "net")
        assert float(action.findtext(f"{L}prix-total-TTC")) == price
        responsible = formation.find(f"{L}organisme-formation-responsable")
        assert responsible.findtext(f"{L}numero-activite") == catalogue.organisation.nda  # type: ignore[attr-defined]
        assert responsible.findtext(f"{L}SIRET-organisme-formation/{L}SIRET") == catalogue.organisation.siret  # type: ignore[attr-defined]
    management = formations["Manager une équipe de proximité"]
    assert management.findtext(f"{L}certification/{L}code-RS") or management.findtext(f"{L}certification/{L}code-RNCP")
    assert management.findtext(f"{L}action/{L}modalites-enseignement") == "1"  # mixte, written as its code
    assert [e.text for e in management.iter(f"{L}code-financeur")] == ["5", "16"]  # Entreprise, OPCO
    bilan = formations["Bilan de compétences : faire le point et construire son projet professionnel"]
    assert bilan.findtext(f"{L}action/{L}modalites-entrees-sorties") == "1"  # entrées et sorties permanentes
    assert bilan.findtext(f"{L}parcours-de-formation") == "2"  # individualisé


def test_a_coded_value_is_written_by_name_and_an_unknown_one_lists_the_allowed_ones(tmp_path):
    root = copy_project(tmp_path)
    path = root / "content/courses/rgpd-essentiel.yaml"
    edit(path, "  path: en groupe\n", "  path: par petits groupes\n")
    edit(path, "  entry_level: sans niveau spécifique\n", "  entry_level: Niveau 12\n")
    with pytest.raises(ContentError) as raised:
        load_catalogue(root / "content", root)
    messages = {p.field: (p.line, p.message) for p in raised.value.problems}
    line, message = messages["lheo.path"]
    assert line == path.read_text(encoding="utf-8").splitlines().index("  path: par petits groupes") + 1
    assert "« par petits groupes » : valeur inconnue de la liste LHÉO dict-type-parcours" in message
    assert "« en groupe » ; « individualisé » ; « modularisé » ; « mixte »" in message
    assert "« Niveau 4 »" in messages["lheo.entry_level"][1]


def test_the_check_reports_lheo_apart_from_the_rnq(tmp_path, monkeypatch, capsys):
    root = copy_project(tmp_path)
    monkeypatch.chdir(root)
    code = main(["check", "--format", "json", "--as-of", "2026-12-01"])
    report = json.loads(capsys.readouterr().out)
    assert code == (1 if report["summary"]["errors"] else 0)  # LHÉO findings change no exit code
    assert all(f["kind"] == "rnq" for f in report["findings"])
    excluded = {f["file"] for f in report["lheo"] if f["excluded"]}
    assert excluded == {"content/courses/accueil-handicap.yaml", "content/courses/habilitation-electrique-b0.yaml"}
    main(["check", "--as-of", "2026-12-01"])
    text = capsys.readouterr().out
    assert "Export LHÉO (format d'échange des Carif-Oref, hors référentiel qualité) : 2 formations sur 7" in text
    assert text.strip().splitlines()[-1].startswith("Contrôle RNQ")
    edit(root / "content/organisation.yaml", 'siret: "05234567800027"\n', "")
    main(["check", "--format", "json", "--as-of", "2026-12-01"])
    lheo = json.loads(capsys.readouterr().out)["lheo"]
    assert any(f["file"] == "content/organisation.yaml" and "SIRET" in f["message"] for f in lheo)
    assert build(Project.at(root)).failed == {}
    assert not (root / "build/lheo/offre-lheo.xml").exists()  # nothing can be exported: no file, no invalid one


def test_qualidoc_lheo_prints_one_course(tmp_path, monkeypatch, capsys, official):
    root = copy_project(tmp_path)
    monkeypatch.chdir(root)
    assert main(["lheo", "rgpd-essentiel", "--as-of", "2026-12-01"]) == 0
    document = etree.fromstring(capsys.readouterr().out.encode())
    official.assertValid(document)
    assert [f.findtext(f"{L}intitule-formation") for f in document.iter(f"{L}formation")] == \
        ["RGPD : les essentiels pour les équipes"]
    assert main(["lheo", "accueil-handicap"]) == 1
    err = capsys.readouterr().err
    assert "ne peut pas être exportée en LHÉO" in err and "bloc `lheo` absent" in err
    assert main(["lheo", "inconnue"]) == 1
    assert "aucune formation « inconnue »" in capsys.readouterr().err


def test_the_export_is_built_with_the_documents_and_only_when_it_changes(tmp_path, official):
    root = copy_project(tmp_path)
    project = Project.at(root)
    build(project)
    export_file = root / "build/lheo/offre-lheo.xml"
    official.assertValid(etree.parse(str(export_file)))
    first = export_file.read_bytes()
    assert "lheo/offre-lheo.xml" not in build(project).site
    edit(root / "content/courses/rgpd-essentiel.yaml", "  rhythm: Deux demi-journées", "  rhythm: Deux matinées")
    report = build(project)
    # no programme shows the rhythm; the conformity matrix runs the check over every field
    assert "lheo/offre-lheo.xml" in report.site and report.rebuilt == ["conformite/matrice-conformite"]
    assert b"Deux matin" in export_file.read_bytes() and export_file.read_bytes() != first
    other = build(Project.at(root, out=tmp_path / "again"))
    assert not other.failed
    assert (tmp_path / "again/lheo/offre-lheo.xml").read_bytes() == export_file.read_bytes()


def test_address_and_place_lines_are_cut_at_50_characters_the_same_in_every_course(tmp_path, official):
    """LHÉO's `ligne`: at most 50 characters, 4 for an address, 3 for a place, the rest clipped with « … »;
    spaces and line breaks of the content count as one space; a place shared by courses, the same lines."""
    root = copy_project(tmp_path)
    street = "Bâtiment C, " + "escalier 4, " * 20 + "18 rue Paul-Bert"
    edit(root / "content/organisation.yaml", "  street: 18 rue Paul-Bert\n", f"  street: {street}\n")
    place = "Formavenir,   18 rue Paul-Bert, 69003 Lyon, " + "salle de formation au rez-de-chaussée, " * 5
    for name in ("excel-perfectionnement", "management-proximite"):
        path = root / f"content/courses/{name}.yaml"
        text = path.read_text(encoding="utf-8")
        start = text.index("\nlocation: ") + 1
        path.write_text(text[:start] + f"location: {place}\n" + text[text.index("\n", start) + 1:], encoding="utf-8")
    data, _, _ = exported(root / "content", dt.date(2026, 12, 1))
    document = etree.fromstring(data)
    official.assertValid(document)
    addresses = [[line.text for line in a.iter(f"{L}ligne")] for a in document.iter(f"{L}adresse")]
    assert addresses and all(lines == addresses[0] for lines in addresses)
    assert len(addresses[0]) == 4 and all(len(line) <= 50 for line in addresses[0])
    assert addresses[0][0].startswith("Bâtiment C, escalier 4,") and addresses[0][-1].endswith("…")
    places = {}
    for formation in document.iter(f"{L}formation"):
        where = formation.find(f".//{L}lieu-de-formation")
        if where is not None:
            places[formation.findtext(f"{L}intitule-formation")] = [line.text for line in where.iter(f"{L}ligne")]
    shared = [lines for lines in places.values() if "salle de formation" in " ".join(lines)]
    assert len(shared) == 2 and shared[0] == shared[1]
    assert len(shared[0]) == 3 and all(len(line) <= 50 for line in shared[0]) and shared[0][-1].endswith("…")


def test_an_unchanged_course_is_not_written_again_and_its_reads_are_recorded_again(monkeypatch, official):
    """Watch and the resident builder keep an unchanged file's object: its `formation` is the last export's,
    the same bytes as written afresh, and the export records the same inputs as if it had been written."""
    from pipeline import lheo
    from pipeline.inputs import CatalogueView, Reads

    catalogue = load_catalogue(REPO / "content", REPO)
    as_of = dt.date(2026, 12, 1)
    written: list[str] = []
    original = lheo.formation
    monkeypatch.setattr(lheo, "formation",
                        lambda course, cid, *rest: written.append(cid) or original(course, cid, *rest))
    monkeypatch.setattr(lheo, "_KEPT", {})

    def run() -> tuple[bytes | None, set[str]]:
        view = CatalogueView(catalogue, Reads())
        data, _ = lheo.export(sorted(view.courses.items()), view.organisation, as_of, "https://example.org")
        return data, set(view.reads.names)

    first, first_reads = run()
    exported = list(written)
    assert len(exported) >= 3 and any(name.startswith("courses/") and "#" in name for name in first_reads)
    written.clear()
    again, again_reads = run()
    assert written == [] and again == first and again_reads == first_reads
    # One course edited (a new object, as after loading its changed file): only it is written again.
    cid = exported[0]
    course = catalogue.courses[cid]
    catalogue.courses[cid] = course.model_copy(update={"title": course.title + " (nouvelle version)"})
    edited, edited_reads = run()
    assert written == [cid] and b"(nouvelle version)" in edited and edited_reads == first_reads
    official.assertValid(etree.fromstring(edited))
    lheo._KEPT.clear()
    afresh, afresh_reads = run()
    assert afresh == edited and afresh_reads == edited_reads
    # A new organisation object (its file changed): every course is written again.
    written.clear()
    catalogue.organisation = catalogue.organisation.model_copy()
    assert run()[0] == edited and sorted(written) == sorted(exported)
    # Read without views (`qualidoc lheo`, tests), nothing is kept that a build could take without its reads.
    written.clear()
    plain, _ = lheo.export(sorted(catalogue.courses.items()), catalogue.organisation, as_of, "https://example.org")
    assert plain == edited and sorted(written) == sorted(exported)
    written.clear()
    assert run()[1] == edited_reads and sorted(written) == sorted(exported)


@pytest.mark.parametrize("corpus", sorted(CORPORA))
def test_the_export_is_the_whole_document_lxml_writes(corpus):
    """Each `formation` is written once and its lines kept (watch, the resident builder, the shelf): the export
    is byte for byte what lxml writes for the whole document."""
    from pipeline import lheo

    catalogue = load_catalogue(CORPORA[corpus], CORPORA[corpus].parent)
    as_of, org = dt.date(2026, 11, 27), catalogue.organisation
    root = etree.Element(f"{L}lheo", nsmap={None: NS})
    offers = etree.SubElement(root, f"{L}offres")
    for cid, course in sorted(catalogue.courses.items()):
        if not lheo.course_gaps(course, as_of):
            offers.append(lheo.formation(course, cid, org, as_of, "https://example.org"))
    assert len(offers) >= 3
    whole = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    data, _ = export(sorted(catalogue.courses.items()), org, as_of, "https://example.org")
    assert data == whole


def test_a_new_process_takes_the_unchanged_courses_from_the_shelf(tmp_path, monkeypatch, official):
    """A command after an edit (a new process: nothing kept in memory) writes the `formation` of the edited
    course only and takes the others' from the user cache, with what they read: the same bytes and the same
    recorded inputs as an export written afresh. Another qualidoc, another organisation file or a damaged
    shelf: every course is written again."""
    from pipeline import lheo
    from pipeline.inputs import CatalogueView, Reads

    root = copy_project(tmp_path / "project")
    cache = tmp_path / "cache"
    as_of, base = dt.date(2026, 12, 1), "https://example.org"
    written: list[str] = []
    original = lheo.formation
    monkeypatch.setattr(lheo, "formation",
                        lambda course, cid, *rest: written.append(cid) or original(course, cid, *rest))

    def new_process() -> None:
        monkeypatch.setattr(lheo, "_KEPT", {})
        monkeypatch.setattr(lheo, "_SHELVED", {})
        written.clear()

    def run(salt: str = "qualidoc 1", shelf: bool = True) -> tuple[bytes | None, set[str]]:
        catalogue = load_catalogue(root / "content", root)
        view = CatalogueView(catalogue, Reads(), cache)
        kept = lheo.Shelf(cache / "lheo.json", salt, view.source_hash) if shelf else None
        data, _ = lheo.export(sorted(view.courses.items()), view.organisation, as_of, base, kept)
        return data, set(view.reads.names)

    new_process()
    first, first_reads = run()
    courses = list(written)
    assert len(courses) >= 3 and (cache / "lheo.json").is_file()
    new_process()
    assert run() == (first, first_reads) and written == []
    # One course edited: only it is written; the rest comes from the shelf
    edit_yaml(root / f"content/courses/{courses[0]}.yaml", title="Nouvelle version")
    new_process()
    edited, edited_reads = run()
    assert written == [courses[0]] and b"Nouvelle version" in edited
    official.assertValid(etree.fromstring(edited))
    new_process()
    assert run(shelf=False) == (edited, edited_reads) and sorted(written) == sorted(courses)
    assert edited_reads == first_reads
    new_process()
    assert run() == (edited, edited_reads) and written == []
    # Another qualidoc (its code changed): nothing taken
    new_process()
    assert run(salt="qualidoc 2")[0] == edited and sorted(written) == sorted(courses)
    # A damaged shelf is not used, and is written again
    shelf_file = cache / "lheo.json"
    shelf_file.write_bytes(shelf_file.read_bytes().replace(b"<formation", b"<formatio", 1))
    new_process()
    assert run(salt="qualidoc 2")[0] == edited and sorted(written) == sorted(courses)
    new_process()
    assert run(salt="qualidoc 2")[0] == edited and written == []
    shelf_file.write_bytes(shelf_file.read_bytes()[:1000])
    new_process()
    assert run(salt="qualidoc 2")[0] == edited and sorted(written) == sorted(courses)
    # The organisation's file changed: every course is written again
    edit_yaml(root / "content/organisation.yaml", name="Nouvel organisme")
    new_process()
    changed, _ = run(salt="qualidoc 2")
    assert sorted(written) == sorted(courses) and b"Nouvel organisme" in changed
