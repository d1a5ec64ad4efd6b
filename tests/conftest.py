from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from pipeline.build import build
from pipeline.content import load_catalogue
from pipeline.project import Project
from tests.helpers import REPO, copy_project

# Caches that only save time live in a per-user folder: the tests use their own, removed when they end.
TEST_CACHE = os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="qualidoc-test-cache-")
# No resident builder left behind by a command a test runs on a terminal; test_resident.py asks for them.
os.environ["QUALIDOC_RESIDENT"] = "0"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(TEST_CACHE, ignore_errors=True)


@pytest.fixture(scope="session")
def sample_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the sample content once into a temporary folder."""
    root = copy_project(tmp_path_factory.mktemp("sample"))  # outside git: versions from the content dates
    out = root / "build"
    report = build(Project.at(root))
    assert not report.failed, report.failed
    return out


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "built: the `project` fixture is built once before the test")


@pytest.fixture
def project(tmp_path: Path, request: pytest.FixtureRequest) -> Project:
    """A copy of the sample project (content and templates); built first in modules marked `built`."""
    project = Project.at(copy_project(tmp_path))
    if request.node.get_closest_marker("built"):
        report = build(project)
        assert not report.failed and len(report.rebuilt) == report.total, report.failed
    return project


@pytest.fixture(scope="session")
def catalogue():
    return load_catalogue(REPO / "content", REPO)
