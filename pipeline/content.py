"""Load and validate the whole content tree: every file read, every problem reported together."""

from __future__ import annotations

import difflib
import re
import stat
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pipeline.errors import ContentError, Problem, excerpt, relative
from pipeline.model import Course, ImprovementEntry, Organisation, Trainer
from pipeline.project import resolve_image
from pipeline.yamlfile import Location, ParseCache, YamlDocument, field_path

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
COLLECTIONS: dict[str, type[BaseModel]] = {"courses": Course, "trainers": Trainer, "improvements": ImprovementEntry}
UNION_HINTS = {"prerequisites": "attendu : une liste de prérequis, ou `none` pour dire qu'il n'y en a aucun",
               "format": "attendu : presentiel, distanciel ou mixte, ou une liste de ces valeurs (modalité au choix)"}


@dataclass
class Catalogue:
    """Everything in content/, validated, with the file each object came from."""

    root: Path
    organisation: Organisation
    courses: dict[str, Course]
    trainers: dict[str, Trainer]
    improvements: dict[str, ImprovementEntry]
    files: dict[str, Path] = field(default_factory=dict)
    documents: dict[str, YamlDocument] = field(default_factory=dict)
    logo: Path | None = None

    def file_of(self, key: str) -> Path:
        """Return the content file of `organisation`, `courses/<id>`, `trainers/<id>`…"""
        return self.files[key]

    def get(self, key: str) -> BaseModel:
        """Return the object of `organisation`, `courses/<id>`, `trainers/<id>`…"""
        if key == "organisation":
            return self.organisation
        folder, _, ident = key.partition("/")
        return getattr(self, folder)[ident]

    def line_of(self, key: str, location: Location = ()) -> int:
        """Return the line of a field in the file of an object."""
        return self.documents[key].line_of(location)


def load_catalogue(content_dir: Path, project_root: Path | None = None, cache: Path | None = None,
                   later: list[Callable[[], None]] | None = None) -> Catalogue:
    """Read and validate every content file; raise ContentError listing all problems.

    `cache` names a file where parsed files are kept between builds (see ParseCache); with `later`, writing
    it is left there for the caller (a build writes it while pandoc and typst work: 20 ms at N = 100).
    """
    root = project_root or content_dir.parent
    if not content_dir.is_dir():
        raise ContentError([Problem(relative(content_dir, root), 0, "", "dossier de contenu introuvable")])
    problems: list[Problem] = []
    loaded: dict[str, tuple[Path, YamlDocument, BaseModel]] = {}
    files = list(_content_files(content_dir, problems, root))
    parsed = ParseCache(cache)
    for key, path, model in files:
        doc, found = parsed.read(path, relative(path, root))
        problems += found
        obj = parsed.recall(path, model) if doc is not None else None  # watch: validated in the last build
        if obj is None and doc is not None:
            obj = validate(doc, model, problems)
            if obj is not None:
                parsed.remember(path, model, obj)
        if obj is not None:
            loaded[key] = (path, doc, obj)  # type: ignore[assignment]
    if not any(key == "organisation" for key, _, _ in files):
        problems.append(Problem(relative(content_dir / "organisation.yaml", root), 0, "",
                                "fichier manquant : il décrit l'organisme (au moins `name`)"))
    catalogue = _assemble(root, loaded)
    problems += check_references(catalogue, known={key for key, _, _ in files})
    problems += _check_logo(catalogue)
    if problems:
        raise ContentError(problems)
    if later is None:
        parsed.save()
    else:
        later.append(parsed.save)
    return catalogue


def _content_files(content_dir: Path, problems: list[Problem],
                   root: Path) -> typing.Iterator[tuple[str, Path, type[BaseModel]]]:
    real_root = root.resolve()
    organisation = content_dir / "organisation.yaml"
    if organisation.is_symlink() or organisation.exists():
        if _readable(organisation, root, real_root, problems):
            yield "organisation", organisation, Organisation
    for folder, model in COLLECTIONS.items():
        directory = content_dir / folder
        if (directory.is_symlink() or directory.exists()) and not _readable(directory, root, real_root, problems,
                                                                            folder=True):
            continue
        real_directory = directory.resolve() if directory.is_dir() else None
        seen: dict[str, Path] = {}
        for path in sorted(directory.glob("*")) if directory.is_dir() else ():
            if path.name.startswith(".") or path.suffix.lower() not in (".yaml", ".yml"):
                continue
            shown = relative(path, root)
            if path.suffix not in (".yaml", ".yml"):
                problems.append(Problem(shown, 0, "", f"extension « {path.suffix} » : renommez le fichier en "
                                        f"{path.stem}.yaml (en minuscules), sinon il serait ignoré"))
                continue
            if not ID_PATTERN.match(path.stem):
                problems.append(Problem(shown, 0, "",
                                        "le nom du fichier ne doit contenir que des minuscules sans accent, "
                                        "des chiffres, « - » ou « _ » (c'est l'identifiant)"))
                continue
            if path.stem in seen:
                problems.append(Problem(shown, 0, "", f"même identifiant que {relative(seen[path.stem], root)} : "
                                        "gardez un seul des deux fichiers"))
                continue
            seen[path.stem] = path
            if _readable(path, root, real_root, problems, real_parent=real_directory):
                yield f"{folder}/{path.stem}", path, model


def _readable(path: Path, root: Path, real_root: Path, problems: list[Problem], folder: bool = False,
              real_parent: Path | None = None) -> bool:
    """Refuse, without reading a byte of it, a content file or folder that leads outside the project.

    `real_parent`: the folder's real path, already known (a file that is not a link is where its folder is;
    resolving each of 300 files costs 20 ms).
    """
    shown = relative(path, root)
    try:
        if real_parent is not None and not path.is_symlink():
            target, is_dir = real_parent / path.name, stat.S_ISDIR(path.stat().st_mode)
        else:
            target = path.resolve(strict=True)
            is_dir = target.is_dir()
    except (OSError, RuntimeError):
        problems.append(Problem(shown, 0, "", "lien symbolique cassé ou en boucle : supprimez-le ou réparez-le"))
        return False
    if not target.is_relative_to(real_root):
        problems.append(Problem(shown, 0, "", "lien symbolique vers un fichier hors du projet : refusé (le contenu "
                                "doit se trouver dans le projet)"))
        return False
    if folder != is_dir:
        what = "un dossier" if folder else "un fichier YAML"
        problems.append(Problem(shown, 0, "", f"attendu : {what}"))
        return False
    return True


def _assemble(root: Path, loaded: dict[str, tuple[Path, YamlDocument, BaseModel]]) -> Catalogue:
    def collection(folder: str) -> dict[str, Any]:
        prefix = folder + "/"
        return {k[len(prefix):]: obj for k, (_, _, obj) in loaded.items() if k.startswith(prefix)}

    organisation = loaded["organisation"][2] if "organisation" in loaded else None
    catalogue = Catalogue(root, organisation, collection("courses"),  # type: ignore[arg-type]
                          collection("trainers"), collection("improvements"))
    catalogue.files = {k: path for k, (path, _, _) in loaded.items()}
    catalogue.documents = {k: doc for k, (_, doc, _) in loaded.items()}
    return catalogue


def validate(doc: YamlDocument, model: type[BaseModel], problems: list[Problem]) -> BaseModel | None:
    """Validate one document against its model, turning each pydantic error into a located Problem."""
    if not isinstance(doc.data, dict):
        problems.append(Problem(doc.path, 1, "", f"attendu : des clés (`clé: valeur`), trouvé : {_kind(doc.data)}"))
        return None
    try:
        return model.model_validate(doc.data)
    except ValidationError as e:
        problems += _problems_from(e, doc, model)
        return None


def _problems_from(error: ValidationError, doc: YamlDocument, model: type[BaseModel]) -> list[Problem]:
    found: dict[Location, Problem] = {}
    for item in error.errors(include_url=False):
        location, is_union = _data_location(doc.data, item["loc"], missing=item["type"] == "missing")
        if location in found and not is_union:
            continue
        message = UNION_HINTS.get(str(location[-1]), "") if is_union else ""
        message = message or _message(item, location, model)
        found[location] = Problem(doc.path, doc.line_of(location), field_path(location), message)
    return list(found.values())


def _data_location(data: Any, loc: tuple[Any, ...], missing: bool = False) -> tuple[Location, bool]:
    """Drop the union-branch names pydantic adds to a location; keep the real keys and indexes.

    A key is one the data has, or the last part of a `missing` error's location: a branch's name
    (`literal['presentiel',…]`) given a mapping is not one of its keys."""
    location: list[str | int] = []
    skipped = False
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and isinstance(part, str) and (part in node or missing and i == len(loc) - 1):
            location.append(part)
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int):
            location.append(part)
            node = node[part] if part < len(node) else None
        else:
            skipped = True
    return tuple(location), skipped


def _message(item: Any, location: Location, model: type[BaseModel]) -> str:
    kind, value = item["type"], item.get("input")
    label = _description(model, location)
    suffix = f" – {label}" if label else ""
    if kind == "missing":
        return f"champ obligatoire absent{suffix}"
    if kind == "extra_forbidden":
        return _unknown_key(model, location)
    if kind in ("string_type", "list_type", "dict_type", "model_type", "model_attributes_type"):
        wanted = {"string_type": "un texte", "list_type": "une liste", "dict_type": "des clés (`clé: valeur`)",
                  "model_type": "des clés (`clé: valeur`)", "model_attributes_type": "des clés (`clé: valeur`)"}[kind]
        hint = _colon_hint(value) if kind == "string_type" else ""
        return f"attendu : {wanted}, trouvé : {_kind(value)}{suffix}{hint}"
    if kind.startswith("date"):
        return f"attendu : une date existante écrite AAAA-MM-JJ, trouvé : {_shown(value)}{suffix}"
    if kind in ("int_parsing", "int_from_float", "int_type", "int_parsing_size"):
        return f"attendu : un nombre entier, trouvé : {_kind(value)}{suffix}"
    if kind in ("float_parsing", "float_type"):
        return f"attendu : un nombre (avec un point pour les décimales : 12.5), trouvé : {_kind(value)}{suffix}"
    if kind == "finite_number":
        return f"attendu : un nombre (ni .nan ni .inf), trouvé : {_shown(value)}{suffix}"
    if kind in BOUNDS:
        words, key = BOUNDS[kind]
        return f"attendu : un nombre {words} {_number(item['ctx'][key])}, trouvé : {_shown(value)}{suffix}"
    if kind in ("bool_parsing", "bool_type"):
        return f"attendu : true ou false, trouvé : {_kind(value)}{suffix}"
    if kind == "literal_error":
        return f"attendu : {_choices(item['ctx']['expected'])}, trouvé : {_shown(value)}{suffix}"
    if kind == "too_short":
        least = item["ctx"]["min_length"]
        return f"attendu : au moins {least} élément{'s' if least > 1 else ''}{suffix}"
    if kind == "string_too_short":
        return f"ne doit pas être vide{suffix}"
    if kind == "string_pattern_mismatch":
        return f"{_shown(value)} n'a pas la forme attendue{suffix}"
    if kind == "too_long":
        most = item["ctx"]["max_length"]
        return f"attendu : au plus {most} élément{'s' if most > 1 else ''}{suffix}"
    if kind == "string_too_long":
        most = item["ctx"]["max_length"]
        return f"attendu : au plus {most} caractère{'s' if most > 1 else ''}, trouvé : {_shown(value)}{suffix}"
    found = f", trouvé : {_shown(value)}" if value is not None else ""
    if kind == "value_error":  # a validator's own message, in French (an LHÉO list names its values)
        return f"{_shown(value)} : {str(item['msg']).removeprefix('Value error, ')}{suffix}"
    return f"valeur refusée{found}{suffix}"  # pydantic's own message is English: never shown to a user


# A number's bound: pydantic's error type -> the words, and the key of the bound in the error's context.
BOUNDS = {"greater_than": ("supérieur à", "gt"), "greater_than_equal": ("supérieur ou égal à", "ge"),
          "less_than": ("inférieur à", "lt"), "less_than_equal": ("inférieur ou égal à", "le")}


def _number(value: Any) -> str:
    """A bound as a French reader writes it: 0, 100, 12,5."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).replace(".", ",")


def _unknown_key(model: type[BaseModel], location: Location) -> str:
    parent = _model_at(model, location[:-1])
    key = str(location[-1])
    allowed = list(parent.model_fields) if parent else []
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6) or _match_french_label(parent, key)
    hint = f" ; vouliez-vous dire `{close[0]}` ?" if close else f" ; clés possibles ici : {', '.join(allowed)}"
    return f"clé inconnue `{key}`{hint}"


def _match_french_label(model: type[BaseModel] | None, key: str) -> list[str]:
    """Suggest the English key whose French description starts with a French key (`objectifs`)."""
    if model is None:
        return []
    wanted = key.lower().replace("_", " ")
    for name, info in model.model_fields.items():
        label = (info.description or "").lower()
        if label and (label.startswith(wanted) or wanted.startswith(label.split(" ")[0])):
            return [name]
    return []


def _description(model: type[BaseModel], location: Location) -> str:
    parent = _model_at(model, location[:-1]) if location else None
    if parent is None or not isinstance(location[-1], str):
        return ""
    info = parent.model_fields.get(location[-1])
    return (info.description or "") if info else ""


def _model_at(model: type[BaseModel], location: Location) -> type[BaseModel] | None:
    """Return the model class that describes the mapping at a location."""
    current: Any = model
    for part in location:
        if isinstance(part, int):
            current = _unwrap(current, want_item=True)
            continue
        current = _unwrap(current)
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return None
        current = current.model_fields[part].annotation
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any, want_item: bool = False) -> Any:
    """Strip Optional/Annotated/list wrappers down to the model class they hold."""
    for _ in range(6):
        origin = typing.get_origin(annotation)
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if origin is typing.Annotated:
            annotation = args[0]
        elif origin in (typing.Union, types.UnionType):
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            lists = [a for a in args if typing.get_origin(a) is list]
            annotation = models[0] if models and not want_item else (lists[0] if lists else args[0])
        elif origin is list and want_item:
            annotation, want_item = args[0], False
        else:
            break
    return annotation


def _colon_hint(value: Any) -> str:
    """Explain the French-typography trap: `Atelier : texte` is read by YAML as a key and a value."""
    if isinstance(value, dict) and len(value) == 1:
        return " ; un « : » dans un texte fait lire une clé à YAML : mettez tout le texte entre guillemets droits"
    return ""


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "une liste"
    if isinstance(value, dict):
        return "des clés"
    if value is None:
        return "rien"
    return _shown(value)


def _shown(value: Any) -> str:
    """Quote a value in a message: a short excerpt, never a whole file."""
    return f"« {excerpt(value)} »"


def _choices(expected: str) -> str:
    """Pydantic's "'a', 'b' or 'c'" in French."""
    return "l'une des valeurs " + expected.replace(" or ", " ou ")


def _check_logo(catalogue: Catalogue) -> list[Problem]:
    logo = catalogue.organisation.logo if catalogue.organisation else None
    if not logo:
        return []
    shown = relative(catalogue.file_of("organisation"), catalogue.root)
    path, problem = resolve_image(catalogue.root, logo, shown, catalogue.line_of("organisation", ("logo",)), "logo")
    catalogue.logo = path
    return [problem] if problem else []


def check_references(catalogue: Catalogue, known: set[str]) -> list[Problem]:
    """Check that every trainer id and course id named in the content has its file."""
    problems = []
    for cid, course in catalogue.courses.items():
        problems += _dangling(catalogue, f"courses/{cid}", "trainers", course.trainers, known, "trainers")
    for eid, entry in catalogue.improvements.items():
        problems += _dangling(catalogue, f"improvements/{eid}", "courses", entry.courses, known, "courses")
    return problems


def _dangling(catalogue: Catalogue, key: str, field_name: str, ids: list[str], known: set[str],
              folder: str) -> list[Problem]:
    problems = []
    for index, ref in enumerate(ids):
        if f"{folder}/{ref}" in known:
            continue
        shown = relative(catalogue.file_of(key), catalogue.root)
        ids_in_folder = [k.split("/", 1)[1] for k in known if k.startswith(folder + "/")]
        close = difflib.get_close_matches(ref, ids_in_folder, n=1)
        hint = f" ; vouliez-vous dire `{close[0]}` ?" if close else ""
        problems.append(Problem(shown, catalogue.line_of(key, (field_name, index)), field_path((field_name, index)),
                                f"{'aucune formation' if folder == 'courses' else 'aucun intervenant'} `{ref}` "
                                f"dans content/{folder}/{hint}"))
    return problems
