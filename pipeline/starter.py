"""`qualidoc init`: a new organisation's project, ready to build, from the package's skeleton.

`organisation.yaml` is written from the content model (a French comment above every key, the model's
own description), so that it never drifts from what the loader accepts; the example course, trainer and
improvement entry, the CI files and the team's README are files of `pipeline/skeleton/`. Nothing that
exists is ever overwritten.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline import __version__
from pipeline.errors import UserError, cause

if TYPE_CHECKING:  # the parser reads QUESTIONS on every command: pydantic is imported only to write a project
    from pydantic import BaseModel


@dataclass(frozen=True)
class Question:
    option: str  # the command-line option, without its dashes
    path: tuple[str, ...]  # where the answer goes in organisation.yaml
    label: str
    pattern: str = r".+"
    hint: str = ""


QUESTIONS = (
    Question("nom", ("name",), "raison sociale de l'organisme"),
    Question("siret", ("siret",), "numéro SIRET (14 chiffres)", r"\d{14}", "14 chiffres, sans espace"),
    Question("nda", ("nda",), "numéro de déclaration d'activité (NDA, 11 chiffres)", r"\d{11}",
             "11 chiffres, sans espace"),
    Question("region-nda", ("nda_region",), "préfecture de région d'enregistrement du NDA"),
    Question("courriel", ("email",), "adresse électronique de l'organisme", r"[^@\s]+@[^@\s]+\.[^@\s]+",
             "une adresse comme contact@exemple.fr"),
    Question("telephone", ("phone",), "téléphone de l'organisme"),
    Question("referent-handicap", ("disability_referent", "name"), "nom du référent handicap"),
    Question("courriel-referent", ("disability_referent", "email"), "adresse électronique du référent handicap",
             r"[^@\s]+@[^@\s]+\.[^@\s]+", "une adresse comme handicap@exemple.fr"),
)
SCHEMAS = "schemas"


def ask_missing(answers: dict[str, str | None], ask: Callable[[str], str] = input) -> dict[str, str | None]:
    """Ask, in French, each question not answered by an option; an empty answer leaves it to fill in later."""
    print("Nouveau projet qualidoc : quelques informations sur l'organisme (Entrée pour passer une question ;\n"
          "tout se complète ensuite dans content/organisation.yaml).")
    answers = dict(answers)
    for question in QUESTIONS:
        while not answers.get(question.option):
            text = ask(f"  {question.label[0].upper()}{question.label[1:]} : ").strip()
            if not text or re.fullmatch(question.pattern, text.replace(" ", "") if question.hint else text):
                answers[question.option] = (text.replace(" ", "") if question.hint else text) or None
                break
            print(f"    attendu : {question.hint}")
    return answers


def create_project(folder: Path, answers: dict[str, str | None], today: dt.date | None = None) -> list[str]:
    """Write a new project into `folder`; return a line per file, written or kept."""
    for question in QUESTIONS:
        value = answers.get(question.option)
        if value and not re.fullmatch(question.pattern, value):
            raise UserError(f"--{question.option} « {value} » : attendu : {question.hint or question.label}")
    today = today or dt.date.today()
    folder = folder.resolve()
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder} existe et n'est pas un dossier")
    name = answers.get("nom") or folder.name.replace("-", " ").replace("_", " ").strip().capitalize() or "Organisme"
    files = _files(name, answers, today)
    lines = []
    for relative_name, text in files.items():
        path = folder / relative_name
        if path.exists() or path.is_symlink():
            lines.append(f"conservé (existe déjà) : {relative_name}")
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as e:
            raise UserError(f"impossible d'écrire {path} : {cause(e)}") from e
        lines.append(f"créé : {relative_name}")
    where = "" if folder == Path.cwd().resolve() else f"cd {folder} && "
    lines += ["", f"Projet prêt. Ensuite : {where}qualidoc build   (puis qualidoc check pour ce qui reste à compléter)"]
    if not answers.get("nom"):
        lines.append(f"Raison sociale provisoire : « {name} » ; modifiez-la dans content/organisation.yaml.")
    return lines


def _files(name: str, answers: dict[str, str | None], today: dt.date) -> dict[str, str]:
    from pipeline.model import Organisation
    from pipeline.schema import json_schemas, schema_file, vscode_settings

    skeleton = resources.files("pipeline") / "skeleton"

    def read(path: str) -> str:
        text = (skeleton / path).read_text(encoding="utf-8")
        return (text.replace("@TODAY@", today.isoformat()).replace("@VERSION@", __version__)
                .replace("@NAME@", name).replace("@DUE@", (today + dt.timedelta(days=90)).isoformat()))

    values: dict[tuple[str, ...], object] = {q.path: answers.get(q.option) for q in QUESTIONS if answers.get(q.option)}
    values[("name",)] = name
    files = {"content/organisation.yaml": _schema_line("../", "organisation") + organisation_yaml(Organisation, values)}
    for kind, path in (("course", "content/courses/exemple-formation.yaml"),
                       ("trainer", "content/trainers/exemple-intervenant.yaml"),
                       ("improvement", "content/improvements/exemple-veille.yaml")):
        files[path] = _schema_line("../../", kind) + read(path)
    files |= {f"{SCHEMAS}/{schema_file(kind)}": json.dumps(schema, ensure_ascii=False, indent=2) + "\n"
              for kind, schema in json_schemas().items()}
    files[".vscode/settings.json"] = json.dumps(vscode_settings(SCHEMAS), ensure_ascii=False, indent=2) + "\n"
    files[".vscode/extensions.json"] = json.dumps({"recommendations": ["redhat.vscode-yaml"]}, indent=2) + "\n"
    files[".gitignore"] = read("gitignore")
    files["requirements.txt"] = read("requirements.txt")
    files[".github/workflows/qualidoc.yml"] = read("ci/github.yml")
    files[".gitlab-ci.yml"] = read("ci/gitlab.yml")
    files["README.md"] = read("README.md")
    return files


def _schema_line(up: str, kind: str) -> str:
    from pipeline.schema import schema_file

    return f"# yaml-language-server: $schema={up}{SCHEMAS}/{schema_file(kind)}\n"


def organisation_yaml(model: type[BaseModel], values: dict[tuple[str, ...], object], indent: str = "",
                      path: tuple[str, ...] = ()) -> str:
    """organisation.yaml with a French comment above each key (its description in the model).

    A key takes its answer, else its default; a key with neither is written commented out (`# siret:`), to
    fill in and uncomment: an empty key would be refused by the loader. A nested object is written key by key.
    """
    from pydantic import BaseModel

    from pipeline.schema import nested_model

    lines = [] if path else ["# L'organisme de formation : ces informations figurent dans l'en-tête et le pied de page",
                             "# de chaque document et dans les mentions obligatoires des programmes.",
                             "# Une ligne qui commence par « # clé: » est à compléter : écrivez la valeur après les",
                             "# deux-points et retirez le « # » (`qualidoc fields organisation` décrit chaque clé).",
                             ""]
    for key, info in model.model_fields.items():
        lines.append(f"{indent}# {info.description}")
        inner = nested_model(info)
        value = values.get((*path, key))
        if isinstance(inner, type) and issubclass(inner, BaseModel) and not info.is_required() and \
                info.get_default(call_default_factory=True) is None:
            answered = any(k[:len(path) + 1] == (*path, key) for k in values)
            block = organisation_yaml(inner, values, indent + "  ", (*path, key)).rstrip("\n")
            if answered:
                lines += [f"{indent}{key}:", block]
            else:
                lines += [f"{indent}# {key}:", *(_commented(line, indent) for line in block.splitlines())]
            continue
        if value is None and not info.is_required():
            default = info.get_default(call_default_factory=True)
            value = default.model_dump() if isinstance(default, BaseModel) else default
        if isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines.append(organisation_yaml(inner, values, indent + "  ", (*path, key)).rstrip("\n"))
        elif value is None:
            lines.append(f"{indent}# {key}:")
        else:
            lines.append(f"{indent}{key}:{_scalar(value)}")
    return "\n".join(lines) + "\n"


def _commented(line: str, indent: str) -> str:
    """A line of a nested block, commented out at the block's own indentation (`#   street:`)."""
    body = line[len(indent):]
    return line if body.lstrip().startswith("#") and body.startswith("  #") else f"{indent}# {body}"


def _scalar(value: object) -> str:
    """A YAML value after `key:`: empty for none, flow style for a list, quoted when YAML would misread it."""
    if value is None:
        return ""
    if isinstance(value, list):
        return " [" + ", ".join(map(str, value)) + "]"
    if isinstance(value, bool | int | float):
        return f" {str(value).lower() if isinstance(value, bool) else value}"
    text = str(value)
    return " " + json.dumps(text, ensure_ascii=False) if re.fullmatch(r"[\w .,'’@+\-()éèêàâçôîûùÉ/]*", text) is None \
        or text.isdigit() or text[:1] in "-@'" or ": " in text else f" {text}"
