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

import datetime as dt
import json
import sys
from pathlib import Path
from typing import BinaryIO

import typst


def main() -> None:
    from pipeline.typst_adapter import new_compiler

    # Two compilers: the pieces of a document are laid out two at a time (pieces.lay_out); typst's
    # memoisation is the process's, shared by both (a second compiler: 7 ms, 1 MB).
    compilers = (new_compiler(Path(sys.argv[1])), new_compiler(Path(sys.argv[1])))
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    try:
        for line in requests:
            _answer(compilers, json.loads(line), requests, replies)
    except (KeyboardInterrupt, BrokenPipeError):  # Ctrl-C in watch, or the build has gone: nothing to say
        pass


def _answer(compilers: tuple[typst.Compiler, typst.Compiler], request: dict, requests: BinaryIO,
            replies: BinaryIO) -> None:
    from pipeline import pieces

    def with_compiler(compiler: typst.Compiler) -> pieces.Compile:
        def compile_source(source: bytes) -> bytes:
            pdf = compiler.compile(input=source, format="pdf", root=request["root"],
                                   timestamp=dt.datetime.fromisoformat(request["timestamp"]),
                                   pdf_standards=request["pdf_standards"])
            assert isinstance(pdf, bytes)
            return pdf
        return compile_source

    compile_source, side = (with_compiler(compiler) for compiler in compilers)

    try:
        if "sizes" in request:
            bodies = [requests.read(size).decode() for size in request["sizes"]]
            head, tail = request["head"], request["tail"]
            cache = Path(request["cache"]) if request.get("cache") else None
            try:
                pdf = pieces.lay_out(compile_source, head, tail, bodies, request["salt"], cache,
                                     remember=bool(request.get("remember")), side=side)
            except typst.TypstError:
                raise
            except Exception as e:  # noqa: BLE001 - pieces that cannot be joined (pdf_merge.CannotMerge)
                print(f"qualidoc: laid out whole: {type(e).__name__}: {e}", file=sys.stderr)
                pieces.forget(cache)
                pdf = compile_source(pieces.whole(head, tail, bodies))
        else:
            pdf = compile_source(requests.read(request["size"]))
    except typst.TypstError as e:
        reply = {"error": e.message, "diagnostic": str(getattr(e, "diagnostic", ""))}
        replies.write(json.dumps(reply).encode() + b"\n")
    else:
        replies.write(json.dumps({"size": len(pdf)}).encode() + b"\n" + pdf)
    replies.flush()


if __name__ == "__main__":
    main()
