"""What a document reads is recorded while it renders: a field shown by a template rebuilds the document when
it changes, and only the documents that show it; the package has no import cycle."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from pipeline.build import build
from pipeline.content import load_catalogue
from pipeline.document_kinds import KINDS
from pipeline.inputs import CatalogueView, Reads
from pipeline.plan import plan_project
from pipeline.project import Project
from pipeline.render import Renderer
from tests.helpers import REPO, copy_project, edit_yaml

PACKAGE = REPO / "pipeline"
COURSE = "rgpd-essentiel"
TRAINER = "sophie-lefebvre"

# How each kind's template can show a field of a course or of a trainer: what the kind's context offers.
SHOW = {
    "programme": {"course": "{{{{ course.{field} }}}}"},
    "positionnement": {"course": "{{{{ course.{field} }}}}"},
    "matrice-competences": {"course": "{{% for id, c in courses.items() %}}{{{{ c.{field} }}}} {{% endfor %}}",
                            "trainer": "{{% for id, t in trainers.items() %}}{{{{ t.{field} }}}} {{% endfor %}}"},
    "registre-amelioration": {"course": "{{{{ courses['{course}'].{field} }}}}"},
    "programme+trainer": {"trainer": "{{% for t in trainers %}}{{{{ t.{field} }}}} {{% endfor %}}"},
}
# Text fields the sample states and no template shows today, so that showing one is a new read.
FIELDS = {"course": ["location", "engagement", "summary"], "trainer": ["role", "email"]}
CASES = [(kind, subject, field) for kind, ways in SHOW.items() for subject in ways for field in FIELDS[subject]]


def _markdown(project: Project) -> dict[str, str]:
    """Each document's Markdown and identity, rendered without the build: the oracle of what changed."""
    catalogue = load_catalogue(project.content, project.root)
    renderer = Renderer(project, catalogue, 1)
    return {d.path: f"{d.title}\n{d.reference}\n{renderer.markdown(d)}" for d in plan_project(project, catalogue)}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("inputs"))
    build(Project.at(root))
    return root


@pytest.mark.parametrize(("kind", "subject", "field"), CASES, ids=[f"{k}-{f}" for k, _, f in CASES])
def test_a_field_shown_by_a_template_rebuilds_the_documents_that_show_it_and_only_them(built, tmp_path, kind,
                                                                                          subject, field):
    import shutil

    root = tmp_path / "p"
    shutil.copytree(built, root, symlinks=True)
    project = Project.at(root)
    target = kind.split("+")[0]
    of_kind = [d for d in plan_project(project, load_catalogue(project.content, root)) if d.kind == target]
    path = project.templates / of_kind[0].template
    path.write_text(path.read_text(encoding="utf-8") + "\n\nChamp ajouté : "
                    + SHOW[kind][subject].format(field=field, course=COURSE) + "\n", encoding="utf-8")
    first = build(project)
    assert not first.failed and {d.path for d in of_kind} <= set(first.rebuilt)  # its template changed
    before = _markdown(project)

    source = project.content / (f"courses/{COURSE}.yaml" if subject == "course" else f"trainers/{TRAINER}.yaml")
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    data[field] = f"{data.get(field) or ''} – valeur modifiée"
    source.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    after = _markdown(project)
    changed = {path for path in after if before.get(path) != after[path]}
    report = build(project)

    shown_in = {d for d in changed if d in {doc.path for doc in of_kind}}
    assert shown_in, "the edited field must show in the document whose template was changed"
    assert not report.failed
    # Every document whose text changed is rebuilt; none other, but the conformity matrix, which reads all.
    assert set(report.rebuilt) - {"conformite/matrice-conformite"} == changed - {"conformite/matrice-conformite"}
    assert f"#{field}" in " ".join(report.reasons[d] for d in shown_in)


def test_reads_are_recorded_field_by_field(catalogue):
    reads = Reads()
    view = CatalogueView(catalogue, reads)
    course = view.courses[COURSE]
    assert course.title == catalogue.courses[COURSE].title
    assert course.certifying == catalogue.courses[COURSE].certifying  # a property: the fields it reads
    assert f"courses/{COURSE}#title" in reads.names and "courses/*" not in reads.names
    assert f"courses/{COURSE}" not in reads.names  # never the whole file for a field or a property
    assert any(name.startswith(f"courses/{COURSE}#certif") for name in reads.names)
    assert len(view.trainers) == len(catalogue.trainers) and "trainers/*" in reads.names
    with pytest.raises(AttributeError):
        course.title = "autre"


def test_the_state_keeps_what_each_document_read(built):
    import json

    state = json.loads((built / "build/.qualidoc/state.json").read_text(encoding="utf-8"))
    programme = state["outputs"][f"programmes/{COURSE}"]["inputs"]
    assert f"courses/{COURSE}#prices" in programme and "template:programme.md.j2" in programme
    assert "template:_labels.j2" in programme  # imported by the template: recorded as it loads
    assert "organisation#name" in programme and "template:style.typ" in programme
    assert not any(name.startswith("courses/") and COURSE not in name for name in programme)
    matrix = state["outputs"]["intervenants/matrice-competences"]["inputs"]
    assert "courses/*" in matrix and f"courses/{COURSE}#title" in matrix
    assert f"courses/{COURSE}#prices" not in matrix
    planned = {d.path for d in plan_project(Project.at(built), load_catalogue(built / "content", built))}
    documents = {key for key in state["outputs"] if not key.startswith(("site/", "lheo/"))}
    assert documents == planned  # besides the web catalogue's files and the LHÉO export, recorded alike
    assert "courses/*" in state["outputs"]["site/index.html"]["inputs"]


def _imports(path: Path) -> set[str]:
    """The pipeline modules a module imports when it runs (at its top or inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                 and "TYPE_CHECKING" in ast.unparse(block.test) for node in ast.walk(block)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pipeline."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.ImportFrom) and node.module == "pipeline":
            found |= {a.name for a in node.names if (PACKAGE / f"{a.name}.py").exists()}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("pipeline.")}
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for child in sorted(graph.get(module, ())):
            if state.get(child) == 1:
                return [*path[path.index(child):], child] if child in path else [module, child]
            if child not in state:
                found = visit(child, [*path, child])
                if found:
                    return found
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            found = visit(module, [module])
            if found:
                return found
    return None


def test_no_import_cycle_inside_the_package():
    graph = {p.stem: _imports(p) - {p.stem} for p in PACKAGE.glob("*.py")}
    assert _cycle(graph) is None, " → ".join(_cycle(graph) or [])
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]  # the test can fail


def test_loading_the_content_model_does_not_scan_the_installed_packages():
    """pydantic's plugin lookup reads every installed package's entry points (20 ms of each command)."""
    import os
    import subprocess
    import sys

    probe = ("import importlib.metadata as m\n"
             "calls = []\n"
             "real = m.distributions\n"
             "m.distributions = lambda *a, **k: (calls.append(1), real(*a, **k))[1]\n"
             "import pipeline.content, pipeline.model\n"
             "class Probe(pipeline.model.BaseModel):\n"
             "    x: int = 0\n"
             "print(len(calls))\n")
    env = {key: value for key, value in os.environ.items() if key != "PYDANTIC_DISABLE_PLUGINS"}
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, env=env, check=True)
    assert run.stdout.strip() == "0", run.stdout + run.stderr


def test_every_kind_is_planned_for_the_sample(catalogue):
    project = Project.at(REPO)
    planned = {d.kind for d in plan_project(project, catalogue)}
    assert planned == {kind.name for kind in KINDS}


def test_one_way_to_show_a_position_in_content():
    from pipeline.yamlfile import Item, field_path

    assert field_path(("objectives", 1)) == "objectives[2]"  # counted from 1, as people count
    assert field_path(("prices", Item("Inter-entreprises"), "amount")) == "prices[Inter-entreprises].amount"
    assert field_path(("modules", 0, "title")) == "modules[1].title"


def test_a_content_file_and_an_output_are_not_read_again_to_be_hashed(tmp_path, monkeypatch):
    """The hash of a content file comes from the bytes it was loaded from (kept in the parse cache), that of
    a document's PDF from what was recorded when it was written: after an edit, neither is read again."""
    import hashlib
    import json

    import pipeline.build
    import pipeline.state

    root = copy_project(tmp_path / "p")
    project = replace(Project.at(root), cache=tmp_path / "cache")
    assert not build(project).failed
    course = root / f"content/courses/{COURSE}.yaml"
    edit_yaml(course, summary="Un résumé modifié.")
    hashed: list[Path] = []
    real = pipeline.state.file_hash

    def spy(path: Path) -> str:
        hashed.append(Path(path))
        return real(path)

    monkeypatch.setattr(pipeline.build, "file_hash", spy)
    monkeypatch.setattr(pipeline.state, "file_hash", spy)
    report = build(project)
    assert not report.failed and f"programmes/{COURSE}" in report.rebuilt
    assert not [p for p in hashed if p.suffix == ".yaml" or p.is_relative_to(root / "build")], hashed
    state = json.loads((root / "build/.qualidoc/state.json").read_text(encoding="utf-8"))
    recorded = state["outputs"][f"programmes/{COURSE}"]["inputs"][f"@courses/{COURSE}"]
    assert recorded == hashlib.sha256(course.read_bytes()).hexdigest()  # what state.file_hash gives
    copy = state["outputs"][f"site/documents/{COURSE}.pdf"]["inputs"][f"output:programmes/{COURSE}.pdf"]
    assert copy == hashlib.sha256((root / f"build/programmes/{COURSE}.pdf").read_bytes()).hexdigest()


def test_a_parse_cache_entry_without_the_files_hash_is_read_again(tmp_path):
    """A cache written by an older qualidoc (no `sha256` beside the data) costs one read, not a wrong hash."""
    import hashlib
    import json

    root = copy_project(tmp_path / "p")
    cache = tmp_path / "parsed.json"
    load_catalogue(root / "content", root, cache=cache)
    entries = json.loads(cache.read_text(encoding="utf-8"))
    assert all(len(entry["sha256"]) == 64 for entry in entries.values())
    for entry in entries.values():
        del entry["sha256"]
    key = str(root / f"content/courses/{COURSE}.yaml")
    entries[key]["data"]["title"] = "Titre d'un cache périmé"  # read from the cache, it would show
    cache.write_text(json.dumps(entries), encoding="utf-8")
    catalogue = load_catalogue(root / "content", root, cache=cache)
    assert catalogue.courses[COURSE].title != "Titre d'un cache périmé"
    document = catalogue.documents[f"courses/{COURSE}"]
    assert document.sha256 == hashlib.sha256(Path(key).read_bytes()).hexdigest()
    assert all(len(entry["sha256"]) == 64 for entry in json.loads(cache.read_text(encoding="utf-8")).values())


def test_the_lines_kept_in_the_parse_cache_locate_a_field_even_damaged(tmp_path):
    """The parse cache keeps each file's lines packed, read only when a line is asked for (a problem to
    report); damaged, they cost a read of the file, never a wrong line."""
    import json

    from pipeline import yamlfile

    root = copy_project(tmp_path / "p")
    cache = tmp_path / "parsed.json"
    load_catalogue(root / "content", root, cache=cache)
    key = str(root / f"content/courses/{COURSE}.yaml")
    expected = 1 + Path(key).read_text(encoding="utf-8").splitlines().index("  hours: 7")
    entries = json.loads(cache.read_text(encoding="utf-8"))
    for lines in (entries[key]["lines"], '[[["duration", "hours"], 2', "[" * 100_000):
        entries[key]["lines"] = lines
        cache.write_text(json.dumps(entries), encoding="utf-8")
        yamlfile._REMEMBERED.clear()  # read from the JSON, as by another process
        catalogue = load_catalogue(root / "content", root, cache=cache)
        assert catalogue.documents[f"courses/{COURSE}"].packed == lines, "the document comes from the cache"
        assert catalogue.line_of(f"courses/{COURSE}", ("duration", "hours")) == expected
        assert catalogue.line_of(f"courses/{COURSE}", ("duration", "hours", 3)) == expected
