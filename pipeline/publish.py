"""`qualidoc publish`: the documents of a commit, stamped with that commit, in a folder to publish or commit.

A build in the working tree stamps « version de travail, non validée » into documents whose content is not
committed yet; committing those PDFs then publishes working versions. `publish` builds the content as it is in
a commit instead: in a detached git worktree of that commit (its content and its templates), into an output
folder kept in the user's cache (so the next publication rebuilds only what changed), then copies the DOCX and
PDF files alone to the publication folder. The build's state never goes there.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from pipeline.build import build, write_atomic
from pipeline.errors import UserError
from pipeline.history import check_revision, git, repository_top
from pipeline.project import Project

FORMATS = (".docx", ".pdf")


def publish(project: Project, revision: str, target: Path,
            progress: Callable[[int, int], None] | None = None) -> list[str]:
    """Build the documents of `revision` and mirror them into `target`; return what to tell the user."""
    top = repository_top(project.root)
    if top is None:
        raise UserError("`qualidoc publish` publie les documents d'un commit : le projet doit être dans un dépôt git "
                        "(`git init`, puis `git commit`)")
    check_revision(top, revision)
    commit = git(["log", "-1", "--format=%h %cs", f"{revision}^{{commit}}", "--"], top).split()
    if target.resolve() in (project.root, project.content, project.templates) or \
            project.content.is_relative_to(target.resolve()):
        raise UserError(f"{target} : choisissez un dossier de publication à part (par défaut : publication/)")
    lines = []
    pending = git(["status", "--porcelain", "--", str(project.content)], top, check=False).strip()
    if pending and revision == "HEAD":
        lines.append("les modifications de content/ non validées (git commit) ne sont pas publiées")
    with tempfile.TemporaryDirectory(prefix="qualidoc-publish-") as folder:
        tree = Path(folder) / "tree"
        git(["worktree", "add", "--detach", "--quiet", str(tree), f"{revision}^{{commit}}"], top)
        try:
            copy = _project_in(project, top, tree)
            report = build(copy, progress=progress)
        finally:
            git(["worktree", "remove", "--force", str(tree)], top, check=False)
            git(["worktree", "prune"], top, check=False)
    if report.failed:
        details = "; ".join(f"{path} : {reason}" for path, reason in sorted(report.failed.items())[:3])
        raise UserError(f"{len(report.failed)} document(s) du commit {commit[0]} en échec, rien n'est publié : "
                        f"{details}")
    written, removed = _mirror(copy.out, target)
    shown = project.shown(target)
    lines.append(f"{report.total} documents du commit {commit[0]} ({commit[1]}) dans {shown}/ : "
                 f"{written} fichier{'s' if written > 1 else ''} écrit{'s' if written > 1 else ''}, "
                 f"{removed} supprimé{'s' if removed > 1 else ''}, les autres inchangés")
    return lines


def _project_in(project: Project, top: Path, tree: Path) -> Project:
    """The project as it is in a worktree of the repository: its output kept in the user's cache."""
    root = tree / project.root.relative_to(top)
    content = tree / project.content.relative_to(top) if project.content.is_relative_to(top) else None
    if content is None or not content.is_dir():
        raise UserError(f"pas de dossier {project.shown(project.content)}/ dans ce commit : rien à publier")
    return replace(Project.at(root, content), out=project.cache_dir / "publication",
                   cache=project.cache_dir / "copies", defaults=project.defaults, pdf_archive=project.pdf_archive)


def _mirror(source: Path, target: Path) -> tuple[int, int]:
    """Copy the DOCX and PDF files of a build into the publication folder; remove those it no longer has."""
    wanted = {p.relative_to(source) for p in source.rglob("*") if p.suffix in FORMATS and p.is_file()
              and not p.relative_to(source).parts[0].startswith(".") and p.relative_to(source).parts[0] != "site"}
    written = removed = 0
    for name in sorted(wanted):
        data = (source / name).read_bytes()
        destination = target / name
        if not destination.is_file() or destination.read_bytes() != data:
            write_atomic(destination, data)
            written += 1
    if target.is_dir():
        for path in sorted(target.rglob("*")):
            if path.suffix in FORMATS and path.is_file() and path.relative_to(target) not in wanted:
                path.unlink()
                removed += 1
    return written, removed
