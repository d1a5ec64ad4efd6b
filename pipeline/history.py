"""Every git call of qualidoc: the last commit of each content file, uncommitted changes, older revisions.

One `git status` per build and one `git log` per HEAD commit (kept: load_history), whatever the number
of files. Without git (a downloaded archive), every function answers None and the documents fall back to
content dates.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import UserError
from pipeline.project import inside

if TYPE_CHECKING:
    from pipeline.project import Project


@dataclass(frozen=True)
class Commit:
    short: str
    date: dt.date
    age: int  # 0 for the newest commit of the log, 1 for the one before…


@dataclass
class History:
    """The last commit of each content file and which files have uncommitted changes."""

    top: Path
    last_commit: dict[Path, Commit] = field(default_factory=dict)
    dirty: set[Path] = field(default_factory=set)
    known: dict[Path, Path] = field(default_factory=dict, repr=False)  # canonical() of each path met
    folders: dict[Path, Path] = field(default_factory=dict, repr=False)  # each folder met, resolved

    def canonical(self, path: Path) -> Path:
        """`path.resolve()`, each folder resolved once: a file that is not a link keeps its name in its resolved
        folder. A build met 1,600 paths of five folders (N = 100), each resolved component by component: 65 ms
        before the first document, in every build, after every edit."""
        found = self.known.get(path)
        if found is None:
            if path.name in ("", ".", "..") or os.path.islink(path):
                found = path.resolve()
            else:
                folder = self.folders.get(path.parent)
                if folder is None:
                    folder = self.folders[path.parent] = path.parent.resolve()
                found = folder / path.name
            self.known[path] = found
        return found

    def stamp(self, files: list[Path]) -> tuple[Commit | None, bool]:
        """Return the latest commit among files, and whether any of them has uncommitted changes."""
        commits = [self.last_commit[f] for f in files if f in self.last_commit]
        latest = min(commits, key=lambda c: c.age, default=None)
        dirty = any(f in self.dirty or f not in self.last_commit for f in files)
        return latest, dirty


def git(args: list[str], cwd: Path, check: bool = True) -> str:
    """Run git and return its output; a failure raises UserError with git's message."""
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise UserError("git est introuvable : installez git") from None
    if check and result.returncode != 0:
        raise UserError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def succeeds(args: list[str], cwd: Path) -> bool:
    """Tell whether a git command succeeds (a question such as « is this a commit? »)."""
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False).returncode == 0
    except FileNotFoundError:
        return False


def git_bytes(args: list[str], cwd: Path, data: bytes) -> bytes:
    """Run git with `data` on its input and return its output as bytes (blobs); a failure raises UserError."""
    try:
        result = subprocess.run(["git", *args], cwd=cwd, input=data, capture_output=True, check=False)
    except FileNotFoundError:
        raise UserError("git est introuvable : installez git") from None
    if result.returncode != 0:
        raise UserError(f"git {' '.join(args)}: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def has_commit(top: Path) -> bool:
    """Tell whether the repository has a commit yet."""
    return succeeds(["rev-parse", "--verify", "--quiet", "HEAD"], top)


def repository_top(path: Path) -> Path | None:
    """Return the top folder of the git work tree holding path, or None."""
    try:
        result = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=path, capture_output=True, text=True,
                                check=False)
    except FileNotFoundError:
        return None
    return Path(result.stdout.strip()).resolve() if result.returncode == 0 else None


# The `git log` of a content folder, by repository, folder and HEAD commit: a process that builds again (watch,
# the resident builder) runs it once per commit.
_LOGS: dict[tuple[str, str, str], str] = {}


def load_history(content_dir: Path, cache: Path | None = None) -> History | None:
    """Read the history of the content folder, or None outside a git repository.

    `cache`: a file (the user cache) where the log is kept for the HEAD commit it was read at. The log of a
    commit never changes, and `git log` reads every commit's objects: in a repository of 1,000 commits whose
    objects are not packed yet (git packs them past 6,700), 0.19 s at every build after an edit, before the
    first document. Only `git status` then runs (uncommitted changes)."""
    top = repository_top(content_dir)
    if top is None:
        return None
    history = History(top)
    head = head_commit(top)
    key = (str(top), str(content_dir), head)
    kept = (_LOGS[key] if key in _LOGS else _kept_log(cache, key)) if head else None
    try:
        last_commit = _last_commits(history, kept) if kept is not None else None
    except ValueError:  # a kept log that is not git's (a damaged cache): read it again
        last_commit = None
    if last_commit is None:
        kept = git(["log", "--format=%x00%h %cs", "--name-only", "--no-renames", "--", str(content_dir)], top,
                   check=False)
        last_commit = _last_commits(history, kept)
        if head:
            _keep_log(cache, key, kept)
    if head:
        _LOGS.clear()  # one repository's, for the commit it is at
        _LOGS[key] = kept  # type: ignore[assignment]
    history.last_commit = last_commit
    status = git(["status", "--porcelain", "--untracked-files=all", "--", str(content_dir)], top, check=False)
    for line in status.splitlines():
        name = line[3:].split(" -> ")[-1].strip('"')
        history.dirty.add(history.canonical(top / name))
    return history


def _last_commits(history: History, log: str) -> dict[Path, Commit]:
    """The last commit of each file named in `git log --name-only`'s output (newest first)."""
    last_commit: dict[Path, Commit] = {}
    commit = None
    age = 0
    for line in log.splitlines():
        if line.startswith("\0"):
            short, day = line[1:].split()
            commit = Commit(short, dt.date.fromisoformat(day), age)
            age += 1
        elif line and commit:
            last_commit.setdefault(history.canonical(history.top / line), commit)
    return last_commit


def _kept_log(cache: Path | None, key: tuple[str, str, str]) -> str | None:
    if cache is None:
        return None
    try:
        kept = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(kept, dict) and kept.get("key") == list(key) and isinstance(kept.get("log"), str):
        return kept["log"]
    return None


def _keep_log(cache: Path | None, key: tuple[str, str, str], log: str) -> None:
    if cache is None:
        return
    from pipeline.state import write_atomic

    with contextlib.suppress(OSError):  # the next build runs git again
        write_atomic(cache, json.dumps({"key": list(key), "log": log}).encode(), durable=False)


def head_commit(root: Path) -> str:
    """Return the commit HEAD points to, read from .git without running git (cheap enough for a no-op build)."""
    git_dir = root / ".git"
    try:
        head = (git_dir / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        loose = git_dir / ref
        if loose.exists():
            return loose.read_text().strip()
        for line in (git_dir / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except OSError:
        pass
    return ""


def check_revision(top: Path, revision: str) -> None:
    """Refuse, with what to do, a revision git does not know (a typo, HEAD~99, a shallow clone, no commit yet)."""
    if not revision or revision.startswith("-"):
        raise UserError(f"révision « {revision} » invalide : donnez BASE [HEAD] ou BASE..HEAD (ex. main..ma-branche)")
    if succeeds(["rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], top):
        return
    if not has_commit(top):
        raise UserError("le dépôt n'a encore aucun commit : validez le contenu (`git commit`) avant de comparer")
    shallow = git(["rev-parse", "--is-shallow-repository"], top, check=False).strip() == "true"
    hint = " (clone partiel : `git fetch --unshallow` récupère l'historique)" if shallow else ""
    raise UserError(f"révision « {revision} » inconnue de git{hint} : vérifiez le nom de la branche, de "
                    "l'étiquette ou du commit (`git log --oneline` les liste)")


def files_at(top: Path, project: Project, revision: str | None) -> dict[str, str]:
    """Read the content files at a revision ({"courses/x.yaml": text}); None reads the working tree, ":" the index."""
    if revision == ":":
        prefix = project.content.relative_to(top).as_posix()
        names = [n for n in git(["ls-files", "--", prefix], top).splitlines() if n.endswith((".yaml", ".yml"))]
        return dict(zip([n[len(prefix) + 1:] for n in names], _blobs(top, [f":{n}" for n in names])))
    if revision is None:
        return {p.relative_to(project.content).as_posix(): p.read_text(encoding="utf-8-sig", errors="replace")
                for p in sorted(project.content.rglob("*.y*ml")) if inside(p, project.root) and p.is_file()}
    prefix = project.content.relative_to(top).as_posix()
    git(["rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], top)
    names = git(["ls-tree", "-r", "--name-only", revision, "--", prefix], top).splitlines()
    names = [n for n in names if n.endswith((".yaml", ".yml"))]
    return dict(zip([n[len(prefix) + 1:] for n in names], _blobs(top, [f"{revision}:{n}" for n in names])))


def _blobs(top: Path, specs: list[str]) -> list[str]:
    """Read many blobs with one `git cat-file --batch`."""
    if not specs:
        return []
    data, texts, position = git_bytes(["cat-file", "--batch"], top, ("\n".join(specs) + "\n").encode()), [], 0
    for _ in specs:
        header_end = data.index(b"\n", position)
        size = int(data[position:header_end].split()[2])
        texts.append(data[header_end + 1:header_end + 1 + size].decode("utf-8-sig", errors="replace"))
        position = header_end + 1 + size + 1
    return texts
