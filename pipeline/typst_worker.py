"""A process of its own that lays out the large documents (the improvement log, the skills matrix).

typst's memoisation caches are global to a process and never shrink: after a 100-page layout, every later
compile of a small document in the same process is 15 % slower, after 800 pages twice as slow (measured:
9 ms → 17 ms a programme, for good). Laid out here, the large documents leave the build's caches small,
and the memory their layout takes goes back to the system when this process ends, at the end of a build
(watch keeps it, and with it the layout, so that the next edit lays out only what changed).

Protocol, one request at a time: on stdin a JSON line (root, timestamp, pdf_standards, size) and `size`
bytes of typst source; or, for a document in pieces (pieces.py), a JSON line (root, timestamp,
pdf_standards, head, tail, salt, cache, remember, sizes) and the pieces' bodies, `sizes` bytes each; on stdout a JSON
line, {"size": n} followed by n bytes of PDF, or {"error": message, "diagnostic": text}.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import typst

if TYPE_CHECKING:
    from pipeline import pieces
    from pipeline.typst_adapter import LayoutProcess


def main() -> None:
    from pipeline import pieces
    from pipeline.typst_adapter import LayoutProcess, new_compiler

    # One compiler; in watch, a second lays the pieces out ahead of the next edit with other page numbers
    # (pieces.Ahead), then the pieces the edit changed as they were, and lays out the next edit while the
    # first one lays out ahead; and a process of its own lays the pieces out beside this one, two at a time.
    # Not two compilers laying out at once here: in one process they barely go faster than one (1.1-1.3x on
    # 2 cores, their processor time up by half: typst's caches are the process's, though neither finds what
    # the other memoised); two processes go twice as fast.
    # Terminated, or its terminal closed (watch's process group): as for Ctrl-C, what it made goes with it
    # (pieces.Ahead's folder in /tmp, the process beside); killed by either, it left them behind.
    for name in ("SIGTERM", "SIGHUP"):
        signal.signal(getattr(signal, name), signal.default_int_handler)
    fonts = Path(sys.argv[1])
    compilers: tuple[typst.Compiler, ...] = (new_compiler(fonts),)
    ahead: pieces.Ahead | None = None
    beside: LayoutProcess | None = None
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    try:
        for line in requests:
            if ahead is not None:
                compilers = _warm_first(compilers, ahead)
                ahead.stop()  # an edit: what is laid out ahead stops taking a core
            request = json.loads(line)
            if request.get("remember") and ahead is None:
                # Its own copy of what typst reads from the build's folder (removed when the build ends).
                ahead = pieces.Ahead(root=Path(tempfile.mkdtemp(prefix="qualidoc-ahead-")))
                compilers = (*compilers, new_compiler(fonts))
                with contextlib.suppress(OSError):  # (none: the pieces are laid out one at a time)
                    beside = LayoutProcess(fonts)
            _answer(compilers, request, requests, replies, ahead, beside)
    except (KeyboardInterrupt, BrokenPipeError):  # Ctrl-C in watch, or the build has gone: nothing to say
        pass
    finally:
        if ahead is not None:
            ahead.stop()
            shutil.rmtree(ahead.root, ignore_errors=True)
        if beside is not None:
            beside.close()
    # Every reply is written and flushed, every kept piece saved: the end of the process gives typst's caches
    # back at once (tearing the interpreter down freed them one by one: 30 ms a process, which the build
    # waits for, as for cli.run).
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):
            stream.flush()
    os._exit(0)


def _warm_first(compilers: tuple[typst.Compiler, ...], ahead: pieces.Ahead) -> tuple[typst.Compiler, ...]:
    """The compilers for the next request, the first laying it out: the one that laid out ahead, if it has
    compiled again the pieces the last edit changed and is done (pieces.Ahead.warm); the other lays out ahead."""
    return (compilers[1], compilers[0]) if len(compilers) == 2 and ahead.warm else compilers


def _answer(compilers: tuple[typst.Compiler, ...], request: dict, requests: BinaryIO, replies: BinaryIO,
            ahead: pieces.Ahead | None = None, beside: LayoutProcess | None = None) -> None:
    """Answer one request; with `ahead` and a second compiler (watch), lay pieces out ahead of the next edit;
    with `beside` (watch), lay the pieces out two at a time, with that process."""
    from pipeline import pieces
    from pipeline.typst_adapter import compiling

    def with_compiler(compiler: typst.Compiler, root: str = request["root"]) -> pieces.Compile:
        return compiling(compiler, root, dt.datetime.fromisoformat(request["timestamp"]), request["pdf_standards"])

    compile_source, side = with_compiler(compilers[0]), None
    if beside is not None and request.get("remember"):
        compile_source, side = _with_process(beside, request, compile_source)
    try:
        if ahead is not None and len(compilers) > 1 and request.get("remember"):
            ahead.mirror(Path(request["root"]))
            ahead.compile_source = with_compiler(compilers[1], str(ahead.root))
        else:
            ahead = None
    except OSError:  # its folder cannot be written: nothing laid out ahead, the layout itself goes on
        ahead = None

    try:
        if "sizes" in request:
            bodies = [requests.read(size).decode() for size in request["sizes"]]
            head, tail = request["head"], request["tail"]
            cache = Path(request["cache"]) if request.get("cache") else None
            pdf = pieces.lay_out_or_whole(compile_source, head, tail, bodies, request["salt"], cache,
                                          lambda why: print(f"qualidoc: {why}", file=sys.stderr),
                                          remember=bool(request.get("remember")),
                                          store=not request.get("remember"), side=side, ahead=ahead)
        else:
            pdf = compile_source(requests.read(request["size"]))
    except typst.TypstError as e:
        reply = {"error": e.message, "diagnostic": str(getattr(e, "diagnostic", ""))}
        replies.write(json.dumps(reply).encode() + b"\n")
    else:
        replies.write(json.dumps({"size": len(pdf)}).encode() + b"\n" + pdf)
    replies.flush()


def _with_process(beside: LayoutProcess, request: dict, here: pieces.Compile
                  ) -> tuple[pieces.Compile, pieces.Compile]:
    """`here` (this process's compiler, one compile at a time) and a compile by the process `beside`, which
    compiles here if that process fails: its typst error is then said from here, and a process that has
    stopped is not started again."""
    from pipeline.typst_adapter import LayoutFailed

    options = {key: request[key] for key in ("root", "timestamp", "pdf_standards")}
    lock = threading.Lock()

    def compile_here(source: bytes) -> bytes:
        with lock:
            return here(source)

    def compile_beside(source: bytes) -> bytes:
        try:
            return beside.compile({**options, "size": len(source)}, source)
        except LayoutFailed:
            return compile_here(source)
    return compile_here, compile_beside


if __name__ == "__main__":
    main()
