"""Split a DOCX that pandoc wrote for several documents into one DOCX per document.

Pandoc's DOCX writer costs about 25 ms per call whatever the document's size, so the build writes
documents in groups (see convert.lua), each followed by a marker paragraph, and splits the result here.
A document's bytes must not depend on the group it was written with: pandoc numbers relationships,
drawings and bookmarks with one counter over the whole file and lists from 1001, so each part gets
its own numbers, in order of appearance, and keeps only the lists, images and links it uses.
Documents with comments (numbered in a part of their own) are always written alone; the reader has no
footnotes.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

# The heading convert.lua puts after each document (private-use characters: content never holds them
# in practice, and a count that does not match fails the group instead of mixing documents).
MARKER = re.compile('<w:p><w:pPr><w:pStyle w:val="[^"]*" ?/></w:pPr><w:r><w:t xml:space="preserve">'
                    "\ue000QDSPLIT\ue000</w:t></w:r></w:p>")
DOCUMENT = "word/document.xml"
RELS = "word/_rels/document.xml.rels"
NUMBERING = "word/numbering.xml"
TYPES = "[Content_Types].xml"

# Every number pandoc takes from its one counter, in document.xml (comments excepted).
COUNTED = re.compile(r'((?:r:embed|r:id|r:link)="rId|<wp:docPr [^>]*?\bid="|<pic:cNvPr [^>]*?\bid="'
                     r'|<w:bookmark(?:Start|End) w:id=")(\d+)"')
# How each of COUNTED's matches starts: a document of 100 pages has a handful of them in 850 kB, which
# COUNTED's scan tries at every "<" and "r" (7 ms a pass, three passes a join); these are found by a
# plain search, and COUNTED is tried only where one of them is.
COUNTED_STARTS = ('r:embed="rId', 'r:id="rId', 'r:link="rId', "<wp:docPr ", "<pic:cNvPr ", '<w:bookmarkStart w:id="',
                  '<w:bookmarkEnd w:id="')

RELATION = re.compile(r"<Relationship [^>]*/>")
RELATION_ID = re.compile(r'\bId="rId(\d+)"')
TARGET = re.compile(r'\bTarget="([^"]*)"')
NUM_ID = re.compile(r'<w:numId w:val="(\d+)"')
NUM = re.compile(r'<w:num w:numId="(\d+)".*?</w:num>', re.S)
ABSTRACT = re.compile(r'<w:abstractNum w:abstractNumId="(\d+)".*?</w:abstractNum>', re.S)
ABSTRACT_REF = re.compile(r'<w:abstractNumId w:val="(\d+)"')
FIRST_ID = 1000


def counted(text: str) -> list[re.Match[str]]:
    """COUNTED's matches in `text`, as COUNTED.finditer gives them."""
    starts: list[int] = []
    for start in COUNTED_STARTS:
        position = text.find(start)
        while position >= 0:
            starts.append(position)
            position = text.find(start, position + 1)
    matches: list[re.Match[str]] = []
    end = 0
    for position in sorted(starts):
        if position >= end:
            match = COUNTED.match(text, position)
            if match is not None:
                matches.append(match)
                end = match.end()
    return matches


def counted_sub(replace: Callable[[re.Match[str]], str], text: str) -> str:
    """COUNTED.sub(replace, text)."""
    matches = counted(text)
    if not matches:
        return text
    out: list[str] = []
    last = 0
    for match in matches:
        out += (text[last:match.start()], replace(match))
        last = match.end()
    out.append(text[last:])
    return "".join(out)


@dataclass
class Group:
    """A group DOCX read: its parts (name → bytes), their order, and its body cut at the markers."""

    parts: dict[str, bytes]
    original: list[str]
    head: str
    bodies: list[str]
    tail: str

    @classmethod
    def read(cls, data: bytes, count: int) -> Group:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            original = archive.namelist()
            parts = {name: archive.read(name) for name in original}
        xml = parts[DOCUMENT].decode()
        start = xml.index("<w:body>") + len("<w:body>")
        pieces = MARKER.split(xml[start:])
        if len(pieces) != count + 1:
            raise ValueError(f"expected {count} documents in the grouped DOCX, found {len(pieces) - 1}")
        return cls(parts, original, xml[:start], [piece.strip() for piece in pieces[:-1]], pieces[-1])

    def documents(self) -> list[dict[str, bytes]]:
        """Each document's parts, in the order to zip them, numbered on its own."""
        used_anywhere = {match.group(2) for body in self.bodies for match in counted(body)}
        lists = _Lists(self.parts[NUMBERING].decode()) if NUMBERING in self.parts else None
        documents = [_document_parts(self.parts, self.head, body, self.tail, used_anywhere, lists)
                     for body in self.bodies]
        return [{name: document[name] for name in _ordered_names(document, self.original)}
                for document in documents]


def split_docx(data: bytes, count: int) -> list[dict[str, bytes]]:
    """Return the parts (name → bytes, in the order to zip them) of each of the `count` documents."""
    return Group.read(data, count).documents()


def _document_parts(parts: dict[str, bytes], head: str, body: str, tail: str, used_anywhere: set[str],
                    lists: _Lists | None) -> dict[str, bytes]:
    numbers: dict[str, str] = {}

    def renumber(match: re.Match[str]) -> str:
        new = numbers.setdefault(match.group(2), str(FIRST_ID + len(numbers)))
        return f'{match.group(1)}{new}"'

    body = counted_sub(renumber, body)
    result = dict(parts)
    if lists:
        body, result[NUMBERING] = lists.own(body)
    result[DOCUMENT] = f"{head}\n{body}\n{tail.lstrip()}".encode()
    _own_relations(result, parts, numbers, used_anywhere)
    return result


class _Lists:
    """The group's numbering part, read once; `own` gives one document its lists."""

    def __init__(self, numbering: str):
        self.nums = {m.group(1): m.group() for m in NUM.finditer(numbering)}
        self.abstracts = {m.group(1): m.group() for m in ABSTRACT.finditer(numbering)}
        # The reference's own lists (pandoc numbers the ones it makes from 1001) belong to every document.
        self.everyone = sorted((n for n in self.nums if int(n) <= FIRST_ID), key=int)
        self.start = max([FIRST_ID, *map(int, self.everyone)]) + 1
        bounds = [m.span() for m in (*ABSTRACT.finditer(numbering), *NUM.finditer(numbering))]
        first = min((a for a, _ in bounds), default=0)
        last = max((b for _, b in bounds), default=first)
        self.head, self.tail = numbering[:first], numbering[last:]

    def own(self, body: str) -> tuple[str, bytes]:
        """Number the document's lists from the first free id and keep only their definitions."""
        listed = [n for n in dict.fromkeys(NUM_ID.findall(body)) if n in self.nums and n not in self.everyone]
        new_ids = {old: str(self.start + k) for k, old in enumerate(listed)}
        if new_ids:
            body = NUM_ID.sub(lambda m: f'<w:numId w:val="{new_ids.get(m.group(1), m.group(1))}"', body)
        kept = [self.nums[n] for n in self.everyone]
        kept += [self.nums[old].replace(f'w:numId="{old}"', f'w:numId="{new}"', 1) for old, new in new_ids.items()]
        used = {a for num in kept for a in ABSTRACT_REF.findall(num)}
        abstracts = [self.abstracts[a] for a in sorted(used & set(self.abstracts), key=int)]
        return body, (self.head + "".join(abstracts) + "".join(kept) + self.tail).encode()


def _own_relations(result: dict[str, bytes], parts: dict[str, bytes], numbers: dict[str, str],
                   used_anywhere: set[str]) -> None:
    """Keep the relationships (and media) the document uses, under its own ids; drop the others'."""
    rels = parts[RELS].decode()
    types = parts[TYPES].decode()
    kept: list[str] = []
    media: dict[str, str] = {}  # old part name → new part name
    for relation in RELATION.findall(rels):
        found = RELATION_ID.search(relation)
        number = found.group(1) if found else None
        if number is None or number not in used_anywhere:
            kept.append(relation)  # styles, numbering, header, footer…: the same for every document
            continue
        target = TARGET.search(relation)
        internal = target and "TargetMode=\"External\"" not in relation
        old_part = f"word/{target.group(1)}" if internal else None  # type: ignore[union-attr]
        if number not in numbers:
            if old_part:
                result.pop(old_part, None)
                types = types.replace(f'<Override PartName="/{old_part}" ', "<Dropped ", 1)
            continue
        new = numbers[number]
        relation = RELATION_ID.sub(f'Id="rId{new}"', relation)
        if old_part:
            suffix = old_part[old_part.rfind("."):] if "." in old_part.rsplit("/", 1)[-1] else ""
            new_part = f"word/media/rId{new}{suffix}"
            relation = relation.replace(f'Target="{target.group(1)}"', f'Target="{new_part[5:]}"')  # type: ignore[union-attr]
            media[old_part] = new_part
            types = types.replace(f'PartName="/{old_part}"', f'PartName="/{new_part}"', 1)
        kept.append(relation)
    for old in media:
        result.pop(old, None)
    for old, new in media.items():
        result[new] = parts[old]
    types = re.sub(r"<Dropped [^>]*/>", "", types)
    result[TYPES] = _sorted_overrides(types).encode()
    head, _, _ = rels.partition("<Relationship ")
    result[RELS] = (head + "".join(sorted(kept, key=_relation_order)) + "</Relationships>").encode()


def _relation_order(relation: str) -> tuple[int, str]:
    found = RELATION_ID.search(relation)
    return (int(found.group(1)) if found else -1, relation)


def _sorted_overrides(types: str) -> str:
    """Content types with the media overrides in a fixed order (the group's order is not the document's)."""
    media = re.findall(r'<Override PartName="/word/media/[^"]*" [^>]*/>', types)
    rest = re.sub(r'<Override PartName="/word/media/[^"]*" [^>]*/>', "", types)
    return rest.replace("</Types>", "".join(sorted(media)) + "</Types>")


def _ordered_names(parts: dict[str, bytes], original: list[str]) -> list[str]:
    """Zip entry order: pandoc's order for the fixed parts, then the media by name."""
    fixed = [name for name in original if name in parts and not name.startswith("word/media/")]
    return fixed + sorted(name for name in parts if name.startswith("word/media/"))
