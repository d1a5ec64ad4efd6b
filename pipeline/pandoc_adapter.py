"""The pandoc adapter: `pandoc lua convert.lua` processes that read Markdown and write DOCX groups and trees.

Each process is fed document names on its input and reports, line by line, each document's tree (JSON, for
the PDF) and each group DOCX it wrote (split by docx_split.py); a document pandoc cannot convert is reported
with pandoc's message, and a process that stops fails the documents it had not finished.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from pipeline.errors import cause
from pipeline.tools import pandoc_path

log = logging.getLogger(__name__)

# CommonMark (twice as fast to read as pandoc's Markdown) with only the extensions the templates use;
# no raw HTML, no raw blocks, no math: the content cannot reach any of them anyway (see templating.py).
READER = "commonmark+pipe_tables+fenced_divs+bracketed_spans+attributes-raw_html"


class Outcomes(Protocol):
    def fail(self, index: int, reason: str) -> None: ...


class Pandoc:
    """One `pandoc lua convert.lua` process, fed documents on stdin; its events go to `on_event`."""

    def __init__(self, stage: Path, lua: Path, number: int, settings: dict, on_event: Callable[[dict], None],
                 outcomes: Outcomes, on_exit: Callable[[], None] = lambda: None):
        self.load, self.outcomes = 0, outcomes
        self.sent: list[int] = []
        self.reported: dict[int, set[str]] = {}
        (stage / f"settings{number}.json").write_text(json.dumps({**settings, "prefix": f"g{number}-"}))
        self.log = stage / f"pandoc{number}.log"
        env = {**os.environ, "SOURCE_DATE_EPOCH": "0"}
        command = [pandoc_path(), *PANDOC_RTS, "lua", str(lua), f"settings{number}.json"]
        with self.log.open("w") as log_file:  # a file, not a pipe: many warnings cannot block pandoc
            self.process = subprocess.Popen(command, cwd=stage, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=log_file, text=True, env=env)
        self.all_sent = threading.Event()
        self.on_exit = on_exit  # called once the process is over (its documents go to the others)
        self.reader = threading.Thread(target=self._read, args=(on_event,), daemon=True)
        self.reader.start()

    def send(self, index: int, size: int, alone: bool = False, parts: bool = False, background: bool = False,
             unless_fits: dict | None = None, group: int | None = None, python: bool = False, shared: bool = False
             ) -> None:
        """Hand a document over; a large one, or any when they are few (an edit), has its DOCX written at once,
        while typst lays out its PDF, rather than with a group once every document is read. `parts`: its
        Markdown holds the markers of its parts (chunks.py). `python`: its DOCX is written by the build from
        its tree if it can be (docx_writer.py; its tree event then says `python`). `shared`: its Markdown holds
        the markers of its parts, and a part this process has read twice is not read again (a full build)."""
        self.sent.append(index)
        self.load += size
        if background:
            self.yield_cores()
        job = {"markdown": f"d{index}.md", "tree": f"d{index}.json", "alone": alone or size >= LARGE, "parts": parts}
        if unless_fits is not None:  # its DOCX from its parts if they fit (convert.lua, docx_parts.py)
            job["unless_fits"] = unless_fits
        if group:
            job["group"] = group
        if python:
            job["python"] = True
        if shared:
            job["shared"] = True
        self._write(job)

    def send_part(self, name: str, size: int, keep: bool = False, python: bool = False) -> None:
        """Hand over one part of a large document (`p12-3.md`): its tree only, reported as a `part` event.
        Its size counts in the process's load: a whole document goes to another process, not behind it.
        `keep`: its DOCX is asked for next (send_parts_docx), from the same read, unless written by the build
        from its tree (`python`: docx_writer.py; its part event then says `python`)."""
        self.load += size
        self._write({"markdown": name, "tree": name.replace(".md", ".json"), "part": True, "keep": keep,
                     "python": python})

    def send_parts_docx(self, names: list[str], first: str | None = None) -> None:
        """Have the DOCX of parts of one document sent before (`keep`) written together, reported as a
        `partsdocx` event (`first`: the document's first part, if among them)."""
        self._write({"markdown": names[0], "parts_docx": names, "part": True, "first": first})

    def yield_cores(self, niceness: int = 10) -> None:
        """Let the build's own work have the cores first: after an edit (nice 10), the layout of the PDFs, when
        this process writes a DOCX nobody waits on; in a full build, everything (FULL_BUILD_NICENESS)."""
        with contextlib.suppress(OSError, AttributeError):  # setpriority: Unix only
            os.setpriority(os.PRIO_PROCESS, self.process.pid, niceness)

    def _write(self, job: dict) -> None:
        try:
            self.process.stdin.write(json.dumps(job) + "\n")  # type: ignore[union-attr]
            self.process.stdin.flush()  # type: ignore[union-attr]
        except (OSError, ValueError):  # ValueError: its input is closed (the build stopped on an error)
            pass  # pandoc stopped: the document is reported as failed when the process is over

    def close(self) -> None:
        try:
            self.process.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass
        self.all_sent.set()

    def join(self) -> None:
        self.reader.join()

    def _read(self, on_event: Callable[[dict], None]) -> None:
        try:
            for line in self.process.stdout:  # type: ignore[union-attr]
                event = json.loads(line)
                for name in event.get("documents") or [event.get("markdown", "")]:
                    if name.startswith("d"):  # not a part (`p12-3.md`)
                        # "fits": its DOCX is joined from its parts, its PDF laid out from them
                        # "python": its DOCX is written by the build from its tree
                        kinds = {"tree", "docx"} if event["event"] == "fits" or event.get("python") \
                            else {event["event"]}
                        self.reported.setdefault(index_of(name), set()).update(kinds)
                on_event(event)
        except Exception:  # noqa: BLE001 - a bug here must fail the documents below, not leave the build waiting
            log.debug("pandoc events", exc_info=True)
            self.process.kill()
        self.process.wait()
        try:
            self.on_exit()
        except Exception:  # noqa: BLE001 - the documents of this process are still to be reported, below
            log.debug("pandoc exit", exc_info=True)
        self.all_sent.wait()
        try:
            stderr = self.log.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:  # the stage is gone: the build stopped on an error of its own, reported there
            stderr = ""
        for index in self.sent:
            events = self.reported.get(index, set())
            if "error" not in events and not {"tree", "docx"} <= events:
                self.outcomes.fail(index, f"pandoc s'est arrêté (code de sortie {self.process.returncode}) : "
                                         f"{_told(stderr)}")


class Dispatcher:
    """Hand the documents of a full build to the pandoc processes as each is ready for more.

    Handed over all at once, by the length of their Markdown, they kept one process busy up to a second
    after the other (a group DOCX, the share of the cores each gets: the cost of a document is not its
    length). Each process has at most AHEAD documents waiting; the last few of a build are written in small
    groups (TAIL_GROUP), so that no process writes a DOCX of 50 documents once every other one is done.
    """

    def __init__(self, converters: list[Pandoc], total: int):
        self.converters, self.total = converters, total  # the list grows as the build spawns processes
        self.pending: collections.deque[tuple[int, int, dict]] = collections.deque()
        self.owner: dict[int, Pandoc] = {}
        self.handed = 0
        self.finished = self.closed = False
        self.lock = threading.Lock()

    def add(self, index: int, size: int, **options: bool) -> None:
        with self.lock:
            self.pending.append((index, size, options))
            self._fill()

    def done(self, index: int) -> None:
        """A document's tree is written, or pandoc could not read it: its process is ready for another."""
        with self.lock:
            self.owner.pop(index, None)
            self._fill()

    def skip(self) -> None:
        """A document that needs no pandoc (rendered from what is kept): one fewer to hand over."""
        with self.lock:
            self.total -= 1

    def finish(self) -> None:
        """Every document is added: each process ends once it has been handed its last one."""
        with self.lock:
            self.finished = True
            self._fill()

    def refill(self) -> None:
        """A process is over: the documents it was not handed go to the others (its own are reported failed)."""
        with self.lock:
            self._fill()

    def _fill(self) -> None:
        while self.pending:
            live = [c for c in self.converters if c.process.poll() is None] or self.converters[:1]
            waiting = collections.Counter(self.owner.values())
            converter = min(live, key=lambda c: (waiting[c], c.load))
            if waiting[converter] >= AHEAD and converter.process.poll() is None:
                return
            index, size, options = self.pending.popleft()
            self.handed += 1
            tail = self.handed > self.total - 2 * TAIL_GROUP * len(self.converters)
            self.owner[index] = converter
            converter.send(index, size, group=TAIL_GROUP if tail else None, **options)
        if self.finished and not self.closed:
            self.closed = True
            for converter in self.converters:
                converter.close()


def index_of(markdown_name: str) -> int:
    return int(markdown_name[1:-3])  # "d12.md" → 12


# Documents per DOCX written by pandoc (see convert.lua: 50 rather than 20 saves 0.3 s of CPU in a full
# build of 200 documents, for 20 MB more at the peak: 230 MB instead of 212); pandoc's heap: a larger
# allocation area makes its garbage collector run less often (measured: about 10 % faster, 60 MB more per
# process).
DOCX_GROUP = 50
TAIL_GROUP = 10  # the last documents of a full build: see Dispatcher
AHEAD = 2
# In a full build, pandoc's processes run at the lowest priority. The build's process is the one that has the
# most to do (the Markdown of every document, which pandoc waits for at the start; then a PDF and a DOCX from
# each tree): pandoc, done well before it (4.7 s of a 6 s build without cache at N = 100), took the cores
# from it, and ran ahead only to leave trees waiting. At nice 19 pandoc has what the build leaves, which is
# enough: without cache at N = 100, in alternation, 7.22 -> 6.53 s (nice 10: 7.07 -> 6.67 s; nice 5:
# 7.09 -> 6.85 s). After an edit, pandoc's reading of a few documents is what the PDFs wait for: no change.
FULL_BUILD_NICENESS = 19
# A document whose Markdown is this long (the improvement log, the skills matrix) is converted by a process of
# its own when a core is free, and its DOCX written alone, at once: it is the longest to convert.
LARGE = 64 * 1024
DOCS_PER_PANDOC = 8
PANDOC_RTS = ["+RTS", "-A16m", "-RTS"]


class PandocFailed(Exception):
    """Pandoc could not convert a document: its message."""


def convert_alone(stage: Path, lua: Path, settings: dict, name: str, parts: bool = False, shared: bool = False
                  ) -> tuple[bytes, bytes, dict]:
    """Have a pandoc process of its own read one Markdown file of the stage (`name`) and write its DOCX alone,
    as a group of one (docx_split.py), or from its parts (`parts`: docx_parts.py): return its tree's JSON, that
    DOCX and pandoc's event about it. For a document the build could not write from its tree (docx_writer.py),
    and for the frame the build writes them in. `shared`: the file holds the markers of its parts (Pandoc.send)."""
    tag = name.removesuffix(".md")
    (stage / f"settings-{tag}.json").write_text(json.dumps({**settings, "prefix": f"{tag}-alone-"}))
    job = json.dumps({"markdown": name, "tree": f"{tag}-alone.json", "alone": True, "parts": parts,
                      "shared": shared}) + "\n"
    command = [pandoc_path(), *PANDOC_RTS, "lua", str(lua), f"settings-{tag}.json"]
    env = {**os.environ, "SOURCE_DATE_EPOCH": "0"}
    log_path = stage / f"pandoc-{tag}.log"  # a file, not a pipe: many warnings cannot block pandoc
    try:
        with log_path.open("w") as log_file, subprocess.Popen(command, cwd=stage, stdin=subprocess.PIPE,
                                                              stdout=subprocess.PIPE, stderr=log_file, text=True,
                                                              env=env) as process:
            try:
                process.stdin.write(job)  # type: ignore[union-attr]
                process.stdin.close()  # type: ignore[union-attr]
                for line in process.stdout:  # type: ignore[union-attr]
                    event = json.loads(line)
                    if event["event"] == "docx":
                        return ((stage / f"{tag}-alone.json").read_bytes(), (stage / event["file"]).read_bytes(),
                                event)
                    if event["event"] == "error":
                        raise PandocFailed(event["error"])
                    if event["event"] != "tree":
                        raise PandocFailed(f"événement inattendu de pandoc : {line.strip()[:200]}")
            finally:
                # Its input is closed: it ends once its job is done. Killed, it would leave its temporary
                # file behind (/tmp/pandoc-hist<pid>-0), one a document it writes alone.
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
        stderr = log_path.read_text(encoding="utf-8", errors="replace").strip()
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise PandocFailed(cause(e)) from e
    raise PandocFailed(f"pandoc s'est arrêté (code de sortie {process.returncode}) : {_told(stderr)}")


def _told(stderr: str) -> str:
    """What pandoc said, without the Haskell call stack it may add (`HasCallStack backtrace:`), its end if long."""
    return stderr.split("HasCallStack backtrace:", 1)[0].strip()[-500:]
