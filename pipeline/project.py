"""Where a project's folders are: content/, templates/ and build/ under the current directory.

The default templates ship with qualidoc (this repository's templates/, installed as `pipeline/templates`);
a project's own templates/ overrides them file by file, as MkDocs' `custom_dir` does: an organisation's
repository holds only its content and the templates it changes.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipeline.errors import Problem, UserError, relative

IMAGE_SIGNATURES = {b"\x89PNG\r\n\x1a\n": ".png", b"\xff\xd8\xff": ".jpg"}
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_IMAGE_PIXELS = 10_000
PDF_ARCHIVE_LEVELS = ("2a", "2u", "2b")  # PDF/A-2 levels typst writes; 2a keeps the tagged structure
SVG_REFUSED = re.compile(rb"<script|<!ENTITY|<!DOCTYPE|href\s*=\s*[\"'](?!#|data:image/)|url\(\s*[\"']?(?!#)", re.I)


def default_templates() -> Path:
    """The templates that ship with qualidoc: package data once installed, this repository's in a checkout."""
    packaged = Path(__file__).parent / "templates"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "templates"


@dataclass(frozen=True)
class Project:
    """The folders qualidoc works on."""

    root: Path
    content: Path
    templates: Path  # the project's own templates (may not exist): each file overrides the default one
    out: Path
    cache: Path | None = None  # the cache folder, when not the project's own (a copy uses its original's)
    defaults: Path = field(default_factory=lambda: default_templates().resolve())
    pdf_archive: str | None = None  # a PDF/A level asked on the command line (else organisation.yaml's)

    @classmethod
    def at(cls, root: Path, content: Path | None = None, out: Path | None = None,
           pdf_archive: str | None = None) -> Project:
        """Describe the project in `root`, with optional other content and output folders."""
        root = root.resolve()
        project = cls(root, (content or root / "content").resolve(), (root / "templates").resolve(),
                      (out or root / "build").resolve(), pdf_archive=pdf_archive)
        if not project.content.is_dir():
            raise UserError(f"pas de dossier {relative(project.content, root)}/ dans {root} : lancez qualidoc depuis "
                            "le dossier de votre projet, ou créez-en un avec `qualidoc init`")
        return project

    @property
    def template_folders(self) -> tuple[Path, ...]:
        """Where templates are looked for, first found wins: the project's own, then qualidoc's defaults."""
        own = (self.templates,) if self.templates.is_dir() else ()
        return own + tuple(p for p in (self.defaults,) if p != self.templates)

    def template(self, name: str) -> Path:
        """The file a template name stands for: the project's own when it has one, else the default."""
        for folder in self.template_folders:
            path = folder / name
            if path.exists() and inside(path, folder):
                return path
        return self.defaults / name

    def shown_template(self, name: str) -> str:
        """Name a template file as a user finds it: `templates/x` in the project, or qualidoc's default."""
        path = self.template(name)
        if path.is_relative_to(self.root):
            return self.shown(path)
        return f"templates/{name} (modèle par défaut de qualidoc)"

    @property
    def state_dir(self) -> Path:
        """The folder where the build keeps its state and stages its work."""
        return self.out / ".qualidoc"

    @property
    def cache_dir(self) -> Path:
        """The per-user folder for what only saves time (parsed content, check answers), one per project.

        Never the output folder: that one gets shared (network drives, Docker volumes, a committed build/),
        and nothing read back from it may change what a build writes.
        """
        if self.cache is not None:
            return self.cache
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        digest = hashlib.sha256(f"{self.root}\0{self.content}\0{self.out}".encode()).hexdigest()[:20]
        return base / "qualidoc" / digest

    def pdf_standard(self, organisation: object) -> str | None:
        """The PDF/A level documents are written in: the command line's, else organisation.yaml's, else none."""
        return self.pdf_archive or getattr(organisation, "pdf_archive", None)

    def shown(self, path: Path) -> str:
        """Show a path relative to the project."""
        return relative(path, self.root)


def sandbox(project: Project, files: dict[str, str], root: Path) -> Project:
    """Lay out a copy of a project with other content (a git revision): content files, images, templates."""
    for name, text in files.items():
        (root / "content" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "content" / name).write_text(text, encoding="utf-8")
    if (project.content / "assets").is_dir():
        shutil.copytree(project.content / "assets", root / "content" / "assets", dirs_exist_ok=True, symlinks=True)
    if project.templates.is_dir():
        shutil.copytree(project.templates, root / "templates", dirs_exist_ok=True, symlinks=True)  # links stay links
    (root / "content").mkdir(parents=True, exist_ok=True)
    return replace(Project.at(root), cache=project.cache_dir / "copies", defaults=project.defaults,
                   pdf_archive=project.pdf_archive)


def inside(path: Path, root: Path) -> bool:
    """Say whether a path, symbolic links followed, stays inside a folder (False for a loop)."""
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):
        return False


def resolve_image(root: Path, value: str, shown_as: str, line: int, field: str) -> tuple[Path | None, Problem | None]:
    """Resolve an image path from the content: inside the project, a real PNG, JPEG or SVG of sensible size."""
    def refuse(reason: str) -> tuple[None, Problem]:
        return None, Problem(shown_as, line, field, f"{value!r} {reason}")

    candidate = Path(value)
    if candidate.is_absolute():
        return refuse("est un chemin absolu : donnez un chemin dans le projet, comme content/assets/logo.png")
    resolved = (root / candidate).resolve()
    if not resolved.is_relative_to(root.resolve()):
        return refuse("mène hors du projet (par « .. » ou un lien symbolique) : gardez les images dans le projet")
    if not resolved.is_file():
        return refuse("n'est pas un fichier du projet")
    if resolved.stat().st_size > MAX_IMAGE_BYTES:
        return refuse(f"dépasse {MAX_IMAGE_BYTES // (1024 * 1024)} Mo")
    problem = _image_problem(resolved.read_bytes())
    return refuse(problem) if problem else (resolved, None)


def _image_problem(data: bytes) -> str | None:
    """Say what is wrong with an image's bytes, or None for a sound PNG, JPEG or SVG."""
    kind = image_kind(data)
    if kind is None:
        return "n'est pas une image PNG, JPEG ou SVG"
    if kind == ".svg":
        return "est un SVG qui renvoie à d'autres fichiers, à des scripts ou à des entités : exportez-le sans eux" \
            if SVG_REFUSED.search(data) else None
    size = pixel_size(data)
    if size is None:
        return f"est une image {kind[1:].upper()} endommagée"
    if max(size) > MAX_IMAGE_PIXELS or min(size) < 1:
        return f"mesure {size[0]}×{size[1]} pixels : {MAX_IMAGE_PIXELS} au plus de chaque côté"
    return None


def image_kind(data: bytes) -> str | None:
    """Return the suffix matching an image's real format."""
    for signature, suffix in IMAGE_SIGNATURES.items():
        if data.startswith(signature):
            return suffix
    head = data[:1024].lstrip()
    if head.startswith((b"<svg", b"<?xml")) and b"<svg" in data[:4096]:
        return ".svg"
    return None


def image_suffix(path: Path) -> str:
    return image_kind(path.read_bytes()) or path.suffix


def pixel_size(data: bytes) -> tuple[int, int] | None:
    """A PNG's or a JPEG's width and height in pixels (None if damaged, or of another kind)."""
    kind = image_kind(data)
    return png_size(data) if kind == ".png" else _jpeg_size(data) if kind == ".jpg" else None


def png_size(data: bytes) -> tuple[int, int] | None:
    """A PNG's width and height in pixels (None if damaged)."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    position = 2
    while position + 9 < len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        length = struct.unpack(">H", data[position + 2:position + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            height, width = struct.unpack(">HH", data[position + 5:position + 9])
            return width, height
        position += 2 + length
    return None
