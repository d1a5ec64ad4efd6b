"""The large documents are laid out by a process of their own (pipeline/typst_worker.py)."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import sys
import threading
from dataclasses import replace
from types import SimpleNamespace

import pypdf
import pytest

from pipeline import render, typst_worker
from pipeline.build import build
from pipeline.project import Project
from pipeline.typst_adapter import COMPILERS, LayoutFailed, LayoutProcess, new_compiler
from tests.helpers import REPO, copy_project
from tests.test_chunks import LOG, grow_the_log, sha


@pytest.fixture
def large(tmp_path):
    root = copy_project(tmp_path / "p")
    grow_the_log(root, 40)
    return replace(Project.at(root), cache=tmp_path / "cache")


def fake_pandoc(tmp_path, monkeypatch, script: str) -> None:
    """Have the build run this shell script instead of pandoc."""
    import pipeline.pandoc_adapter as pandoc_adapter

    fake = tmp_path / "pandoc"
    fake.write_text("#!/bin/sh\n" + script, encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setattr(pandoc_adapter, "pandoc_path", lambda: str(fake))


def build_in_a_thread(*args: str) -> list[int]:
    """`qualidoc ARGS`, given 50 s: its exit code in the list, or nothing if it is still waiting."""
    from pipeline.cli import main

    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(main(list(args))), daemon=True)
    thread.start()
    thread.join(timeout=50)
    return result


def test_a_large_document_is_laid_out_apart_into_the_same_pdf(large, monkeypatch):
    laid_out: list[LayoutProcess] = []
    real = LayoutProcess.compile
    monkeypatch.setattr(LayoutProcess, "compile", lambda self, *a: (laid_out.append(self), real(self, *a))[1])
    assert not build(large).failed
    assert laid_out, "the log is laid out by a process of its own"
    assert all(worker.process.returncode is not None for worker in laid_out), "and the process ends with the build"
    apart = sha(large.out / f"{LOG}.pdf")

    def in_process(fonts, key, name, request, payload, alone):
        replies = io.BytesIO()
        with COMPILERS.borrow(fonts, key) as compiler:
            typst_worker._answer((compiler, new_compiler(fonts)), request, io.BytesIO(payload), replies)
        line, pdf = replies.getvalue().split(b"\n", 1)
        assert json.loads(line) == {"size": len(pdf)}
        return pdf

    monkeypatch.setattr(COMPILERS, "lay_out_large", in_process)
    shutil.rmtree(large.cache)  # every piece laid out again, in this process
    assert not build(large, force=True).failed
    assert sha(large.out / f"{LOG}.pdf") == apart
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(large.out / f"{LOG}.pdf").pages)
    assert "Constat numéro 39." in " ".join(text.split())


def test_a_layout_process_that_stops_fails_its_document_alone_and_keeps_its_last_pdf(large, monkeypatch):
    assert not build(large).failed
    before = sha(large.out / f"{LOG}.pdf")
    (large.root / "content/improvements/copie-001.yaml").write_text(
        (large.root / "content/improvements/copie-001.yaml").read_text(encoding="utf-8").replace(
            "Constat numéro 1.", "Constat numéro un."), encoding="utf-8")
    monkeypatch.setattr(LayoutProcess, "COMMAND", [sys.executable, "-c", "import sys; sys.exit(3)"])
    monkeypatch.setattr(render, "HERE_PIECES", 0)  # an edit's layout goes to a layout process all the same
    report = build(large)
    assert set(report.failed) == {LOG}, report.failed
    assert "s'est arrêté" in report.failed[LOG] and "code de sortie 3" in report.failed[LOG]
    assert "conformite/matrice-conformite" in report.rebuilt  # the other documents go on
    assert sha(large.out / f"{LOG}.pdf") == before
    monkeypatch.undo()
    report = build(large)
    assert report.rebuilt == [LOG] and not report.failed
    assert sha(large.out / f"{LOG}.pdf") != before


def test_after_an_edit_a_document_of_few_pieces_is_laid_out_by_the_build_into_the_same_pdf(large, tmp_path,
                                                                                            monkeypatch):
    assert not build(large).failed
    entry = large.root / "content/improvements/copie-001.yaml"
    entry.write_text(entry.read_text(encoding="utf-8").replace("Constat numéro 1.", "Constat numéro un."),
                     encoding="utf-8")
    started: list[LayoutProcess] = []
    real = LayoutProcess.__init__
    monkeypatch.setattr(LayoutProcess, "__init__", lambda self, fonts: (started.append(self), real(self, fonts))[1])
    report = build(large)
    assert LOG in report.rebuilt and not report.failed
    assert started == [], "no layout process: its start would cost more than the pieces that changed"
    here = sha(large.out / f"{LOG}.pdf")
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(large.out / f"{LOG}.pdf").pages)
    assert "Constat numéro un." in " ".join(text.split())
    # the same content laid out from nothing, by a layout process: the same bytes
    apart = replace(large, out=tmp_path / "apart", cache=tmp_path / "apart-cache")
    assert not build(apart).failed
    assert len(started) == 1 and sha(apart.out / f"{LOG}.pdf") == here
    # a document of more pieces than HERE_PIECES keeps its layout process after an edit
    monkeypatch.setattr(render, "HERE_PIECES", 1)
    entry.write_text(entry.read_text(encoding="utf-8").replace("Constat numéro un.", "Constat numéro 1."),
                     encoding="utf-8")
    assert LOG in build(large).rebuilt
    assert len(started) == 2


def test_a_large_document_laid_out_by_the_build_borrows_the_compiler_that_had_it_last(tmp_path):
    """typst keeps what a compile used for the next 10 compiles only, and per compiler: after an edit, a large
    document laid out by the build's process (the resident builder) takes the compiler that laid it out the
    last time, if it is free, rather than the last one given back; otherwise any other."""
    from pipeline.typst_adapter import _Compilers

    compilers, fonts = _Compilers(), REPO / "templates/fonts"
    key = compilers.key(fonts)
    with compilers.borrow(fonts, key) as second, compilers.borrow(fonts, key, affinity="matrice") as first:
        assert first is not second
    # both given back, `second` last: without an affinity it comes first
    with compilers.borrow(fonts, key) as any_one:
        assert any_one is second
    with compilers.borrow(fonts, key, affinity="matrice") as again:
        assert again is first
    with compilers.borrow(fonts, key) as busy, compilers.borrow(fonts, key, affinity="matrice") as other:
        assert busy is first and other is second, "its compiler in use: another one"
    with compilers.borrow(fonts, key, affinity="matrice") as now:
        assert now is second, "the one that had it last"
    with compilers.borrow(fonts, (*key, "autres polices"), affinity="matrice") as elsewhere:
        assert elsewhere not in (first, second)
    assert list(compilers._last) == [((*key, "autres polices"), "matrice")], "the other fonts' compiler forgotten"


def test_a_large_document_waits_for_its_compiler_rather_than_make_a_cold_one():
    """Its compiler in use by a programme's compile and none other free: the large document waits for it."""
    from pipeline.typst_adapter import _Compilers

    compilers, fonts = _Compilers(), REPO / "templates/fonts"
    key = compilers.key(fonts)
    with compilers.borrow(fonts, key, affinity="registre") as mine:
        pass
    holding, release = threading.Event(), threading.Event()

    def programme() -> None:
        with compilers.borrow(fonts, key) as compiler:
            assert compiler is mine
            holding.set()
            release.wait(5)

    thread = threading.Thread(target=programme)
    thread.start()
    holding.wait(5)
    threading.Timer(0.05, release.set).start()
    with compilers.borrow(fonts, key, affinity="registre") as again:
        assert again is mine
    thread.join()
    assert compilers._free[key] == [mine], "no other compiler made"


def test_a_layout_process_that_cannot_start_fails_its_document(large, monkeypatch):
    monkeypatch.setattr(LayoutProcess, "COMMAND", [str(large.root / "no-such-python")])
    report = build(large)
    assert set(report.failed) == {LOG}, report.failed
    assert "impossible de lancer la mise en page" in report.failed[LOG]


def test_typst_errors_come_back_from_the_layout_process(tmp_path):
    fonts = Project.at(copy_project(tmp_path)).template("fonts")
    worker = LayoutProcess(fonts)
    request = {"root": str(tmp_path), "timestamp": dt.datetime(2026, 1, 1, tzinfo=dt.UTC).isoformat(),
               "pdf_standards": []}
    try:
        with pytest.raises(LayoutFailed, match="unclosed delimiter"):
            worker.compile(request | {"size": 5}, b"#foo(")
        pdf = worker.compile(request | {"size": 7}, b"Bonjour")
        assert pdf.startswith(b"%PDF") and worker.alive  # an error does not end the process
    finally:
        worker.close()
    assert worker.process.returncode == 0


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGHUP"])
def test_a_layout_process_terminated_removes_what_it_made(tmp_path, monkeypatch, signal_name):
    """In watch, a layout process makes a folder in /tmp (what it lays out ahead reads) and a process beside
    it; terminated with watch's process group (`kill`, the terminal closed), it left both behind."""
    import os
    import signal

    from pipeline.typst_adapter import source_frame
    from tests.test_pieces import META, STAGE_STYLE, synthetic

    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))
    stage = tmp_path / "stage"
    stage.mkdir()
    shutil.copyfile(STAGE_STYLE, stage / "style.typ")
    worker = LayoutProcess(Project.at(copy_project(tmp_path / "p")).template("fonts"))
    head, tail = source_frame(META, pieces=True)
    bodies = synthetic(3)
    request = {"root": str(stage), "timestamp": "2026-09-18T00:00:00+00:00", "pdf_standards": [], "head": head,
               "tail": tail, "salt": "s", "cache": str(tmp_path / "kept"), "remember": True,
               "sizes": [len(body.encode()) for body in bodies]}
    try:
        assert worker.compile(request, "".join(bodies).encode()).startswith(b"%PDF")
        assert [path.name[:15] for path in temporary.iterdir()] == ["qualidoc-ahead-"]
        pid = worker.process.pid
        [beside] = map(int, open(f"/proc/{pid}/task/{pid}/children").read().split())
        worker.process.send_signal(getattr(signal, signal_name))
        worker.process.wait(timeout=20)
    finally:
        worker.close()
    assert list(temporary.iterdir()) == []
    with pytest.raises(ProcessLookupError):
        os.kill(beside, 0)


def test_a_pandoc_that_stops_fails_its_documents_with_a_message_in_french(tmp_path, monkeypatch, capsys):
    from pipeline.cli import main

    root = copy_project(tmp_path)
    # pypandoc-binary's pandoc follows its message with its Haskell call stack: not for the user
    fake_pandoc(tmp_path, monkeypatch, "echo 'out of memory' >&2\necho 'HasCallStack backtrace:' >&2\n"
                "echo '  collectBacktraces, called at GHC/Internal/Exception.hs' >&2\nexit 137\n")
    monkeypatch.chdir(root)
    assert main(["build"]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err and "HasCallStack" not in captured.err
    assert "pandoc s'est arrêté (code de sortie 137) : out of memory" in captured.err
    assert not list((root / "build").rglob("*.pdf"))


def test_an_event_the_build_cannot_read_fails_its_documents_instead_of_waiting_forever(tmp_path, monkeypatch, capsys):
    """A pandoc event the build does not understand (a bug between convert.lua and render.py) used to end the
    thread that reads them, and the build waited for ever; now the process is stopped and its documents fail."""
    root = copy_project(tmp_path)
    fake_pandoc(tmp_path, monkeypatch, "read job\necho '{\"event\": \"mystery\"}'\nexec sleep 60\n")
    monkeypatch.chdir(root)
    assert build_in_a_thread("build") == [1], "the build ended, with failed documents"
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert "pandoc s'est arrêté" in captured.err


def test_a_bug_in_a_thread_that_finishes_documents_ends_the_build_as_an_internal_error(tmp_path, monkeypatch, capsys):
    """An unexpected error in a task of the build's threads (here, laying out a PDF) used to be kept by its
    future, unseen, and the build waited for ever for that document; it now ends the build, the documents
    already built kept."""
    from pipeline.cli import main
    from pipeline.render import Renderer

    root = copy_project(tmp_path)
    monkeypatch.chdir(root)
    assert main(["build"]) == 0
    before = {p: p.read_bytes() for p in (root / "build").rglob("*.pdf")}

    def broken(self, *args):
        raise KeyError("a bug")

    monkeypatch.setattr(Renderer, "_pdf", broken)
    died: list[BaseException | None] = []  # a thread's error that no one handled (printed with a traceback)
    monkeypatch.setattr(threading, "excepthook", lambda args: died.append(args.exc_value))
    result = build_in_a_thread("build", "--force")
    assert result and result[0] != 0, "the build ended, with an error"
    # the pandoc processes stopped with the build: their threads end quietly (they used to die on a write to
    # a closed input, handing the stopped build's remaining documents over)
    for reader in [t for t in threading.enumerate() if "_read" in t.name]:
        reader.join(timeout=10)
    assert not died
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert "erreur interne" in captured.err and "KeyError" in captured.err
    assert {p: p.read_bytes() for p in (root / "build").rglob("*.pdf")} == before


def test_a_document_handed_to_a_pandoc_whose_input_is_closed_is_no_error(tmp_path, monkeypatch):
    """When a build stops on an error, it closes the pandoc processes' input; a process that ends then hands
    the documents it was not given to the others (Dispatcher.refill), whose input is closed too: that write
    raised ValueError in the thread that reads pandoc's events, which died with a traceback on the terminal."""
    from pipeline.pandoc_adapter import Dispatcher, Pandoc

    fake_pandoc(tmp_path, monkeypatch, "cat >/dev/null\n")
    outcomes = SimpleNamespace(fail=lambda index, reason: None)
    converter = Pandoc(tmp_path, tmp_path / "convert.lua", 0, {}, lambda event: None, outcomes)
    dispatch = Dispatcher([converter], total=2)
    converter.close()  # the build stopped
    converter.process.wait(10)
    dispatch.add(0, 100)  # as refill does when a process is over: no ValueError
    dispatch.finish()
    converter.reader.join(10)
    assert not converter.reader.is_alive()
