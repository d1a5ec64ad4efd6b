"""The typst adapter: typst compilers kept warm, with no network and no system fonts, and the source they read."""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typst

from pipeline.typst_writer import string_literal


class _Compilers:
    """typst compilers kept for the life of the process, each used by one thread at a time.

    A compiler keeps what it has laid out: documents that share paragraphs compile faster, and in
    watch mode a rebuild finds the previous build's layout ready (a programme: 0.05 s instead of 0.15 s).
    Compilers are told the stage folder at each compile; they are kept per set of font files.
    """

    def __init__(self) -> None:
        self._free: dict[tuple, list[typst.Compiler]] = {}
        self._lock = threading.Lock()
        # Large documents are laid out one at a time: typst keeps about 1 MB per page while it lays a
        # document out, and two 100-page documents at once would double the build's peak memory.
        self._large = threading.Lock()
        self.forget_large = True  # watch keeps them: the next edit lays out only what changed

    @contextmanager
    def borrow(self, fonts: Path, large: str = "") -> Iterator[typst.Compiler]:
        """A compiler for these fonts; a large document (`large`: its path) has one of its own, which finds
        its previous layout in watch mode (typst's cache is only of use to the compiler that filled it)."""
        files = sorted(fonts.iterdir()) if fonts.is_dir() else []
        key = (str(fonts), large, *((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files))
        with self._lock:
            free = self._free.setdefault(key, [])
            compiler = free.pop() if free else None
        if compiler is None:
            no_packages = tempfile.mkdtemp(prefix="qualidoc-no-packages-")  # empty: no package is ever found
            compiler = typst.Compiler(root=str(fonts.parent), ignore_system_fonts=True,
                                      font_paths=[str(fonts)] if fonts.is_dir() else [],
                                      package_path=no_packages, package_cache_path=no_packages)
        try:
            if large:
                with self._large:
                    yield compiler
                    if self.forget_large:
                        _forget(compiler)
            else:
                yield compiler
        finally:
            with self._lock:
                free.append(compiler)


def _forget(compiler: typst.Compiler) -> None:
    """Free the layout typst keeps of a large document, and give the memory back to the system.

    typst keeps what it laid out until ten compilations have not used it: ten empty ones age it out.
    """
    for _ in range(10):
        compiler.compile(input=b"", format="pdf")
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


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
def typst_source(meta: dict[str, str], body: str) -> str:
    """The typst source of a document: the style, the document's texts as data, its body.

    The texts (title, header, footer) are typst string literals in a `metadata` element that the style
    reads with a query: the show rule stays the same from one document to the next, so the compiler
    reuses its layout of what documents share (measured: about half the time of one compile per
    document with its texts in `sys.inputs` or as arguments of the show rule). The document's
    properties come last, so that they are not part of the styles its body is laid out with.
    """
    data = ", ".join(f"{key}: {string_literal(value)}" for key, value in meta.items())
    return (f'#import "style.typ": *\n#let meta = ({data},)\n#show: qualidoc\n#metadata(meta) <qualidoc-meta>\n'
            f"{body}\n#set document(title: meta.title, author: meta.organisation)\n")


def pdf_timestamp(version: dt.date) -> dt.datetime:
    return dt.datetime(version.year, version.month, version.day, tzinfo=dt.UTC)
