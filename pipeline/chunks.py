"""Large documents in parts: the typst markup of each part is kept between builds.

The improvement log and the skills matrix are a few hundred kilobytes of Markdown; an edit changes one
or two of their parts (an entry, a trainer's CV). Their Markdown is cut before its headings, where a
part cannot depend on what comes before it: outside fenced divs and code, after a blank line, in a text
with no link reference definition (the only thing CommonMark resolves across the whole text). Each part's
typst markup is kept, keyed by its Markdown; an edit has pandoc read only the parts that changed, and the
PDF is laid out at once; the DOCX is joined from the parts' DOCX content the same way (docx_parts.py).

The parts are joined exactly as `write_typst` joins blocks, so the PDF is the same bytes as without parts
(tests/test_chunks.py compares both on every document).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.state import write_atomic

MARKER = "\ue000QDCHUNK\ue000"  # a paragraph between parts (private-use characters: never from content)
HEADING = re.compile(r"#{1,6}(?:[ \t]|$)")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:", re.MULTILINE)
FENCE = re.compile(r"(`{3,}|~{3,})")
DIV = re.compile(r"(:{3,})(.*)$")
LANDSCAPE = re.compile(r":{3,}[ \t]*(?:landscape|\{[^}]*\.landscape\b[^}]*\})[ \t]*$")


def split(text: str) -> list[str] | None:
    """Cut Markdown before its top-level headings and landscape sections: `"\\n".join(parts) == text`;
    None where it cannot be cut (a landscape section turns the page: the blocks of a long table, each in a
    section of its own, are parts and pieces of their own, see the templates)."""
    if REFERENCE_DEFINITION.search(text) or MARKER in text:
        return None
    lines = text.split("\n")
    parts: list[list[str]] = [[]]
    fence, depth = "", 0
    for line in lines:
        if fence:
            if line.startswith(fence) and not line[len(fence):].strip(" `~"):
                fence = ""
        elif (opening := FENCE.match(line)) is not None:
            fence = opening.group(1)
        elif (div := DIV.match(line)) is not None:
            if depth == 0 and LANDSCAPE.match(line) and parts[-1] and parts[-1][-1] == "":
                parts.append([])
            depth += 1 if div.group(2).strip() else -1
            depth = max(depth, 0)
        elif depth == 0 and HEADING.match(line) and parts[-1] and parts[-1][-1] == "":
            parts.append([])
        parts[-1].append(line)
    return ["\n".join(part) for part in parts] if len(parts) > 1 else None


def marked(parts: list[str]) -> str:
    """The text with a marker paragraph between parts (convert.lua takes them out of the document)."""
    return f"\n{MARKER}\n\n".join(parts)


def join(fragments: list[str]) -> str:
    """A document's typst body from its parts' markup, as `write_typst` writes the whole."""
    return "\n\n".join(fragment for fragment in fragments if fragment) + "\n"


PIECE_SIZE = 16_000  # characters of markup in a piece of a large document's PDF before it may end: ~5 pages
TURNS_PAGE = ("#pagebreak(weak: true)", "#set page(flipped: false)")  # what typst_writer.py writes for them
LANDSCAPE_START = "#set page(flipped: true)"  # the start of a landscape section, which turns the page too
LANDSCAPE_END = TURNS_PAGE[1]
LEVEL = re.compile(r"(=+) ")


def pieces(fragments: list[str]) -> list[list[str]]:
    """Group a large document's parts' markup in the pieces its PDF is laid out in (pieces.py).

    A piece ends before and after a landscape section (the blocks of a long table: see the templates),
    where the document turns the page anyway (a page break: between two trainers' CVs) once it has
    PIECE_SIZE characters, or, once it has twice as many, between two headings of the same level (two
    entries of the log: the next one then starts a page). After a landscape section, always: a line more in
    the last block of the log's tracking table would otherwise move where every following piece ends (each
    entry's sheet laid out again for a new entry; measured in watch at N = 100: 8 pieces instead of 1).
    """
    groups: list[list[str]] = [[]]
    previous, size = 0, 0
    for fragment in filter(None, fragments):
        heading = LEVEL.match(fragment)
        level = len(heading.group(1)) if heading else 0
        current = groups[-1]
        if current and (fragment.startswith(LANDSCAPE_START) or current[-1].rstrip().endswith(LANDSCAPE_END)
                        or size >= PIECE_SIZE and current[-1].rstrip().endswith(TURNS_PAGE)
                        or size >= 2 * PIECE_SIZE and level and level == previous):
            groups.append([])
            size = 0
        groups[-1].append(fragment)
        previous, size = level, size + len(fragment)
    return groups


@dataclass
class Parts:
    """One large document's parts, their markup known so far, and whether its PDF has started."""

    keys: list[str]
    texts: dict[str, str]
    fragments: dict[str, str]
    cache: Path
    started: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The DOCX side (docx_parts.py): each part's own content by key, with what it needs ("needs"), and the
    # frame they share, written for `frame_needs`; kept in a file of their own, valid for `docx_salt`.
    docx: dict[str, dict] = field(default_factory=dict)
    frame: dict | None = None
    frame_needs: str = ""
    docx_salt: str = ""
    fits: bool = False  # pandoc found that the parts make the DOCX (convert.lua)
    joined: bool = False  # the DOCX is joined, or being joined
    docx_out: bool = False  # the joined DOCX is handed over

    @classmethod
    def of(cls, parts: list[str], cache: Path, salt: str, docx_salt: str = "") -> Parts:
        keys = [hashlib.sha256(f"{salt}\0{part}".encode()).hexdigest()[:32] for part in parts]
        kept = read_json(cache)
        fragments = {key: kept[key] for key in keys if isinstance(kept.get(key), str)}
        held = cls(keys, dict(zip(keys, parts, strict=True)), fragments, cache, docx_salt=docx_salt)
        docx = read_json(held.docx_cache)
        kept_parts = docx.get("parts")
        if docx.get("salt") == docx_salt and isinstance(docx.get("frame"), dict) and isinstance(kept_parts, dict):
            held.frame, held.frame_needs = docx["frame"], str(docx.get("needs", ""))
            held.docx = {key: kept_parts[key] for key in keys if isinstance(kept_parts.get(key), dict)}
        return held

    @property
    def docx_cache(self) -> Path:
        return self.cache.with_suffix(".docx.json")

    def docx_fits_ahead(self) -> bool:
        """Whether the DOCX can come from the parts: a frame is kept, and every part's DOCX is kept or is
        among those pandoc reads again (their needs are known once read: see convert.lua)."""
        return self.frame is not None and all(key in self.docx or key in self.missing for key in self.keys)

    def save_docx(self) -> None:
        """Keep the DOCX content of the parts of this version, with their frame."""
        try:
            write_atomic(self.docx_cache, json.dumps(
                {"salt": self.docx_salt, "needs": self.frame_needs, "frame": self.frame,
                 "parts": {key: self.docx[key] for key in dict.fromkeys(self.keys)}}, ensure_ascii=False).encode(),
                durable=False)
        except OSError:
            pass  # only a cache: the next edit writes the whole DOCX again

    @property
    def missing(self) -> list[str]:
        return [key for key in dict.fromkeys(self.keys) if key not in self.fragments]

    @property
    def from_parts(self) -> bool:
        """Whether the PDF is laid out from the parts (kept, or read again) rather than from the whole tree: at
        most half of its distinct parts are to be read (a part that comes back, the same text, is read once).
        Counted against all its parts, a log whose entries repeat themselves had its 34 distinct parts read one
        by one in a first build, besides the whole document that its DOCX is read from anyway."""
        return len(self.missing) <= len(set(self.keys)) // 2

    def body(self) -> str:
        return join([self.fragments[key] for key in self.keys])

    def pieces(self) -> list[str]:
        """The typst bodies of the pieces the PDF is laid out in (see pieces())."""
        return [join(group) for group in pieces([self.fragments[key] for key in self.keys])]

    def start(self) -> bool:
        """Claim the PDF: true the first time only (the parts and the whole tree may both arrive)."""
        with self.lock:
            started, self.started = self.started, True
            return not started

    def save(self) -> None:
        """Keep the markup of the parts of this version only."""
        try:
            write_atomic(self.cache, json.dumps({key: self.fragments[key] for key in dict.fromkeys(self.keys)},
                                                ensure_ascii=False).encode(), durable=False)
        except OSError:
            pass  # only a cache: the next edit reads the whole document again


def with_breaks(bodies: list[str]) -> str:
    """The body of a document laid out whole, with the page breaks of its pieces."""
    return "\n#pagebreak(weak: true)\n\n".join(bodies)


def read_json(path: Path) -> dict:
    """A JSON object kept in the user cache; {} if it is missing, damaged or not an object."""
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return kept if isinstance(kept, dict) else {}
