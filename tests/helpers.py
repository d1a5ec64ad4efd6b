"""Read generated documents back, and make small projects to build."""

from __future__ import annotations

import re
import shutil
import unicodedata
from pathlib import Path

import docx
import pypdf
import yaml

REPO = Path(__file__).resolve().parent.parent
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def normalise(text: str) -> str:
    """Fold whitespace (and typographic spaces) so that line wrapping does not matter."""
    text = unicodedata.normalize("NFKC", text).replace("\u00ad", "").replace("\u200b", "").replace("\u2019", "'")
    return re.sub(r"\s+", " ", text).strip()


def docx_text(path: Path) -> str:
    """Return all the text of a DOCX: body paragraphs, tables (nested too), headers and footers."""
    document = docx.Document(str(path))
    parts: list[str] = []
    for section in document.sections:
        parts += [paragraph_text(p) for part in (section.header, section.footer)
                  for p in part._element.iter(W + "p")]
    parts += [paragraph_text(p) for p in document.element.body.iter(W + "p")]
    return normalise(" ".join(parts))


def paragraph_text(paragraph) -> str:  # type: ignore[no-untyped-def]
    return "".join(t.text or "" for t in paragraph.iter(W + "t"))


def pdf_text(path: Path) -> str:
    """Return all the text of a PDF."""
    reader = pypdf.PdfReader(str(path))
    return normalise(" ".join(page.extract_text() or "" for page in reader.pages))


def copy_project(target: Path) -> Path:
    """Copy the sample project (content and templates) into a folder."""
    for name in ("content", "templates"):
        shutil.copytree(REPO / name, target / name)
    return target


def planned(root: Path) -> list[str]:
    """The output paths of every document the project in `root` calls for, from the build's own plan."""
    from pipeline.content import load_catalogue
    from pipeline.plan import plan_project
    from pipeline.project import Project

    project = Project.at(root)
    return [d.path for d in plan_project(project, load_catalogue(project.content, project.root))]


def edit(path: Path, old: str, new: str) -> None:
    """Replace the first `old` in a file by `new`; the test stops if `old` is not there."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def edit_yaml(path: Path, **changes: object) -> None:
    """Change top-level keys of a content file (None removes the key)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def logo_outside_content(root: Path) -> Path:
    """Move the sample's logo to images/logo.png, outside content/ and templates/; return its path."""
    (root / "images").mkdir()
    logo = root / "images/logo.png"
    logo.write_bytes((root / "content/assets/logo-formavenir.png").read_bytes())
    organisation = root / "content/organisation.yaml"
    organisation.write_text(organisation.read_text(encoding="utf-8").replace(
        "logo: content/assets/logo-formavenir.png", "logo: images/logo.png"), encoding="utf-8")
    return logo
