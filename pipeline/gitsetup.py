"""`make git-setup`: readable `git diff` of DOCX and PDF files, and a pre-commit check of the content.

Git keeps diff drivers in its configuration, which is not versioned: `.gitattributes` names them and
this step writes their commands into the clone's `.git/config`, with the pre-commit hook.
"""

from __future__ import annotations

import datetime as dt
import logging
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from pipeline.errors import ContentError, UserError, cause
from pipeline.history import files_at, git, has_commit, repository_top
from pipeline.project import Project, sandbox

MARK = "Installed by `make git-setup`"
HOOK = """#!/bin/sh
# Installed by `make git-setup`: refuse a commit whose content adds errors against the RNQ.
# Bypass when you must, as usual: git commit --no-verify
{chain}exec {command} check --staged
"""
CHAIN = """if [ -x "{previous}" ]; then "{previous}" "$@" || exit $?; fi
"""


def setup(project: Project) -> list[str]:
    """Configure the clone: textconv drivers for DOCX and PDF, and the pre-commit hook."""
    top = repository_top(project.root)
    if top is None:
        raise UserError(f"{project.root} n'est pas dans un dépôt git : lancez d'abord `git init`")
    command = f"{shlex.quote(sys.executable)} -m pipeline"
    for kind in ("docx", "pdf"):
        git(["config", f"diff.{kind}.textconv", f"{command} textconv --kind {kind}"], top)
        git(["config", f"diff.{kind}.cachetextconv", "true"], top)
    hooks = Path(git(["rev-parse", "--git-path", "hooks"], top).strip())
    hook = (top / hooks if not hooks.is_absolute() else hooks) / "pre-commit"
    hook.parent.mkdir(parents=True, exist_ok=True)
    done = [f"diff.docx.textconv, diff.pdf.textconv → {command} textconv"]
    existing = hook.read_text(encoding="utf-8", errors="replace") if hook.is_file() else ""
    if existing and MARK not in existing:
        # Another tool's hook is kept and run first: its name changes, never its content.
        previous = hook.with_name("pre-commit.before-qualidoc")
        if previous.exists():
            raise UserError(f"{hook} et {previous} existent tous deux et ne viennent pas de qualidoc : "
                            "fusionnez-les à la main, puis relancez `qualidoc git-setup`")
        hook.rename(previous)
        done.append(f"crochet existant conservé sous le nom {previous}, lancé avant le contrôle de qualidoc")
    chained = CHAIN.format(previous=hook.with_name("pre-commit.before-qualidoc"))
    hook.write_text(HOOK.format(command=command, chain=chained), encoding="utf-8")
    hook.chmod(0o755)
    return done + [f"crochet pre-commit → {hook}"]


def textconv(path: Path, kind: str) -> str:
    """Return the text of a DOCX (through pandoc) or a PDF (pypdf), for `git diff`."""
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise UserError(f"{path} : {cause(e)}") from None
    if kind == "docx":
        from pipeline.tools import pandoc_path

        result = subprocess.run([pandoc_path(), "-f", "docx", "-t", "plain", "--wrap=none", str(path)],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:  # pandoc's first line: the rest is its Haskell call stack
            raise UserError(f"{path} : DOCX illisible ({(result.stderr.strip().splitlines() or [''])[0]})")
        return result.stdout
    import pypdf

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings on a damaged file, in English: told below
    try:
        reader = pypdf.PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (pypdf.errors.PdfReadError, OSError, ValueError) as e:
        raise UserError(f"{path} : PDF illisible ({cause(e)})") from None
    return "".join(f"--- page {n} ---\n{text.rstrip()}\n" for n, text in enumerate(pages, 1))


def staged_errors(project: Project, today: dt.date) -> tuple[list[str], int]:
    """Return the RNQ errors the staged content adds to HEAD's, and the number of staged errors."""

    top = repository_top(project.root)
    if top is None:
        raise UserError(f"{project.root} n'est pas dans un dépôt git")
    staged = _errors(project, files_at(top, project, ":"), today)
    before = _errors(project, files_at(top, project, "HEAD"), today) if has_commit(top) else []
    return [e for e in staged if e not in before], len(staged)


def _errors(project: Project, files: dict[str, str], today: dt.date) -> list[str]:
    from pipeline.content import load_catalogue
    from pipeline.plan import check_project

    with tempfile.TemporaryDirectory() as tmp:
        try:
            copy = sandbox(project, files, Path(tmp))
            result = check_project(copy, load_catalogue(copy.content, copy.root), today)
        except ContentError as e:
            return [str(p) for p in e.problems]
        return [f"{f.file}:{f.line}: {f.field}: {f.message}" for f in result.errors()]
