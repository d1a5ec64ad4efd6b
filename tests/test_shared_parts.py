"""A full build reads a part met before in the same pandoc process only once (convert.lua, read_shared): the
tree, the PDF and the DOCX are those of the whole text read at once."""

from __future__ import annotations

import json
import subprocess
from importlib import resources
from pathlib import Path

import pytest

from pipeline import chunks, render
from pipeline.content import load_catalogue
from pipeline.history import load_history
from pipeline.pandoc_adapter import PANDOC_RTS, READER
from pipeline.plan import plan_project
from pipeline.project import Project
from pipeline.tools import pandoc_path

CONTACTS = "## Contacts\n\n- **Référente handicap** : Anne Moreau\n- **Accueil** : 01 23 45 67 89\n"
EVALUATION = ('## Évaluation\n\n::: {.table widths="1,3"}\n| Moment | Modalité |\n|---|---|\n'
              "| À l'entrée | Questionnaire de positionnement |\n| À la sortie | Mise en situation |\n:::\n")


def course(title: str, *, tail: str = "") -> str:
    return (f"# {title}\n\nUn paragraphe *propre* à {title}.\n\n- une liste\n- serrée\n\n"
            f"{CONTACTS}\n{EVALUATION}\n## Fin\n\nDernier paragraphe de {title}.{tail}")


LANDSCAPE_FIRST = "::: landscape\n| A | B |\n|---|---|\n| 1 | 2 |\n:::\n\n" + CONTACTS


def read(stage: Path, texts: dict[str, str], shared: bool) -> dict[str, dict]:
    """Have one `pandoc lua convert.lua` process read these documents, in this order, as a full build sends them
    (marked in parts, `shared`) or whole: each one's tree and its tree event."""
    stage.mkdir()
    (stage / "settings.json").write_text(json.dumps({"reader": READER, "prefix": "t-", "group": 20}))
    jobs = []
    for name, text in texts.items():
        parts = chunks.split(text) if shared else None
        (stage / f"{name}.md").write_text(chunks.marked(parts) if parts else text, encoding="utf-8")
        jobs.append(json.dumps({"markdown": f"{name}.md", "tree": f"{name}.json", "python": True,
                                "shared": bool(parts), "alone": True}))
    with resources.as_file(resources.files("pipeline").joinpath("convert.lua")) as lua:
        done = subprocess.run([pandoc_path(), *PANDOC_RTS, "lua", str(lua), "settings.json"], cwd=stage,
                              input="\n".join(jobs) + "\n", capture_output=True, text=True, check=True)
    events = {event["markdown"].removesuffix(".md"): event
              for event in map(json.loads, done.stdout.splitlines()) if event["event"] == "tree"}
    return {name: {"tree": tree_of(stage / f"{name}.json"), "event": events[name]} for name in texts}


def tree_of(path: Path) -> dict:
    """A document's tree from its file: one document per line, one per part when read in parts."""
    lines = [json.loads(line) for line in path.read_bytes().splitlines()]
    assert all(line.keys() == {"pandoc-api-version", "meta", "blocks"} for line in lines)
    return {**lines[0], "blocks": [block for line in lines for block in line["blocks"]], "lines": len(lines)}


def test_parts_met_before_are_not_read_again_and_the_trees_are_those_of_the_whole_text(tmp_path):
    texts = {"a": course("Excel"), "b": course("Word"), "c": course("Access"),
             "twice": course("PowerPoint", tail="\n\n" + CONTACTS), "landscape": LANDSCAPE_FIRST,
             "inside": "# Suivi\n\n" + LANDSCAPE_FIRST, "again": LANDSCAPE_FIRST}
    whole = read(tmp_path / "whole", texts, shared=False)
    shared = read(tmp_path / "shared", texts, shared=True)
    for name in texts:
        assert {**shared[name]["tree"], "lines": 1} == whole[name]["tree"], name
        assert shared[name]["event"]["python"] is True
    assert whole["a"]["tree"]["lines"] == 1 and shared["a"]["tree"]["lines"] == 4  # one line per part
    # the contacts and the evaluation table: read in a (met once) and in b (met twice: held), taken in c
    assert shared["a"]["event"]["reused"] == 0 and shared["b"]["event"]["reused"] == 0
    assert shared["c"]["event"]["reused"] == 2
    assert shared["twice"]["event"]["reused"] == 3  # the contacts twice, the evaluation once
    # a document whose first block turns the page: the build is told it is the first, as when read whole
    first = shared["landscape"]["tree"]["blocks"][0]
    assert first["t"] == "Div" and ["first", "true"] in first["c"][0][2]
    assert shared["landscape"]["event"]["reused"] == 1  # its contacts
    # the same section inside another document is not (what is held is the part as read), and first again it is
    inside = shared["inside"]["tree"]["blocks"][1]
    assert inside["t"] == "Div" and inside["c"][0][2] == []
    assert ["first", "true"] in shared["again"]["tree"]["blocks"][0]["c"][0][2]
    assert shared["again"]["event"]["reused"] == 2
    # whole, nothing is said to be reused
    assert all("reused" not in whole[name]["event"] for name in texts)


def test_a_marker_that_is_not_between_two_blocks_has_the_document_read_whole(tmp_path):
    # a part whose fenced div is never closed swallows the marker after it: never cut like that by chunks.py,
    # but convert.lua checks, and reads the text whole rather than splice a wrong tree
    text = "## Un\n\n::: encadre\nTexte\n\n## Deux\n\nSuite.\n"
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "settings.json").write_text(json.dumps({"reader": READER, "prefix": "t-", "group": 20}))
    parts = ["## Un\n\n::: encadre\nTexte\n", "## Deux\n\nSuite.\n"]
    assert "\n".join(parts) == text
    (stage / "d.md").write_text(chunks.marked(parts), encoding="utf-8")
    (stage / "w.md").write_text(text, encoding="utf-8")
    jobs = [{"markdown": "d.md", "tree": "d.json", "python": True, "shared": True, "alone": True},
            {"markdown": "w.md", "tree": "w.json", "python": True, "alone": True}]
    with resources.as_file(resources.files("pipeline").joinpath("convert.lua")) as lua:
        done = subprocess.run([pandoc_path(), *PANDOC_RTS, "lua", str(lua), "settings.json"], cwd=stage,
                              input="".join(json.dumps(job) + "\n" for job in jobs), capture_output=True,
                              text=True, check=True)
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert tree_of(stage / "d.json") == tree_of(stage / "w.json")
    assert chunks.MARKER not in (stage / "d.json").read_text(encoding="utf-8")
    assert [event for event in events if event["event"] == "tree"][0] == {"event": "tree", "markdown": "d.md",
                                                                          "python": True}  # read whole


def rendered(project: Project, shared: bool, monkeypatch: pytest.MonkeyPatch, held: list | None = None
             ) -> dict[str, bytes]:
    """Every file of a full render of the project: `programmes/x.pdf` → its bytes; `held`: the parts the build
    parsed once for several documents."""
    monkeypatch.setattr(render, "SHARED_READS", shared)
    catalogue = load_catalogue(project.content, project.root)
    documents = plan_project(project, catalogue, load_history(project.content))
    files: dict[str, bytes] = {}
    renderer = render.Renderer(project, catalogue, reuse=False)
    for outcome in renderer.render(documents):
        assert not isinstance(outcome, render.Failed), outcome
        if isinstance(outcome, render.Ready):  # a PDF done before its DOCX
            files[f"{outcome.document.path}.pdf"] = outcome.data
        else:
            files[f"{outcome.document.path}.docx"] = outcome.docx
            files.update({f"{outcome.document.path}.pdf": outcome.pdf} if outcome.pdf else {})
    if held is not None:
        held.extend(renderer.parsed_parts)
    return files


def test_a_full_build_of_the_sample_reads_its_shared_parts_once_and_writes_the_same_bytes(project, monkeypatch):
    sent: list[dict] = []
    real = render.Pandoc.send
    monkeypatch.setattr(render.Pandoc, "send", lambda self, *args, **kw: (sent.append(kw), real(self, *args, **kw))[1])
    held: list[bytes] = []
    shared = rendered(project, True, monkeypatch, held)
    assert any(kw.get("shared") for kw in sent)
    assert held  # parsed once, taken by the other documents that hold them
    alone: list[bytes] = []
    assert shared == rendered(project, False, monkeypatch, alone)
    assert not alone
    assert len(shared) == 2 * (2 * len(list((project.content / "courses").glob("*.yaml"))) + 3)
    assert all(data for data in shared.values())


def test_a_large_document_s_parts_are_read_by_batches_and_give_the_lines_they_give_one_by_one(tmp_path):
    # the skills matrix's shape: a section that turns the page first, then a part per trainer
    trainers = "".join(f"## Intervenant {n}\n\nUn CV *court* numéro {n}, {'avec du texte ' * 40}.\n\n- un diplôme\n"
                       f"- une expérience\n\n" for n in range(60))
    texts = {"matrix": LANDSCAPE_FIRST + "\n" + trainers, "log": "# Registre\n\nIntroduction.\n\n" + trainers}
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "settings.json").write_text(json.dumps({"reader": READER, "prefix": "t-", "group": 20}))
    jobs, counts = [], {}
    for name, text in texts.items():
        parts = chunks.split(text)
        assert parts is not None and len(parts) > 60
        counts[name] = len(parts)
        (stage / f"{name}.md").write_text(chunks.marked(parts), encoding="utf-8")
        for way, python in (("batches", True), ("one-by-one", False)):  # without python: read_in_parts
            jobs.append({"markdown": f"{name}.md", "tree": f"{name}-{way}.json", "parts": True, "python": python,
                         "alone": True})
    with resources.as_file(resources.files("pipeline").joinpath("convert.lua")) as lua:
        done = subprocess.run([pandoc_path(), *PANDOC_RTS, "lua", str(lua), "settings.json"], cwd=stage,
                              input="".join(json.dumps(job) + "\n" for job in jobs), capture_output=True,
                              text=True, check=True)
    trees = [json.loads(line) for line in done.stdout.splitlines() if json.loads(line)["event"] == "tree"]
    for name in texts:
        batched = (stage / f"{name}-batches.json").read_bytes()
        assert batched == (stage / f"{name}-one-by-one.json").read_bytes()
        assert len(batched.splitlines()) == counts[name]
        event = next(t for t in trees if t["markdown"] == f"{name}.md" and t.get("python"))
        assert 1 <= event["reads"] < counts[name] / 4
    first = json.loads((stage / "matrix-batches.json").read_bytes().splitlines()[0])["blocks"][0]
    assert first["t"] == "Div" and ["first", "true"] in first["c"][0][2]
