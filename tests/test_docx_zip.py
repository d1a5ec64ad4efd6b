"""The DOCX archive written by docx_finish.zip_members: the same bytes as Python's zipfile writes, with the
members every document shares deflated once."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from pipeline import docx_finish
from pipeline.docx_finish import STORED, zip_members

ROOT = Path(__file__).resolve().parent.parent
STAMP = (2026, 3, 17, 0, 0, 0)


def with_zipfile(members: list[tuple[str, bytes]], stamp: tuple[int, ...]) -> bytes:
    """What qualidoc wrote through zipfile before (the oracle)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in members:
            entry = zipfile.ZipInfo(name, date_time=stamp)
            entry.compress_type = zipfile.ZIP_STORED if name.endswith(STORED) else zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            target.writestr(entry, data)
    return out.getvalue()


@pytest.fixture
def members() -> list[tuple[str, bytes]]:
    """The members of the reference DOCX, a PNG, a name that is not ASCII and an empty member."""
    with zipfile.ZipFile(ROOT / "templates/reference.docx") as archive:
        found = [(name, archive.read(name)) for name in archive.namelist()]
    logo = (ROOT / "content/assets/logo-formavenir.png").read_bytes()
    return [*found, ("word/media/logo.png", logo), ("word/média/é.xml", "<a>é</a>".encode()), ("empty.xml", b"")]


def test_the_archive_is_the_same_bytes_as_zipfile_writes(members):
    docx_finish._DEFLATED.clear()
    first = zip_members(members, STAMP)
    assert first == with_zipfile(members, STAMP)
    assert docx_finish._DEFLATED, "the shared members are kept deflated"
    assert zip_members(members, STAMP) == first, "and give the same bytes from what is kept"
    assert zip_members(members, (1980, 1, 1, 0, 0, 0)) == with_zipfile(members, (1980, 1, 1, 0, 0, 0))
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.testzip() is None
        assert [(name, archive.read(name)) for name in archive.namelist()] == members
        assert archive.getinfo("word/media/logo.png").compress_type == zipfile.ZIP_STORED
        assert archive.getinfo("word/styles.xml").compress_type == zipfile.ZIP_DEFLATED


def test_each_document_gets_its_own_members_back(members):
    """A member kept deflated is found by its content, never by its name alone."""
    styles = dict(members)["word/styles.xml"]
    other = [(name, styles.replace(b"Calibri", b"Arial") if name == "word/styles.xml" else data)
             for name, data in members]
    assert dict(other)["word/styles.xml"] != styles
    for archive_members in (members, other, members):
        with zipfile.ZipFile(io.BytesIO(zip_members(archive_members, STAMP))) as archive:
            assert archive.read("word/styles.xml") == dict(archive_members)["word/styles.xml"]
