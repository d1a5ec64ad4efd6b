"""The Référentiel national qualité as data: criteria and indicators of each version, and which applies.

The texts live in `pipeline/data/rnq-v9.yaml` and `rnq-v10.yaml`, side by side and easy to correct:
V10 (décret n° 2026-728) was not yet confirmed by an official page when they were written.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from importlib import resources

import yaml

from pipeline.inputs import record

V10_FROM = dt.date(2026, 11, 1)


@dataclass(frozen=True)
class Indicator:
    number: int
    criterion: int
    text: str
    categories: tuple[str, ...]
    when: str | None  # certifying, alternance, work_situation, subcontracting, over_2_days
    scope: str  # "content": qualidoc holds the evidence; "outside": it lives elsewhere
    evidence: str | None


@dataclass(frozen=True)
class Referential:
    version: str
    label: str
    criteria: dict[int, str]
    indicators: tuple[Indicator, ...]

    def indicator(self, number: int) -> Indicator:
        return next(i for i in self.indicators if i.number == number)


@functools.cache
def load_referential(version: str) -> Referential:
    """Read one version of the référentiel from the package data."""
    text = referential_text(version)
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # C loader: 8 times faster
    indicators = tuple(Indicator(i["number"], i["criterion"], i["text"], tuple(i["categories"]), i.get("when"),
                                 i["scope"], i.get("evidence")) for i in data["indicators"])
    return Referential(data["version"], data["label"], {int(k): v for k, v in data["criteria"].items()},
                       indicators)


def referential_for(explicit: str | None, next_audit: dt.date | None) -> Referential:
    """Choose the version: the one the content names, else the one in force on the date of the next audit.

    Without an audit date, the version in force now (V10). Never the content's dates or the clock: the
    check and the conformity matrix of the same content always apply the same référentiel.
    """
    version = explicit or ("V10" if next_audit is None or next_audit >= V10_FROM else "V9")
    record(f"referential:{version}")
    return load_referential(version)


def referential_text(version: str) -> str:
    """The package data of one version (what a document that applies it has read)."""
    return resources.files("pipeline").joinpath(f"data/rnq-{version.lower()}.yaml").read_text(encoding="utf-8")
