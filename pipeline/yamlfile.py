"""Read a YAML content file into plain data, keeping the line of every key and item.

PyYAML's defaults are unsafe for content typed by people: a duplicate key silently keeps the last
value, `no` becomes False, `0800` becomes 800 and aliases can expand without bound. This reader
keeps every scalar as the text typed (the content model converts it where a number or a date is
expected), refuses duplicate keys and aliases, and records where each value sits in the file.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import Problem, cause

MAX_FILE_BYTES = 2 * 1024 * 1024
NULL_TAG = "tag:yaml.org,2002:null"

class Item(str):
    """A list item named by what it is (a price by its label), where its position would say less."""


# A position in a content file: keys, list indexes counted from 0, or list items named by what they are.
# Load problems, check findings and the diff all show it with `field_path`.
Location = tuple[str | int, ...]
CONFLICT = re.compile(r"^(?:<{7}|={7}|>{7})(?: |$)", re.M)
MAX_DEPTH = 40
SHA256 = re.compile(r"[0-9a-f]{64}")
# Characters no document may hold: control characters (a tab, a line break and a carriage return aside), which
# make a DOCX that no client opens; non-characters; private-use characters, which qualidoc uses as markers.
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ue000-\uf8ff\ufdd0-\ufdef"
                       "\ufffe\uffff\U000f0000-\U0010ffff]")
# What the YAML parser says (libyaml's words, and PyYAML's where they differ), in French; what it says after
# « but found » (its token names) is left out, the line says where. A phrase missing here stays in English.
YAML_PHRASES = (
    ("while parsing a block mapping", "dans un bloc de clés"),
    ("while parsing a block collection", "dans une liste"),
    ("while parsing a flow sequence", "dans une liste entre crochets [ ]"),
    ("while parsing a flow mapping", "dans des accolades { }"),
    ("while parsing a quoted scalar", "dans un texte entre guillemets"),
    ("while scanning a quoted scalar", "dans un texte entre guillemets"),
    ("while scanning a double-quoted scalar", "dans un texte entre guillemets"),
    ("while scanning a simple key", "dans une clé"),
    ("while scanning a plain scalar", "dans un texte"),
    ("while scanning a block scalar", "dans un texte sur plusieurs lignes (| ou >)"),
    ("while scanning for the next token", ""),
    ("did not find expected key", "une clé était attendue : l'indentation de cette ligne ne suit pas celle "
                                  "des lignes au-dessus"),
    ("did not find expected ',' or ']'", "une virgule ou le crochet fermant ] était attendu"),
    ("did not find expected ',' or '}'", "une virgule ou l'accolade fermante } était attendue"),
    ("expected ',' or ']'", "une virgule ou le crochet fermant ] était attendu"),
    ("expected ',' or '}'", "une virgule ou l'accolade fermante } était attendue"),
    ("did not find expected '-' indicator", "un élément de liste « - » était attendu"),
    ("did not find expected node content", "une valeur était attendue"),
    ("could not find expected ':'", "« : » était attendu après la clé"),
    ("mapping values are not allowed in this context", "« : » inattendu ici"),
    ("mapping values are not allowed here", "« : » inattendu ici"),
    ("block sequence entries are not allowed in this context", "élément de liste « - » inattendu ici"),
    ("sequence entries are not allowed here", "élément de liste « - » inattendu ici"),
    ("found character that cannot start any token", "caractère qui ne peut pas commencer une valeur"),
    ("that cannot start any token", "qui ne peut pas commencer une valeur"),  # PyYAML: « found character '@' … »
    ("found character", "caractère"),
    ("found unexpected end of stream", "fin du fichier atteinte avant le guillemet fermant"),
    ("found unknown escape character", "barre oblique inverse \\ suivie d'un caractère inconnu"),
    ("found a tab character that violates indentation", "tabulation dans l'indentation : mettez des espaces"),
    ("found a tab character where an indentation space is expected",
     "tabulation dans l'indentation : mettez des espaces"),
    ("found an indentation indicator equal to 0", "indicateur d'indentation 0 après | ou >"),
    ("found undefined alias", "alias * sans ancre & correspondante"),
    ("found duplicate anchor; first occurrence", "ancre & en double"),
    ("second occurrence", ""),
    ("expected a single document in the stream", "un seul document est attendu par fichier"),
    ("but found another document", "« --- » en commence un autre"),
    ("expected <block end>", "fin de bloc attendue : vérifiez l'indentation"),
)
BUT_FOUND = re.compile(r",? but (?:found|got) (?:'|<|%|\w).*$")
SYNTAX_HINT = (" (vérifiez l'indentation, et mettez entre guillemets droits \"…\" tout texte qui contient ' : ' ou "
               "' #', ou qui commence par [ { * & ! | > ' % @ ou un accent grave)")


@dataclass
class YamlDocument:
    """Plain data read from one file, with the line of each key and list item."""

    path: str
    data: Any
    lines: dict[Location, int] = field(default_factory=dict)
    sha256: str = ""  # of the bytes the data was read from: what a build records of the file (state.file_hash)
    # The lines as the parse cache keeps them (pack_lines), read into `lines` when a line is first asked for
    # (a problem to report): most builds never ask. `origin`: the file, read again if they are damaged.
    packed: str | None = None
    origin: Path | None = None

    def line_of(self, location: Location) -> int:
        """Return the line of the deepest known part of a location."""
        if self.packed is not None:
            self.lines = _unpack_lines(self.packed, self.origin, self.path)
            self.packed = None
        for end in range(len(location), -1, -1):
            line = self.lines.get(tuple(location[:end]))
            if line:
                return line
        return 1


def pack_lines(lines: dict[Location, int]) -> str:
    """The line of each key as the parse cache keeps it: one string, which the cache's JSON copies as it is
    (the lines as JSON lists were 40 % of parsed.json and half the time to read and write it)."""
    return json.dumps([[list(k), v] for k, v in lines.items()], ensure_ascii=False, separators=(",", ":"))


def _unpack_lines(packed: str, origin: Path | None, shown_as: str) -> dict[Location, int]:
    try:
        return {tuple(k): int(v) for k, v in json.loads(packed)}
    except (TypeError, ValueError, RecursionError):  # a damaged cache: the lines of the file read again
        doc = read_yaml(origin, shown_as)[0] if origin is not None else None
        return doc.lines if doc is not None else {}


# libyaml's parser when PyYAML was built with it (it is, in the PyPI wheels): 20× faster.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path, shown_as: str) -> tuple[YamlDocument | None, list[Problem]]:
    """Read one content file; return the document (None if unreadable) and the problems found."""
    try:
        size = path.stat().st_size
    except OSError as e:
        return None, [Problem(shown_as, 0, "", f"lecture du fichier impossible : {cause(e)}")]
    if size > MAX_FILE_BYTES:
        limit = MAX_FILE_BYTES // (1024 * 1024)
        shown = f"{size:,}".replace(",", "\u202f")
        return None, [Problem(shown_as, 0, "", f"le fichier fait {shown} octets ; un fichier de contenu est limité à "
                                               f"{limit} Mo")]
    raw = path.read_bytes()
    text, problem = _decode(raw, shown_as)
    if problem:
        return None, [problem]
    doc, problems = parse_yaml(text, shown_as)
    if doc is not None:
        doc.sha256 = hashlib.sha256(raw).hexdigest()
    return doc, problems


def _in_french(said: str) -> str:
    """A phrase of the YAML parser in French (see YAML_PHRASES)."""
    for english, french in YAML_PHRASES:
        said = said.replace(english, french)
    return BUT_FOUND.sub("", said).strip(" ,")


def parse_yaml(text: str, shown_as: str) -> tuple[YamlDocument | None, list[Problem]]:
    """Parse YAML text into a YamlDocument."""
    conflict = CONFLICT.search(text)
    if conflict:
        line = text[: conflict.start()].count("\n") + 1
        return None, [Problem(shown_as, line, "", "marqueurs de conflit git (<<<<<<<, =======, >>>>>>>) : "
                              "terminez la fusion en gardant la bonne version, puis supprimez ces lignes")]
    try:
        node = yaml.compose(text, Loader=_Loader)
    except RecursionError:
        return None, [Problem(shown_as, 0, "", "imbrication trop profonde pour un fichier de contenu")]
    except yaml.MarkedYAMLError as e:
        quoted = e.context and "quoted scalar" in e.context and e.context_mark
        mark = e.context_mark if quoted else (e.problem_mark or e.context_mark)
        what = ", ".join(filter(None, (_in_french(x) for x in (e.context, e.problem) if x)))
        return None, [Problem(shown_as, mark.line + 1 if mark else 0, "",
                              f"erreur de syntaxe YAML : {what}{SYNTAX_HINT}")]
    except yaml.reader.ReaderError as e:
        line = text[: e.position].count("\n") + 1
        bad = e.character if isinstance(e.character, str) else chr(e.character)
        return None, [Problem(shown_as, line, "", _forbidden(bad))]
    except yaml.YAMLError as e:
        return None, [Problem(shown_as, 0, "", f"erreur de syntaxe YAML : {e}")]
    doc = YamlDocument(shown_as, None)
    problems: list[Problem] = []
    if node is None:
        return None, [Problem(shown_as, 1, "", "le fichier est vide")]
    doc.data = _convert(node, (), doc, problems, set())
    return doc, problems


def _decode(raw: bytes, shown_as: str) -> tuple[str, Problem | None]:
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        hint = ("le fichier n'est pas en UTF-8 (sans doute Windows-1252 ou Latin-1) : enregistrez-le en UTF-8 "
                "depuis votre éditeur")
        return "", Problem(shown_as, line, "", hint)


def _convert(node: yaml.Node, location: Location, doc: YamlDocument, problems: list[Problem],
             seen: set[int]) -> Any:
    doc.lines.setdefault(location, node.start_mark.line + 1)
    if len(location) > MAX_DEPTH:
        problems.append(Problem(doc.path, doc.lines[location], field_path(location[:3]) + "…",
                                f"imbrication de plus de {MAX_DEPTH} niveaux : un fichier de contenu n'en a pas "
                                "besoin"))
        return None
    if id(node) in seen:  # an alias: the composer hands back the anchored node a second time
        problems.append(Problem(doc.path, doc.lines[location], field_path(location),
                                "les alias YAML (*nom) ne sont pas acceptés : écrivez la valeur en entier"))
        return None
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        return _convert_mapping(node, location, doc, problems, seen)
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*location, i), doc, problems, seen) for i, item in enumerate(node.value)]
    if node.tag == NULL_TAG and getattr(node, "style", None) is None:
        return None
    bad = FORBIDDEN.search(node.value)
    if bad:
        problems.append(Problem(doc.path, node.start_mark.line + 1, field_path(location), _forbidden(bad.group())))
    return node.value


def _forbidden(character: str) -> str:
    code = f"U+{ord(character):04X}"
    if "\ue000" <= character <= "\uf8ff" or character >= "\U000f0000":
        return f"caractère à usage privé {code} : il ne s'affiche pas de la même façon partout, supprimez-le"
    return f"caractère invisible {code} (caractère de contrôle) : supprimez-le, il rendrait le document illisible"


def _convert_mapping(node: yaml.MappingNode, location: Location, doc: YamlDocument,
                     problems: list[Problem], seen: set[int]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else None
        line = key_node.start_mark.line + 1
        where = field_path((*location, key or "?"))
        if key is None:
            problems.append(Problem(doc.path, line, field_path(location), "une clé doit être un simple nom"))
            continue
        if key in result:
            first = doc.lines[(*location, key)]
            message = f"clé en double (déjà donnée ligne {first}) : n'en garder qu'une"
            problems.append(Problem(doc.path, line, where, message))
            continue
        doc.lines[(*location, key)] = line
        result[key] = _convert(value_node, (*location, key), doc, problems, seen)
    return result


def field_path(location: Location) -> str:
    """Show a location as `modules[2].title` (list items counted from 1, as people count) or
    `prices[Inter-entreprises].amount` (an item named by what it is)."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part + 1}]"
        elif isinstance(part, Item):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass
class _Remembered:
    """What a process read through one cache file: its entries as last read or written (and the file's size
    and time then), the documents made of them and what the caller derived from each (its validated model)."""

    stamp: list[int] | None
    entries: dict[str, Any]
    documents: dict[str, tuple[list[int], str, YamlDocument]] = field(default_factory=dict)
    derived: dict[str, tuple[list[int], Any, Any]] = field(default_factory=dict)
    unsaved: bool = False  # entries newer than the file, kept in memory while watch runs (ParseCache.held)
    # each entry's JSON as the file holds it, with the entry it was read as or written from: the file is
    # written again one entry a line, the unchanged ones copied (1.5 MB at N = 100: 10 ms encoded whole)
    texts: dict[str, tuple[Any, str]] = field(default_factory=dict)


_REMEMBERED: dict[str, _Remembered] = {}  # one cache file at a time (the project being watched)


def _stamp(path: Path) -> list[int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns]


class ParseCache:
    """Parsed content files kept between builds, so that editing one file re-reads only that file.

    Plain JSON in the user's cache folder, keyed by each file's size and modification time; a file whose
    size or time moved is parsed again. It holds data, never code. A process that builds again (watch)
    also keeps them in memory: it reads the JSON again only if another process wrote it, and reuses the
    documents, and what was derived from them (`recall`), of the files that have not moved.
    """

    # Watch sets it after its first build: a build's entries then stay in memory, where the next build finds
    # them, and are written when watch stops (save_held), not on every edit: 40 ms of JSON at N = 100 courses,
    # 0.33 s at N = 1000, holding the interpreter while the documents are made. Watch stopped without a word
    # (its terminal closed) loses only those entries: the next build reads the files edited meanwhile again.
    held = False

    def __init__(self, path: Path | None):
        self.path = path
        self.entries: dict[str, Any] = {}
        self.kept: dict[str, Any] = {}
        self.changed = False
        self.stamps: dict[str, list[int]] = {}  # each file read, its size and time
        self.remembered = _Remembered(None, {})
        if path is None:
            return
        stamp = _stamp(path)
        remembered = _REMEMBERED.get(str(path))
        if remembered is not None and stamp is not None and remembered.stamp == stamp:
            self.entries = remembered.entries
        else:
            from pipeline.state import line_texts

            texts: dict[str, tuple[Any, str]] = {}
            try:
                text = path.read_text(encoding="utf-8")
                self.entries = json.loads(text)
                if isinstance(self.entries, dict):
                    lines = line_texts(text, list(self.entries), "}", ascii_keys=False) or []
                    texts = {key: (self.entries[key], line) for key, line in zip(self.entries, lines, strict=False)}
            except (OSError, ValueError):
                self.entries = {}
            if remembered is None:
                _REMEMBERED.clear()
                remembered = _REMEMBERED[str(path)] = _Remembered(stamp, {})
            remembered.stamp, remembered.entries, remembered.unsaved = stamp, self.entries, False
            remembered.texts = texts
        self.remembered = remembered

    def read(self, path: Path, shown_as: str) -> tuple[YamlDocument | None, list[Problem]]:
        """Read a content file, from the cache when it has not moved since it was parsed."""
        stamp = _stamp(path)
        if stamp is None:
            return read_yaml(path, shown_as)
        key = str(path)
        self.stamps[key] = stamp
        entry = self.entries.get(key) if isinstance(self.entries, dict) else None
        # An entry written by an older qualidoc has no `sha256` (what a build records of the file): read again.
        sha256 = entry.get("sha256") if isinstance(entry, dict) else None
        if isinstance(entry, dict) and entry.get("stamp") == stamp and SHA256.fullmatch(str(sha256)):
            known = self.remembered.documents.get(key)
            if known is not None and known[0] == stamp and known[1] == shown_as:
                self.kept[key] = entry
                return known[2], []
            packed = entry.get("lines")
            if isinstance(packed, str) and "data" in entry:  # else damaged, or older: the file is read again
                self.kept[key] = entry
                return self._known(key, stamp, YamlDocument(shown_as, entry["data"], {}, str(sha256), packed,
                                                            path)), []
        doc, problems = read_yaml(path, shown_as)
        if doc is not None and not problems:
            self.kept[key] = {"stamp": stamp, "data": doc.data, "sha256": doc.sha256,
                              "lines": pack_lines(doc.lines)}
            self.changed = True
            self._known(key, stamp, doc)
        return doc, problems

    def _known(self, key: str, stamp: list[int], doc: YamlDocument) -> YamlDocument:
        if self.path is not None:
            self.remembered.documents[key] = (stamp, doc.path, doc)
        return doc

    def recall(self, path: Path, kind: Any) -> Any:
        """What `remember` kept of this file for this kind, if the file has not moved since; else None."""
        known = self.remembered.derived.get(str(path))
        stamp = self.stamps.get(str(path))
        return known[2] if known is not None and stamp is not None and known[:2] == (stamp, kind) else None

    def remember(self, path: Path, kind: Any, value: Any) -> None:
        """Keep, for this process, what was derived from a file just read (its validated model)."""
        stamp = self.stamps.get(str(path))
        if self.path is not None and stamp is not None:
            self.remembered.derived[str(path)] = (stamp, kind, value)

    def save(self) -> None:
        """Write the entries used by this build (files that disappeared drop out)."""
        if self.path is None or not (self.changed or self.kept.keys() != self.entries.keys()):
            return
        if ParseCache.held:
            self.remembered.entries, self.remembered.unsaved = self.kept, True
            return
        _write(self.path, self.kept, self.remembered)


def save_held() -> None:
    """Write the entries watch kept in memory (ParseCache.held) to their cache file."""
    for name, remembered in _REMEMBERED.items():
        if remembered.unsaved:
            _write(Path(name), remembered.entries, remembered)


def _write(path: Path, entries: dict[str, Any], remembered: _Remembered) -> None:
    from pipeline.state import by_line, write_atomic

    known = remembered.texts
    texts = {key: (entry, known[key][1] if key in known and known[key][0] is entry
                   else json.dumps(entry, ensure_ascii=False)) for key, entry in entries.items()}
    try:
        write_atomic(path, by_line("{", [(key, text) for key, (_, text) in texts.items()], "}", ascii_keys=False),
                     durable=False)
    except OSError:
        return  # a cache that cannot be written only costs time
    remembered.stamp, remembered.entries, remembered.unsaved, remembered.texts = _stamp(path), entries, False, texts
