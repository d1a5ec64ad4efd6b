"""The error hierarchy: user errors are printed without a traceback, tool errors carry their command."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in the content, located as precisely as we can."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class QualidocError(Exception):
    """Base of every error qualidoc raises on purpose."""


class UserError(QualidocError):
    """A mistake the user can fix: printed as is, no traceback."""


class ContentError(UserError):
    """The content has one or more problems; all of them are carried together."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


class ToolError(QualidocError):
    """An external tool (pandoc, typst) failed."""

    def __init__(self, tool: str, detail: str, command: list[str] | None = None):
        self.tool, self.detail, self.command = tool, detail, command
        super().__init__(f"échec de {tool} : {detail.strip()}")


def excerpt(value: object, limit: int = 60) -> str:
    """A short excerpt of a value for a message: on one line, never a whole file."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def relative(path: Path, root: Path) -> str:
    """Show a path relative to the project when it lies inside it."""
    prefix = str(root).rstrip("/") + "/"
    if str(path).startswith(prefix) and "/../" not in str(path):  # the usual case, without pathlib's cost
        return str(path)[len(prefix):]
    if path.is_absolute() and path.is_relative_to(root):
        return path.relative_to(root).as_posix()
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


# The system's reasons a user may meet, in French (Python gives the C library's, in English).
SYSTEM_REASONS = {
    errno.ENOSPC: "plus de place sur le disque",
    errno.EDQUOT: "quota de disque dépassé",
    errno.EACCES: "permission refusée",
    errno.EPERM: "opération non permise",
    errno.EROFS: "disque en lecture seule",
    errno.ENOENT: "fichier ou dossier introuvable",
    errno.ENOTDIR: "une partie du chemin n'est pas un dossier",
    errno.EISDIR: "c'est un dossier",
    errno.EEXIST: "un fichier de ce nom existe déjà",
    errno.ENAMETOOLONG: "nom de fichier trop long",
    errno.ELOOP: "trop de liens symboliques (un lien en boucle ?)",
    errno.EIO: "erreur d'entrée-sortie du disque",
    errno.EBUSY: "fichier ou dossier occupé",
    errno.EMFILE: "trop de fichiers ouverts",
    errno.ENFILE: "trop de fichiers ouverts sur le système",
    errno.ENOMEM: "mémoire insuffisante",
    errno.EXDEV: "impossible entre deux disques",
    errno.EADDRINUSE: "port déjà utilisé",
    errno.EADDRNOTAVAIL: "adresse non disponible",
    errno.EINVAL: "refusé par le système (nom de fichier ou valeur invalide)",
}


def cause(error: BaseException) -> str:
    """Why an operation failed, for a message: a system error in French, a message of our own as it is."""
    if isinstance(error, OSError) and error.errno in SYSTEM_REASONS:
        if not error.strerror or error.strerror == os.strerror(error.errno):
            return SYSTEM_REASONS[error.errno]
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)
