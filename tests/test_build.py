"""What a build rebuilds, keeps and removes; byte-identical output; failures keep the last good files."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from pipeline.build import build
from pipeline.cli import main
from pipeline.project import Project
from tests.helpers import REPO, edit, pdf_text, planned

ALL = len(planned(REPO))  # every document of the sample


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


pytestmark = pytest.mark.built



def test_second_build_does_nothing(project):
    report = build(project)
    assert report.rebuilt == [] and report.up_to_date == ALL
    assert report.summary().startswith(f"{ALL} documents : 0 reconstruit, {ALL} déjà à jour (")


def test_editing_a_course_rebuilds_the_documents_that_show_it_only(project):
    edit(project.content / "courses/rgpd-essentiel.yaml", "amount: 390", "amount: 420")
    report = build(project)
    # The price is on the programme; the questionnaire does not show it; the conformity matrix reads all.
    assert sorted(report.rebuilt) == ["conformite/matrice-conformite", "programmes/rgpd-essentiel"]
    assert "content/courses/rgpd-essentiel.yaml#prices" in report.reasons["programmes/rgpd-essentiel"]
    edit(project.content / "courses/rgpd-essentiel.yaml", "RGPD : les essentiels", "RGPD : l’essentiel")
    report = build(project)
    assert "positionnement/rgpd-essentiel" in report.rebuilt


def test_course_change_shown_by_aggregates_rebuilds_them(project):
    edit(project.content / "courses/rgpd-essentiel.yaml", "trainers: [sophie-lefebvre]",
         "trainers: [sophie-lefebvre, claire-martin]")
    # The questionnaire does not name trainers: it stays as it is.
    assert sorted(build(project).rebuilt) == ["conformite/matrice-conformite", "intervenants/matrice-competences",
                                              "programmes/rgpd-essentiel"]
    edit(project.content / "courses/rgpd-essentiel.yaml", "title: \"RGPD : les essentiels",
         "title: \"RGPD : l'essentiel")
    report = build(project)
    assert sorted(report.rebuilt) == ["amelioration/registre-amelioration", "conformite/matrice-conformite",
                                      "intervenants/matrice-competences", "positionnement/rgpd-essentiel",
                                      "programmes/rgpd-essentiel"]
    assert "content/courses/rgpd-essentiel.yaml#title" in report.reasons[
        "amelioration/registre-amelioration"]


def test_after_an_edit_in_watch_the_documents_are_written_before_the_web_catalogue(project, monkeypatch):
    """Watch builds an edit's documents first (`documents_first`): every file of the rebuilt documents is on
    disk before the first page of the web catalogue (the LHÉO export, the course's page) is written."""
    import pipeline.build as build_module

    written: list[str] = []
    real_record = build_module.BuildState.record

    def record(state, path, *args, **kwargs):  # type: ignore[no-untyped-def]
        written.append(path)
        return real_record(state, path, *args, **kwargs)

    monkeypatch.setattr(build_module.BuildState, "record", record)
    edit(project.content / "courses/rgpd-essentiel.yaml", "title: \"RGPD : les essentiels",
         "title: \"RGPD : l'essentiel")
    report = build(project, documents_first=True)
    documents = [path for path in written if path in report.rebuilt]
    site = [path for path in written if path not in report.rebuilt]
    assert len(documents) == 5 and {"lheo/offre-lheo.xml", "site/formations/rgpd-essentiel.html"} <= set(site)
    first_page = written.index(next(path for path in written if not path.startswith("site/documents/")
                                    and path not in report.rebuilt))
    assert all(written.index(path) < first_page for path in documents), written
    assert "l'essentiel" in (project.out / "lheo/offre-lheo.xml").read_text(encoding="utf-8").replace("’", "'")


def test_after_an_edit_in_watch_every_pdf_is_written_before_the_first_docx(project, monkeypatch):
    """The user looks at the PDF after a save: the DOCX are finished once the PDFs are on disk, so the
    threads that finish them do not hold the interpreter the PDFs need. The conformity matrix, whose context
    runs the RNQ check, comes last: its Markdown is rendered once the other documents' PDFs are on disk."""
    import pipeline.build as build_module
    from pipeline.render import Renderer

    written: list[tuple[str, str]] = []
    real_write = build_module._Files.write
    real_markdown = Renderer.markdown
    matrix_started: list[int] = []  # how many files were written when the conformity matrix's Markdown began

    def write(files, document, data):  # type: ignore[no-untyped-def]
        written.extend((document.path, kind) for kind in data)
        return real_write(files, document, data)

    def markdown(renderer, document):  # type: ignore[no-untyped-def]
        if document.last and not matrix_started:
            matrix_started.append(len(written))
        return real_markdown(renderer, document)

    monkeypatch.setattr(build_module._Files, "write", write)
    monkeypatch.setattr(Renderer, "markdown", markdown)
    edit(project.content / "courses/rgpd-essentiel.yaml", "title: \"RGPD : les essentiels",
         "title: \"RGPD : l'essentiel")
    shutil.rmtree(project.cache_dir / "files")  # each document rendered (none given the files it had)
    report = build(project, documents_first=True)
    assert sorted(written) == sorted((path, kind) for path in report.rebuilt for kind in ("docx", "pdf"))
    last = "conformite/matrice-conformite"
    assert last in report.rebuilt and len(report.rebuilt) == 5
    firsts = [(path, kind) for path, kind in written if path != last]
    assert [kind for _, kind in firsts] == ["pdf"] * 4 + ["docx"] * 4, written
    assert matrix_started and {path for path, kind in written[:matrix_started[0]] if kind == "pdf"} == {
        path for path in report.rebuilt if path != last}, (written, matrix_started)


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="priorités de processus : Unix seulement")
def test_in_a_full_build_pandoc_leaves_the_cores_to_the_build_and_after_an_edit_it_does_not(project, monkeypatch):
    """A full build's pandoc processes run at the lowest priority: the build's own work (the Markdown they
    wait for, the PDFs and DOCX of their trees) comes first. After an edit, their reading of a few documents
    is what the PDFs wait for: they keep the build's priority."""
    from pipeline import pandoc_adapter

    seen: list[int] = []
    real_write = pandoc_adapter.Pandoc._write

    def write(converter, job):  # type: ignore[no-untyped-def]
        seen.append(os.getpriority(os.PRIO_PROCESS, converter.process.pid))  # alive: it has a job coming
        return real_write(converter, job)

    monkeypatch.setattr(pandoc_adapter.Pandoc, "_write", write)
    report = build(project, force=True)
    assert len(report.rebuilt) == ALL and not report.failed
    assert seen and set(seen) == {pandoc_adapter.FULL_BUILD_NICENESS}, seen
    seen.clear()
    edit(project.content / "courses/rgpd-essentiel.yaml", "amount: 390", "amount: 420")
    report = build(project)
    assert sorted(report.rebuilt) == ["conformite/matrice-conformite", "programmes/rgpd-essentiel"]
    assert seen and set(seen) == {os.getpriority(os.PRIO_PROCESS, 0)}, seen


def test_editing_a_trainer_rebuilds_matrix_and_what_shows_it(project):
    edit(project.content / "trainers/karim-benali.yaml", "hours: 12", "hours: 14")
    assert sorted(build(project).rebuilt) == ["conformite/matrice-conformite", "intervenants/matrice-competences"]
    edit(project.content / "trainers/karim-benali.yaml", "role: Formateur consultant", "role: Consultant formateur")
    assert sorted(build(project).rebuilt) == ["conformite/matrice-conformite", "intervenants/matrice-competences",
                                              "programmes/management-proximite", "programmes/prise-de-parole"]


def test_editing_a_template_rebuilds_that_kind(project):
    edit(project.templates / "positionnement.md.j2", "# Questionnaire de positionnement", "# Positionnement")
    assert sorted(build(project).rebuilt) == ["conformite/matrice-conformite"] + sorted(
        f"positionnement/{p.stem}" for p in (project.content / "courses").glob("*.yaml"))


def test_shared_template_rebuilds_its_users(project):
    edit(project.templates / "_organisation.md.j2", "Cet enregistrement", "Cet  enregistrement")
    assert len(build(project).rebuilt) == 15  # programmes, questionnaires, and the check of ind. 8 reads them


def test_style_edit_reaches_pdfs_built_by_the_same_process(project):
    """typst compilers are kept between builds (watch mode): they must read the new style, not their caches."""
    programme = project.out / "programmes/rgpd-essentiel.pdf"
    assert "Page 1 /" in pdf_text(programme)
    edit(project.templates / "style.typ", "[Page #counter", "[Feuille #counter")
    assert len(build(project).rebuilt) == ALL
    assert "Feuille 1 /" in pdf_text(programme) and "Page 1 /" not in pdf_text(programme)


def test_custom_style_without_its_typst_function_is_explained(project):
    edit(project.templates / "programme.md.j2", "## Informations clés",
         '::: {custom-style="Encadré"}\nÀ noter.\n:::\n\n## Informations clés')
    report = build(project)
    assert set(report.failed) == {f"programmes/{p.stem}" for p in (project.content / "courses").glob("*.yaml")}
    assert all("templates/style.typ ne définit pas : ajoutez-y `style-Encadr`" in r for r in report.failed.values())
    (project.templates / "style.typ").write_text((project.templates / "style.typ").read_text(encoding="utf-8")
                                                 + "\n#let style-Encadr(body) = block(stroke: 0.5pt, body)\n",
                                                 encoding="utf-8")
    assert not build(project).failed


def test_output_edited_or_deleted_by_hand_is_rebuilt(project):
    pdf = project.out / "programmes/excel-perfectionnement.pdf"
    good = pdf.read_bytes()
    pdf.write_bytes(b"edited")
    (project.out / "positionnement/rgpd-essentiel.docx").unlink()
    (project.out / "programmes/rgpd-essentiel.docx").write_bytes(b"")  # what a power cut can leave
    report = build(project)
    assert sorted(report.rebuilt) == ["positionnement/rgpd-essentiel", "programmes/excel-perfectionnement",
                                      "programmes/rgpd-essentiel"]
    assert report.reasons["programmes/excel-perfectionnement"].endswith("a été modifié à la main")
    assert report.reasons["positionnement/rgpd-essentiel"].endswith("est absent")
    assert pdf.read_bytes() == good


def test_outputs_with_another_date_but_the_same_bytes_are_read_once_not_at_every_build(project, monkeypatch):
    import os

    import pipeline.build

    for path in project.out.rglob("*.pdf"):  # what a copy without dates, or a restore, leaves
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    report = build(project)
    assert report.rebuilt == [] and report.up_to_date == ALL
    monkeypatch.setattr(pipeline.build, "_build_changed", lambda *a: pytest.fail("the outputs were read again"))
    assert build(project).up_to_date == ALL  # nothing moved since: the quick check, no file read


def test_deleted_course_removes_its_documents(project):
    (project.content / "courses/prise-de-parole.yaml").unlink()
    report = build(project)
    assert report.removed == ["positionnement/prise-de-parole", "programmes/prise-de-parole",
                              "site/documents/prise-de-parole.docx", "site/documents/prise-de-parole.pdf",
                              "site/formations/prise-de-parole.html"]
    assert not (project.out / "programmes/prise-de-parole.pdf").exists()
    assert not (project.out / "programmes/prise-de-parole.docx").exists()
    assert "intervenants/matrice-competences" in report.rebuilt


def test_force_rebuilds_everything(project):
    report = build(project, force=True)
    assert len(report.rebuilt) == ALL and set(report.reasons.values()) == {"--force"}


def test_output_is_byte_identical_across_builds(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    build(Project.at(REPO, out=first))
    build(Project.at(REPO, out=second), jobs=1)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.suffix in (".docx", ".pdf", ".html", ".xml"))
    assert len([f for f in files if f.parts[0] not in ("site", "lheo")]) == 2 * ALL
    assert [sha(first / f) for f in files] == [sha(second / f) for f in files]


def test_failed_document_keeps_last_good_version(project, capsys, monkeypatch):
    matrix = project.out / "intervenants/matrice-competences.pdf"
    good = matrix.read_bytes()
    edit(project.templates / "matrice-competences.md.j2", '{{ t.cv | paragraphs if t.cv else todo("résumé du CV") }}',
         "{{ t.curriculum }}")
    edit(project.content / "courses/rgpd-essentiel.yaml", "amount: 390", "amount: 420")
    monkeypatch.chdir(project.root)
    assert main(["build"]) == 1
    captured = capsys.readouterr()
    line = next(i for i, text in enumerate((project.templates / "matrice-competences.md.j2").read_text(
        encoding="utf-8").splitlines(), 1) if "t.curriculum" in text)
    assert (f"erreur : intervenants/matrice-competences : erreur dans un modèle, templates/matrice-competences.md.j2:"
            f"{line} : `curriculum` n'existe pas dans un intervenant (voir `qualidoc fields trainer`)") in captured.err
    assert "1 en échec" in captured.out
    assert matrix.read_bytes() == good
    report = build(project)  # still stale: the failure was not recorded as fresh
    assert "intervenants/matrice-competences" in report.failed
    edit(project.templates / "matrice-competences.md.j2", "{{ t.curriculum }}", "{{ t.cv | paragraphs }}")
    assert build(project).rebuilt == ["intervenants/matrice-competences"]


@pytest.mark.parametrize(("mistake", "told"), [
    ("{{ course.nope }}", "`nope` n'existe pas dans une formation (voir `qualidoc fields course`)"),
    ("{{ inconnu }}", "`inconnu` n'est pas défini"),
    ("{{ 1 / 0 }}", "ZeroDivisionError : division by zero (message de Python)"),  # Python's own, not a bug of ours
    ("{% if %}", "syntaxe : Expected an expression"),
])
def test_a_templates_mistake_is_told_at_its_file_and_line(project, capsys, monkeypatch, mistake, told):
    template = project.templates / "programme.md.j2"
    edit(template, "# {{ course.title }}", f"# {{{{ course.title }}}}\n{mistake}")
    monkeypatch.chdir(project.root)
    assert main(["build"]) == 1
    out, err = capsys.readouterr()
    assert f"erreur dans un modèle, templates/programme.md.j2:10 : {told}" in err
    assert "erreur interne" not in err and "Traceback" not in err
    assert "7 en échec" in out  # the programmes; the other documents are built


def test_a_mistake_in_a_site_template_fails_its_pages_only(project, capsys, monkeypatch):
    edit(project.templates / "site/formation.html.j2", "<h1>{{ course.title }}</h1>", "<h1>{{ course.title + 1 }}</h1>")
    monkeypatch.chdir(project.root)
    assert main(["build"]) == 1
    err = capsys.readouterr().err
    assert "erreur dans un modèle, templates/site/formation.html.j2:15 : TypeError" in err
    assert "erreur interne" not in err


def test_a_mistake_in_style_typ_is_shown_in_templates_not_in_the_stage(project, capsys, monkeypatch):
    style = project.templates / "style.typ"
    lines = style.read_text(encoding="utf-8").count("\n")
    style.write_text(style.read_text(encoding="utf-8") + "#let x = \n", encoding="utf-8")
    monkeypatch.chdir(project.root)
    assert main(["build"]) == 1
    err = capsys.readouterr().err
    assert "erreur de mise en page (typst) : error: expected expression" in err
    assert f"templates/style.typ:{lines + 1}:" in err and "stage-" not in err


def test_explain_says_why(project, capsys, monkeypatch):
    edit(project.content / "courses/rgpd-essentiel.yaml", "amount: 390", "amount: 420")
    monkeypatch.chdir(project.root)
    assert main(["build", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "programmes/rgpd-essentiel : modifié : content/courses/rgpd-essentiel.yaml" in out
    assert out.strip().endswith(" s)")


def test_killed_build_never_leaves_a_truncated_document(project):
    import signal
    import subprocess
    import sys
    import time
    import zipfile

    import pypdf

    before = {p: sha(p) for p in project.out.rglob("*") if p.suffix in (".docx", ".pdf")}
    # Each write waits half a second between its data and its rename: the kill lands while a temporary
    # file is half-way to its place, which the test sees before it kills.
    slow = ("import os, sys, time; real = os.replace; os.replace = lambda a, b: (time.sleep(0.5), real(a, b))[1]; "
            "sys.argv = ['qualidoc', 'build', '--force']; from pipeline.cli import run; run()")
    process = subprocess.Popen([sys.executable, "-c", slow], cwd=project.root, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (pending := list(project.out.rglob("*.qualidoc-tmp"))) and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert pending, "the build never started writing"
    assert any(p.exists() for p in pending), "the kill must land while a document is being written"
    for path in project.out.rglob("*.docx"):
        assert zipfile.ZipFile(path).testzip() is None, path
    for path in project.out.rglob("*.pdf"):
        assert len(pypdf.PdfReader(str(path)).pages) >= 1, path
    assert {p: sha(p) for p in before} == before  # --force rewrites identical bytes, or nothing yet
    report = build(project)
    assert not report.failed
    assert not list(project.out.rglob(".*.qualidoc-tmp")) and not list(project.state_dir.glob("stage-*"))
    assert build(project).rebuilt == []


def test_the_hash_of_an_output_is_the_recorded_one_only_while_the_file_is_as_written(tmp_path):
    from pipeline.state import BuildState

    out = tmp_path / "build"
    (out / "programmes").mkdir(parents=True)
    pdf = out / "programmes/x.pdf"
    pdf.write_bytes(b"%PDF written")
    state = BuildState(tmp_path / "state.json")
    state.record("programmes/x", {}, out, ["programmes/x.pdf"], {"programmes/x.pdf": "0" * 64})
    assert state.output_hash("programmes/x.pdf", out) == "0" * 64  # recorded, not read
    pdf.write_bytes(b"%PDF changed by hand")
    assert state.output_hash("programmes/x.pdf", out) == hashlib.sha256(b"%PDF changed by hand").hexdigest()
    assert state.output_hash("programmes/y.pdf", out) == "unreadable"  # never written


def test_a_process_reads_the_state_file_again_only_if_it_moved_or_a_build_stopped(tmp_path):
    """Watch builds again and again: the state it wrote, or read and left unchanged, is taken from memory,
    the same as the file reads; rewritten by another process, or loaded by a build that stopped before its
    save, the file is read again."""
    import json

    from pipeline.state import BuildState

    out = tmp_path / "build"
    (out / "programmes").mkdir(parents=True)
    (out / "programmes/x.pdf").write_bytes(b"%PDF")
    state = BuildState.load(tmp_path)
    state.record("programmes/x", {"@courses/x": "1" * 64}, out, ["programmes/x.pdf"])
    state.snapshot = {"content/x.yaml": [1, 2]}
    state.save()
    again = BuildState.load(tmp_path)
    assert again is state
    assert again == BuildState._read(tmp_path / "state.json"), "the same as the file reads"
    assert BuildState.load(tmp_path) is not state, "taken once: a build that stopped before its save"
    read = BuildState.load(tmp_path)
    read.keep()  # nothing to build: unchanged
    assert BuildState.load(tmp_path) is read
    read.keep()
    data = json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))
    data["snapshot"] = {"content/x.yaml": [3, 4]}
    (tmp_path / "state.json").write_text(json.dumps(data), encoding="utf-8")  # another process's build
    assert BuildState.load(tmp_path).snapshot == {"content/x.yaml": [3, 4]}


def test_a_template_is_hashed_again_only_when_its_size_or_date_moved(tmp_path, monkeypatch):
    import os

    import pipeline.state
    from pipeline.state import BuildState

    font = tmp_path / "font.ttf"
    font.write_bytes(b"glyphs")
    read: list[Path] = []
    real = pipeline.state.file_hash
    monkeypatch.setattr(pipeline.state, "file_hash", lambda path: (read.append(path), real(path))[1])
    state = BuildState(tmp_path / "state.json")
    assert state.file_hash(font) == hashlib.sha256(b"glyphs").hexdigest() and read == [font]
    state.save()
    state = BuildState.load(tmp_path)
    assert state.file_hash(font) == hashlib.sha256(b"glyphs").hexdigest() and read == [font]  # kept
    font.write_bytes(b"GLYPHS")  # same size: its date tells
    os.utime(font, ns=(font.stat().st_atime_ns, font.stat().st_mtime_ns + 1_000_000))
    assert state.file_hash(font) == hashlib.sha256(b"GLYPHS").hexdigest() and read == [font, font]
    state.save()
    assert BuildState.load(tmp_path).hashes.keys() == {str(font)}
    (tmp_path / "other").write_bytes(b"x")
    state = BuildState.load(tmp_path)
    state.file_hash(tmp_path / "other")
    state.save()
    assert BuildState.load(tmp_path).hashes.keys() == {str(tmp_path / "other")}  # only what the last build read


def test_saving_the_state_encodes_only_the_records_that_changed(project, monkeypatch):
    """Each document's record is a line of state.json: a build after an edit copies the others' lines as
    read; the file reads back as what was recorded, whether it was written this way or by hand."""
    import json

    import pipeline.state
    from pipeline.state import BuildState

    build(project)
    path = project.state_dir / "state.json"
    before = path.read_text(encoding="utf-8").split("\n")
    encoded: list[object] = []
    real = pipeline.state._encode
    monkeypatch.setattr(pipeline.state, "_encode", lambda value: (encoded.append(value), real(value))[1])
    edit(project.content / "courses/rgpd-essentiel.yaml", "amount: 390", "amount: 420")
    report = build(project)
    assert sorted(report.rebuilt) == ["conformite/matrice-conformite", "programmes/rgpd-essentiel"]
    records = [value for value in encoded if isinstance(value, dict) and "inputs" in value]
    after = path.read_text(encoding="utf-8").split("\n")
    changed = sorted(line.split(":", 1)[0] for line in set(after) - set(before))
    # the first line (snapshot), the two documents, the web pages that show the price
    keys = [key for key in changed if not key.startswith("{")]
    assert len(keys) == len(changed) - 1 and {'"conformite/matrice-conformite"', '"programmes/rgpd-essentiel"',
                                              '"site/formations/rgpd-essentiel.html"'} <= set(keys)
    assert len(records) == len(keys) < 8, "the records rebuilt, not the others"
    state = BuildState._read(path)
    assert len(after) == len(before) == len(state.outputs) + 2 > ALL + 2  # the documents and the web pages
    assert {key: {"inputs": r.inputs, "files": r.files} for key, r in state.outputs.items()} == \
        json.loads("\n".join(after))["outputs"]
    # A state file written otherwise (by an older qualidoc, on one line) is read the same, then laid out again.
    path.write_text(json.dumps(json.loads(path.read_text(encoding="utf-8"))), encoding="utf-8")
    again = BuildState._read(path)
    assert again == state and all(record.text is None for record in again.outputs.values())
    again.save()
    assert path.read_text(encoding="utf-8").split("\n")[1:] == after[1:]  # (the first: hashes looked up)


def test_a_build_leaves_no_renderer_behind(tmp_path, monkeypatch):
    """Watch and the resident builder build again and again in one process: each build's renderer (with the
    parts, markup and trees of its long documents, tens of MB at N = 1000) is freed once the build is over.
    A `functools.cache` on one of its methods kept every one: the resident grew from 440 to 730 MB in 8 title
    edits at N = 1000."""
    import gc
    import weakref

    from pipeline import render
    from tests.helpers import copy_project, edit_yaml

    made: list[weakref.ref] = []
    original = render.Renderer.__init__

    def init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        made.append(weakref.ref(self))
        original(self, *args, **kwargs)

    monkeypatch.setattr(render.Renderer, "__init__", init)
    root = copy_project(tmp_path)
    project = Project.at(root)
    assert not build(project).failed
    for title in ("Excel : niveau avancé", "Excel : niveau expert"):  # the long documents name it
        edit_yaml(root / "content/courses/excel-perfectionnement.yaml", title=title)
        report = build(project)
        assert "intervenants/matrice-competences" in report.rebuilt and not report.failed
    gc.collect()
    assert len(made) >= 3 and [ref for ref in made if ref() is not None] == []
