"""Finish a PDF written by typst: viewers show the document's title, not its file name.

typst writes no /DisplayDocTitle. Rewriting the whole file would cost more than compiling it; an
incremental update (a new version of the catalogue object, appended with its own cross-reference
section, as PDF editors do) costs a few microseconds and keeps the bytes deterministic.
"""

from __future__ import annotations

import re

STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF\s*$")
TRAILER = re.compile(rb"trailer\s*<<(.*?)>>\s*startxref", re.S)


def display_doc_title(pdf: bytes) -> bytes:
    """Return the PDF with /DisplayDocTitle true in its catalogue (unchanged if its layout is not the expected one)."""
    end = STARTXREF.search(pdf[-64:])
    trailer = TRAILER.search(pdf, max(0, len(pdf) - 2048))
    root = re.search(rb"/Root\s+(\d+)\s+0\s+R", trailer.group(1)) if trailer else None
    if not (end and trailer and root) or b"/DisplayDocTitle" in pdf:
        return pdf
    number = root.group(1)
    start = pdf.rfind(b"\n" + number + b" 0 obj")
    stop = pdf.find(b"endobj", start)
    if start < 0 or stop < 0:
        return pdf
    body = pdf[start + len(number) + 7:stop].strip()
    if b"/ViewerPreferences<<" in body:
        body = body.replace(b"/ViewerPreferences<<", b"/ViewerPreferences<</DisplayDocTitle true", 1)
    elif body.startswith(b"<<"):
        body = b"<</ViewerPreferences<</DisplayDocTitle true>>" + body[2:]
    else:
        return pdf
    offset = len(pdf) + 1
    update = b"\n" + number + b" 0 obj\n" + body + b"\nendobj\n"
    xref = offset + len(update) - 1
    fields = re.sub(rb"/Prev\s+\d+", b"", trailer.group(1))
    update += (b"xref\n0 1\n0000000000 65535 f \n" + number + b" 1\n" + b"%010d 00000 n \n" % offset
               + b"trailer\n<<" + fields + b"/Prev " + end.group(1) + b">>\nstartxref\n%d\n%%%%EOF\n" % xref)
    return pdf + update
