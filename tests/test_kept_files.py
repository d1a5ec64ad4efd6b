"""A document's files are kept in the user cache with what they were made from: after `make clean`, a
document whose Markdown, texts, style, fonts, reference DOCX and tools are the same takes them, the same
bytes, with neither pandoc nor typst; anything else renders it again."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace
from pathlib import Path

from pipeline.build import build
from pipeline.pandoc_adapter import Pandoc
from pipeline.project import Project
from pipeline.render import Renderer
from tests.helpers import copy_project, edit
from tests.test_chunks import sha, spy

PROGRAMME = "programmes/excel-perfectionnement"


def files_of(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): sha(p) for p in sorted(out.rglob("*"))
            if p.suffix in (".pdf", ".docx") and "site" not in p.parts}


def kept(cache: Path, path: str) -> Path:
    return cache / "files" / hashlib.sha256(path.encode()).hexdigest()[:16]


def test_after_make_clean_each_document_takes_its_kept_files(tmp_path, monkeypatch):
    root = copy_project(tmp_path / "p")
    project = replace(Project.at(root), cache=tmp_path / "cache")
    assert not build(project).failed
    first = files_of(project.out)
    assert len(first) >= 20
    sent: list[int] = []
    real = Pandoc.send
    monkeypatch.setattr(Pandoc, "send", lambda self, index, size, **kw: (sent.append(index),
                                                                          real(self, index, size, **kw))[1])
    laid_out = spy(monkeypatch, Renderer, "_pdf")

    shutil.rmtree(project.out)  # make clean
    report = build(project)
    assert not report.failed and len(report.rebuilt) == len(first) // 2
    assert not sent and not laid_out, "neither pandoc nor typst"
    assert files_of(project.out) == first

    # a damaged kept file: that document is rendered again, the same bytes, and kept again
    (kept(tmp_path / "cache", PROGRAMME) / "pdf").write_bytes(b"%PDF-1.7 damaged")
    shutil.rmtree(project.out)
    assert not build(project).failed
    assert len(sent) == 1 and len(laid_out) == 1
    assert files_of(project.out) == first
    sent.clear()
    laid_out.clear()
    shutil.rmtree(project.out)
    assert not build(project).failed and not sent and files_of(project.out) == first

    # `--force` renders every document again
    assert not build(project, force=True).failed
    assert len(laid_out) == len(first) // 2 and files_of(project.out) == first

    # what typst reads besides the Markdown: a change of the style renders every PDF again
    sent.clear()
    laid_out.clear()
    style = root / "templates/style.typ"
    style.write_text(style.read_text(encoding="utf-8") + "\n// une ligne de plus\n", encoding="utf-8")
    shutil.rmtree(project.out)
    assert not build(project).failed and len(laid_out) == len(first) // 2


def test_a_document_whose_content_changed_is_rendered_not_taken(tmp_path):
    root = copy_project(tmp_path / "p")
    project = replace(Project.at(root), cache=tmp_path / "cache")
    assert not build(project).failed
    before = files_of(project.out)
    edit(root / "content/courses/excel-perfectionnement.yaml", "Excel perfectionnement", "Excel, perfectionnement")
    shutil.rmtree(project.out)
    assert not build(project).failed
    after = files_of(project.out)
    changed = {name for name in after if after[name] != before[name]}
    assert f"{PROGRAMME}.pdf" in changed and f"{PROGRAMME}.docx" in changed
    assert "programmes/prise-de-parole.pdf" not in changed


def test_kept_files_are_handed_on_as_they_are_taken_not_held_until_the_end(tmp_path, monkeypatch):
    """A document given its kept files is written before the next document's Markdown is rendered: at
    N = 1000, holding them all until the last Markdown was 280 MB of PDFs in memory (655 MB peak)."""
    root = copy_project(tmp_path / "p")
    project = replace(Project.at(root), cache=tmp_path / "cache")
    assert not build(project).failed
    shutil.rmtree(project.out)  # make clean: every document comes from its kept files
    rendered: list[str] = []
    real_markdown = Renderer.markdown
    monkeypatch.setattr(Renderer, "markdown", lambda self, d: (rendered.append(d.path), real_markdown(self, d))[1])
    real_render = Renderer.render
    seen: list[int] = []  # how many Markdowns were rendered when each document came out

    def render(self, documents, *args, **kwargs):
        for outcome in real_render(self, documents, *args, **kwargs):
            seen.append(len(rendered))
            yield outcome

    monkeypatch.setattr(Renderer, "render", render)
    report = build(project)
    assert not report.failed and len(seen) >= len(rendered) >= 15
    assert seen[0] <= 2, f"the first document came out after {seen[0]} Markdowns of {len(rendered)}"
    assert sum(count < len(rendered) for count in seen) >= len(rendered) - 2


def test_the_parsed_content_cache_is_written_while_the_documents_are_made(tmp_path, monkeypatch):
    """After an edit, the cache of parsed content (parsed.json, 1.5 MB at N = 100) is written once every
    Markdown is handed over, while pandoc and typst work, not before the first document's Markdown."""
    root = copy_project(tmp_path / "p")
    project = replace(Project.at(root), cache=tmp_path / "cache")
    assert not build(project).failed
    parsed = project.cache_dir / "parsed.json"
    before = parsed.read_bytes()
    edit(root / "content/courses/excel-perfectionnement.yaml", "title: \"", "title: \"Nouvel intitulé – ")
    seen: list[bool] = []
    real = Renderer.markdown
    monkeypatch.setattr(Renderer, "markdown", lambda self, document: (seen.append(parsed.read_bytes() == before),
                                                                      real(self, document))[1])
    assert not build(project).failed
    assert seen and all(seen), "not written yet when the Markdown is rendered"
    assert parsed.read_bytes() != before and "Nouvel intitulé" in parsed.read_text(encoding="utf-8")


def test_files_written_by_line_are_written_a_line_at_a_time_and_read_back_whole(tmp_path):
    """state.json and parsed.json (25 and 15 MB at N = 1000) go to the disk a line at a time: their whole
    text, and its bytes, are never in memory beside the lines they are made of."""
    import json
    import types

    from pipeline.state import by_line, line_texts, write_atomic

    members = [("a", '{"x":1}'), ("é/b", '"texte"'), ("c", "[1,2]")]
    lines = by_line('{"version":3,"outputs":{', members, "}}", ascii_keys=False)
    assert isinstance(lines, types.GeneratorType)
    path = tmp_path / "state.json"
    write_atomic(path, lines)
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == {"version": 3, "outputs": {"a": {"x": 1}, "é/b": "texte", "c": [1, 2]}}
    assert line_texts(text, ["a", "é/b", "c"], "}}", ascii_keys=False) == ['{"x":1}', '"texte"', "[1,2]"]
    write_atomic(path, by_line("{", [], "}"))
    assert json.loads(path.read_text(encoding="utf-8")) == {} and line_texts(path.read_text(), [], "}") == []


def test_the_parsed_content_cache_is_written_again_from_its_unchanged_lines(tmp_path, monkeypatch):
    """parsed.json holds a content file a line: after an edit, the line of the edited file is encoded again,
    the others are copied as read; a file laid out otherwise (an older qualidoc's) is read, then rewritten."""
    import json

    root = copy_project(tmp_path / "p")
    project = replace(Project.at(root), cache=tmp_path / "cache")
    assert not build(project).failed
    parsed = project.cache_dir / "parsed.json"
    before = parsed.read_text(encoding="utf-8").split("\n")
    files = len(list((root / "content").rglob("*.yaml")))
    assert len(before) == files + 2 and before[0] == "{" and before[-1] == "}"
    encoded: list[object] = []
    real = json.dumps
    monkeypatch.setattr(json, "dumps", lambda value, **k: (encoded.append(value), real(value, **k))[1])
    edit(root / "content/courses/excel-perfectionnement.yaml", "title: \"", "title: \"Nouvel intitulé – ")
    assert not build(project).failed
    monkeypatch.setattr(json, "dumps", real)
    after = parsed.read_text(encoding="utf-8").split("\n")
    changed = [line for line in after if line not in before]
    assert len(changed) == 1 and "excel-perfectionnement.yaml" in changed[0] and "Nouvel intitulé" in changed[0]
    assert sum(isinstance(value, dict) and "lines" in value for value in encoded) == 1
    entries = json.loads("\n".join(after))
    parsed.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")  # one line, as qualidoc 0.1 wrote it
    edit(root / "content/courses/excel-perfectionnement.yaml", "Nouvel intitulé", "Autre intitulé")
    assert not build(project).failed
    again = parsed.read_text(encoding="utf-8").split("\n")
    assert len(again) == files + 2 and json.loads("\n".join(again)).keys() == entries.keys()
    assert [line for line in again if line not in after] == [line for line in again if "Autre intitulé" in line]


def test_an_edit_waits_for_the_disk_only_for_the_build_state(tmp_path, monkeypatch):
    """The files of build/ and of the user cache are written without waiting for the disk (fsync): a power
    cut that empties one costs a render, state.json (written durably, last) no longer matching it."""
    import os

    root = copy_project(tmp_path / "p")
    project = replace(Project.at(root), cache=tmp_path / "cache")
    assert not build(project).failed
    edit(root / "content/courses/excel-perfectionnement.yaml", "title: \"", "title: \"Nouvel intitulé – ")
    synced: list[str] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real(fd))[1])
    report = build(project)
    assert not report.failed and len(report.rebuilt) >= 3
    assert [Path(name).name.split(".")[1] for name in synced] == ["state"], synced


def test_a_user_cache_removed_between_two_builds_of_one_process_is_made_again(tmp_path):
    """Watch (and serve, which runs it) builds many times in one process: removing the user cache meanwhile (to
    free space, or by hand) costs the next build only time, never an error."""
    root = copy_project(tmp_path / "p")
    project = replace(Project.at(root), cache=tmp_path / "cache")
    assert not build(project).failed
    shutil.rmtree(tmp_path / "cache")
    edit(root / "templates/programme.md.j2", "{% if logo %}", "{# changed #}\n{% if logo %}")  # compiled again
    report = build(project)
    assert not report.failed, report.failed
    assert any(path.startswith("programmes/") for path in report.rebuilt)
    assert any((tmp_path / "cache/templates").glob("__jinja2_*")), "the compiled templates are kept again"


def test_build_files_are_links_to_their_kept_copies_and_the_site_copies_to_them(tmp_path):
    root = copy_project(tmp_path / "p")
    project = replace(Project.at(root), cache=tmp_path / "cache")
    assert not build(project).failed
    for kind in ("pdf", "docx"):
        written = project.out / f"{PROGRAMME}.{kind}"
        copy = kept(project.cache_dir, PROGRAMME) / kind
        assert written.stat().st_ino == copy.stat().st_ino and written.read_bytes() == copy.read_bytes()
        site = project.out / f"site/documents/excel-perfectionnement.{kind}"
        assert site.stat().st_ino == written.stat().st_ino
    # after `make clean`, taken from the cache: links again, not copies
    shutil.rmtree(project.out)
    assert not build(project).failed
    taken = kept(project.cache_dir, PROGRAMME) / "pdf"
    assert (project.out / f"{PROGRAMME}.pdf").stat().st_ino == taken.stat().st_ino
    # a copy in build/ changed by hand in place (so is its kept copy): both are made again, the same as before
    before = files_of(project.out)
    with (project.out / f"{PROGRAMME}.pdf").open("r+b") as handle:
        handle.write(b"%PDF-damaged")
    report = build(project)
    assert PROGRAMME in report.rebuilt and files_of(project.out) == before
    assert (kept(project.cache_dir, PROGRAMME) / "pdf").read_bytes() == (project.out / f"{PROGRAMME}.pdf").read_bytes()


def test_a_link_is_made_only_to_the_very_file_it_was_and_else_the_bytes_are_written(tmp_path, monkeypatch):
    import errno
    import os

    from pipeline.state import write_atomic

    source = tmp_path / "kept"
    identity = write_atomic(source, b"contenu", durable=False)
    write_atomic(tmp_path / "a", b"contenu", durable=False, same_as=(source, identity))
    assert (tmp_path / "a").stat().st_ino == source.stat().st_ino
    # replaced since (another process kept other bytes there): not linked, the bytes are written
    write_atomic(source, b"autre contenu", durable=False)
    write_atomic(tmp_path / "b", b"contenu", durable=False, same_as=(source, identity))
    assert (tmp_path / "b").read_bytes() == b"contenu" and (tmp_path / "b").stat().st_ino != source.stat().st_ino
    # another file system (or one without links): the bytes are written
    identity = write_atomic(source, b"contenu", durable=False)

    def no_link(*args: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    write_atomic(tmp_path / "c", b"contenu", durable=False, same_as=(source, identity))
    assert (tmp_path / "c").read_bytes() == b"contenu" and (tmp_path / "c").stat().st_nlink == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c", "kept"]  # no temporary file left
