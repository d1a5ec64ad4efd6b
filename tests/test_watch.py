"""Watch mode reacts to every way an editor saves, debounces bursts, survives bad content."""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path

import pytest

from pipeline.build import build
from pipeline.project import Project
from pipeline.watch import SAVED_SECONDS, SETTLE_SECONDS, Rebuild, Watcher, _Collector, is_relevant
from tests.helpers import copy_project, pdf_text

COURSE = "courses/rgpd-essentiel.yaml"


class Session:
    def __init__(self, project: Project, poll: bool):
        self.project = project
        self.rebuilds: queue.Queue[Rebuild] = queue.Queue()
        self.stop = threading.Event()
        self.watcher = Watcher(project, poll=poll, on_rebuild=self.rebuilds.put, settle=0.3 if poll else 0.15,
                               saved=0.1)
        self.thread = threading.Thread(target=self.watcher.run, args=(self.stop,), daemon=True)

    def __enter__(self) -> Session:
        self.thread.start()
        assert self.watcher.ready.wait(60)
        first = self.next()
        assert first.changed == [] and first.report is not None
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()

    def next(self, timeout: float = 30) -> Rebuild:
        return self.rebuilds.get(timeout=timeout)

    def nothing(self, wait: float = 1.5) -> None:
        with pytest.raises(queue.Empty):
            self.rebuilds.get(timeout=wait)


pytestmark = pytest.mark.built


@pytest.fixture
def session(project: Project):
    with Session(project, poll=False) as running:
        yield running


def changed_text(project: Project, old: str = "amount: 390", new: str = "amount: 420") -> str:
    text = (project.content / COURSE).read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new)


def test_in_place_write(session, project):
    text = changed_text(project)
    with open(project.content / COURSE, "r+", encoding="utf-8") as handle:
        handle.truncate()
        handle.write(text)
    rebuild = session.next()
    assert rebuild.changed == [f"content/{COURSE}"]
    assert "programmes/rgpd-essentiel" in rebuild.report.rebuilt
    assert "programmes/excel-perfectionnement" not in rebuild.report.rebuilt
    session.nothing()


def test_atomic_rename_save(session, project):
    temporary = project.content / "courses/.rgpd-essentiel.yaml.tmp-1234"
    temporary.write_text(changed_text(project), encoding="utf-8")
    os.replace(temporary, project.content / COURSE)
    rebuild = session.next()
    assert rebuild.changed == [f"content/{COURSE}"]
    assert "programmes/rgpd-essentiel" in rebuild.report.rebuilt
    session.nothing()


def test_vim_backup_dance_is_one_rebuild(session, project):
    target = project.content / COURSE
    text = changed_text(project)
    (project.content / "courses/4913").write_text("")
    (project.content / "courses/4913").unlink()
    (project.content / "courses/.rgpd-essentiel.yaml.swp").write_bytes(b"vim swap")
    os.rename(target, project.content / "courses/rgpd-essentiel.yaml~")
    target.write_text(text, encoding="utf-8")
    (project.content / "courses/rgpd-essentiel.yaml~").unlink()
    rebuild = session.next()
    assert rebuild.changed == [f"content/{COURSE}"]
    assert "programmes/rgpd-essentiel" in rebuild.report.rebuilt
    session.nothing()


def test_editor_temporary_files_are_ignored(session, project):
    (project.content / "courses/.excel-perfectionnement.yaml.swp").write_bytes(b"swap")
    (project.content / "courses/excel-perfectionnement.yaml~").write_text("backup")
    (project.content / "courses/.#excel-perfectionnement.yaml").write_text("emacs lock")
    (project.out / "programmes/notes.yaml").write_text("in the output folder")
    session.nothing()
    (project.content / COURSE).write_text(changed_text(project), encoding="utf-8")  # still watching
    assert "programmes/rgpd-essentiel" in session.next().report.rebuilt


def test_burst_of_changes_is_one_rebuild(session, project):
    for path in sorted((project.content / "courses").glob("*.yaml")):
        path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    for path in sorted((project.content / "trainers").glob("*.yaml")):
        path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    rebuild = session.next()
    assert len(rebuild.changed) == len([*(project.content / "courses").glob("*.yaml"),
                                        *(project.content / "trainers").glob("*.yaml")])
    session.nothing()


def test_invalid_file_keeps_documents_and_fixing_rebuilds(session, project):
    pdf = project.out / "programmes/rgpd-essentiel.pdf"
    good = pdf.read_bytes()
    fixed_text = changed_text(project)
    (project.content / COURSE).write_text(changed_text(project, "updated: 2026-10-02", "updated: 2026-13-02"),
                                          encoding="utf-8")
    failed = session.next()
    assert failed.report is None
    assert f"content/{COURSE}:3: updated: attendu : une date" in str(failed.error)
    assert pdf.read_bytes() == good
    (project.content / COURSE).write_text(fixed_text, encoding="utf-8")
    fixed = session.next()
    assert "programmes/rgpd-essentiel" in fixed.report.rebuilt
    assert pdf.read_bytes() != good


def test_deleted_course_removes_its_documents(session, project):
    (project.content / "courses/prise-de-parole.yaml").unlink()
    rebuild = session.next()
    assert "programmes/prise-de-parole" in rebuild.report.removed
    assert not (project.out / "programmes/prise-de-parole.pdf").exists()


def test_template_change_rebuilds_that_kind(session, project):
    template = project.templates / "positionnement.md.j2"
    template.write_text(template.read_text(encoding="utf-8").replace("# Questionnaire", "# Le questionnaire"),
                        encoding="utf-8")
    rebuild = session.next()
    assert sorted(rebuild.report.rebuilt) == ["conformite/matrice-conformite"] + sorted(
        f"positionnement/{p.stem}" for p in (project.content / "courses").glob("*.yaml"))


def test_polling_mode(project):
    with Session(project, poll=True) as session:
        (project.content / COURSE).write_text(changed_text(project), encoding="utf-8")
        rebuild = session.next()
        assert "programmes/rgpd-essentiel" in rebuild.report.rebuilt


def test_a_finished_save_is_built_sooner_than_a_save_halfway(project):
    """A file closed after writing, or renamed into place, is saved: watch waits SAVED_SECONDS for what may
    follow; after any other event (vim renaming the file away, a write under way) it waits SETTLE_SECONDS."""
    import watchdog.events as events

    course = str(project.content / COURSE)
    backup, temporary = f"{course}~", str(project.content / "courses/.rgpd-essentiel.yaml.tmp-1")
    waits: list[float] = []

    class Arrived(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0)
            return False

    collector = _Collector(project)
    collector.arrived = Arrived()
    watcher = Watcher(project)
    for event, saved in [(events.FileMovedEvent(course, backup), False),  # vim: the file renamed away
                         (events.FileCreatedEvent(course), False),
                         (events.FileModifiedEvent(course), False),
                         (events.FileClosedEvent(course), True),  # written, closed
                         (events.FileDeletedEvent(backup), True),  # (not content: changes nothing)
                         (events.FileClosedEvent(temporary), True),
                         (events.FileMovedEvent(temporary, course), True),  # renamed into place
                         (events.FileDeletedEvent(course), False)]:
        collector.on_any_event(event)
        watcher._wait_until_quiet(collector, threading.Event())
        assert collector.saved is saved, event
        assert waits.pop() == (SAVED_SECONDS if saved else SETTLE_SECONDS), event
    assert SAVED_SECONDS < SETTLE_SECONDS and collector.take() == [Path(course)]


@pytest.mark.parametrize("name, relevant", [("x.yaml", True), ("style.typ", True), ("programme.md.j2", True),
                                            (".x.yaml.swp", False), ("x.yaml~", False), ("4913", False),
                                            (".#x.yaml", False), ("sedAb12Cd", False), ("#x.yaml#", False)])
def test_relevant_files(name, relevant):
    assert is_relevant(Path("content/courses") / name) is relevant


def test_a_logo_kept_outside_content_is_watched(tmp_path):
    from tests.helpers import logo_outside_content
    from tests.test_security import small_png

    logo = logo_outside_content(copy_project(tmp_path))
    project = Project.at(tmp_path)
    build(project)
    with Session(project, poll=False) as running:
        logo.write_bytes(small_png())
        rebuild = running.next()
        assert rebuild.changed == ["images/logo.png"] and rebuild.report.rebuilt


def test_the_large_documents_are_laid_out_once_before_the_first_edit(tmp_path):
    """Once its first build is done, watch has the log laid out by the process that keeps its layout (so the
    first new entry finds its pieces read and laid out ahead, as the next ones do), writing nothing in build/;
    the first edit then builds the log as usual."""
    from dataclasses import replace

    from pipeline.typst_adapter import COMPILERS
    from tests.test_chunks import LOG, grow_the_log

    root = copy_project(tmp_path / "p")
    grow_the_log(root, 40)
    project = replace(Project.at(root), cache=tmp_path / "cache")
    assert not build(project).failed  # the log's parts are kept; watch's first build has nothing to do
    files = {p: p.stat().st_mtime_ns for p in project.out.rglob("*") if p.is_file() and ".qualidoc" not in p.parts}
    with Session(project, poll=False) as running:
        assert running.watcher.warmed.wait(60)
        workers = [worker for key, worker in COMPILERS._workers.items() if key[-1] == LOG]
        assert workers and workers[0].alive, "the log's layout process is there before any edit"
        assert {p: p.stat().st_mtime_ns for p in files} == files, "nothing written by the warm-up"
        entry = root / "content/improvements/copie-000.yaml"
        entry.write_text(entry.read_text(encoding="utf-8").replace("Constat numéro 0.", "Constat revu."),
                         encoding="utf-8")
        rebuild = running.next()
        assert rebuild.report is not None and f"{LOG}" in rebuild.report.rebuilt
        assert "Constat revu." in pdf_text(project.out / f"{LOG}.pdf")
    assert not any(key[-1] == LOG for key in COMPILERS._workers), "watch ends its layout processes"


def test_watch_keeps_the_parsed_content_in_memory_and_writes_it_when_it_stops(tmp_path, monkeypatch):
    """After its first build, watch does not write the parsed content's cache on every edit (0.33 s of JSON at
    N = 1000 courses): the next build finds each file read in memory, and the cache is written when watch stops,
    with the edited files, for the next command."""
    import json
    from dataclasses import replace

    from pipeline import yamlfile

    root = copy_project(tmp_path / "p")
    project = replace(Project.at(root), cache=tmp_path / "cache")
    cache = project.cache_dir / "parsed.json"
    real, read = yamlfile.read_yaml, []
    monkeypatch.setattr(yamlfile, "read_yaml", lambda path, shown: (read.append(shown), real(path, shown))[1])
    with Session(project, poll=False) as running:
        assert running.watcher.warmed.wait(60)
        written = cache.stat().st_mtime_ns
        course = project.content / COURSE
        course.write_text(changed_text(project), encoding="utf-8")
        assert "programmes/rgpd-essentiel" in running.next().report.rebuilt
        assert "420" in pdf_text(project.out / "programmes/rgpd-essentiel.pdf")
        other = project.content / "courses/excel-perfectionnement.yaml"
        read.clear()
        other.write_text(other.read_text(encoding="utf-8") + "\n# revu\n", encoding="utf-8")
        running.next()
        assert read == ["content/courses/excel-perfectionnement.yaml"], "the course edited before: from memory"
        assert cache.stat().st_mtime_ns == written, "not written on each edit"
    entries = json.loads(cache.read_text(encoding="utf-8"))
    for path in (course, other):
        assert entries[str(path)]["stamp"] == [path.stat().st_size, path.stat().st_mtime_ns]
    assert "420" in json.dumps(entries[str(course)]["data"])
    assert not yamlfile.ParseCache.held
