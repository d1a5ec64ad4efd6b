"""A large document's PDF laid out in pieces, each kept between builds (in typst_worker.py's process).

typst lays a document out whole: after an edit of one entry, the 100-page log was laid out again in a
second, and at 800 pages it took more than a gigabyte. Here each piece of the document (chunks.pieces:
some ten pages, cut where a page turns anyway, or between two entries) is a typst document of its own,
told its first page number and the number of pages after it; its PDF is kept in the user cache, and
pdf_merge.py joins the pieces' PDFs. An edit lays out the pieces that changed, and the others again only
if the number of pages before or after them changed (typst, which has just laid them out, does it
quickly then: only the footers differ).

The page total comes from style.typ's `page-total()`: the piece's last page number, which typst knows,
plus the pages after it, which the piece is told in the document's texts (`pages_after`). A piece's
own number of pages is thus never a guess: the longest piece is laid out once, even in a first build.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import queue
import re
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import typst

from pipeline.chunks import with_breaks
from pipeline.pdf_merge import CannotMerge, merge
from pipeline.state import write_atomic
from pipeline.typst_adapter import PAGES

LEVEL = re.compile(rb"^(=+) ", re.M)
PAGE_COUNT = re.compile(rb"<</Type/Pages/Count (\d+)/Kids")

Compile = Callable[[bytes], bytes]


def lay_out(compile_source: Compile, head: str, tail: str, bodies: list[str], salt: str,
            cache: Path | None, remember: bool = False, side: Compile | None = None,
            ahead: Ahead | None = None, store: bool = True) -> bytes:
    """The PDF of the document whose source is `head`, the bodies, `tail`; `salt`: what else its layout
    depends on (fonts, date, PDF options); `cache`: the folder where its pieces' PDFs are kept;
    `remember`: this process lays the document out again after the next edit (watch, the resident builder:
    see pdf_merge); `store`: keep the pieces' renumbered objects in the user cache for the next command
    (watch's layout processes keep them in memory only);
    `side`: a compiler in another process (watch: typst_worker.py), with which the pieces are laid out two
    at a time, those that changed and those told other numbers;
    `ahead`: where the pieces are laid out with other numbers while watch waits for the next edit."""
    kept = _Kept(cache)
    # One compile at a time on each compiler (typst's binding refuses a second one: "Already borrowed").
    # Two compilers in two threads of one process barely go faster than one (typst's caches are the
    # process's: 1.1-1.3x on 2 cores, for half as much processor time more); in two processes, twice as fast.
    free: queue.SimpleQueue[Compile] = queue.SimpleQueue()
    for compiler in (compile_source, side) if side else (compile_source,):
        free.put(compiler)

    def compile_one(source: bytes) -> bytes:
        compiler = free.get()
        try:
            return compiler(source)
        finally:
            free.put(compiler)

    names = [hashlib.sha256(f"{salt}\0{head}\0{body}\0{tail}".encode()).hexdigest()[:32] for body in bodies]
    compiled: set[int] = set()  # the pieces compiled in this layout (neither kept nor laid out ahead)
    known = [kept.pages.get(name) for name in names]
    # A piece that changed most likely has as many pages as the piece in its place had (if there are as
    # many pieces): it is laid out first, told the pages before and after it if that holds, so that the
    # others, whose counts are known, are laid out once, with the right numbers.
    before = kept.order if len(kept.order) == len(names) else []
    counts = [count or (before[i] if before else 1) for i, count in enumerate(known)]

    def lay_out_piece(index: int) -> bytes:
        offset, after = sum(counts[:index]), sum(counts[index + 1:])
        key = _key(names[index], offset, after)
        pdf = kept.get(key)
        if pdf is None:
            pdf = ahead.take(key) if ahead else None
            if pdf is None:
                compiled.add(index)
                pdf = compile_one(source(head, tail, bodies[index], offset, after))
            kept.put(key, pdf)
        return pdf

    # The pieces whose counts are not known are laid out first, the longest last: the numbers it is told
    # are then right, and it is not laid out again (the others may be, faster: they are shorter).
    unknown = sorted((i for i, count in enumerate(known) if count is None), key=lambda i: len(bodies[i]))
    if side is not None and before and len(unknown) > 1:
        # After an edit, the pieces that changed are told the counts of the last layout, all alike: laid out
        # two at a time, the longest first (a course's title changes 3 pieces of the skills matrix: 135 ms of
        # layout one after the other, the other core waiting). If some grow, their neighbours are laid out
        # again below (as after a sequential layout, one compile more at most per piece, two at a time).
        longest_first = unknown[::-1]
        for index, pdf in zip(longest_first, two_at_a_time(lay_out_piece, longest_first), strict=True):
            counts[index] = page_count(pdf)
    else:
        for index in unknown:
            counts[index] = page_count(lay_out_piece(index))
    for _ in range(2):  # once more if a piece's count changed with its numbers (no known case)
        if side is not None and len(bodies) > 1:
            pdfs = two_at_a_time(lay_out_piece, range(len(bodies)))
        else:
            pdfs = [lay_out_piece(index) for index in range(len(bodies))]
        found = [page_count(pdf) for pdf in pdfs]
        if found == counts:
            break
        counts = found
    else:
        raise CannotMerge("nombre de pages instable")
    levels = [[len(m.group(1)) for m in LEVEL.finditer(body.encode())] for body in bodies]
    pdf = merge(pdfs, levels, remember, store=kept if store else None, owner=str(cache))
    kept.save([_key(name, sum(counts[:i]), sum(counts[i + 1:])) for i, name in enumerate(names)], names, counts)
    if ahead is not None:
        ahead.start([(_key(names[i], offset, after), functools.partial(source, head, tail, bodies[i], offset, after))
                     for more in MORE_PAGES for i in range(len(bodies))
                     for offset, after in _with_more_pages(counts, i, *more)],
                    [functools.partial(source, head, tail, bodies[i], sum(counts[:i]), sum(counts[i + 1:]))
                     for i in range(len(bodies))], sorted(compiled))
    return pdf


def two_at_a_time(lay_out_piece: Callable[[int], bytes], indices: Iterable[int]) -> list[bytes]:
    """The PDFs of these pieces, laid out two at a time (one on each compiler of lay_out)."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="qualidoc-piece") as pool:
        return list(pool.map(lay_out_piece, indices))


def lay_out_or_whole(compile_source: Compile, head: str, tail: str, bodies: list[str], salt: str,
                     cache: Path | None, said: Callable[[str], None], **options: Any) -> bytes:
    """lay_out(), or, if its pieces cannot be joined (pdf_merge.CannotMerge, a damaged kept piece…), the
    document laid out whole, with the same page breaks, its kept pieces dropped; `said`: why, for the log."""
    try:
        return lay_out(compile_source, head, tail, bodies, salt, cache, **options)
    except typst.TypstError:
        raise  # the content's error: said with the document
    except Exception as e:  # noqa: BLE001 - a layout in pieces that fails is done whole
        said(f"laid out whole: {type(e).__name__}: {e}")
        forget(cache)
        return compile_source(whole(head, tail, bodies))


def _key(name: str, offset: int, after: int) -> str:
    """What a piece's PDF is kept under: its source's digest (`name`) and its numbers."""
    return f"{name}-{offset}-{after}"


def source(head: str, tail: str, body: str, offset: int, after: int) -> bytes:
    """The typst source of a piece with `offset` pages before it and `after` pages after it."""
    return (head.replace(PAGES, str(after)) + f"#counter(page).update({offset + 1})\n" + body + tail).encode()


# The numbers each piece is laid out ahead with (Ahead): pages more before it, after it. A new entry at the end
# of the log adds a page to its piece, or to the last block of the tracking table (one more line), or to both.
MORE_PAGES = ((0, 1), (1, 0), (1, 1), (0, 2))
AHEAD_BYTES = 64 * 2**20  # at most, in memory (the N = 1000 log: some 130 pieces of 130 kB, 4 times)
# After an edit that compiled at most this many pieces, their last versions are compiled again last
# (Ahead.start); more (a first layout, a new style) say nothing of the next edit.
REFRESHED = 4


def _with_more_pages(counts: list[int], index: int, before: int, after: int) -> list[tuple[int, int]]:
    """The numbers of piece `index` with `before` pages more before it and `after` after it, if it has
    pieces there to grow."""
    if before and index == 0 or after and index == len(counts) - 1:
        return []
    return [(sum(counts[:index]) + before, sum(counts[index + 1:]) + after)]


class Ahead:
    """The pieces of the last layout laid out again, while watch waits for the next edit, with a page or two
    more after them or before them (MORE_PAGES; typst_worker.py, on a compiler of its own).

    A new log entry that adds a page changes the numbers of every other piece (the total in their footers):
    in watch at N = 100, 14 pieces were laid out again, 0.4-0.6 s of layout instead of 0.1-0.2 s for the
    pieces that changed. Laid out ahead, those pieces cost the next edit nothing; the work stops as soon as
    an edit comes (the compile under way ends on its own compiler) and runs on idle cores (lowest
    priority); only the last layout's pieces are kept, in memory (AHEAD_BYTES at most).

    Then, on the same compiler, the pieces the edit changed as they were before it (their last versions), and
    this compiler lays out the next edit (`warm`: typst_worker.py swaps the two). typst's memoisation keeps
    what a compile used only for the next 10 compiles of the process, whatever the compiler, and is not
    shared between compilers: laying out ahead left the last layout's compiler cold, and the piece of the
    skills matrix that a course's title changes (a 40-row table) took 47 ms of processor after each save of
    that course. Compiled again as it is, a piece only touches what typst keeps of the whole table (the
    numbers laid out ahead had kept it), not of its cells, which the next edit needs; as it was before the
    edit, its table is laid out again from its cells, and the next edit of one of them takes 15-18 ms.
    """

    def __init__(self, root: Path, compile_source: Compile | None = None):
        self.root = root  # the folder this compiler reads from: the build's folder goes with the build
        self.compile_source = compile_source  # set by the worker for each request (its date, its options)
        self.pdfs: dict[str, bytes] = {}
        self.halt = threading.Event()
        self.thread: threading.Thread | None = None
        self.done = threading.Event()  # the last start's work is all done, the pieces compiled again last
        self.last: list[Callable[[], bytes]] = []  # the source of each piece of the last layout

    @property
    def warm(self) -> bool:
        """Whether this compiler has compiled again the last layout's changed pieces, and is free."""
        return self.done.is_set() and self.thread is not None and not self.thread.is_alive()

    def take(self, key: str) -> bytes | None:
        return self.pdfs.get(key)

    def mirror(self, stage: Path) -> None:
        """Copy what a piece reads from the build's folder (the style; the logo, the only image a document
        may show: see typst_writer.py) to this compiler's folder, if it changed (what was laid out ahead
        with the old files is then dropped)."""
        files = {name: (stage / name).read_bytes() for name in ["style.typ", *(p.name for p in stage.glob("logo.*"))]}
        if files == {p.name: p.read_bytes() for p in self.root.iterdir()}:
            return
        self.stop()
        if self.thread is not None:
            self.thread.join()
        self.pdfs = {}
        for old in self.root.iterdir():
            old.unlink()
        for name, data in files.items():
            (self.root / name).write_bytes(data)

    def stop(self) -> None:
        """Lay nothing more out ahead: an edit has come."""
        self.halt.set()

    def start(self, jobs: list[tuple[str, Callable[[], bytes]]], laid: Sequence[Callable[[], bytes]] = (),
              compiled: Sequence[int] = ()) -> None:
        """Lay out, in the background, each piece (key, source) not laid out yet; then compile again the last
        versions of the pieces this layout compiled (`compiled`, indices in `laid`, the source of each of its
        pieces): see the class."""
        self.stop()
        again = [self.last[i] for i in compiled] if len(self.last) == len(laid) and len(compiled) <= REFRESHED else []
        self.last = list(laid)
        wanted = {key for key, _ in jobs}
        self.pdfs = {key: pdf for key, pdf in self.pdfs.items() if key in wanted}
        todo = [(key, make) for key, make in jobs if key not in self.pdfs]
        self.done = threading.Event()
        if not todo and not again or self.compile_source is None:
            return
        self.halt = threading.Event()
        # The last thread may still be in its last compile, slowly (lowest priority): the new one waits for it,
        # not the layout that has just been made, whose PDF is on its way (waiting here took it 40 ms).
        self.thread = threading.Thread(target=self._run, name="qualidoc-ahead", daemon=True,
                                       args=(todo, list(again), self.compile_source, self.halt, self.pdfs,
                                             self.thread, self.done))
        self.thread.start()

    @staticmethod
    def _run(todo: list[tuple[str, Callable[[], bytes]]], again: list[Callable[[], bytes]], compile_source: Compile,
             halt: threading.Event, pdfs: dict[str, bytes], last: threading.Thread | None,
             done: threading.Event) -> None:
        if sys.platform.startswith("linux"):  # this thread only (typst compiles in it): the idle cores' work
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        if last is not None:
            last.join()  # one compile at a time on this compiler
        size = sum(len(pdf) for pdf in pdfs.values())
        try:
            for key, make in todo:
                if halt.is_set():
                    return
                if size <= AHEAD_BYTES:
                    pdfs[key] = compile_source(make())
                    size += len(pdfs[key])
            for make in again:
                if halt.is_set():
                    return
                compile_source(make())  # only what typst memoises is wanted, not the PDF
        except Exception:  # noqa: BLE001 - only ahead of time: the next layout compiles it, and says why
            return
        if again:
            done.set()


def whole(head: str, tail: str, bodies: list[str]) -> bytes:
    """The source of the document laid out at once, with the same page breaks as in pieces."""
    return (head.replace(PAGES, "0") + with_breaks(bodies) + tail).encode()


def forget(cache: Path | None) -> None:
    """Drop the pieces kept of a document whose pieces could not be joined (a damaged file, say)."""
    for kept in cache.glob("*") if cache and cache.is_dir() else ():
        kept.unlink(missing_ok=True)


def kept_order(cache: Path | None) -> list[int]:
    """The page counts of the pieces of a document's last layout kept in `cache` (none kept: empty)."""
    return _Kept(cache).order


def page_count(pdf: bytes) -> int:
    match = PAGE_COUNT.search(pdf)
    if match is None:
        raise CannotMerge("nombre de pages introuvable")
    return int(match.group(1))


class _Kept:
    """The pieces' PDFs kept in a folder (one per document), with their page counts."""

    def __init__(self, folder: Path | None):
        self.folder = folder
        self.used: dict[str, bytes] = {}
        self.new: set[str] = set()
        # pieces' objects renumbered in a command's join (pdf_merge.Written): new, or None if read; None in watch,
        # which keeps them in memory (and leaves those on disk for the next command)
        self.written: dict[str, bytes | None] | None = None
        try:
            kept = json.loads((folder / "pages.json").read_bytes()) if folder else {}
        except (OSError, ValueError):
            kept = {}
        pages = kept.get("pages") if isinstance(kept, dict) else None
        order = kept.get("order") if isinstance(kept, dict) else None
        self.pages: dict[str, int] = {k: v for k, v in pages.items() if isinstance(v, int) and v > 0} \
            if isinstance(pages, dict) else {}
        self.order: list[int] = order if isinstance(order, list) and all(
            isinstance(v, int) and v > 0 for v in order) else []

    def get(self, key: str) -> bytes | None:
        if key in self.used:
            return self.used[key]
        try:
            pdf = (self.folder / f"{key}.pdf").read_bytes() if self.folder else None
        except OSError:
            return None
        if pdf is not None:
            self.used[key] = pdf
        return pdf

    def put(self, key: str, pdf: bytes) -> bytes:
        self.used[key] = pdf
        self.new.add(key)
        return pdf

    def get_written(self, key: str) -> bytes | None:
        try:
            dumped = (self.folder / f"{key}.objects").read_bytes() if self.folder else None
        except OSError:
            return None
        self._written()[key] = None
        return dumped

    def put_written(self, key: str, dumped: bytes) -> None:
        self._written()[key] = dumped

    def _written(self) -> dict[str, bytes | None]:
        if self.written is None:
            self.written = {}
        return self.written

    def save(self, keys: list[str], names: list[str], counts: list[int]) -> None:
        """Keep the pieces of this layout only, and their objects renumbered in its join (a cache: a failure
        costs the next edit a layout, or a renumbering)."""
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            final = set(keys)
            for key in self.new & final:
                write_atomic(self.folder / f"{key}.pdf", self.used[key], durable=False)
            for stale in self.folder.glob("*.pdf"):
                if stale.stem not in final:
                    stale.unlink(missing_ok=True)
            if self.written is not None:
                for key, dumped in self.written.items():
                    if dumped is not None:
                        write_atomic(self.folder / f"{key}.objects", dumped, durable=False)
                for stale in self.folder.glob("*.objects"):
                    if stale.stem not in self.written:
                        stale.unlink(missing_ok=True)
            write_atomic(self.folder / "pages.json", json.dumps(
                {"pages": dict(zip(names, counts, strict=True)), "order": counts}).encode(), durable=False)
        except OSError:
            pass
