"""The DOCX of a large document joined from its parts, each part's DOCX content kept between builds.

After an edit of one entry of the improvement log, pandoc used to read the whole log again and write its
whole DOCX (0.8 s of one core at 100 courses), although only the entry's parts changed. The log's DOCX is
now written from its parts (chunks.py): pandoc writes them as one group, a marker between parts, which
docx_split.py cuts and numbers part by part; each part's own content (its body, its relationships and
images, its lists) is kept in the user cache with the frame they share (styles, settings, header and
footer); an edit has pandoc write only the parts that changed, and the DOCX is joined here from kept and
new parts. A full build joins the same way, so the DOCX is the same bytes after an edit as after
`make clean` (tests/test_chunks.py). Pandoc writes the blocks of a body one per line: the parts are
joined the same way, and give the same document.xml as the whole document written at once.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from pipeline.docx_split import (
    DOCUMENT,
    FIRST_ID,
    NUM_ID,
    NUMBERING,
    RELATION,
    RELATION_ID,
    RELS,
    TYPES,
    Group,
    _document_parts,
    _Lists,
    _ordered_names,
    counted,
    counted_sub,
)

MEDIA = "word/media/"
MEDIA_OVERRIDE = re.compile(r'<Override PartName="/word/media/[^"]*" [^>]*/>')
MEDIA_NUMBER = re.compile(r"(media/rId)(\d+)")
NUM_DEFINITION = re.compile(r'<w:num w:numId="(\d+)"')
NUM_DEFINITION_START = re.compile(r'(<w:num w:numId=")(\d+)')
ABSTRACT_OF = re.compile(r'<w:abstractNumId w:val="(\d+)"')
BETWEEN_BLOCKS = "\n    "  # how pandoc writes the blocks of a body
SPAN = 10**7  # a part's numbers are moved out of the others' way before the whole is numbered again


def needs_key(needs: list[str]) -> str:
    """One key for what decides the shared parts of a DOCX (styles): see convert.lua."""
    return "\0".join(sorted({name for key in needs for name in key.split("\0") if name}))


def split_parts(data: bytes, count: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Cut the DOCX pandoc wrote for a large document's parts: the frame they share, and each part's own."""
    group = Group.read(data, count)
    return from_documents(group.documents(), group.head, group.tail.lstrip())


def from_documents(documents: list[dict[str, bytes]], head: str, tail: str
                   ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The frame and the fragments of a large document's parts, each given as the DOCX parts of a document of
    its own (docx_split.py, or docx_writer.py: `head` and `tail`, its document.xml around the body)."""
    fragments = [_fragment(document, head, tail) for document in documents]
    return _frame(documents[0], head, tail), fragments


def part_fragments(data: bytes, count: int) -> list[dict[str, Any]]:
    """The own content of each of the `count` parts that pandoc wrote together after an edit (the parts that
    changed): the same as if each had been written alone, or with all the others."""
    group = Group.read(data, count)
    tail = group.tail.lstrip()
    return [_fragment(document, group.head, tail) for document in group.documents()]


def join(frame: dict[str, Any], fragments: list[dict[str, Any]]) -> dict[str, bytes]:
    """The parts (name → bytes, in zip order) of the document made of these parts, numbered as one."""
    bodies: list[str] = []
    relations: list[str] = []
    overrides: list[str] = []
    nums: list[str] = []
    media: dict[str, bytes] = {}
    lists = frame["numbering"]
    abstracts = dict(lists["abstracts"]) if lists else {}
    for k, fragment in enumerate(fragments, 1):
        moved = _Moved(k * SPAN, fragment)
        if moved.body:
            bodies.append(moved.body)
        relations += moved.relations
        overrides += moved.overrides
        nums += moved.nums
        media.update(moved.media)
        abstracts.update(fragment["abstracts"])
    parts = {name: base64.b64decode(encoded) for name, encoded in frame["entries"].items()}
    parts[RELS] = frame["rels"].replace("</Relationships>", "".join(relations) + "</Relationships>").encode()
    parts[TYPES] = frame["types"].replace("</Types>", "".join(overrides) + "</Types>").encode()
    parts.update(media)
    numbering = None
    if lists:
        ordered = "".join(abstracts[a] for a in sorted(abstracts, key=int))
        parts[NUMBERING] = (lists["head"] + ordered + "".join(lists["nums"]) + "".join(nums) + lists["tail"]).encode()
        numbering = _Lists(parts[NUMBERING].decode())
    body = BETWEEN_BLOCKS.join(bodies)
    used_anywhere = {match.group(2) for match in counted(body)}
    document = _document_parts(parts, frame["head"], body, frame["tail"], used_anywhere, numbering)
    return {name: document[name] for name in _ordered_names(document, frame["order"])}


class _Moved:
    """A part's content with its numbers moved by `shift`, out of the way of the other parts' numbers."""

    def __init__(self, shift: int, fragment: dict[str, Any]):
        self.shift = shift
        own_lists = set(NUM_DEFINITION.findall("".join(fragment["nums"])))
        body = counted_sub(lambda m: f'{self._up(m)}"', fragment["body"])
        if own_lists:
            body = NUM_ID.sub(lambda m: f'<w:numId w:val="{self._list(m.group(1), own_lists)}"', body)
        self.body = body
        self.relations = [MEDIA_NUMBER.sub(self._up, RELATION_ID.sub(self._up_id, r)) for r in fragment["rels"]]
        self.overrides = [MEDIA_NUMBER.sub(self._up, override) for override in fragment["types"]]
        self.media = {MEDIA_NUMBER.sub(self._up, name): base64.b64decode(data)
                      for name, data in fragment["media"].items()}
        self.nums = [NUM_DEFINITION_START.sub(self._up, num, count=1) for num in fragment["nums"]]

    def _up(self, match: re.Match[str]) -> str:
        return f"{match.group(1)}{int(match.group(2)) + self.shift}"

    def _list(self, number: str, own: set[str]) -> int:
        return int(number) + (self.shift if number in own else 0)

    def _up_id(self, match: re.Match[str]) -> str:
        return f'Id="rId{int(match.group(1)) + self.shift}"'


def _fragment(document: dict[str, bytes], head: str, tail: str) -> dict[str, Any]:
    xml = document[DOCUMENT].decode()
    body = xml[len(head) + 1:len(xml) - len(tail) - 1]
    if f"{head}\n{body}\n{tail}" != xml:
        raise ValueError("partie de DOCX inattendue")
    relations = [r for r in RELATION.findall(document[RELS].decode()) if _own(r)]
    nums: list[str] = []
    abstracts: dict[str, str] = {}
    if NUMBERING in document:
        lists = _Lists(document[NUMBERING].decode())
        nums = [num for number, num in lists.nums.items() if number not in lists.everyone]
        for num in nums:
            for number in ABSTRACT_OF.findall(num):
                abstracts[number] = lists.abstracts[number]
    return {"body": body, "rels": relations, "types": MEDIA_OVERRIDE.findall(document[TYPES].decode()),
            "media": {name: base64.b64encode(data).decode() for name, data in document.items()
                      if name.startswith(MEDIA)},
            "nums": nums, "abstracts": abstracts}


def _frame(document: dict[str, bytes], head: str, tail: str) -> dict[str, Any]:
    """What every part of the document shares: the parts pandoc writes the same for each of them."""
    own = {DOCUMENT, RELS, TYPES, NUMBERING}
    rels = document[RELS].decode()
    for relation in RELATION.findall(rels):
        if _own(relation):
            rels = rels.replace(relation, "", 1)
    numbering = None
    if NUMBERING in document:
        lists = _Lists(document[NUMBERING].decode())
        everyone = [lists.nums[n] for n in lists.everyone]
        used = {a for num in everyone for a in ABSTRACT_OF.findall(num)}
        numbering = {"head": lists.head, "tail": lists.tail, "nums": everyone,
                     "abstracts": {a: lists.abstracts[a] for a in used if a in lists.abstracts}}
    return {"order": [name for name in document if not name.startswith(MEDIA)],
            "entries": {name: base64.b64encode(data).decode() for name, data in document.items()
                        if name not in own and not name.startswith(MEDIA)},
            "head": head, "tail": tail, "rels": rels, "types": MEDIA_OVERRIDE.sub("", document[TYPES].decode()),
            "numbering": numbering}


def _own(relation: str) -> bool:
    """A relationship a part numbered itself (a link, an image), not one of the frame's (styles…)."""
    found = RELATION_ID.search(relation)
    return bool(found) and int(found.group(1)) >= FIRST_ID  # type: ignore[union-attr]
