"""Find every free-text field of the sample content, to fill them with generated text."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel

from pipeline.content import _unwrap
from pipeline.model import Course, ImprovementEntry, Organisation, Trainer

# Text fields that are identifiers or codes with a required form, not free text.
NOT_FREE = {"logo", "siret", "nda", "code", "terms_url", "trainers", "courses",
            # not in the documents: the LHÉO block goes to the XML export (test_lheo.py); a cancelled or past session
            # is not published (test_sessions.py checks session texts as typed)
            "lheo", "sessions"}
SAMPLES = {"content/organisation.yaml": Organisation, "content/courses/management-proximite.yaml": Course,
           "content/trainers/thomas-girard.yaml": Trainer,
           "content/improvements/2026-01-attestation-tardive.yaml": ImprovementEntry}


def text_locations(model: type[BaseModel], data: Any, prefix: tuple = ()) -> list[tuple]:
    """List the locations of the str leaves of data whose model field is free text."""
    found = []
    for name, info in model.model_fields.items():
        if name not in data or name in NOT_FREE:
            continue
        value, annotation = data[name], _unwrap(info.annotation)
        item = _unwrap(info.annotation, want_item=True)
        if isinstance(value, str) and annotation is str:
            found.append(prefix + (name,))
        elif isinstance(value, dict) and isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += text_locations(annotation, value, prefix + (name,))
        elif isinstance(value, list) and typing.get_origin(_unwrap(info.annotation)) is list:
            for index, element in enumerate(value):
                if isinstance(element, str) and item is str:
                    found.append(prefix + (name, index))
                elif isinstance(element, dict) and isinstance(item, type) and issubclass(item, BaseModel):
                    found += text_locations(item, element, prefix + (name, index))
    return found
