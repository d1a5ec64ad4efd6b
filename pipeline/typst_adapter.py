"""The typst adapter: typst compilers kept warm, with no network and no system fonts, and the source they read."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import datetime as dt
import json
import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typst

from pipeline.errors import cause
from pipeline.typst_writer import string_literal

log = logging.getLogger(__name__)


# Where typst looks for packages, and would keep those it downloads: a path beneath a file, which no one can
# create (a folder made for each compiler was left behind in /tmp, two or more per build).
NO_PACKAGES = os.path.join(os.devnull, "qualidoc-no-packages")


def new_compiler(fonts: Path) -> typst.Compiler:
    """A typst compiler with the project's fonts only: no system font, no package (they come from the network)."""
    return typst.Compiler(root=str(fonts.parent), ignore_system_fonts=True,
                          font_paths=[str(fonts)] if fonts.is_dir() else [],
                          package_path=NO_PACKAGES, package_cache_path=NO_PACKAGES)


def compiling(compiler: typst.Compiler, root: str, timestamp: dt.datetime, pdf_standards: Any
              ) -> Callable[[bytes], bytes]:
    """A function that compiles a typst source to PDF bytes with this compiler, files read from `root`."""
    def compile_source(source: bytes) -> bytes:
        pdf = compiler.compile(input=source, format="pdf", root=root, timestamp=timestamp, pdf_standards=pdf_standards)
        assert isinstance(pdf, bytes)
        return pdf
    return compile_source


class LayoutFailed(Exception):
    """typst's error on a large document, or the end of the process that laid it out."""

    def __init__(self, message: str, diagnostic: str = ""):
        super().__init__(message)
        self.message, self.diagnostic = message, diagnostic


class LayoutProcess:
    """A typst_worker.py process, which lays out one large document (and keeps its layout in watch mode)."""

    COMMAND = [sys.executable, "-m", "pipeline.typst_worker"]

    def __init__(self, fonts: Path):
        package_root = str(Path(__file__).resolve().parent.parent)  # the same qualidoc as this process
        path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        self.process = subprocess.Popen([*self.COMMAND, str(fonts)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=None if log.isEnabledFor(logging.DEBUG) else subprocess.DEVNULL,
                                        env={**os.environ, "PYTHONPATH": path})
        self.lock = threading.Lock()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def compile(self, request: dict, payload: bytes) -> bytes:
        """The PDF of a request (see typst_worker.py) and the bytes that follow its line."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        with self.lock:
            try:
                stdin.write(json.dumps(request).encode() + b"\n" + payload)
                stdin.flush()
                reply = json.loads(stdout.readline() or b"null")
                if isinstance(reply, dict) and "error" in reply:
                    raise LayoutFailed(reply["error"], reply.get("diagnostic", ""))
                pdf = stdout.read(reply["size"]) if isinstance(reply, dict) else b""
                if isinstance(reply, dict) and len(pdf) == reply["size"]:
                    return pdf
            except (OSError, ValueError, KeyError, TypeError):
                pass
        self.close()
        raise LayoutFailed("le processus qui met en page les longs documents s'est arrêté (mémoire insuffisante ?) "
                           f"; code de sortie {self.process.returncode}")

    def end_input(self) -> None:
        """Tell the process there is no more to lay out: it ends (close() waits for it)."""
        if self.process.stdin:
            with contextlib.suppress(OSError):
                self.process.stdin.close()

    def close(self) -> None:
        self.end_input()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()


AFFINITY_WAIT = 0.5  # seconds at most that a large document waits for its compiler, none other being free


class _Compilers:
    """typst compilers kept for the life of the process, each used by one thread at a time; the large
    documents each in a process of their own (typst_worker.py).

    A compiler keeps what it has laid out: documents that share paragraphs compile faster, and in
    watch mode a rebuild finds the previous build's layout ready (a programme: 0.05 s instead of 0.15 s).
    Compilers are told the stage folder at each compile; they are kept per set of font files.
    """

    def __init__(self) -> None:
        self._free: dict[tuple, list[typst.Compiler]] = {}
        self._last: dict[tuple[tuple, str], typst.Compiler] = {}  # (fonts key, document) → its last compiler
        self._workers: dict[tuple, LayoutProcess] = {}
        self._lock = threading.Lock()
        self._returned = threading.Condition(self._lock)  # a compiler given back (borrow's `affinity`)
        # In a full build, large documents are laid out one at a time: typst takes about 1 MB of memory
        # per page while it lays a document out (after an edit, they go side by side).
        self._one_large = threading.Lock()
        self.keep_workers = False  # watch keeps them: the next edit lays out only what changed

    @staticmethod
    def key(fonts: Path) -> tuple:
        """What the compilers for a font folder depend on: its files, their sizes and dates. A build takes it
        once (each look at the folder from a thread waits for the interpreter: 0.3 s in a cold build)."""
        files = sorted(fonts.iterdir()) if fonts.is_dir() else []
        return (str(fonts), *((p.name, st.st_size, st.st_mtime_ns) for p in files for st in [p.stat()]))

    @contextmanager
    def borrow(self, fonts: Path, key: tuple, affinity: str = "") -> Iterator[typst.Compiler]:
        """A compiler for these fonts (`key`: their key()); with an `affinity` (a large document laid out by
        this process), the one that had it last if it is free: typst keeps what a compile used only for the
        next 10 compiles of the process, and a compiler does not find what another one kept. In the resident
        builder, the skills matrix's block that a course's title changes took 58-78 ms of processor on the
        other compiler after each edit, 15-28 ms on the same one. If it is in use (a programme's compile) and
        no other is free, it is waited for (AFFINITY_WAIT at most) rather than a new compiler made, which
        would read the fonts and lay everything out again."""
        with self._returned:
            free = self._free.setdefault(key, [])
            last = self._last.get((key, affinity)) if affinity else None
            if last is not None and not free:  # in use (a programme): waited for, rather than a new one, cold
                self._returned.wait_for(lambda: any(compiler is last for compiler in free), timeout=AFFINITY_WAIT)
            if last is not None and any(compiler is last for compiler in free):
                free.remove(last)
                compiler = last
            else:
                compiler = free.pop() if free else new_compiler(fonts)
            if affinity:
                for other in [k for k in self._last if k[1] == affinity and k[0] != key]:  # other fonts
                    del self._last[other]
                self._last[(key, affinity)] = compiler
        try:
            yield compiler
        finally:
            with self._returned:
                free.append(compiler)
                self._returned.notify_all()

    def prepare(self, fonts: Path, key: tuple, name: str) -> None:
        """Start the process that will lay out a large document, while its text is still being converted."""
        with contextlib.suppress(LayoutFailed):  # said with the document, when it is laid out
            self._worker(fonts, key, name)

    def lay_out_large(self, fonts: Path, key: tuple, name: str, request: dict, payload: bytes, alone: bool) -> bytes:
        """A large document's PDF, laid out by its own process (`alone`: one large document at a time);
        `request` and `payload`: see typst_worker.py."""
        worker = self._worker(fonts, key, name)
        with self._one_large if alone else contextlib.nullcontext():
            return worker.compile(request, payload)

    def _worker(self, fonts: Path, fonts_key: tuple, name: str) -> LayoutProcess:
        key = (*fonts_key, name)
        with self._lock:
            worker = self._workers.get(key)
            if worker is None or not worker.alive:
                for stale in [k for k in self._workers if k[-1] == name]:  # other fonts, or ended
                    self._workers.pop(stale).close()
                try:
                    worker = self._workers[key] = LayoutProcess(fonts)
                except OSError as e:
                    raise LayoutFailed("impossible de lancer la mise en page des longs documents : "
                                       f"{cause(e)}") from e
        return worker

    def release(self) -> None:
        """End the layout processes at the end of a build, and give their memory back (watch keeps them)."""
        if self.keep_workers:
            return
        with self._lock:
            workers, self._workers = list(self._workers.values()), {}
        for worker in workers:  # all told to end first: they end side by side
            worker.end_input()
        for worker in workers:
            worker.close()


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None  # glibc only
    except OSError:
        return None


_LIBC = _libc()
# glibc gives each thread that allocates at once an arena of its own, which keeps what it freed: with typst's
# threads, pandoc's readers and the build's, two arenas keep the peak memory of a build about 20 MB lower
# (measured at N = 100: 240 MB instead of 258–272), for no measurable time.
M_ARENA_MAX = -8
if _LIBC is not None:
    _LIBC.mallopt(M_ARENA_MAX, 2)
COMPILERS = _Compilers()
# The PDF compiler never reaches the network, whatever a template says (a package name built at run time
# escapes any scan of the text): its downloads go through a proxy that does not exist, on this machine, so
# not even a DNS request leaves it. qualidoc itself uses no network.
NO_NETWORK = {"HTTPS_PROXY": "http://127.0.0.1:1", "HTTP_PROXY": "http://127.0.0.1:1",
              "ALL_PROXY": "http://127.0.0.1:1", "NO_PROXY": ""}
os.environ.update(NO_NETWORK)
os.environ.update({name.lower(): value for name, value in NO_NETWORK.items()})


STYLE_FUNCTION = re.compile(r"\b(style-[0-9A-Za-z]+)\b")  # defined or imported in style.typ
STYLE_CALL = re.compile(r"#(style-[0-9A-Za-z]+)\[")  # text cannot hold it: its `#` and `-` are escaped
PACKAGE_IMPORT = re.compile(r"""(?:import|include)\s*\(?\s*["']@""")
PAGE_TOTAL = re.compile(r"#let page-total\(\)[^\n]*")


def totals_told(style: str) -> bool:
    """Whether a style.typ shows page totals with page-total() (on one line, as templates/style.typ has
    it), never with typst's count alone: a document laid out in pieces (pieces.py) then shows its own
    total, not a piece's."""
    rest = PAGE_TOTAL.sub("", re.sub(r"(?m)^\s*//.*$", "", style), count=1)
    return "page-total()" in rest and not re.search(r"counter\(\s*page\s*\)\s*\.\s*final", rest)


def typst_source(meta: dict[str, str], body: str) -> str:
    """The typst source of a document: the style, the document's texts as data, its body.

    The texts (title, header, footer) are typst string literals in a `metadata` element that the style
    reads with a query: the show rule stays the same from one document to the next, so the compiler
    reuses its layout of what documents share (measured: about half the time of one compile per
    document with its texts in `sys.inputs` or as arguments of the show rule). The document's
    properties come last, so that they are not part of the styles its body is laid out with.
    """
    head, tail = source_frame(meta)
    return head + body + tail


PAGES = "\ue000QDPAGES\ue000"  # in a piece's head: the pages after it in its document (pieces.py puts them)


def source_frame(meta: dict[str, str], pieces: bool = False) -> tuple[str, str]:
    """What comes before and after a document's body in its typst source; with `pieces`, the texts hold
    `pages_after: PAGES`, which pieces.py replaces by the number of pages after the piece in its document
    (style.typ's page-total() adds it to the piece's last page number)."""
    data = ", ".join(f"{key}: {string_literal(value)}" for key, value in meta.items())
    if pieces:
        data += f", pages_after: {PAGES}"
    return (f'#import "style.typ": *\n#let meta = ({data},)\n#show: qualidoc\n#metadata(meta) <qualidoc-meta>\n',
            "\n#set document(title: meta.title, author: meta.organisation)\n")


def pdf_timestamp(version: dt.date) -> dt.datetime:
    return dt.datetime(version.year, version.month, version.day, tzinfo=dt.UTC)
