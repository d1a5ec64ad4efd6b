"""The intermediate Markdown of each sample document matches its golden file."""

from __future__ import annotations

import pytest

from tests.golden import GOLDEN, golden_path, sample_markdown

RENDERED = sample_markdown()


@pytest.mark.parametrize("key", sorted(RENDERED))
def test_markdown_matches_golden(key):
    path = golden_path(key)
    assert path.exists(), f"no golden file for {key}: run `make update-golden`"
    assert RENDERED[key] == path.read_text(encoding="utf-8"), (
        f"{key} changed: if the change is intended, run `make update-golden` and review the diff")


def test_every_golden_file_has_a_document():
    stale = {p.relative_to(GOLDEN).with_suffix("").as_posix() for p in GOLDEN.rglob("*.md")} - set(RENDERED)
    assert not stale, f"golden files without a document: {stale}"
