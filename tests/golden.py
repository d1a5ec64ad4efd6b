"""Golden files: the Markdown handed to pandoc for each sample document (`make update-golden`)."""

from __future__ import annotations

from pathlib import Path

from pipeline.content import load_catalogue
from pipeline.plan import plan_project
from pipeline.project import Project
from pipeline.render import Renderer
from tests.helpers import REPO

GOLDEN = REPO / "tests" / "golden"


def sample_markdown() -> dict[str, str]:
    """Render every sample document's Markdown, keyed by output path."""
    project = Project.at(REPO)
    catalogue = load_catalogue(project.content, project.root)
    renderer = Renderer(project, catalogue, 1)
    return {doc.path: renderer.markdown(doc) for doc in plan_project(project, catalogue)}


def golden_path(key: str) -> Path:
    return GOLDEN / f"{key}.md"


def update() -> None:
    """Rewrite the golden files from the current templates and sample content."""
    for key, text in sample_markdown().items():
        path = golden_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    update()
