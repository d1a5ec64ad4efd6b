"""A project's documents and its RNQ check, wired together: the one planning call of the build, the check,
the diff and the golden files.

The rules render nothing themselves and the document kinds run no check themselves: this module gives the
rules a way to render a questionnaire (`TemplateAccess`) and the conformity matrix a way to run the check.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pipeline.document_kinds import Document, plan_documents
from pipeline.rules import CheckResult, TemplateAccess, check

if TYPE_CHECKING:
    from pipeline.content import Catalogue
    from pipeline.history import History
    from pipeline.project import Project


def template_access(project: Project, catalogue: Catalogue) -> TemplateAccess:
    """What the rules read of the project's templates; questionnaires are rendered only when asked for."""
    renderers: dict[str, object] = {}

    def questionnaire(cid: str) -> str:
        from pipeline.render import Renderer

        if not renderers:
            renderers["renderer"] = Renderer(project, catalogue, 1)
            renderers["documents"] = {d.path: d for d in plan_documents(catalogue, checker(project),
                                                                         kinds=["positionnement"])}
        renderer: Renderer = renderers["renderer"]  # type: ignore[assignment]
        return renderer.markdown(renderers["documents"][f"positionnement/{cid}"])  # type: ignore[index]

    return TemplateAccess(project.template_folders, project.cache_dir, questionnaire)


def check_project(project: Project, catalogue: Catalogue, as_of: dt.date) -> CheckResult:
    """Run the RNQ check of the project's content, with its templates, at a date."""
    return check(catalogue, as_of, template_access(project, catalogue))


def checker(project: Project):  # type: ignore[no-untyped-def]
    """The check as the conformity matrix runs it: on the content it is given, at its own date."""
    return lambda catalogue, as_of: check_project(project, catalogue, as_of)


def plan_project(project: Project, catalogue: Catalogue, history: History | None = None) -> list[Document]:
    """Every document of the project, stamped by git when `history` is given."""
    return plan_documents(catalogue, checker(project), history)
