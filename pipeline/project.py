"""Where a project's folders are: content/, templates/ and build/ under the current directory."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import struct
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.errors import Problem, UserError, relative

IMAGE_SIGNATURES = {b"\x89PNG\r\n\x1a\n": ".png", b"\xff\xd8\xff": ".jpg"}
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_IMAGE_PIXELS = 10_000
SVG_REFUSED = re.compile(rb"<script|<!ENTITY|<!DOCTYPE|href\s*=\s*[\"'](?!#|data:image/)|url\(\s*[\"']?(?!#)", re.I)


@dataclass(frozen=True)
class Project:
    """The folders qualidoc works on."""

    root: Path
    content: Path
    templates: Path
    out: Path
    cache: Path | None = None  # the cache folder, when not the project's own (a copy uses its original's)

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
    shutil.copytree(project.templates, root / "templates", dirs_exist_ok=True, symlinks=True)  # links stay links
    return replace(Project.at(root), cache=project.cache_dir / "copies")


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
        return refuse("is an absolute path: give a path inside the project, such as content/assets/logo.png")
    resolved = (root / candidate).resolve()
    if not resolved.is_relative_to(root.resolve()):
        return refuse("leads outside the project (through '..' or a symbolic link): keep images in the project")
    if not resolved.is_file():
        return refuse("is not a file of the project")
    if resolved.stat().st_size > MAX_IMAGE_BYTES:
        return refuse(f"is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
    problem = _image_problem(resolved.read_bytes())
    return refuse(problem) if problem else (resolved, None)


def _image_problem(data: bytes) -> str | None:
    """Say what is wrong with an image's bytes, or None for a sound PNG, JPEG or SVG."""
    kind = image_kind(data)
    if kind is None:
        return "is not a PNG, JPEG or SVG image"
    if kind == ".svg":
        return "is an SVG that refers to other files, scripts or entities: export it without them" \
            if SVG_REFUSED.search(data) else None
    size = _png_size(data) if kind == ".png" else _jpeg_size(data)
    if size is None:
        return f"is a damaged {kind[1:].upper()} image"
    if max(size) > MAX_IMAGE_PIXELS or min(size) < 1:
        return f"is {size[0]}×{size[1]} pixels: at most {MAX_IMAGE_PIXELS} on each side"
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


def _png_size(data: bytes) -> tuple[int, int] | None:
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
