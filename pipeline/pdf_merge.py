"""Join PDFs that typst laid out from consecutive pieces of one document into that document's PDF.

A large document (the improvement log, the skills matrix) is laid out in pieces, each a typst document
of its own that knows its first page number and the total (pieces.py): an edit lays out again only the
piece that changed. Joining them is plain bookkeeping on the objects typst writes, one uncompressed
section with a cross-reference table: each piece's objects are renumbered after the previous piece's;
the first piece's catalogue, page tree, structure tree root and metadata become the document's; the
pages, the tagged structure (the `Document` element's children, the parent tree, the table cells' ids),
and the outline (rebuilt from the headings' levels) are those of all the pieces in order.

Anything unexpected in a piece raises `CannotMerge`: the document is then laid out whole, as before.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from pipeline.pdf_finish import STARTXREF


class CannotMerge(Exception):
    """A piece's PDF is not laid out as this module expects."""


XREF = re.compile(rb"xref\s+0 (\d+)\s+")
OBJECT = re.compile(rb"(\d+) 0 obj\n")
STREAM = re.compile(rb"<</Length (\d+)")
# What renumbering rewrites: literal strings (left alone, or renamed if they are table cells' ids), the
# parent tree keys of pages and annotations, and references.
TOKEN = re.compile(rb"\((?:[^()\\]|\\.)*\)|/StructParents? (\d+)|(\d+) 0 R")
REF = re.compile(rb"(\d+) 0 R")
# Each piece's objects are numbered from a multiple of SLOT: a piece that gains a few objects (a line more in
# the tracking table) moves the numbers of the pieces after it only if it crosses a multiple, so watch's join
# finds them renumbered already (`remember`) instead of renumbering the whole log again (N = 100: 60-130 ms
# of a new entry's join → 7-15 ms). The numbers left unused are free entries of the cross-reference table
# (20 bytes each: 64 per piece on average, 1 % of the file).
SLOT = 128


@dataclass
class Piece:
    """One piece's PDF, its objects by number: (dictionary text, stream data or None)."""

    objects: dict[int, tuple[bytes, bytes | None]]
    size: int
    root: int
    info: int | None
    ids: bytes
    header: bytes
    catalog: bytes = b""
    pages: int = 0
    kids: list[int] = field(default_factory=list)
    struct_root: int = 0
    document: int = 0  # the structure tree's Document element
    children: list[bytes] = field(default_factory=list)  # the Document element's children (references)
    parent_tree: list[tuple[int, bytes]] = field(default_factory=list)
    next_key: int = 0
    id_tree: list[tuple[bytes, bytes]] = field(default_factory=list)
    role_map: bytes = b""
    outline: list[tuple[bytes, bytes]] = field(default_factory=list)  # (title, destination), in order
    outline_objects: set[int] = field(default_factory=set)
    metadata: int = 0


def _get(text: bytes, key: bytes) -> int:
    match = re.search(rb"/" + key + rb" (\d+) 0 R", text)
    if match is None:
        raise CannotMerge(f"/{key.decode()} absent")
    return int(match.group(1))


def parse(pdf: bytes) -> Piece:
    """Read a PDF written by typst: one cross-reference table, uncompressed objects."""
    end = STARTXREF.search(pdf[-64:])
    xref = XREF.match(pdf, int(end.group(1))) if end else None
    if xref is None:
        raise CannotMerge("table de références introuvable")
    size = int(xref.group(1))
    table = pdf[xref.end():xref.end() + 20 * size]
    objects: dict[int, tuple[bytes, bytes | None]] = {}
    for number in range(1, size):
        entry = table[20 * number:20 * number + 20]
        if entry[17:18] != b"n":
            continue
        offset = int(entry[:10])
        head = OBJECT.match(pdf, offset)
        if head is None or int(head.group(1)) != number:
            raise CannotMerge(f"objet {number} introuvable")
        start = head.end()
        stream = STREAM.match(pdf, start)
        if stream is not None:
            data_start = pdf.find(b">>\nstream\n", start) + 10
            data_end = data_start + int(stream.group(1))
            if pdf[data_end:data_end + 10] != b"\nendstream":
                raise CannotMerge(f"flux {number} mal délimité")
            objects[number] = (pdf[start:data_start - 8], pdf[data_start:data_end])
        else:
            stop = pdf.find(b"\nendobj", start)
            objects[number] = (pdf[start:stop], None)
    trailer = pdf[xref.end() + 20 * size:]
    root = _get(trailer, b"Root")
    info = re.search(rb"/Info (\d+) 0 R", trailer)
    ids = re.search(rb"/ID\[(.*?)\]>>", trailer, re.S)
    piece = Piece(objects, size, root, int(info.group(1)) if info else None, ids.group(1) if ids else b"",
                  pdf[:pdf.find(b"\n", pdf.find(b"\n") + 1) + 1])
    _read_structure(piece)
    return piece


CATALOG_KEYS = {b"Type", b"Pages", b"Metadata", b"Lang", b"StructTreeRoot", b"MarkInfo", b"ViewerPreferences",
                b"Outlines", b"Marked", b"Suspects", b"Direction", b"Catalog", b"L2R", b"R2L"}


def _read_structure(piece: Piece) -> None:
    objects = piece.objects
    piece.catalog = objects[piece.root][0]
    unknown = set(re.findall(rb"/([A-Za-z0-9]+)", re.sub(rb"\((?:[^()\\]|\\.)*\)", b"", piece.catalog))) - CATALOG_KEYS
    if unknown:  # named destinations, page labels, forms, output intents: not joined here
        raise CannotMerge(f"catalogue : {b', '.join(sorted(unknown)).decode()}")
    piece.pages = _get(piece.catalog, b"Pages")
    pages = objects[piece.pages][0]
    kids = re.search(rb"/Kids\[([^\]]*)\]", pages)
    if kids is None:
        raise CannotMerge("arbre des pages absent")
    piece.kids = [int(n) for n in REF.findall(kids.group(1))]
    if any(b"/Type/Page" not in objects[kid][0] or b"/Type/Pages" in objects[kid][0] for kid in piece.kids):
        raise CannotMerge("arbre des pages à plusieurs niveaux")
    piece.metadata = _get(piece.catalog, b"Metadata")
    piece.struct_root = _get(piece.catalog, b"StructTreeRoot")
    root = objects[piece.struct_root][0]
    k = re.search(rb"/K\[(\d+) 0 R\]", root)
    start = root.find(b"/ParentTree<</Nums[") + 19
    nums = root[start:root.find(b"]>>", start)] if start >= 19 else None
    next_key = re.search(rb"/ParentTreeNextKey (\d+)", root)
    role_map = re.search(rb"/RoleMap<<([^<>]*)>>", root)
    if k is None or nums is None or next_key is None:
        raise CannotMerge("arbre de structure inattendu")
    piece.document = int(k.group(1))
    document = objects[piece.document][0]
    children = re.search(rb"/K\[([^\]]*)\]", document)
    if b"/S/Document" not in document or children is None:
        raise CannotMerge("élément Document inattendu")
    piece.children = [m.group(0) for m in REF.finditer(children.group(1))]
    piece.parent_tree = [(int(m.group(1)), m.group(2)) for m in
                         re.finditer(rb"(\d+) (\d+ 0 R|\[[^\]]*\])", nums)]
    piece.next_key = int(next_key.group(1))
    piece.role_map = role_map.group(1) if role_map else b""
    id_tree = re.search(rb"/IDTree<</Names\[(.*?)\]>>", root, re.S)
    if id_tree is not None:
        piece.id_tree = [(m.group(1), m.group(2)) for m in
                         re.finditer(rb"\(((?:[^()\\]|\\.)*)\)(\d+ 0 R)", id_tree.group(1))]
    elif b"/IDTree" in root:
        raise CannotMerge("IDTree inattendu")
    outlines = re.search(rb"/Outlines (\d+) 0 R", piece.catalog)
    if outlines is not None:
        piece.outline_objects.add(int(outlines.group(1)))
        item = re.search(rb"/First (\d+) 0 R", objects[int(outlines.group(1))][0])
        _walk(piece, int(item.group(1)) if item else 0)


def _walk(piece: Piece, number: int) -> None:
    """The outline items in document order (depth first)."""
    while number:
        text = piece.objects[number][0]
        piece.outline_objects.add(number)
        title = re.search(rb"/Title(<[0-9A-Fa-f]*>|\((?:[^()\\]|\\.)*\))", text)
        dest = re.search(rb"/Dest (\d+ 0 R)", text)
        if title is None or dest is None:
            raise CannotMerge("signet inattendu")
        piece.outline.append((title.group(1), dest.group(1)))
        first = re.search(rb"/First (\d+) 0 R", text)
        if first:
            _walk(piece, int(first.group(1)))
        following = re.search(rb"/Next (\d+) 0 R", text)
        number = int(following.group(1)) if following else 0


@dataclass
class Written:
    """A piece's objects renumbered and written as they go in the joined file: their numbers, in order, each
    one's place in `data`."""

    numbers: list[int]
    places: list[int]
    data: bytes

    # The files kept are keyed by the piece and where it goes, not by this module's code: a change to how a
    # piece is renumbered or written must change MAGIC, or the kept files would give other bytes than a join
    # from nothing.
    MAGIC = b"qualidoc-pdf-objects 1"

    def dump(self) -> bytes:
        """The form kept beside the piece's PDF (`Store`), with a digest of the whole: a damaged file is unread."""
        body = b" ".join(b"%d" % n for n in self.numbers) + b"\n" + b" ".join(b"%d" % p for p in self.places) + \
            b"\n" + self.data
        return self.MAGIC + b" " + hashlib.sha256(body).hexdigest().encode() + b"\n" + body

    @classmethod
    def load(cls, dumped: bytes) -> Written | None:
        head, _, body = dumped.partition(b"\n")
        numbers, _, rest = body.partition(b"\n")
        places, _, data = rest.partition(b"\n")
        try:
            if head != cls.MAGIC + b" " + hashlib.sha256(body).hexdigest().encode():
                return None
            written = cls([int(n) for n in numbers.split()], [int(p) for p in places.split()], data)
        except ValueError:
            return None
        return written if written.numbers and len(written.numbers) == len(written.places) else None


SUMMARY_MAGIC = b"qualidoc-pdf-piece 1"  # as Written.MAGIC: to change with what `parse` reads of a piece
_LATIN = "latin-1"  # bytes as text, one character each


def _summary_name(digest: bytes) -> str:
    return f"{digest.hex()[:40]}-summary"


def _dump_summary(piece: Piece) -> bytes:
    """What a join reads of a piece after the first, but its objects, kept beside it (a Store's file)."""
    def text(value: bytes) -> str:
        return value.decode(_LATIN)

    body = json.dumps({
        "numbers": [piece.size, piece.root, piece.info, piece.pages, piece.struct_root, piece.document,
                    piece.next_key, piece.metadata],
        "texts": [text(piece.ids), text(piece.header), text(piece.catalog), text(piece.role_map)],
        "kids": piece.kids, "children": [text(child) for child in piece.children],
        "parent_tree": [[key, text(value)] for key, value in piece.parent_tree],
        "id_tree": [[text(name), text(ref)] for name, ref in piece.id_tree],
        "outline": [[text(title), text(dest)] for title, dest in piece.outline],
        "outline_objects": sorted(piece.outline_objects)}).encode()
    return SUMMARY_MAGIC + b" " + hashlib.sha256(body).hexdigest().encode() + b"\n" + body


def _summary(store: Store, digest: bytes) -> Piece | None:
    """The piece of this digest as its kept summary tells, without its objects; None if none, or damaged."""
    dumped = store.get_written(_summary_name(digest))
    head, _, body = (dumped or b"").partition(b"\n")
    if head != SUMMARY_MAGIC + b" " + hashlib.sha256(body).hexdigest().encode():
        return None
    try:
        data = json.loads(body)
        size, root, info, pages, struct_root, document, next_key, metadata = data["numbers"]
        ids, header, catalog, role_map = (value.encode(_LATIN) for value in data["texts"])
        return Piece(
            objects={}, size=size, root=root, info=info, ids=ids, header=header, catalog=catalog, pages=pages,
            kids=list(data["kids"]), struct_root=struct_root, document=document,
            children=[child.encode(_LATIN) for child in data["children"]],
            parent_tree=[(key, value.encode(_LATIN)) for key, value in data["parent_tree"]], next_key=next_key,
            id_tree=[(name.encode(_LATIN), ref.encode(_LATIN)) for name, ref in data["id_tree"]], role_map=role_map,
            outline=[(title.encode(_LATIN), dest.encode(_LATIN)) for title, dest in data["outline"]],
            outline_objects=set(data["outline_objects"]), metadata=metadata)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


class Store(Protocol):
    """Where a command keeps the pieces' objects renumbered (beside their PDFs), by key: those got or put in
    a join are those to keep."""

    def get_written(self, key: str) -> bytes | None: ...

    def put_written(self, key: str, dumped: bytes) -> None: ...


# The process that lays out a large document joins it again after each edit, mostly from the same pieces at
# the same places. Renumbering a piece's objects is most of a join (for the log at N = 100, 60 of 90 ms):
# each piece after the first is kept renumbered and written (`Written`), keyed by the piece's bytes and
# where it goes; in memory by a process that stays (`remember`: watch; a new log entry → PDF went from
# 0.64–0.73 to 0.55–0.60 s), beside the pieces' PDFs for the next command (`store`). A process may join
# several documents (the resident builder joins the log and the skills matrix): what the last join of each
# one (`owner`) used is kept, and nothing else.
_READ: dict[bytes, Piece] = {}
_RENUMBERED: dict[tuple, Written] = {}
_USED: dict[str, tuple[set[bytes], set[tuple]]] = {}  # by owner: the keys of _READ and _RENUMBERED its join used
OWNERS = 4  # the documents whose last join is kept, the latest (a project has two large documents)


def merge(pdfs: list[bytes], levels: list[list[int]], remember: bool = False, store: Store | None = None,
          owner: str = "") -> bytes:
    """The document's PDF from its pieces' PDFs, `levels` the levels of each piece's headings, in order;
    `remember`: keep what this join read and renumbered for the next join of the same `owner` (a process
    that stays: watch, the resident builder); `store`: where the pieces' renumbered objects are kept between
    commands."""
    digests = [hashlib.sha256(pdf).digest() for pdf in pdfs]
    # A command reads what it needs of each piece after the first (all but its objects) from the summary kept
    # beside it, and the piece itself only if its objects must be renumbered (the log at N = 100: 12 pieces,
    # 20 ms to read).
    pieces: list[Piece] = []
    for index, (digest, pdf) in enumerate(zip(digests, pdfs, strict=True)):
        piece = _READ.get(digest) or (_summary(store, digest) if index and store is not None else None)
        if piece is None or not index and not piece.objects:  # the first piece's objects are the document's
            piece = parse(pdf)
            if index and store is not None:
                store.put_written(_summary_name(digest), _dump_summary(piece))
        pieces.append(piece)
    read = dict(zip(digests, pieces, strict=True))
    for piece, piece_levels in zip(pieces, levels, strict=True):
        if len(piece.outline) != len(piece_levels):
            raise CannotMerge(f"{len(piece.outline)} signets pour {len(piece_levels)} titres")
    first = pieces[0]
    bases, base = [], 0
    for piece in pieces:
        bases.append(base)
        base += -(-piece.size // SLOT) * SLOT
    size = bases[-1] + pieces[-1].size
    renumber: list[Callable[[bytes], bytes]] = []
    key_bases, key_base = [], 0
    for index, (piece, offset) in enumerate(zip(pieces, bases, strict=True)):
        swap = {} if index == 0 else {piece.pages: first.pages, piece.document: first.document}
        ids = {name for name, _ in piece.id_tree} if index else set()
        renumber.append(_renumberer(offset, key_base, swap, ids, b"%d-" % index))
        key_bases.append(key_base)
        key_base += piece.next_key

    # The first piece's objects keep their numbers (its renumbering changes nothing); some are replaced below.
    dropped = set(first.outline_objects) | {first.struct_root, first.document}
    out: dict[int, tuple[bytes, bytes | None] | Written] = {
        number: value for number, value in first.objects.items() if number not in dropped}
    renumbered: dict[tuple, Written] = {}
    for index, (piece, offset, fix) in enumerate(zip(pieces, bases, renumber, strict=True)):
        if not index:
            continue
        key = (digests[index], index, offset, key_bases[index], first.pages, first.document)
        name = "-".join([digests[index].hex()[:40], *(str(part) for part in key[1:])])
        written = _RENUMBERED.get(key)
        if written is None and store is not None:
            dumped = store.get_written(name)
            written = Written.load(dumped) if dumped else None
            if written is not None and not all(offset < n < offset + piece.size for n in written.numbers):
                written = None
        if written is None:
            if not piece.objects:  # a summary
                piece = parse(pdfs[index])
            dropped = set(piece.outline_objects) | {piece.struct_root, piece.document, piece.root, piece.pages,
                                                    piece.metadata}
            if piece.info is not None:
                dropped.add(piece.info)
            written = _written({offset + number: (fix(text), stream)
                                for number, (text, stream) in piece.objects.items() if number not in dropped})
            if store is not None:
                store.put_written(name, written.dump())
        renumbered[key] = written
        out[written.numbers[0]] = written
    # The pieces after the first are kept without their objects (a summary), which are kept renumbered: the
    # resident builder holds 6-10 MB less at N = 100.
    _remember(owner, {digest: piece if piece is first else replace(piece, objects={})
                      for digest, piece in read.items()} if remember else {}, renumbered if remember else {})

    kids = [b"%d 0 R" % (offset + kid) for piece, offset in zip(pieces, bases, strict=True) for kid in piece.kids]
    page_count = len(kids)
    pages_text = first.objects[first.pages][0]
    pages_text = re.sub(rb"/Kids\[[^\]]*\]", b"/Kids[" + b" ".join(kids) + b"]", pages_text)
    out[first.pages] = (re.sub(rb"/Count \d+", b"/Count %d" % page_count, pages_text), None)

    children = b" ".join(fix(child) for piece, fix in zip(pieces, renumber, strict=True) for child in piece.children)
    document = first.objects[first.document][0]
    out[first.document] = (re.sub(rb"/K\[[^\]]*\]", b"/K[" + children + b"]", document, count=1), None)

    nums = b" ".join(b"%d " % (key + shift) + fix(value)
                     for piece, fix, shift in zip(pieces, renumber, key_bases, strict=True)
                     for key, value in piece.parent_tree)
    id_pairs = sorted((fix(b"(" + name + b")"), fix(ref))
                      for piece, fix in zip(pieces, renumber, strict=True) for name, ref in piece.id_tree)
    roles: dict[bytes, bytes] = {}
    for piece in pieces:
        roles.update(re.findall(rb"(/[^/\s]+)(/[^/\s]+)", piece.role_map))
    root = b"<</Type/StructTreeRoot"
    if roles:
        root += b"/RoleMap<<" + b"".join(k + v for k, v in roles.items()) + b">>"
    root += b"/K[%d 0 R]/ParentTree<</Nums[" % first.document + nums + b"]>>"
    if id_pairs:
        root += b"/IDTree<</Names[" + b"".join(name + ref for name, ref in id_pairs) + b"]>>"
    root += b"/ParentTreeNextKey %d>>" % key_base
    out[first.struct_root] = (root, None)

    metadata, xmp = first.objects[first.metadata]
    if xmp is not None:
        xmp = re.sub(rb"<xmpTPg:NPages>\d+</xmpTPg:NPages>", b"<xmpTPg:NPages>%d</xmpTPg:NPages>" % page_count, xmp)
        out[first.metadata] = (re.sub(rb"/Length \d+", b"/Length %d" % len(xmp), metadata, count=1), xmp)

    outlines = re.search(rb"/Outlines (\d+) 0 R", first.catalog)
    items = [(level, title, fix(dest)) for piece, fix, piece_levels in zip(pieces, renumber, levels, strict=True)
             for level, (title, dest) in zip(piece_levels, piece.outline, strict=True)]
    if items and outlines is not None:
        size = _outline(out, int(outlines.group(1)), items, size)
    elif outlines is not None:
        out[int(outlines.group(1))] = (b"<</Type/Outlines/Count 0>>", None)

    digest = hashlib.md5(b"".join(piece.ids for piece in pieces), usedforsecurity=False).hexdigest().encode()
    first_id = re.match(rb"\s*(\((?:[^()\\]|\\.)*\)|<[0-9A-Fa-f]*>)", first.ids)
    file_ids = (first_id.group(1) if first_id else b"<" + digest + b">") + b"<" + digest + b">"
    return _write(first.header, out, size, first.root, first.info, file_ids)


def _remember(owner: str, read: dict[bytes, Piece], renumbered: dict[tuple, Written]) -> None:
    """Keep what `owner`'s last join used, and drop what no owner's last join used (of the last OWNERS)."""
    _USED.pop(owner, None)
    if read or renumbered:
        _USED[owner] = (set(read), set(renumbered))  # the latest last
    for other in list(_USED)[:-OWNERS]:
        del _USED[other]
    _READ.update(read)
    _RENUMBERED.update(renumbered)
    pieces_used = {digest for used, _ in _USED.values() for digest in used}
    places_used = {key for _, used in _USED.values() for key in used}
    for digest in [digest for digest in _READ if digest not in pieces_used]:
        del _READ[digest]
    for key in [key for key in _RENUMBERED if key not in places_used]:
        del _RENUMBERED[key]


def _renumberer(offset: int, key_base: int, swap: dict[int, int], ids: set[bytes],
                prefix: bytes, scan: bool = False) -> Callable[[bytes], bytes]:
    """Rewrite a piece's object text: references shifted by `offset` (or swapped for the first piece's),
    parent tree keys by `key_base`, table cells' ids prefixed (`scan`: every text with TOKEN, which the
    quicker way must match: tests)."""

    def token(match: re.Match[bytes]) -> bytes:
        if match.group(2) is not None:
            number = int(match.group(2))
            return b"%d 0 R" % (swap[number] if number in swap else number + offset)
        if match.group(1) is not None:
            whole = match.group(0)
            return whole[:-len(match.group(1))] + b"%d" % (int(match.group(1)) + key_base)
        text = match.group(0)
        return b"(" + prefix + text[1:] if ids and text[1:-1] in ids else text

    def fix(text: bytes) -> bytes:
        if scan or b"(" in text or b"/StructParent" in text:
            return TOKEN.sub(token, text)
        # Only references (three objects in four): cut at each " 0 R", whose number ends the text before it;
        # TOKEN's scan tried a number at every byte (37 ms for the 850 kB of the log's objects at N = 100).
        cuts = text.split(b" 0 R")
        shifted = []
        for cut in cuts[:-1]:
            head = cut.rstrip(b"0123456789")
            if len(head) == len(cut):
                return TOKEN.sub(token, text)  # not a reference after all
            number = int(cut[len(head):])
            shifted.append(head + b"%d" % (swap[number] if number in swap else number + offset))
        shifted.append(cuts[-1])
        return b" 0 R".join(shifted)

    return fix


def _outline(out: dict[int, tuple[bytes, bytes | None] | Written], root: int, items: list[tuple[int, bytes, bytes]],
             size: int) -> int:
    """Write the outline: each heading under the last one of a lower level, as typst does (closed)."""
    numbers = list(range(size, size + len(items)))
    parents: list[int] = []
    children: dict[int, list[int]] = {-1: []}
    stack: list[tuple[int, int]] = []  # (level, index)
    for index, (level, _, _) in enumerate(items):
        while stack and stack[-1][0] >= level:
            stack.pop()
        parent = stack[-1][1] if stack else -1
        parents.append(parent)
        children.setdefault(parent, []).append(index)
        children.setdefault(index, [])
        stack.append((level, index))

    def number(index: int) -> int:
        return root if index < 0 else numbers[index]

    for index, (_, title, dest) in enumerate(items):
        siblings = children[parents[index]]
        position = siblings.index(index)
        text = b"<</Parent %d 0 R" % number(parents[index])
        if position > 0:
            text += b"/Prev %d 0 R" % number(siblings[position - 1])
        if position + 1 < len(siblings):
            text += b"/Next %d 0 R" % number(siblings[position + 1])
        own = children[index]
        if own:
            text += b"/First %d 0 R/Last %d 0 R/Count -%d" % (number(own[0]), number(own[-1]), len(own))
        out[numbers[index]] = (text + b"/Title" + title + b"/Dest " + dest + b">>", None)
    top = children[-1]
    out[root] = (b"<</Type/Outlines/First %d 0 R/Last %d 0 R/Count %d>>" % (number(top[0]), number(top[-1]), len(top)),
                 None)
    return size + len(items)


def _chunk(number: int, text: bytes, stream: bytes | None) -> bytes:
    chunk = b"%d 0 obj\n" % number + text
    return chunk + ((b"\nstream\n" + stream + b"\nendstream\nendobj\n") if stream is not None else b"\nendobj\n")


def _written(objects: dict[int, tuple[bytes, bytes | None]]) -> Written:
    numbers = sorted(objects)
    chunks = [_chunk(number, *objects[number]) for number in numbers]
    places, position = [], 0
    for chunk in chunks:
        places.append(position)
        position += len(chunk)
    return Written(numbers, places, b"".join(chunks))


def _write(header: bytes, objects: dict[int, tuple[bytes, bytes | None] | Written], size: int, root: int,
           info: int | None, ids: bytes) -> bytes:
    """The file: the objects in the order of their numbers (a piece's written ones at its first number: the
    pieces' numbers do not overlap), a cross-reference table, the trailer."""
    chunks = [header]
    position = len(header)
    offsets: dict[int, int] = {}
    for number in sorted(objects):
        value = objects[number]
        if isinstance(value, Written):
            offsets.update(zip(value.numbers, (position + place for place in value.places)))
            chunks.append(value.data)
            position += len(value.data)
            continue
        chunk = _chunk(number, *value)
        offsets[number] = position
        chunks.append(chunk)
        position += len(chunk)
    table = [b"xref\n0 %d\n" % size, b"0000000000 65535 f\r\n"]
    table += [b"%010d 00000 n\r\n" % offsets[n] if n in offsets else b"0000000000 65535 f\r\n" for n in range(1, size)]
    trailer = b"trailer\n<</Size %d/Root %d 0 R" % (size, root)
    if info is not None:
        trailer += b"/Info %d 0 R" % info
    trailer += b"/ID[" + ids + b"]>>\nstartxref\n%d\n%%%%EOF\n" % position
    return b"".join(chunks) + b"".join(table) + trailer
