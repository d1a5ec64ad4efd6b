"""Where a project's folders are: content/, templates/ and build/ under the current directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import Problem, UserError, relative

IMAGE_SIGNATURES = {b"\x89PNG\r\n\x1a\n": ".png", b"\xff\xd8\xff": ".jpg"}
MAX_IMAGE_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Project:
    """The folders qualidoc works on."""

    root: Path
    content: Path
    templates: Path
    out: Path

    @classmethod
    def at(cls, root: Path, content: Path | None = None, out: Path | None = None) -> Project:
        """Describe the project in `root`, with optional other content and output folders."""
        root = root.resolve()
        project = cls(root, (content or root / "content").resolve(), (root / "templates").resolve(),
                      (out or root / "build").resolve())
        if not project.templates.is_dir():
            raise UserError(f"no templates/ folder in {root}: run qualidoc from your project's folder")
        return project

    @property
    def state_dir(self) -> Path:
        """The folder where the build keeps its state and stages its work."""
        return self.out / ".qualidoc"

    def shown(self, path: Path) -> str:
        """Show a path relative to the project."""
        return relative(path, self.root)


def resolve_image(root: Path, value: str, shown_as: str, line: int, field: str) -> tuple[Path | None, Problem | None]:
    """Resolve an image path from the content: inside the project, a real PNG or JPEG, not too large."""
    candidate = Path(value)
    if candidate.is_absolute():
        return None, Problem(shown_as, line, field, f"{value!r}: give a path inside the project, not an absolute path")
    resolved = (root / candidate).resolve()
    if not resolved.is_relative_to(root.resolve()):
        return None, Problem(shown_as, line, field, f"{value!r} leads outside the project (through '..' or a link)")
    if not resolved.is_file():
        return None, Problem(shown_as, line, field, f"{value!r}: no such file in the project")
    if resolved.stat().st_size > MAX_IMAGE_BYTES:
        return None, Problem(shown_as, line, field, f"{value!r} is larger than 5 MB")
    head = resolved.read_bytes()[:8]
    if not any(head.startswith(signature) for signature in IMAGE_SIGNATURES):
        return None, Problem(shown_as, line, field, f"{value!r} is not a PNG or JPEG image")
    return resolved, None


def image_suffix(path: Path) -> str:
    """Return the suffix matching an image's real format."""
    head = path.read_bytes()[:8]
    return next(s for sig, s in IMAGE_SIGNATURES.items() if head.startswith(sig))
