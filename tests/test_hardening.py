"""Hostile and unusual content: rendered verbatim, kept inside the project, never losing a document."""

from __future__ import annotations

import errno
import os
import time
import unicodedata
import zipfile
from pathlib import Path

import docx
import pypdf
import pytest
import yaml

from pipeline import build as build_module
from pipeline import pandoc_adapter, render
from pipeline.build import build, build_lock
from pipeline.cli import main
from pipeline.content import load_catalogue
from pipeline.errors import SYSTEM_REASONS, ContentError, UserError, cause
from pipeline.project import Project
from tests.helpers import docx_text, edit, pdf_text, planned
from tests.load import make_large_project

HOSTILE = [
    "a * b _c_ # $x$ @cite <b> [l](u) {x} \\ | ~ ^ `code` …",
    "- tiret en tête", "1. numéro en tête", "> citation", "trois points... et -- tirets --- longs -? ~",
    "![x](/etc/hostname)", "`x`{=openxml}", '`#read("/etc/passwd")`{=typst}', "<script>alert(1)</script>",
    "\\input{/etc/passwd}", "#set text(red)", "= Titre", "+ plus", "/ terme : définition", "@label <lbl>",
    "https://example.org/a_b_c", "&amp; &lt; < > & \" '", "$$ \\frac{1}{2} $$", ":smile: {{ jinja }} {% raw %}",
    "QD_HEADER_LEFT", "l'été « ok » 100 € – œuvre — Ærø", "emoji 🎉 ♥ ✓",
]


def squash(text: str) -> str:
    """Compare texts without their whitespace (line wrapping) and in one Unicode normal form."""
    return "".join(unicodedata.normalize("NFKC", text).replace("\u200b", "").replace("\u2019", "'").split())



def set_fields(root: Path, name: str, values: dict[tuple, str]) -> None:
    path = root / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for location, value in values.items():
        node = data
        for part in location[:-1]:
            node = node[part]
        last = location[-1]
        if isinstance(node, list) and last >= len(node):
            node.append(value)
        else:
            node[last] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def all_text(project: Project) -> tuple[str, str]:
    docx_all = " ".join(docx_text(p) for p in sorted(project.out.rglob("*.docx")))
    pdf_all = " ".join(pdf_text(p) for p in sorted(project.out.rglob("*.pdf")))
    return squash(docx_all), squash(pdf_all)


# 1. Verbatim -----------------------------------------------------------------------------------------------

def test_hostile_text_reaches_documents_verbatim_and_nothing_is_embedded(project):
    course = "content/courses/rgpd-essentiel.yaml"
    values = {("objectives", i): text for i, text in enumerate(HOSTILE[:5])}
    values.update({("modules", 0, "contents", i): text for i, text in enumerate(HOSTILE[5:10])})
    values[("summary",)] = " ".join(HOSTILE[10:15])
    values[("audience",)] = " ".join(HOSTILE[15:])
    set_fields(project.root, course, values)
    set_fields(project.root, "content/trainers/sophie-lefebvre.yaml", {("cv",): " ".join(HOSTILE)})
    set_fields(project.root, "content/organisation.yaml", {("name",): "Formavenir & Cie <SARL> QD_HEADER_RIGHT"})
    report = build(project)
    assert not report.failed, report.failed
    docx_all, pdf_all = all_text(project)
    for text in HOSTILE + ["Formavenir & Cie <SARL> QD_HEADER_RIGHT"]:
        assert squash(text) in docx_all, text
        assert squash(text) in pdf_all, text
    hostname = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").exists() else "\0"
    for path in project.out.rglob("*.docx"):
        archive = zipfile.ZipFile(path)
        media = [n for n in archive.namelist() if n.startswith("word/media/")]
        assert len(media) == 1  # the organisation's logo, nothing else
        body = archive.read("word/document.xml").decode()
        assert "<script>" not in body and "root:x:0" not in body
    for path in project.out.rglob("*.pdf"):
        assert "root:x:0" not in pdf_text(path)
    assert squash(hostname) not in pdf_all.replace(squash("/etc/hostname"), "")


def test_right_to_left_and_combining_marks(project):
    set_fields(project.root, "content/courses/rgpd-essentiel.yaml",
               {("objectives", 0): "Identifier שלום עולם et e\u0301te\u0301 (combinants)"})
    build(project)
    document = docx.Document(str(project.out / "programmes/rgpd-essentiel.docx"))
    expected = unicodedata.normalize("NFC", "Identifier שלום עולם et e\u0301te\u0301 (combinants)")
    assert any(expected in p.text for p in document.paragraphs)  # pandoc composes the accents (NFC)
    pdf = pdf_text(project.out / "programmes/rgpd-essentiel.pdf")
    assert "שלום" in pdf or "םולש" in pdf  # right-to-left runs come back in visual or logical order
    assert "été (combinants)" in unicodedata.normalize("NFC", pdf)


# 2. Files stay inside the project ----------------------------------------------------------------------

def logo_problem(project: Project, value: str) -> str:
    edit(project.root / "content/organisation.yaml", "logo: content/assets/logo-formavenir.png", f"logo: {value}")
    with pytest.raises(ContentError) as caught:
        load_catalogue(project.content, project.root)
    [problem] = caught.value.problems
    assert problem.file == "content/organisation.yaml" and problem.line == 15 and problem.field == "logo"
    return problem.message


def test_absolute_logo_path_is_refused(project):
    assert "est un chemin absolu" in logo_problem(project, "/etc/hostname")


def test_logo_leaving_the_project_is_refused(project):
    assert "mène hors du projet" in logo_problem(project, "../../../etc/hostname")


def test_symlink_out_of_the_project_is_refused(project, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "logo.png"
    outside.write_bytes((project.content / "assets/logo-formavenir.png").read_bytes())
    (project.content / "assets/link.png").symlink_to(outside)
    assert "mène hors du projet" in logo_problem(project, "content/assets/link.png")


def test_logo_must_be_a_real_image(project):
    (project.content / "assets/fake.png").write_text("not an image")
    assert "n'est pas une image PNG, JPEG ou SVG" in logo_problem(project, "content/assets/fake.png")


def test_logo_dimensions_are_checked(project):
    data = bytearray((project.content / "assets/logo-formavenir.png").read_bytes())
    data[16:24] = (50000).to_bytes(4, "big") + (100).to_bytes(4, "big")
    (project.content / "assets/huge.png").write_bytes(bytes(data))
    assert "50000×100 pixels" in logo_problem(project, "content/assets/huge.png")


def test_svg_referring_to_files_is_refused(project):
    (project.content / "assets/logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" '
                                                     'xmlns:xlink="http://www.w3.org/1999/xlink">'
                                                     '<image xlink:href="file:///etc/hostname"/></svg>')
    assert "renvoie à d'autres fichiers" in logo_problem(project, "content/assets/logo.svg")


def test_clean_svg_logo_is_embedded(project):
    (project.content / "assets/logo.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="50"><rect width="200" height="50" '
        'fill="#1f4e79"/><text x="10" y="35" fill="white">Formavenir</text></svg>')
    edit(project.root / "content/organisation.yaml", "logo: content/assets/logo-formavenir.png",
            "logo: content/assets/logo.svg")
    assert not build(project).failed
    names = zipfile.ZipFile(project.out / "programmes/rgpd-essentiel.docx").namelist()
    assert any(n.startswith("word/media/") and n.endswith(".svg") for n in names)


def test_typst_packages_are_refused(project):
    style = project.templates / "style.typ"
    style.write_text('#import "@preview/cetz:0.3.0": canvas\n' + style.read_text(encoding="utf-8"))
    with pytest.raises(UserError, match="réseau"):
        build(project)


def test_typst_compilers_leave_nothing_in_the_temporary_folder(project, tmp_path, monkeypatch):
    """typst is told a package folder that cannot exist; one made for each compiler stayed in /tmp."""
    import tempfile

    from pipeline.typst_adapter import new_compiler

    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    monkeypatch.setenv("TMPDIR", str(temporary))
    compiler = new_compiler(project.templates / "fonts")
    assert compiler.compile(input=b"Bonjour", format="pdf").startswith(b"%PDF")
    assert list(temporary.iterdir()) == []


def test_pandoc_leaves_nothing_in_the_temporary_folder(project, tmp_path, monkeypatch):
    """A pandoc of its own (the DOCX frame, a document the build does not write itself: here a heading with
    an anchor) was killed once it had answered, and left /tmp/pandoc-hist<pid>-0 behind: it is let end."""
    import tempfile

    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    monkeypatch.setenv("TMPDIR", str(temporary))
    template = project.templates / "programme.md.j2"
    template.write_text(template.read_text(encoding="utf-8") + "\n## Ancre {% raw %}{#ancre-tmp}{% endraw %}\n",
                        encoding="utf-8")
    calls: list[str] = []
    real = pandoc_adapter.convert_alone
    monkeypatch.setattr(pandoc_adapter, "convert_alone", lambda *a, **k: (calls.append(a[3]), real(*a, **k))[1])
    monkeypatch.setattr(render, "convert_alone", pandoc_adapter.convert_alone)
    report = build(project)
    assert not report.failed and len(calls) >= 5  # one a programme
    assert list(temporary.iterdir()) == []


@pytest.mark.parametrize("image", [
    "![](https://example.org/tracker.png)",
    '![](https://example.org/tracker.png "titre")',
    "![un [logo]](https://example.org/tracker.png)",
    "![logo][distant]\n\n[distant]: https://example.org/tracker.png",
    "![](/etc/hostname)",
    "![](../content/assets/logo-formavenir.png)",
])
@pytest.mark.parametrize("kind, heading", [("positionnement", '{% import "_labels.j2" as L %}'),
                                           ("programme", '{% import "_labels.j2" as L %}')])
def test_template_images_from_outside_are_refused(project, image, kind, heading):
    """Refused before pandoc writes the DOCX (which would fetch the URL), however the image is written."""
    edit(project.root / f"templates/{kind}.md.j2", heading, f"{image}\n\n{heading}")
    report = build(project)
    folder = "programmes" if kind == "programme" else kind
    assert set(report.failed) == {f"{folder}/{p.stem}" for p in (project.content / "courses").glob("*.yaml")}
    # refused by pandoc's script, which then writes no DOCX: nothing was fetched
    assert all(reason.startswith("pandoc :") and "seules les images préparées par la construction" in reason
               for reason in report.failed.values())
    assert not (project.out / f"{folder}/rgpd-essentiel.pdf").exists()


def test_documents_failing_for_one_reason_are_reported_once(project, capsys, monkeypatch):
    edit(project.root / "templates/programme.md.j2", "# {{ course.title }}",
            "![](https://example.org/tracker.png)\n\n# {{ course.title }}")
    monkeypatch.chdir(project.root)
    assert main(["build"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("erreur :")]
    assert errors == [errors[0]] and errors[0].startswith(
        "erreur : 7 documents (programmes/accueil-handicap, programmes/bilan-competences, "
        "programmes/excel-perfectionnement et 4 autres) : pandoc :")
    assert "seules les images préparées par la construction" in errors[0]


# 4. Encoding and YAML traps ------------------------------------------------------------------------------

def test_bom_and_crlf(project):
    path = project.content / "courses/rgpd-essentiel.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_text(encoding="utf-8").replace("\n", "\r\n").encode())
    catalogue = load_catalogue(project.content, project.root)
    assert catalogue.courses["rgpd-essentiel"].title == "RGPD : les essentiels pour les équipes"


def test_other_encodings_get_a_hint(project):
    path = project.content / "courses/rgpd-essentiel.yaml"
    path.write_bytes(path.read_text(encoding="utf-8").encode("cp1252"))
    with pytest.raises(ContentError) as caught:
        load_catalogue(project.content, project.root)
    [problem] = caught.value.problems
    assert problem.file == "content/courses/rgpd-essentiel.yaml" and problem.line == 1
    assert "pas en UTF-8" in problem.message and "Windows-1252" in problem.message


def test_yaml_1_1_values_stay_as_typed(project):
    course = "content/courses/rgpd-essentiel.yaml"
    edit(project.root / course, "reference: JUR-RGPD-01", "reference: 0800")
    edit(project.root / course, "  - Identifier, dans une situation de travail, les données personnelles et les "
            "données sensibles traitées", "  - no\n  - yes")
    edit(project.root / course, "sanction: Attestation de fin de formation mentionnant les objectifs, la durée et "
            "les résultats de l'évaluation des acquis.", "sanction: 1e3")
    edit(project.root / course, "vat_note: TVA au taux de 20 %.", "vat_note: 12:30")
    edit(project.root / course, "access:", "location: off\naccess:")
    edit(project.root / "content/organisation.yaml", 'siret: "05234567800027"', "siret: 05234567800027")
    catalogue = load_catalogue(project.content, project.root)
    rgpd = catalogue.courses["rgpd-essentiel"]
    assert (rgpd.reference, rgpd.objectives[0], rgpd.objectives[1]) == ("0800", "no", "yes")
    assert (rgpd.sanction, rgpd.vat_note, rgpd.location) == ("1e3", "12:30", "off")
    assert catalogue.organisation.siret == "05234567800027"


def test_duration_written_as_time_is_not_a_number(project):
    edit(project.root / "content/courses/rgpd-essentiel.yaml", "  hours: 7\n", "  hours: 12:30\n")
    with pytest.raises(ContentError, match="duration.hours: attendu : un nombre"):
        load_catalogue(project.content, project.root)


def test_billion_laughs_is_refused(project):
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    bomb += "".join(f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
                    for i in range(9))
    (project.content / "trainers/bomb.yaml").write_text(bomb, encoding="utf-8")
    started = time.perf_counter()
    with pytest.raises(ContentError, match="alias YAML"):
        load_catalogue(project.content, project.root)
    assert time.perf_counter() - started < 5


def test_huge_file_is_refused_quickly(project):
    with open(project.content / "trainers/huge.yaml", "wb") as handle:
        handle.write(b"cv: " + b"x" * (50 * 1024 * 1024) + b"\n")
    started = time.perf_counter()
    with pytest.raises(ContentError, match="limité à 2 Mo"):
        load_catalogue(project.content, project.root)
    assert time.perf_counter() - started < 2


# 5. Nothing lost -----------------------------------------------------------------------------------------

def test_full_disk_is_reported_and_keeps_documents(project, monkeypatch, capsys):
    build(project)
    pdf = project.out / "programmes/rgpd-essentiel.pdf"
    good = pdf.read_bytes()
    edit(project.root / "content/courses/rgpd-essentiel.yaml", "amount: 390", "amount: 420")
    real = build_module.write_atomic

    def full(path: Path, data: bytes, durable: bool = True, same_as: object = None) -> object:
        if path.suffix == ".pdf":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, data, durable, same_as)

    monkeypatch.setattr(build_module, "write_atomic", full)
    monkeypatch.chdir(project.root)
    assert main(["build"]) == 1
    err = capsys.readouterr().err
    assert f"impossible d'écrire {pdf} : plus de place sur le disque" in err  # the system's reason, in French
    assert pdf.read_bytes() == good


def test_unwritable_output_is_reported(project, capsys, monkeypatch):
    build(project)
    kept = (project.out / "programmes/rgpd-essentiel.pdf").read_bytes()
    (project.out / "positionnement").rename(project.out / "positionnement-old")
    (project.out / "positionnement").write_text("a file where a folder should be")
    edit(project.root / "content/courses/rgpd-essentiel.yaml", "objectives:", "objectives:")
    edit(project.root / "content/courses/rgpd-essentiel.yaml", "amount: 390", "amount: 420")
    monkeypatch.chdir(project.root)
    assert main(["build"]) == 1
    err = capsys.readouterr().err
    # every questionnaire lost its folder: one line for the five, same reason
    assert "erreur : 7 documents (positionnement/accueil-handicap" in err and "impossible d'écrire" in err
    assert err.count("erreur :") == 1
    assert (project.out / "programmes/rgpd-essentiel.pdf").read_bytes() != kept  # the others were built


def test_unwritable_build_folder_is_a_clear_error(project, capsys, monkeypatch):
    project.out.write_text("not a folder")
    monkeypatch.chdir(project.root)
    assert main(["build"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "impossible d'écrire dans" in err and "build" in err


def test_a_bug_of_qualidoc_is_one_line_without_traceback_and_keeps_the_documents(project, capsys, monkeypatch):
    build(project)
    pdf = project.out / "programmes/rgpd-essentiel.pdf"
    good = pdf.read_bytes()
    edit(project.root / "content/courses/rgpd-essentiel.yaml", "amount: 390", "amount: 420")

    def bug(*args, **kwargs):
        raise KeyError("9c9a3451c82814268f980cbce571f468")

    monkeypatch.setattr(build_module, "_stale_documents", bug)
    monkeypatch.chdir(project.root)
    assert main(["build"]) == 70
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "erreur interne de qualidoc : KeyError : '9c9a3451c82814268f980cbce571f468'" in err
    assert "qualidoc -v" in err
    assert pdf.read_bytes() == good
    with pytest.raises(KeyError):  # -v: the details, for a bug report
        main(["-v", "build"])


def test_two_builds_at_once(project):
    with build_lock(project):
        with pytest.raises(UserError, match="une autre construction qualidoc écrit dans build"):
            build(project)


# 3. Size and layout under load --------------------------------------------------------------------------

def test_large_project_builds_paginated_documents(tmp_path):
    root = make_large_project(tmp_path)
    project = Project.at(root)
    report = build(project)
    assert not report.failed and report.total == len(planned(root)) > 60 * 2
    log = pypdf.PdfReader(str(project.out / "amelioration/registre-amelioration.pdf"))
    texts = [page.extract_text() for page in log.pages]
    table_pages = [i for i, text in enumerate(texts) if "Action décidée" in text]
    assert len(table_pages) > 50  # the follow-up table spans many pages, its header on each
    whole = squash(" ".join(texts))
    assert squash("Constat 0 :") in whole and squash("Constat 1499 :") in whole
    for box in (page.mediabox for page in log.pages[1:4]):
        assert box.width > box.height  # the table is in landscape
    programme = pdf_text(project.out / "programmes/c00.pdf")
    assert "Module 149 : étude de cas" in programme and "Appliquer la méthode n° 59" in programme
    matrix = squash(pdf_text(project.out / "intervenants/matrice-competences.pdf"))
    assert squash("Formation continue n° 199 : analyse de données") in matrix
    assert squash("Intervenant 79 Durand-Lefèvre") in matrix and "REF-059" in matrix
    document = docx.Document(str(project.out / "amelioration/registre-amelioration.docx"))
    header_rows = document.tables[2].rows[0]._tr.xml
    assert "tblHeader" in header_rows  # repeated at the top of each page in Word


def test_the_systems_reasons_are_told_in_french(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError) as caught:  # a real one: a folder expected where a file is
        (tmp_path / "file" / "x").write_text("y")
    assert cause(caught.value) == "une partie du chemin n'est pas un dossier"
    for number, french in SYSTEM_REASONS.items():
        assert cause(OSError(number, os.strerror(number), "x")) == french != os.strerror(number)
    assert cause(OSError(errno.EIO, "l'écriture de son PDF a échoué")) == "l'écriture de son PDF a échoué"  # ours
    assert cause(ValueError("illisible")) == "illisible"


def test_a_file_where_the_build_needs_a_folder_is_told_in_french(project, monkeypatch, capsys):
    monkeypatch.chdir(project.root)
    project.out.mkdir()
    (project.out / "intervenants").write_text("une note")
    assert main(["build"]) == 1
    err = capsys.readouterr().err
    assert f"impossible d'écrire {project.out / 'intervenants'} : un fichier de ce nom existe déjà" in err
    (project.out / "intervenants").unlink()
    (project.out / "intervenants").mkdir()
    project.out.rename(project.root / "ailleurs")
    project.out.write_text("un fichier nommé build")
    assert main(["build"]) == 1
    assert "une partie du chemin n'est pas un dossier ; les documents déjà présents sont inchangés" in (
        capsys.readouterr().err)


@pytest.mark.parametrize("point", ["state.json", "parsed.json", "positioning-check.json", ".docx", ".pdf", "stage"])
def test_a_full_disk_at_any_point_is_a_message_and_loses_nothing(project, monkeypatch, capsys, point):
    import pipeline.render as render_module
    import pipeline.state as state_module

    build(project)
    kept = {p: p.read_bytes() for p in project.out.rglob("*.pdf")}
    edit(project.root / "content/courses/rgpd-essentiel.yaml", "amount: 390", "amount: 420")
    real_write, real_mkdtemp = state_module.write_atomic, render_module.tempfile.mkdtemp

    def full(path: Path, data: bytes, durable: bool = True, same_as: object = None) -> object:
        if str(path).endswith(point):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_write(path, data, durable, same_as)

    def no_stage(*args: object, **kwargs: object) -> str:
        if point == "stage":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_mkdtemp(*args, **kwargs)  # type: ignore[arg-type]

    for module in (state_module, build_module):
        monkeypatch.setattr(module, "write_atomic", full)
    monkeypatch.setattr(render_module.tempfile, "mkdtemp", no_stage)
    monkeypatch.chdir(project.root)
    code = main(["build"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    if point in (".docx", ".pdf", "stage", "state.json"):
        assert code == 1 and "plus de place sur le disque" in captured.err
    for path, data in kept.items():  # the last good documents: unchanged, or replaced by complete new ones
        assert path.exists() and (path.read_bytes() == data or path.read_bytes().startswith(b"%PDF"))
    monkeypatch.undo()
    assert not build(project).failed  # and once there is room again, the build completes
