"""The error hierarchy: user errors are printed without a traceback, tool errors carry their command."""

from __future__ import annotations

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
