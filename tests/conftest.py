from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from pipeline.build import build
from pipeline.content import load_catalogue
from pipeline.project import Project
from tests.helpers import REPO, copy_project

# Caches that only save time live in a per-user folder: the tests use their own.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="qualidoc-test-cache-")


@pytest.fixture(scope="session")
def sample_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the sample content once into a temporary folder."""
    root = copy_project(tmp_path_factory.mktemp("sample"))  # outside git: versions from the content dates
    out = root / "build"
    report = build(Project.at(root))
    assert not report.failed, report.failed
    return out


@pytest.fixture(scope="session")
def catalogue():
    return load_catalogue(REPO / "content", REPO)
