"""LHÉO's coded value lists (lheo-2.3-dictionnaires.xml): the content names a value, the export writes its code.

A name matches a dictionary label whatever its case, accents and spacing, or the label's start before its
parenthesis (« en groupe » for « en groupe (non personnalisable) »); an unknown name is refused with the list
of the allowed ones.
"""

from __future__ import annotations

import functools
import unicodedata
import xml.etree.ElementTree as ET
from importlib import resources

GML = "{http://www.gelaba.org/gml/1.1}"


@functools.cache
def dictionary(name: str) -> dict[str, str]:
    """A dictionary's labels → codes, in the file's order (`dict-niveaux`, `dict-financeurs`…)."""
    path = resources.files("pipeline") / "data" / "lheo" / "lheo-2.3-dictionnaires.xml"
    root = ET.fromstring(path.read_bytes())
    for entries in root.iter(f"{GML}dict"):
        if entries.get("name") == name:
            found = {}
            for entry in entries.iter(f"{GML}entry"):
                key, value = entry.find(f"{GML}key"), entry.find(f"{GML}value")
                if key is not None and value is not None:
                    found[str(value.get("val"))] = str(key.get("val"))
            return found
    raise KeyError(name)


@functools.lru_cache(maxsize=4096)
def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).lower().replace("’", "'").split())


def short(label: str) -> str:
    """A label's short name: before its parenthesis or its first sentence (« Niveau 4 », « en groupe »)."""
    return label.split(" (")[0].split(". ")[0]


def canonical(name: str, value: object) -> str:
    """The dictionary label a value names; ValueError listing the allowed names when it names none."""
    labels = dictionary(name)
    if isinstance(value, str):
        wanted = _folded(value)
        for label in labels:
            if wanted in (_folded(label), _folded(short(label))):
                return label
    allowed = " ; ".join(f"« {short(label)} »" for label in labels if "obsolète" not in label)
    raise ValueError(f"valeur inconnue de la liste LHÉO {name} ; valeurs permises : {allowed}")


def code(name: str, label: str) -> str:
    return dictionary(name)[label]
