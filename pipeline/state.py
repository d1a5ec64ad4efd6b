"""What each output was built from, so that a build redoes only what changed.

The state file records, for each document, the hash of every input it read (content files,
templates, style assets, tool versions) and the hash of each file written. A document is stale
when an input changed, appeared or disappeared, or when an output is missing or was edited by hand.
Hashes, not modification times: after a `git clone` every file has the same mtime.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import cause

STATE_VERSION = 2  # 2: inputs recorded while rendering (inputs.py)


def file_hash(path: Path) -> str:
    """Return the sha256 of a file's bytes ("unreadable" for a missing file or a broken link)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "unreadable"


@dataclass
class OutputRecord:
    inputs: dict[str, str]
    files: dict[str, dict[str, object]]  # file name -> {"sha256", "size", "mtime_ns"}
    # Its JSON as the state file holds it, when it was read from there or written there unchanged (never
    # changed in place: `record` makes a new one); saving copies it rather than encoding it again.
    text: str | None = field(default=None, compare=False, repr=False)

    def json(self) -> str:
        if self.text is None:
            self.text = _encode({"inputs": self.inputs, "files": self.files})
        return self.text


def _encode(value: object) -> str:
    # Compact: Python's C encoder writes it (with `indent`, the pure-Python one: 0.1 s at N = 100).
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def source_snapshot(project, tools: dict[str, str],  # type: ignore[no-untyped-def]
                    extra: list[str] = ()) -> dict[str, list[int] | str]:  # type: ignore[assignment]
    """Size and modification time of every file in content/ and templates/ (and of the other files the
    last build read, such as a logo kept elsewhere), and the tool versions.

    When nothing in it moved since a complete build, and no output was touched, the build has
    nothing to do and needs not even read the content. Any difference falls back to hashing.
    """
    snapshot: dict[str, list[int] | str] = dict(tools)
    paths = [p for folder in (project.content, *project.template_folders) for p in folder.rglob("*")]
    for path in [*paths, *map(Path, extra)]:
        try:
            stat = path.stat()
        except OSError:  # a broken link: the build reports it, and runs again until it is mended
            snapshot[str(path)] = [-1, -1]
            continue
        if not path.is_dir():
            snapshot[str(path)] = [stat.st_size, stat.st_mtime_ns]
        elif path.suffix.lower() in (".yaml", ".yml"):
            snapshot[str(path)] = [-1, stat.st_mtime_ns]  # a folder named like a content file: reported
    return snapshot


@dataclass
class BuildState:
    """The recorded inputs and outputs of the last successful build of each document."""

    path: Path
    outputs: dict[str, OutputRecord] = field(default_factory=dict)
    snapshot: dict[str, list[int] | str] = field(default_factory=dict)
    incomplete: list[str] = field(default_factory=list)  # documents that show « À compléter » markers
    extra: list[str] = field(default_factory=list)  # files read outside content/ and templates/ (a logo)
    hashes: dict[str, list] = field(default_factory=dict)  # a template's or a logo's [size, mtime_ns, sha256]
    hashed: set[str] = field(default_factory=set)  # the files looked up by this build: those kept in `hashes`
    stamp: tuple[int, int, int] | None = field(default=None, compare=False)  # the file's, read or written

    def unchanged_since(self, snapshot: dict[str, list[int] | str], out_dir: Path) -> bool:
        """Tell whether no source moved since the last complete build and every output is as written."""
        if not self.snapshot or snapshot != self.snapshot:
            return False
        return all(_output_problem(out_dir / name, recorded, hash_if_moved=False) is None
                   for record in self.outputs.values() for name, recorded in record.files.items())

    @classmethod
    def load(cls, state_dir: Path) -> BuildState:
        """Read the state file; an unreadable or old one means everything is stale. The state this process
        last wrote, or read and kept unchanged (`keep`), is taken from memory if the file has not moved since
        (watch: 20 ms of JSON per edit at N = 100 courses, 0.2 s at N = 1000); taken once, so that a build
        stopped before its save reads the file again."""
        path = state_dir / "state.json"
        kept = _KEPT.pop(str(path), None)
        stamp = _stamp(path)  # taken before reading: a file rewritten meanwhile is read again next time
        if kept is not None and kept[0] == stamp:
            return kept[1]
        state = cls._read(path)
        state.stamp = stamp
        return state

    def keep(self) -> None:
        """Leave this state for the next load in this process: nothing changed it since it was read."""
        _KEPT[str(self.path)] = (self.stamp, self)

    @classmethod
    def _read(cls, path: Path) -> BuildState:
        try:
            text = path.read_text(encoding="utf-8")
            raw = json.loads(text)
        except (OSError, ValueError):
            return cls(path)
        try:
            if raw.get("version") != STATE_VERSION:
                return cls(path)
            outputs = {str(key): OutputRecord(dict(value["inputs"]), dict(value["files"]))
                       for key, value in raw["outputs"].items()}
            _keep_texts(text, outputs)
            incomplete = [str(p) for p in raw.get("incomplete", []) if isinstance(p, str)]
            snapshot = raw.get("snapshot", {})
            extra = [str(p) for p in raw.get("extra", []) if isinstance(p, str)]
            hashes = {str(k): v for k, v in raw.get("hashes", {}).items()
                      if isinstance(v, list) and len(v) == 3 and isinstance(v[2], str)}
            return cls(path, outputs, snapshot if isinstance(snapshot, dict) else {}, incomplete, extra, hashes)
        except (AttributeError, KeyError, TypeError, ValueError):  # a damaged state: everything is stale
            return cls(path)

    def why_stale(self, key: str, inputs: dict[str, str], out_dir: Path, files: list[str],
                  show: Callable[[str], str] = str) -> str | None:
        """Say why a document must be rebuilt, or None when it is up to date (`show` names an input)."""
        record = self.outputs.get(key)
        if record is None:
            return "jamais construit"
        changed = [] if inputs == record.inputs else sorted(
            name for name in inputs.keys() | record.inputs.keys() if inputs.get(name) != record.inputs.get(name))
        if changed:
            return "modifié : " + ", ".join(_describe(name, inputs, record.inputs, show) for name in changed[:4]) + (
                f" et {len(changed) - 4} autres" if len(changed) > 4 else "")
        for name in files:
            problem = _output_problem(out_dir / name, record.files.get(name))
            if problem:
                return f"{name} {problem}"
        return None

    def record(self, key: str, inputs: dict[str, str], out_dir: Path, files: list[str],
               hashes: dict[str, str] | None = None) -> None:
        """Remember what a document was built from and what was written (`hashes`: those already known)."""
        known = hashes or {}
        self.outputs[key] = OutputRecord(dict(inputs), {name: _stat_record(out_dir / name, known.get(name))
                                                        for name in files})

    def file_hash(self, path: Path) -> str:
        """The sha256 of a file the build reads (a template, a font, a logo): the one taken last time if it has
        the same size and date since (the fonts alone are 8 MB, hashed again at every edit otherwise)."""
        try:
            stat = path.stat()
        except OSError:
            return file_hash(path)
        self.hashed.add(str(path))
        known = self.hashes.get(str(path))
        if known is not None and known[:2] == [stat.st_size, stat.st_mtime_ns]:
            return str(known[2])
        sha256 = file_hash(path)  # after the stat: a file changed meanwhile has another date next time
        self.hashes[str(path)] = [stat.st_size, stat.st_mtime_ns, sha256]
        return sha256

    def output_hash(self, name: str, out_dir: Path) -> str:
        """The sha256 of an output file (`programmes/x.pdf`): the one recorded when it was written, if it has
        the same size and date since; else read from the disk (file_hash)."""
        path = out_dir / name
        record = self.outputs.get(name.rsplit(".", 1)[0])
        recorded = record.files.get(name) if record else None
        if recorded is not None:
            try:
                stat = path.stat()
            except OSError:
                return file_hash(path)
            if stat.st_size == recorded.get("size") and stat.st_mtime_ns == recorded.get("mtime_ns"):
                sha256 = recorded.get("sha256")
                if isinstance(sha256, str) and sha256:
                    return sha256
        return file_hash(path)

    def forget(self, key: str) -> None:
        self.outputs.pop(key, None)

    def save(self) -> None:
        """Write the state file atomically."""
        hashes = {name: known for name, known in self.hashes.items() if name in self.hashed}
        data = {"version": STATE_VERSION, "snapshot": self.snapshot, "incomplete": self.incomplete, "extra": self.extra,
                "hashes": hashes}
        # The outputs last, one document a line: a document built before keeps the text it was read with (an
        # edit's build encodes 5 documents of 203, not 2.5 MB of JSON: 12 ms at N = 100, at the end of it).
        outputs = [(key, record.json()) for key, record in sorted(self.outputs.items())]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, by_line(f"{_encode(data)[:-1]},{OUTPUTS}", outputs, "}}"))
        self.hashes, self.hashed, self.stamp = hashes, set(), _stamp(self.path)  # as the file now reads
        self.keep()


OUTPUTS = '"outputs":{'  # ends the state file's first line; each document's record is on a line of its own


def by_line(head: str, members: list[tuple[str, str]], tail: str, ascii_keys: bool = True) -> Iterator[bytes]:
    """A JSON object written one member a line, `members` (key, value's JSON) after the `head` line (which
    opens it): a file whose members a reader can take again as written (`line_texts`), unchanged ones
    copied rather than encoded again. Line by line, for write_atomic: the file is never held whole in memory
    (at N = 1000, state.json is some 25 MB)."""
    yield f"{head}\n".encode()
    last = len(members) - 1
    for number, (key, value) in enumerate(members):
        yield f"{json.dumps(key, ensure_ascii=ascii_keys)}:{value}{',' if number < last else ''}\n".encode()
    yield tail.encode()


def line_texts(text: str, keys: list[str], tail: str, ascii_keys: bool = True) -> list[str] | None:
    """The JSON of each member, in order, of the object that `by_line` wrote with these keys in `text`
    (already read as JSON); None for a file laid out otherwise (an older one, one edited by hand)."""
    head, _, rest = text.partition("\n")
    lines = rest.split("\n")
    if not head.endswith("{") or len(lines) != len(keys) + 1 or lines[-1] != tail:
        return None
    texts = []
    for key, line in zip(keys, lines, strict=False):
        prefix = f"{json.dumps(key, ensure_ascii=ascii_keys)}:"
        if not line.startswith(prefix):
            return None
        texts.append(line[len(prefix):].removesuffix(","))
    return texts


def _keep_texts(text: str, outputs: dict[str, OutputRecord]) -> None:
    """Give each record the text of its line, if the file is laid out as `save` writes it (else, a file
    written otherwise, each is encoded again when saved)."""
    texts = line_texts(text, list(outputs), "}}")
    for record, record_text in zip(outputs.values(), texts or [], strict=False):
        record.text = record_text


# The state of each state file as this process last wrote it, or read it and changed nothing (keep), with the
# file's stamp then (load).
_KEPT: dict[str, tuple[tuple[int, int, int] | None, BuildState]] = {}


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """What tells a file rewritten since (by write_atomic, a new inode; by hand, another size or date)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _describe(name: str, now: dict[str, str], before: dict[str, str], show: Callable[[str], str]) -> str:
    if name not in before:
        return f"{show(name)} (nouveau)"
    if name not in now:
        return f"{show(name)} (plus lu)"
    return show(name)


def _output_problem(path: Path, recorded: dict[str, object] | None, hash_if_moved: bool = True) -> str | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return "est absent"
    except OSError as e:
        return f"est illisible ({cause(e)})"
    if recorded is None:
        return "n'a pas été enregistré"
    if stat.st_size == recorded["size"] and stat.st_mtime_ns == recorded["mtime_ns"]:
        return None
    if hash_if_moved and file_hash(path) == recorded["sha256"]:
        # The same bytes with another date (a copy, a restore): recorded as they are, so that the next build
        # neither hashes it again nor misses its quick check (every output was read again by each build,
        # 0.1 s → 0.4 s for a build with nothing to do at N = 100 courses).
        recorded["size"], recorded["mtime_ns"] = stat.st_size, stat.st_mtime_ns
        return None
    return "a été modifié à la main"


def _stat_record(path: Path, sha256: str | None = None) -> dict[str, object]:
    stat = path.stat()
    return {"sha256": sha256 or file_hash(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


TEMPORARY = ".qualidoc-tmp"  # the end of the name of every temporary file qualidoc writes


Identity = tuple[int, int, int, int]  # device, inode, size, date: one file, as it was then
Copy = tuple[Path, Identity]  # a file holding the very bytes to write, and its identity (write_atomic's same_as)


def identity(stat: os.stat_result) -> Identity:
    """What tells one file from another, and from itself rewritten: device, inode, size, date."""
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


def read_with_identity(path: Path) -> tuple[bytes, Identity]:
    """A file's bytes, and the identity of the very file they were read from."""
    with path.open("rb") as handle:
        return handle.read(), identity(os.fstat(handle.fileno()))


def write_atomic(path: Path, data: bytes | Iterable[bytes], durable: bool = True,
                 same_as: Copy | None = None) -> Identity:
    """Write a file through a temporary file and a rename: readers see the old or the new file, never half.
    Returns the identity of the file written.

    `same_as`: a file that holds these very bytes, with the identity it had then (a document's copy in the
    user cache, or in build/ for the site): the new file is a hard link to it, not a second copy (a full build
    writes 600 such files at N = 100). Bytes are written when the link cannot be made (across file systems,
    on one without links) or is not to that very file any more (replaced since by another process).

    `durable`: the data is on the disk before the rename, so that a power cut cannot leave an empty file.
    The files of build/ are written without (a build writes hundreds: 0.1 s here, seconds on a laptop's
    disk): state.json, written durably last, records each one's size and date, so a file that a power cut
    emptied or rolled back no longer matches and is rebuilt by the next build. So are the user cache's
    files (parsed content, the parts and pieces of the large documents; 15 fsyncs of a title edit): a
    damaged cache file is read or laid out again, never trusted.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}{TEMPORARY}")
    try:
        if same_as is not None and not durable and _linked(same_as, temporary):
            os.replace(temporary, path)
            return same_as[1]
        with open(temporary, "wb") as handle:
            if isinstance(data, bytes):
                handle.write(data)
            else:
                handle.writelines(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
            written = identity(os.fstat(handle.fileno()))
        os.replace(temporary, path)
        return written
    finally:
        temporary.unlink(missing_ok=True)


def _linked(same_as: Copy, temporary: Path) -> bool:
    """Make `temporary` a hard link to a file if it is still the file it was."""
    source, expected = same_as
    try:
        os.link(source, temporary)
        if identity(os.stat(temporary)) == expected:
            return True
        temporary.unlink()
    except OSError:
        pass
    return False
