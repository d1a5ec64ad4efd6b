"""A project at the sizes issue 6 asks to stand: big course, big CV, wide matrix, long improvement log."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from tests.helpers import REPO


def dump(path: Path, data: dict) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def make_large_project(root: Path, courses: int = 60, trainers: int = 80, entries: int = 1500) -> Path:
    shutil.copytree(REPO / "templates", root / "templates")
    shutil.copytree(REPO / "content" / "assets", root / "content" / "assets")
    shutil.copy(REPO / "content/organisation.yaml", root / "content/organisation.yaml")
    course = yaml.safe_load((REPO / "content/courses/excel-perfectionnement.yaml").read_text(encoding="utf-8"))
    trainer = yaml.safe_load((REPO / "content/trainers/claire-martin.yaml").read_text(encoding="utf-8"))
    entry = yaml.safe_load((REPO / "content/improvements/2026-03-ecrans-salle-2.yaml").read_text(encoding="utf-8"))
    for folder in ("courses", "trainers", "improvements"):
        (root / "content" / folder).mkdir(parents=True)
    for t in range(trainers):
        data = {**trainer, "name": f"Intervenant {t:02d} Durand-Lefèvre"}
        if t == 0:
            data["training"] = [{"title": f"Formation continue n° {k} : analyse de données", "organisation":
                                 "Centre de formation", "date": f"{2020 + k % 6}-{1 + k % 12:02d}-15", "hours": 7}
                                for k in range(200)]
        dump(root / f"content/trainers/t{t:02d}.yaml", data)
    for c in range(courses):
        data = {**course, "title": f"Formation {c:02d} : {course['title']}", "reference": f"REF-{c:03d}",
                "trainers": [f"t{c % trainers:02d}", f"t{(c + 1) % trainers:02d}"]}
        if c == 0:
            data["objectives"] = [f"Appliquer la méthode n° {k} sur un cas concret du service" for k in range(60)]
            data["modules"] = [{"title": f"Module {m} : étude de cas et mise en pratique", "hours": 0.5,
                                "contents": [f"Point {k} du module {m}" for k in range(3)]} for m in range(150)]
            data["duration"] = {"hours": 75, "days": 10}
        dump(root / f"content/courses/c{c:02d}.yaml", data)
    for e in range(entries):
        dump(root / f"content/improvements/e{e:04d}.yaml",
             {**entry, "courses": [f"c{e % courses:02d}"], "description": f"Constat {e} : {entry['description']}"})
    return root
