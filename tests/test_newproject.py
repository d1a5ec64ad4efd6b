"""A new organisation from zero: the wheel, `qualidoc init`, default templates overridden file by file, the
editor's schemas, CI and pre-commit files, PDF/A, publishing a commit, and a French interface."""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pypdf
import pytest
import yaml

from pipeline.build import build
from pipeline.cli import _parser, main
from pipeline.project import Project
from tests.helpers import REPO, copy_project, docx_text, edit, pdf_text, planned

SKELETON = REPO / "pipeline" / "skeleton"


# 1. The wheel, installed where there is only Python --------------------------------------------------------

def test_the_wheel_installs_and_builds_a_new_project(tmp_path):
    """Build the wheel, install it into a fresh virtual environment, `init` a project with flags, build it.

    The new environment gets the wheel alone (`--no-deps`); the libraries qualidoc depends on are read from the
    test environment's site-packages (a path, not its `.pth` files: this checkout's editable install stays out),
    so the test needs no network. The project has no templates/: every document comes from the wheel's own.
    """
    # Built from a copy of the sources: setuptools writes build/lib and *.egg-info next to them, and this
    # checkout's build/ holds the sample's documents.
    source = tmp_path / "source"
    for name in ("pipeline", "templates"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    wheels = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(wheels), str(source)],
                   check=True, capture_output=True, cwd=tmp_path)
    [wheel] = wheels.glob("qualidoc-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--disable-pip-version-check", str(wheel)], check=True, capture_output=True)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    qualidoc = venv / "bin" / "qualidoc"

    def run(*args: str, cwd: Path = tmp_path) -> str:
        result = subprocess.run([str(qualidoc), *args], cwd=cwd, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        return result.stdout

    import pipeline

    assert run("--version").strip() == f"qualidoc {pipeline.__version__}"
    installed = subprocess.run([str(python), "-c", "import pipeline; print(pipeline.__file__)"],
                               capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert installed.startswith(str(site)), "the wheel's package, not this checkout's"
    run("init", "demo", "--nom", "Formations Démo SAS", "--siret", "12345678901234", "--nda", "11755555555",
        "--referent-handicap", "Alice Martin", "--courriel-referent", "handicap@demo.example")
    demo = tmp_path / "demo"
    assert not (demo / "templates").exists()
    out = run("build", cwd=demo)
    documents = planned(demo)
    assert f"{len(documents)} documents : {len(documents)} reconstruits" in out
    for path in documents:
        assert (demo / "build" / f"{path}.pdf").stat().st_size > 1000
        assert (demo / "build" / f"{path}.docx").stat().st_size > 1000
    assert "Formations Démo SAS" in pdf_text(demo / "build/programmes/exemple-formation.pdf")
    assert "Formations Démo SAS" in (demo / "build/site/index.html").read_text(encoding="utf-8")
    organisation = yaml.safe_load((demo / "content/organisation.yaml").read_text(encoding="utf-8"))
    assert organisation["siret"] == "12345678901234"
    assert organisation["disability_referent"] == {"name": "Alice Martin", "email": "handicap@demo.example"}


# 2. `qualidoc init` ----------------------------------------------------------------------------------------

def test_init_writes_a_project_that_builds_and_never_overwrites(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "neuf").mkdir()
    (tmp_path / "neuf/README.md").write_text("Notre propre README\n", encoding="utf-8")
    assert main(["init", "neuf", "--sans-questions"]) == 0
    out = capsys.readouterr().out
    assert "conservé (existe déjà) : README.md" in out and "créé : content/organisation.yaml" in out
    root = tmp_path / "neuf"
    assert (root / "README.md").read_text(encoding="utf-8") == "Notre propre README\n"
    for name in (".gitignore", ".github/workflows/qualidoc.yml", ".gitlab-ci.yml", "requirements.txt",
                 ".vscode/settings.json", "schemas/course.schema.json", "content/courses/exemple-formation.yaml",
                 "content/trainers/exemple-intervenant.yaml", "content/improvements/exemple-veille.yaml"):
        assert (root / name).is_file(), name
    organisation = (root / "content/organisation.yaml").read_text(encoding="utf-8")
    keys = [line for line in organisation.splitlines() if re.match(r"#? ?[a-z_]+:", line)]
    for line, previous in zip(organisation.splitlines()[1:], organisation.splitlines()):
        if line in keys:
            assert previous.startswith("# ") and not re.match(r"# [a-z_]+:", previous), f"no comment above {line}"
    assert "name: Neuf" in organisation and "# siret:" in organisation
    organisation_edited = organisation + "\n"
    (root / "content/organisation.yaml").write_text(organisation_edited, encoding="utf-8")
    monkeypatch.chdir(root)
    assert main(["build"]) == 0
    documents = [p.relative_to(root / "build").as_posix() for p in (root / "build").rglob("*.pdf")]
    assert sorted(p for p in documents if not p.startswith("site/")) == sorted(f"{path}.pdf" for path in planned(root))
    assert (root / "build/site/formations/exemple-formation.html").is_file()  # the web catalogue too
    monkeypatch.chdir(tmp_path)
    assert main(["init", "neuf", "--sans-questions"]) == 0
    assert "créé" not in capsys.readouterr().out
    assert (root / "content/organisation.yaml").read_text(encoding="utf-8") == organisation_edited


def test_init_asks_in_french_and_checks_the_answers(tmp_path, capsys):
    from pipeline.starter import QUESTIONS, ask_missing, create_project

    answers = iter(["Formavenir SARL", "123", "12345678901234", "", "", "", "", "Nadia Roussel", ""])
    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return next(answers)

    given = ask_missing({q.option: None for q in QUESTIONS}, ask)
    assert given["nom"] == "Formavenir SARL" and given["siret"] == "12345678901234" and given["nda"] is None
    assert "attendu : 14 chiffres" in capsys.readouterr().out  # « 123 » was asked again
    assert asked[0].strip() == "Raison sociale de l'organisme :"
    create_project(tmp_path / "p", given, today=dt.date(2026, 12, 1))
    organisation = yaml.safe_load((tmp_path / "p/content/organisation.yaml").read_text(encoding="utf-8"))
    assert organisation["name"] == "Formavenir SARL" and organisation["disability_referent"]["name"] == "Nadia Roussel"
    with pytest.raises(Exception, match="attendu : 11 chiffres"):
        create_project(tmp_path / "q", {"nda": "12"})


# 3. Default templates, overridden file by file -------------------------------------------------------------

def test_a_project_without_templates_uses_qualidocs_and_overrides_one_file(tmp_path):
    shutil.copytree(REPO / "content", tmp_path / "content")
    project = Project.at(tmp_path)
    assert not build(project).failed
    programme = tmp_path / "build/programmes/rgpd-essentiel.docx"
    assert "Informations clés" in docx_text(programme)
    (tmp_path / "templates").mkdir()
    shutil.copy(REPO / "templates/programme.md.j2", tmp_path / "templates/programme.md.j2")
    edit(tmp_path / "templates/programme.md.j2", "## Informations clés", "## L'essentiel")
    report = build(Project.at(tmp_path))
    showing = [p for p in planned(tmp_path) if p.startswith("programmes/")]
    assert sorted(report.rebuilt) == sorted([*showing, "conformite/matrice-conformite"])  # the check reads it too
    assert "L'essentiel" in docx_text(programme) and "Informations clés" not in docx_text(programme)
    reason = report.reasons["programmes/rgpd-essentiel"]
    assert "templates/programme.md.j2" in reason and "(nouveau)" not in reason.split("programme.md.j2")[0]
    (tmp_path / "templates/programme.md.j2").unlink()  # back to the default
    assert sorted(build(Project.at(tmp_path)).rebuilt) == sorted(report.rebuilt)
    assert "Informations clés" in docx_text(programme)


# 4. The editor's schemas -----------------------------------------------------------------------------------

def _as_editor_reads(value):  # type: ignore[no-untyped-def]
    """YAML as the editor's YAML server reads it (YAML 1.2: a date stays a string)."""
    if isinstance(value, dict):
        return {k: _as_editor_reads(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_editor_reads(v) for v in value]
    return value.isoformat() if isinstance(value, dt.date) else value


def test_the_schemas_validate_the_sample_and_agree_with_the_model(tmp_path, monkeypatch):
    import jsonschema
    from pydantic import BaseModel

    from pipeline import model
    from pipeline.schema import KINDS, nested_model

    monkeypatch.chdir(tmp_path)
    assert main(["schema"]) == 0
    schemas = {kind: json.loads((tmp_path / f"schemas/{kind}.schema.json").read_text(encoding="utf-8"))
               for kind in KINDS}
    folders = {"organisation": ["organisation.yaml"], "course": ["courses/*.yaml"], "trainer": ["trainers/*.yaml"],
               "improvement": ["improvements/*.yaml"]}
    checked = 0
    for kind, patterns in folders.items():
        validator = jsonschema.Draft202012Validator(schemas[kind])
        for pattern in patterns:
            for path in sorted((REPO / "content").glob(pattern)):
                data = _as_editor_reads(yaml.safe_load(path.read_text(encoding="utf-8")))
                errors = [f"{path.name}: {'/'.join(map(str, e.path))}: {e.message}"
                          for e in validator.iter_errors(data)]
                assert not errors, errors
                checked += 1
    assert checked >= 20
    wrong = _as_editor_reads(yaml.safe_load((REPO / "content/courses/rgpd-essentiel.yaml").read_text("utf-8")))
    wrong["format"], wrong["duree"] = "en ligne", 7
    messages = [e.message for e in jsonschema.Draft202012Validator(schemas["course"]).iter_errors(wrong)]
    assert len(messages) == 2, messages  # the schema can fail: an unknown value, an unknown key

    def agree(cls: type[BaseModel], schema: dict, defs: dict, where: str) -> None:
        assert set(schema["properties"]) == set(cls.model_fields), where
        assert set(schema.get("required", [])) == {n for n, f in cls.model_fields.items() if f.is_required()}, where
        assert schema.get("additionalProperties") is False, where
        for name, info in cls.model_fields.items():
            prop = schema["properties"][name]
            assert info.description and info.description in prop["description"], f"{where}.{name}"
            assert prop["title"] and info.description.startswith(prop["title"]), f"{where}.{name}: French title"
            inner = nested_model(info)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                agree(inner, defs[inner.__name__], defs, f"{where}.{name}")

    for kind, name in KINDS.items():
        cls = getattr(model, name)
        agree(cls, schemas[kind], schemas[kind].get("$defs", {}), kind)
        assert schemas[kind]["title"] == cls.model_config["title"]
    course = schemas["course"]["properties"]
    assert "présentiel" in json.dumps(course["format"], ensure_ascii=False)  # what the loader accepts, too
    assert any("examples" in p for p in course.values())


def test_init_wires_the_schemas_for_vs_code(tmp_path):
    from pipeline.starter import create_project

    create_project(tmp_path, {"nom": "Démo"})
    settings = json.loads((tmp_path / ".vscode/settings.json").read_text(encoding="utf-8"))
    for schema, globs in settings["yaml.schemas"].items():
        assert (tmp_path / schema).is_file()
        assert any(list(tmp_path.glob(g)) for g in globs) or "yml" in globs[0] or globs
    course = tmp_path / "content/courses/exemple-formation.yaml"
    first = course.read_text(encoding="utf-8").splitlines()[0]
    target = first.split("$schema=")[1]
    assert first.startswith("# yaml-language-server: $schema=") and (course.parent / target).resolve().is_file()


# 5. CI and pre-commit --------------------------------------------------------------------------------------

def _qualidoc_commands(script: str) -> list[list[str]]:
    """The `qualidoc …` invocations of a shell script, each cut at its first shell operator."""
    commands = []
    for line in script.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True) if "qualidoc" in line else []
        for start in [i for i, w in enumerate(words) if w == "qualidoc"]:
            command = []
            for word in words[start + 1:]:
                if word in (">", ">>", "|", "&&", ";", "||") or word.startswith(">"):
                    break
                command.append(re.sub(r"\$\{?\w+\}?", "x", word))
            commands.append(command)
    return commands


def _assert_parses(command: list[str]) -> None:
    try:
        _parser().parse_args(command)
    except SystemExit:
        pytest.fail(f"`qualidoc {' '.join(command)}` is not a valid command")


def test_ci_files_parse_and_name_commands_that_exist():
    github = yaml.safe_load((SKELETON / "ci/github.yml").read_text(encoding="utf-8"))
    steps = github["jobs"]["documents"]["steps"]
    scripts = [step["run"] for step in steps if "run" in step]
    gitlab = yaml.safe_load((SKELETON / "ci/gitlab.yml").read_text(encoding="utf-8"))
    for job in ("documents", "revue"):
        scripts += gitlab[job]["script"]
    commands = [c for script in scripts for c in _qualidoc_commands(script)]
    for command in commands:
        _assert_parses(command)
    names = [c[0] for c in commands]
    assert names.count("check") == 2 and names.count("build") == 2 and names.count("diff") == 2
    assert all("--format" in c and "markdown" in c for c in commands if c[0] == "diff")
    uploads = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact")]
    assert "build/**/*.pdf" in uploads[0]["with"]["path"] and "build/**/*.docx" in uploads[0]["with"]["path"]
    assert "build/**/*.pdf" in gitlab["documents"]["artifacts"]["paths"]
    assert github["permissions"]["pull-requests"] == "write"
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    [hook] = hooks
    assert hook["language"] == "python" and hook["pass_filenames"] is False
    assert shlex.split(hook["entry"])[0] == "qualidoc"
    _assert_parses(shlex.split(hook["entry"])[1:])


# 6. PDF/A ---------------------------------------------------------------------------------------------------

def _pdfa_identification(path: Path) -> tuple[str, str] | None:
    """The PDF/A part and conformance the PDF's XMP metadata declares, or None."""
    reader = pypdf.PdfReader(str(path))
    metadata = reader.trailer["/Root"].get("/Metadata")
    if metadata is None:
        return None
    xmp = metadata.get_object().get_data().decode("utf-8")
    part = re.search(r"<pdfaid:part>(\d)</pdfaid:part>|pdfaid:part=\"(\d)\"", xmp)
    conformance = re.search(r"<pdfaid:conformance>(\w)</pdfaid:conformance>|pdfaid:conformance=\"(\w)\"", xmp)
    if not part or not conformance:
        return None
    return next(filter(None, part.groups())), next(filter(None, conformance.groups()))


def test_pdfa_from_the_command_line_and_from_organisation_yaml(tmp_path, monkeypatch):
    root = copy_project(tmp_path)
    monkeypatch.chdir(root)
    assert main(["build"]) == 0
    pdf = root / "build/programmes/rgpd-essentiel.pdf"
    assert _pdfa_identification(pdf) is None
    assert main(["build", "--pdfa"]) == 0
    for path in planned(root):
        assert _pdfa_identification(root / "build" / f"{path}.pdf") == ("2", "A"), path
    reader = pypdf.PdfReader(str(pdf))
    assert "/StructTreeRoot" in reader.trailer["/Root"] and reader.trailer["/Root"]["/MarkInfo"]["/Marked"]
    assert "Logo de Formavenir" in str(reader.trailer["/Root"]["/StructTreeRoot"].get_object()) or \
        b"Logo de Formavenir" in pdf.read_bytes()  # the logo's alternative text, required by PDF/A-2a
    edit(root / "content/organisation.yaml", "name: Formavenir Conseil SARL",
         "name: Formavenir Conseil SARL\npdf_archive: 2b")
    assert main(["build"]) == 0
    assert _pdfa_identification(pdf) == ("2", "B")
    assert main(["build", "--pdfa", "2u"]) == 0  # the command line wins
    assert _pdfa_identification(pdf) == ("2", "U")


# 7. Publishing a commit's documents ------------------------------------------------------------------------

def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


def test_publish_writes_the_documents_of_a_commit_stamped_with_it(tmp_path, monkeypatch, capsys):
    root = copy_project(tmp_path / "repo")
    git(root, "init", "-q")
    git(root, "-c", "user.name=T", "-c", "user.email=t@example.org", "add", "-A")
    git(root, "-c", "user.name=T", "-c", "user.email=t@example.org", "commit", "-qm", "contenu")
    short = git(root, "log", "-1", "--format=%h")
    edit(root / "content/courses/rgpd-essentiel.yaml", 'title: "', 'title: "Brouillon – ')
    monkeypatch.chdir(root)
    assert main(["build"]) == 0
    assert "version de travail" in pdf_text(root / "build/programmes/rgpd-essentiel.pdf")
    assert main(["publish"]) == 0
    out = capsys.readouterr().out
    assert "non validées" in out and f"commit {short}" in out
    published = root / "publication"
    files = sorted(p.relative_to(published).as_posix() for p in published.rglob("*") if p.is_file())
    assert files == sorted(f"{path}.{ext}" for path in planned(root) for ext in ("docx", "pdf"))
    text = pdf_text(published / "programmes/rgpd-essentiel.pdf")
    assert f"({short})" in text and "version de travail" not in text and "Brouillon" not in text
    assert f"({short})" in docx_text(published / "programmes/rgpd-essentiel.docx")
    assert not list(published.rglob(".*")) and git(root, "worktree", "list").count("\n") == 0
    # The next commit removes a course: its documents leave the publication folder.
    git(root, "rm", "-q", "content/courses/prise-de-parole.yaml")
    git(root, "-c", "user.name=T", "-c", "user.email=t@example.org", "commit", "-qm", "retrait")
    assert main(["publish"]) == 0
    assert not (published / "programmes/prise-de-parole.pdf").exists()
    assert not (published / "positionnement/prise-de-parole.docx").exists()
    assert (published / "programmes/excel-perfectionnement.pdf").exists()
    assert main(["publish", "inconnue"]) == 1
    assert "révision « inconnue » inconnue de git" in capsys.readouterr().err


# 8. One language for users ---------------------------------------------------------------------------------

ENGLISH = {"the", "and", "of", "to", "with", "from", "this", "that", "show", "exit", "usage", "default", "optional",
           "positional", "message", "print", "run", "which", "when", "only", "each", "every", "not", "file", "folder",
           "build", "changed", "error", "help", "documents that", "write", "output", "check", "is", "are", "or"}


def _words(text: str) -> set[str]:
    """The words of a help text, leaving out what stays as typed: options, commands, keys, choices, paths."""
    text = re.sub(r"`[^`]*`|'[^' ]*'|\{[^}]*\}|(?<!\w)-[-\w]+|qualidoc \w+|\./\S+|\S+/\S*|\S+\.(yaml|json|docx|pdf)",
                  " ", text)
    return set(re.findall(r"[^\W\d_]+", text.lower()))


def test_every_help_is_in_french(capsys):
    commands = ["", *_parser()._subparsers._group_actions[0].choices]  # type: ignore[union-attr]
    assert {"init", "build", "watch", "check", "diff", "publish", "schema", "fields", "git-setup"} <= set(commands)
    for command in commands:
        with pytest.raises(SystemExit) as ended:
            main([command, "--help"] if command else ["--help"])
        assert ended.value.code == 0
        text = capsys.readouterr().out
        assert text.startswith("utilisation : qualidoc"), text[:80]
        english = (_words(text) - set(commands)) & ENGLISH
        assert not english, f"qualidoc {command} --help: {sorted(english)}"
    for argv, expected in ((["frobnicate"], "choix invalide"), (["build", "--jobs", "x"], "nombre entier attendu"),
                           (["check", "--as-of", "hier"], "AAAA-MM-JJ"), (["diff", "--bogus"], "arguments inconnus")):
        with pytest.raises(SystemExit):
            main(argv)
        err = capsys.readouterr().err
        assert "erreur :" in err and expected in err and not (_words(err.split("erreur :", 1)[1]) & ENGLISH), err


def test_messages_of_a_broken_project_are_in_french(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["build"]) == 1
    assert "pas de dossier content/" in capsys.readouterr().err
    root = copy_project(tmp_path / "p")
    monkeypatch.chdir(root)
    assert main(["git-setup"]) == 1
    assert "n'est pas dans un dépôt git" in capsys.readouterr().err
    edit(root / "templates/programme.md.j2", "# {{ course.title }}", "# {{ course.titre }}")
    assert main(["build"]) == 1
    out, err = capsys.readouterr()
    assert "en échec" in out and "erreur dans un modèle" in err and "documents :" in out
