"""Watch mode: build once, then rebuild what changed whenever content or templates are saved.

Editors save in many ways (in-place writes, write-then-rename as VS Code and `sed -i` do, vim's
backup dance), so the watcher listens to whole folders, takes every kind of event, ignores editor
temporary files and the output folder, and waits for a burst of events to settle before building.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from pipeline.build import BuildReport, build, warm
from pipeline.errors import ContentError, UserError
from pipeline.project import Project
from pipeline.yamlfile import ParseCache, save_held

log = logging.getLogger(__name__)
SETTLE_SECONDS = 0.05  # an editor's save (write, rename, chmod) takes a few milliseconds
# A file closed after writing, or renamed into place, is saved: the wait is shorter then, for what may follow
# (vim removing its backup, the next file of a `git checkout`). 30 ms of each edit's latency.
SAVED_SECONDS = 0.02
RELEVANT_SUFFIXES = {".yaml", ".yml", ".j2", ".typ", ".docx", ".png", ".jpg", ".jpeg", ".svg", ".otf", ".ttf", ".css"}


def is_relevant(path: Path) -> bool:
    """Tell content and template files from editor scratch files (`.x.swp`, `x~`, `4913`, `.#x`, `sedXYZ`)."""
    name = path.name
    return not name.startswith((".", "#")) and path.suffix.lower() in RELEVANT_SUFFIXES


@dataclass
class Rebuild:
    """One round of watch mode: what changed and what the build did (or why it could not)."""

    changed: list[str]
    report: BuildReport | None
    error: Exception | None


class _Collector(FileSystemEventHandler):
    """Collect the paths touched by file events, ignoring noise."""

    def __init__(self, project: Project):
        self.project = project
        self.changed: set[Path] = set()
        self.lock = threading.Lock()
        self.arrived = threading.Event()
        self.saved = False  # the last event finished a save (see SAVED_SECONDS)

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        source, destination = (self._relevant(raw) for raw in (event.src_path, getattr(event, "dest_path", "")))
        if source is None and destination is None:
            return
        with self.lock:
            self.changed.update(path for path in (source, destination) if path is not None)
            # a file renamed away (vim's backup dance), created or being written may be halfway through its save
            self.saved = (event.event_type == "closed" and source is not None
                          or event.event_type == "moved" and destination is not None)
        self.arrived.set()

    def _relevant(self, raw: str | bytes) -> Path | None:
        if not raw:
            return None
        path = Path(raw if isinstance(raw, str) else raw.decode())
        return None if path.is_relative_to(self.project.out) or not is_relevant(path) else path

    def take(self) -> list[Path]:
        with self.lock:
            changed, self.changed = sorted(self.changed), set()
        self.arrived.clear()
        return changed


class Watcher:
    """Rebuild a project on every change until stopped."""

    def __init__(self, project: Project, poll: bool = False, jobs: int = 0,
                 on_rebuild: Callable[[Rebuild], None] | None = None, settle: float = SETTLE_SECONDS,
                 saved: float = SAVED_SECONDS):
        self.project, self.poll, self.jobs, self.settle, self.saved = project, poll, jobs, settle, saved
        self.on_rebuild = on_rebuild or (lambda rebuild: None)
        self.ready = threading.Event()
        self.warmed = threading.Event()  # the large documents laid out once, ahead of the first edit

    def run(self, stop: threading.Event) -> None:
        """Build once, then watch and rebuild until `stop` is set."""
        collector = _Collector(self.project)
        observer = PollingObserver(timeout=0.25) if self.poll else Observer()
        for folder in (self.project.content, *self.project.template_folders[:-1]):  # not the installed defaults
            observer.schedule(collector, str(folder), recursive=True)
        self._observer, self._collector = observer, collector
        self._watched: set[str] = set()
        from pipeline.typst_adapter import COMPILERS

        COMPILERS.keep_workers = True  # a rebuild lays out only what changed in the log and the skills matrix
        observer.start()  # before the first build, so that a save during it is not missed
        first = self._rebuild([])
        self.ready.set()
        self._warm(first)
        self.warmed.set()
        ParseCache.held = True  # the next builds keep the parsed content in memory, written when watch stops
        try:
            while not stop.is_set():
                if not collector.arrived.wait(timeout=0.2):
                    continue
                self._wait_until_quiet(collector, stop)
                changed = collector.take()
                if changed:
                    self._rebuild(changed)
        finally:
            observer.stop()
            observer.join()
            ParseCache.held = False
            save_held()
            COMPILERS.keep_workers = False
            COMPILERS.release()

    def _wait_until_quiet(self, collector: _Collector, stop: threading.Event) -> None:
        """Let a burst of events (a save, a `git checkout`) finish before building."""
        while not stop.is_set():
            collector.arrived.clear()
            if not collector.arrived.wait(timeout=min(self.saved, self.settle) if collector.saved else self.settle):
                return

    def _rebuild(self, changed: list[Path]) -> BuildReport | None:
        shown = [self.project.shown(path) for path in changed]
        gc.disable()  # the cycle collector runs once the documents are written, not while they are awaited
        try:
            # After an edit, the documents first, then the web catalogue (in the first build, side by side)
            report = build(self.project, jobs=self.jobs, documents_first=bool(changed))
        except (ContentError, UserError) as e:
            self.on_rebuild(Rebuild(shown, None, e))
            return None
        except Exception as e:  # noqa: BLE001 - watch reports it and keeps watching
            log.debug("rebuild failed", exc_info=True)
            self.on_rebuild(Rebuild(shown, None, UserError(f"erreur interne : {type(e).__name__} : {e}")))
            return None
        finally:
            gc.enable()
        self._watch_extra(report.extra)
        self.on_rebuild(Rebuild(shown, report, None))
        gc.collect()
        return report

    def _warm(self, first: BuildReport | None) -> None:
        """Have the large documents laid out once, ahead of the first edit (build.warm): a save meanwhile is
        built right after (it takes 1.4 s at N = 100; the first new log entry then takes 0.45 s instead of 1.0 s)."""
        if first is None:
            return  # the content has problems: the first edit builds, and reports them
        try:
            warm(self.project, first.rebuilt, jobs=self.jobs)
        except Exception:  # noqa: BLE001 - only ahead of time: the next build does it, and reports any problem
            log.debug("warm-up failed", exc_info=True)

    def _watch_extra(self, files: list[str]) -> None:
        """Watch the folders of the files a build read outside content/ and templates/ (a logo kept elsewhere)."""
        for folder in {str(Path(f).parent) for f in files} - self._watched:
            try:
                self._observer.schedule(self._collector, folder, recursive=False)
                self._watched.add(folder)
            except OSError:
                log.debug("cannot watch %s", folder)
