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

import hashlib
import json
import queue
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pipeline.chunks import with_breaks
from pipeline.pdf_merge import CannotMerge, merge
from pipeline.state import write_atomic
from pipeline.typst_adapter import PAGES

LEVEL = re.compile(rb"^(=+) ", re.M)
PAGE_COUNT = re.compile(rb"<</Type/Pages/Count (\d+)/Kids")

Compile = Callable[[bytes], bytes]


def lay_out(compile_source: Compile, head: str, tail: str, bodies: list[str], salt: str,
            cache: Path | None, remember: bool = False, side: Compile | None = None) -> bytes:
    """The PDF of the document whose source is `head`, the bodies, `tail`; `salt`: what else its layout
    depends on (fonts, date, PDF options); `cache`: the folder where its pieces' PDFs are kept;
    `remember`: this process lays the document out again after the next edit (watch: see pdf_merge);
    `side`: a second compiler, with which the pieces are laid out two at a time in their last pass."""
    kept = _Kept(cache)
    # One compile at a time on each compiler (typst's binding refuses a second one: "Already borrowed");
    # it releases the GIL while it compiles, so two compilers in two threads use two cores (1.65x alone).
    # When a new log entry adds a page, every piece is laid out again for its footer's total: in watch at
    # N = 100 on 2 cores, where pandoc writes the DOCX meanwhile, 14 pieces took 0.59-0.81 s instead of
    # 0.72-0.89 s (3 runs each): the gain grows with the cores.
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
    known = [kept.pages.get(name) for name in names]
    # A piece that changed most likely has as many pages as the piece in its place had (if there are as
    # many pieces): it is laid out first, told the pages before and after it if that holds, so that the
    # others, whose counts are known, are laid out once, with the right numbers.
    before = kept.order if len(kept.order) == len(names) else []
    counts = [count or (before[i] if before else 1) for i, count in enumerate(known)]

    def lay_out_piece(index: int) -> bytes:
        offset, after = sum(counts[:index]), sum(counts[index + 1:])
        key = f"{names[index]}-{offset}-{after}"
        return kept.get(key) or kept.put(key, compile_one(
            (head.replace(PAGES, str(after)) + f"#counter(page).update({offset + 1})\n" + bodies[index]
             + tail).encode()))

    # The pieces whose counts are not known are laid out first, the longest last: the numbers it is told
    # are then right, and it is not laid out again (the others may be, faster: they are shorter).
    unknown = sorted((i for i, count in enumerate(known) if count is None), key=lambda i: len(bodies[i]))
    for index in unknown:
        counts[index] = page_count(lay_out_piece(index))
    for _ in range(2):  # once more if a piece's count changed with its numbers (no known case)
        if side is not None and len(bodies) > 1:
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="qualidoc-piece") as pool:
                pdfs = list(pool.map(lay_out_piece, range(len(bodies))))
        else:
            pdfs = [lay_out_piece(index) for index in range(len(bodies))]
        found = [page_count(pdf) for pdf in pdfs]
        if found == counts:
            break
        counts = found
    else:
        raise CannotMerge("nombre de pages instable")
    levels = [[len(m.group(1)) for m in LEVEL.finditer(body.encode())] for body in bodies]
    pdf = merge(pdfs, levels, remember)
    kept.save([f"{name}-{sum(counts[:i])}-{sum(counts[i + 1:])}" for i, name in enumerate(names)], names, counts)
    return pdf


def whole(head: str, tail: str, bodies: list[str]) -> bytes:
    """The source of the document laid out at once, with the same page breaks as in pieces."""
    return (head.replace(PAGES, "0") + with_breaks(bodies) + tail).encode()


def forget(cache: Path | None) -> None:
    """Drop the pieces kept of a document whose pieces could not be joined (a damaged file, say)."""
    for kept in cache.glob("*") if cache and cache.is_dir() else ():
        kept.unlink(missing_ok=True)


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

    def save(self, keys: list[str], names: list[str], counts: list[int]) -> None:
        """Keep the pieces of this layout only (a cache: a failure costs the next edit a layout)."""
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            final = set(keys)
            for key in self.new & final:
                write_atomic(self.folder / f"{key}.pdf", self.used[key])
            for stale in self.folder.glob("*.pdf"):
                if stale.stem not in final:
                    stale.unlink(missing_ok=True)
            write_atomic(self.folder / "pages.json", json.dumps(
                {"pages": dict(zip(names, counts, strict=True)), "order": counts}).encode())
        except OSError:
            pass
