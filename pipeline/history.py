"""What git says about the content: the last commit of each file, uncommitted changes, older revisions.

One `git log` and one `git status` per build, whatever the number of files. Without git (a
downloaded archive), every function answers None and the documents fall back to content dates.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import UserError


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
        raise UserError("git is not installed") from None
    if check and result.returncode != 0:
        raise UserError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def repository_top(path: Path) -> Path | None:
    """Return the top folder of the git work tree holding path, or None."""
    try:
        result = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=path, capture_output=True, text=True,
                                check=False)
    except FileNotFoundError:
        return None
    return Path(result.stdout.strip()).resolve() if result.returncode == 0 else None


def load_history(content_dir: Path) -> History | None:
    """Read the history of the content folder, or None outside a git repository."""
    top = repository_top(content_dir)
    if top is None:
        return None
    history = History(top)
    log = git(["log", "--format=%x00%h %cs", "--name-only", "--no-renames", "--", str(content_dir)], top,
              check=False)
    commit = None
    age = 0
    for line in log.splitlines():
        if line.startswith("\0"):
            short, day = line[1:].split()
            commit = Commit(short, dt.date.fromisoformat(day), age)
            age += 1
        elif line and commit:
            history.last_commit.setdefault((top / line).resolve(), commit)
    status = git(["status", "--porcelain", "--untracked-files=all", "--", str(content_dir)], top, check=False)
    for line in status.splitlines():
        name = line[3:].split(" -> ")[-1].strip('"')
        history.dirty.add((top / name).resolve())
    return history


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
