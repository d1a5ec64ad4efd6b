"""What a hostile or unlucky project must not break (second pass): nothing read back from the output folder
is run or trusted, qualidoc deletes only its own files, internal markers cannot be forged, hooks are kept."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest

from pipeline.build import build
from pipeline.cli import main
from pipeline.errors import ContentError
from pipeline.project import Project
from tests.helpers import REPO, copy_project, docx_text, logo_outside_content, pdf_text

COURSE = "content/courses/excel-perfectionnement.yaml"


pytestmark = pytest.mark.built


def test_a_planted_template_bytecode_is_never_run(project, tmp_path):
    marker = tmp_path / "pwned"
    cache = project.state_dir / "templates-cache"
    cache.mkdir(parents=True, exist_ok=True)
    planted = jinja2.FileSystemBytecodeCache(str(cache))
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(project.templates)))
    for name in ("programme.md.j2", "_labels.j2", "_organisation.md.j2"):
        source, filename, _ = env.loader.get_source(env, name)
        bucket = planted.get_bucket(env, name, filename, source)
        bucket.code = compile(f"import os\nopen({str(marker)!r}, 'w').write('ran')\n", filename, "exec")
        planted.set_bucket(bucket)
    assert not build(project, force=True).failed
    assert not marker.exists()


def test_tampered_caches_in_the_output_folder_change_nothing(project):
    before = pdf_text(project.out / "programmes/excel-perfectionnement.pdf")
    path = project.root / COURSE
    stat = path.stat()
    fake = {str(path): {"stamp": [stat.st_size, stat.st_mtime_ns], "data": {"title": "PIRATÉ"}, "lines": []}}
    (project.state_dir / "parsed.json").write_text(json.dumps(fake), encoding="utf-8")
    (project.state_dir / "positioning-check.json").write_text('{"x": [[1, 2]]}', encoding="utf-8")
    assert not build(project, force=True).failed
    assert "PIRATÉ" not in pdf_text(project.out / "programmes/excel-perfectionnement.pdf")
    assert pdf_text(project.out / "programmes/excel-perfectionnement.pdf") == before


@pytest.mark.parametrize("state", ['{"version": 1, "outputs": 3}', '{"version": 1, "outputs": {"a": 1}}', "[]",
                                   '{"outputs": {"x": {"inputs": null, "files": 2}}}', "\x00\xff"])
def test_a_damaged_state_file_means_a_rebuild(project, state):
    (project.state_dir / "state.json").write_text(state, encoding="utf-8", errors="surrogateescape")
    report = build(project)
    assert not report.failed and len(report.rebuilt) == report.total


def test_only_qualidocs_own_temporary_files_are_removed(project, tmp_path):
    out = tmp_path / "elsewhere"
    out.mkdir()
    mine = [out / ".notes.tmp", out / "sub" / ".brouillon.docx.tmp"]
    mine[1].parent.mkdir()
    for path in mine:
        path.write_text("à garder", encoding="utf-8")
    leftover = out / "programmes" / ".rgpd-essentiel.pdf.12345.qualidoc-tmp"
    leftover.parent.mkdir()
    leftover.write_bytes(b"half")
    assert not build(Project.at(project.root, out=out)).failed
    assert all(path.read_text(encoding="utf-8") == "à garder" for path in mine)
    assert not leftover.exists()


def test_content_cannot_forge_internal_markers(project):
    path = project.root / COURSE
    text = path.read_text(encoding="utf-8")
    forged = text.replace("vat_note: TVA au taux de 20 %. Repas non compris.", 'vat_note: "\\uE000QDSPLIT\\uE000"')
    path.write_text(forged, encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        build(project)
    assert "U+E000" in str(caught.value) and f"{COURSE}:" in str(caught.value)
    assert docx_text(project.out / "positionnement/rgpd-essentiel.docx")  # the other documents are untouched


def test_fields_piped_into_head_ends_quietly():
    command = f"{sys.executable} -c 'from pipeline.cli import run; run()' fields course | head -n 2"
    result = subprocess.run(["sh", "-c", command], cwd=REPO, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert len(result.stdout.splitlines()) == 2
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


class _GoneReader(io.StringIO):
    """A pipe whose reader left after the first lines (`| head -n 2`): past them, writes fail."""

    def write(self, text: str) -> int:
        if self.tell() > 200:
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(text)

    def flush(self) -> None:
        if self.tell() > 200:
            raise BrokenPipeError(32, "Broken pipe")


def test_a_reader_gone_mid_output_is_no_error_but_a_broken_pipe_inside_is(monkeypatch, capsys):
    """The pipe's reader leaving while `fields` still writes (the race the test above can lose on a slow
    machine) ends the command quietly (`run` exits 0); a broken pipe to one of qualidoc's own processes, the
    output being fine, is an internal error, never a silent success."""
    from pipeline import cli

    monkeypatch.setattr(sys, "stdout", _GoneReader())
    with pytest.raises(BrokenPipeError):
        cli.main(["fields", "course"])
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    monkeypatch.setattr(cli, "_fields", lambda args: (_ for _ in ()).throw(BrokenPipeError(32, "Broken pipe")))
    assert cli.main(["fields", "course"]) == cli.EXIT_INTERNAL
    assert "erreur interne de qualidoc : BrokenPipeError" in capsys.readouterr().err


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def test_git_setup_keeps_an_existing_pre_commit_hook(tmp_path, monkeypatch, capsys):
    copy_project(tmp_path)
    git(tmp_path, "init", "-q")
    hook = tmp_path / ".git/hooks/pre-commit"
    hook.parent.mkdir(parents=True, exist_ok=True)
    hook.write_text("#!/bin/sh\necho lint-maison\n", encoding="utf-8")
    hook.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    assert main(["git-setup"]) == 0
    assert "crochet existant conservé" in capsys.readouterr().out
    kept = tmp_path / ".git/hooks/pre-commit.before-qualidoc"
    assert kept.read_text(encoding="utf-8") == "#!/bin/sh\necho lint-maison\n"
    assert str(kept) in hook.read_text(encoding="utf-8") and "check --staged" in hook.read_text(encoding="utf-8")
    assert main(["git-setup"]) == 0  # again: qualidoc's own hook is simply rewritten
    assert kept.exists() and "lint-maison" not in hook.read_text(encoding="utf-8")


def run_cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=root, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})


def break_project(root: Path, secret: Path) -> None:
    """Every broken input of the second robustness pass, in one project."""
    courses = root / "content/courses"
    secret.write_text("PRIVATE-KEY-MATERIAL-0123456789\n", encoding="utf-8")
    (root / "content/trainers/zz.yaml").symlink_to(secret)
    (courses / "dangling.yaml").symlink_to(root / "nowhere.yaml")
    (courses / "loop.yaml").symlink_to(courses / "loop.yaml")
    (courses / ".#excel-perfectionnement.yaml").symlink_to("root@host.1234:1700000000")  # an Emacs lock
    (courses / "dossier.yaml").mkdir()
    (courses / "deep.yaml").write_text("title: x\nsummary: " + "[" * 700 + "]" * 700 + "\n", encoding="utf-8")
    (courses / "latin1.yaml").write_bytes("title: Créée\n".encode("latin-1"))
    (courses / "MAJ.YAML").write_text("title: x\n", encoding="utf-8")
    (courses / "rgpd-essentiel.yml").write_text("title: x\n", encoding="utf-8")
    (courses / "quote.yaml").write_text('title: "pas fermé\naudience: x\n' + "\n" * 60 + "summary: y\n",
                                        encoding="utf-8")
    (courses / "conflict.yaml").write_text("title: a\n<<<<<<< HEAD\naudience: x\n=======\naudience: y\n"
                                           ">>>>>>> autre\n", encoding="utf-8")
    (courses / "infinite.yaml").write_text("title: x\nduration:\n  hours: .inf\n", encoding="utf-8")
    (root / "templates/broken.md.j2").symlink_to(root / "nowhere.j2")
    (root / "templates/outside.md.j2").symlink_to(secret)


def test_no_traceback_for_any_broken_project(tmp_path):
    root = copy_project(tmp_path / "project")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"], cwd=root, check=True)
    break_project(root, tmp_path / "secret.txt")
    outputs = {}
    (root / "build").mkdir(exist_ok=True)
    (root / "build/faux.docx").write_text("pas un docx", encoding="utf-8")
    (root / "build/faux.pdf").write_text("pas un pdf", encoding="utf-8")
    for args in (["build"], ["build", "--strict"], ["check"], ["check", "--format", "json"], ["diff"],
                 ["diff", "--format", "markdown"], ["check", "--staged"], ["fields", "trainer"], ["git-setup"],
                 ["textconv", "build/faux.docx"], ["textconv", "build/faux.pdf"], ["textconv", "nulle-part.pdf"],
                 ["textconv", "nulle-part.docx"], ["serve", "--port", "99999"]):
        result = run_cli(root, *args)
        outputs[" ".join(args)] = result
        assert "Traceback" not in result.stdout + result.stderr, (args, result.stderr[-2000:])
        assert "HasCallStack" not in result.stderr and "erreur interne" not in result.stderr, (args, result.stderr)
        assert result.returncode in (0, 1, 2, 3), (args, result.returncode)
        assert "PRIVATE-KEY-MATERIAL" not in result.stdout + result.stderr
    build_err = outputs["build"].stderr
    for expected in ("content/trainers/zz.yaml: lien symbolique vers un fichier hors du projet",
                     "content/courses/dangling.yaml: lien symbolique cassé ou en boucle",
                     "content/courses/loop.yaml: lien symbolique cassé ou en boucle",
                     "content/courses/dossier.yaml: attendu : un fichier YAML",
                     "imbrication de plus de 40 niveaux", "content/courses/latin1.yaml:1:",
                     "content/courses/MAJ.YAML: extension « .YAML »",
                     "content/courses/rgpd-essentiel.yml: même identifiant que content/courses/rgpd-essentiel.yaml",
                     "content/courses/quote.yaml:1: erreur de syntaxe YAML",
                     "content/courses/conflict.yaml:2: marqueurs",
                     "content/courses/infinite.yaml:3: duration.hours"):
        assert expected in build_err, expected
    assert outputs["build"].returncode == 1 and outputs["check"].returncode == 3
    assert json.loads(outputs["check --format json"].stdout)["loaded"] is False
    assert not (root / "build/programmes").exists()  # nothing was built from broken content
    assert "DOCX illisible" in outputs["textconv build/faux.docx"].stderr
    assert outputs["textconv build/faux.pdf"].stderr.startswith("erreur : build/faux.pdf : PDF illisible (")
    assert len(outputs["textconv build/faux.pdf"].stderr.splitlines()) == 1  # not pypdf's warnings in English
    for missing in ("nulle-part.pdf", "nulle-part.docx"):  # pandoc's own message is its Haskell call stack
        assert outputs[f"textconv {missing}"].stderr == f"erreur : {missing} : fichier ou dossier introuvable\n"
    assert "argument --port : numéro de port attendu, de 1 à 65535" in outputs["serve --port 99999"].stderr


def test_a_date_far_in_the_future_builds(tmp_path):
    copy_project(tmp_path)
    path = tmp_path / COURSE
    path.write_text(path.read_text(encoding="utf-8").replace("updated: 2026-09-14", "updated: 9999-12-31"),
                    encoding="utf-8")
    report = build(Project.at(tmp_path))
    assert not report.failed, report.failed
    assert "31 décembre 9999" in pdf_text(tmp_path / "build/programmes/excel-perfectionnement.pdf")


def test_a_logo_kept_elsewhere_is_an_input(tmp_path):
    logo = logo_outside_content(copy_project(tmp_path))
    project = Project.at(tmp_path)
    assert not build(project).failed and build(project).rebuilt == []
    logo.write_bytes(small_png())  # another image, same path
    report = build(project)
    assert len(report.rebuilt) == report.total  # every document shows the logo


def small_png() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixels = b"".join(b"\x00" + b"\xff\x00\x00" * 20 for _ in range(20))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20, 20, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b""))


def committed_project(root: Path) -> Path:
    copy_project(root)
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    return root


@pytest.mark.parametrize("revision, expected", [
    ("nope", "révision « nope » inconnue de git"), ("HEAD~99", "révision « HEAD~99 » inconnue de git"),
    ("..", "invalide : donnez BASE [HEAD] ou BASE..HEAD")])
def test_diff_says_what_is_wrong_with_a_revision(tmp_path, revision, expected):
    root = committed_project(tmp_path)
    result = run_cli(root, "diff", revision)
    assert result.returncode == 1 and expected in result.stderr and "Traceback" not in result.stderr


def test_diff_without_commits_or_git(tmp_path):
    copy_project(tmp_path)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    result = run_cli(tmp_path, "diff")
    assert result.returncode == 1 and "aucun commit" in result.stderr
    no_git = subprocess.run([sys.executable, "-m", "pipeline", "diff"], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO), "PATH": str(Path(sys.executable).parent)})
    assert no_git.returncode == 1 and "git est introuvable" in no_git.stderr


def test_diff_shows_the_real_content_error(tmp_path):
    root = committed_project(tmp_path)
    path = root / COURSE
    path.write_text("<<<<<<< HEAD\n" + path.read_text(encoding="utf-8") + "=======\ntitle: x\n>>>>>>> autre\n",
                    encoding="utf-8")
    result = run_cli(root, "diff")
    assert result.returncode == 1 and f"{COURSE}:1: marqueurs de conflit git" in result.stderr
    assert "contenu invalide" not in result.stdout + result.stderr


def test_diff_markdown_escapes_what_forges_interpret(tmp_path):
    root = committed_project(tmp_path)
    path = root / COURSE
    hostile = "~~barré~~ @equipe :tada: $x^2$ &amp; a|b <b>gras</b>"
    path.write_text(path.read_text(encoding="utf-8").replace("reference: BUR-EXC-02", f"reference: '{hostile}'"),
                    encoding="utf-8")
    result = run_cli(root, "diff", "--format", "markdown")
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if "barré" in line)
    shown = line[line.index("\\~\\~barré"):line.rindex("b\\>") + 3]
    assert not re.search(r"(?<!\\)[~@:$&|<>]", shown), shown
    for escaped in ("\\~\\~barré", "\\@equipe", "\\:tada\\:", "\\$x", "\\&amp;", "a\\|b", "\\<b\\>"):
        assert escaped in line, escaped


BYPASS = '#let p = "@pre" + "view/cetz:0.3.4"\n#import p: *\n#let q = "@pre" + "view/tablex:0.0.8"\n#include q\n'


def network_project(root: Path) -> Path:
    copy_project(root)
    style = root / "templates/style.typ"
    style.write_text(BYPASS + style.read_text(encoding="utf-8"), encoding="utf-8")
    return root


def test_a_template_cannot_make_the_pdf_compiler_download(tmp_path):
    report = build(Project.at(network_project(tmp_path)))
    assert len(report.failed) == report.total and not report.rebuilt
    assert all("importe un paquet typst" in reason and "n'utilise jamais" in reason
               for reason in report.failed.values())


@pytest.mark.skipif(not shutil.which("strace"), reason="strace absent (Debian package strace; .ci/run installs it)")
def test_no_connection_leaves_the_machine_during_a_build(tmp_path):
    if subprocess.run(["strace", "-f", "-qq", "-e", "trace=connect", "true"], capture_output=True).returncode:
        pytest.skip("strace cannot trace here (ptrace not permitted)")
    root = network_project(tmp_path)
    trace = tmp_path / "trace.txt"
    subprocess.run(["strace", "-f", "-qq", "-e", "trace=connect", "-o", str(trace), sys.executable, "-m", "pipeline",
                    "build"], cwd=root, capture_output=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    calls = [line for line in trace.read_text().splitlines() if "connect(" in line and "AF_INET" in line]
    assert calls, "the template's download was not even attempted through the dead proxy"
    outside = [c for c in calls if "127.0.0.1" not in c and "::1" not in c]
    assert outside == [], outside  # no DNS request, no connection to a package registry


def test_a_build_with_the_network_denied_by_the_system(tmp_path):
    if subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -rn is not permitted here (user namespaces disabled)")
    root = network_project(tmp_path)
    result = subprocess.run(["unshare", "-rn", sys.executable, "-m", "pipeline", "build"], cwd=root,
                            capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "importe un paquet typst" in result.stderr
    style = root / "templates/style.typ"
    style.write_text(style.read_text(encoding="utf-8").replace(BYPASS, ""), encoding="utf-8")
    result = subprocess.run(["unshare", "-rn", sys.executable, "-m", "pipeline", "build"], cwd=root,
                            capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr  # and a normal build needs no network at all


def test_a_template_outside_templates_is_refused_unread(tmp_path):
    copy_project(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("PRIVATE-KEY-MATERIAL", encoding="utf-8")
    (tmp_path / "templates/outside.md.j2").symlink_to(secret)
    (tmp_path / "templates/broken.md.j2").symlink_to(tmp_path / "nowhere.j2")
    programme = tmp_path / "templates/programme.md.j2"
    programme.write_text(programme.read_text(encoding="utf-8") + '{% include "outside.md.j2" %}\n', encoding="utf-8")
    report = build(Project.at(tmp_path))
    assert {p for p in report.failed} == {f"programmes/{p.stem}" for p in (tmp_path / "content/courses").glob("*")}
    assert all("hors du dossier templates/" in reason for reason in report.failed.values())
    assert not any("PRIVATE" in pdf_text(p) for p in (tmp_path / "build").rglob("*.pdf"))


def test_watch_reports_a_broken_link_and_keeps_watching(tmp_path):
    from tests.test_watch import Session

    copy_project(tmp_path)
    project = Project.at(tmp_path)
    build(project)
    with Session(project, poll=False) as running:
        link = tmp_path / "content/courses/lien.yaml"
        link.symlink_to(tmp_path / "nowhere.yaml")
        failed = running.next()
        assert failed.error is not None and "lien symbolique cassé" in str(failed.error)
        link.unlink()
        assert running.next().error is None


def test_diff_in_a_shallow_clone_says_so(tmp_path):
    origin = committed_project(tmp_path / "origin")
    path = origin / COURSE
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "y"], cwd=origin, check=True)
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{origin}", str(tmp_path / "shallow")], check=True)
    result = run_cli(tmp_path / "shallow", "diff", "HEAD~1")
    assert result.returncode == 1 and "clone partiel" in result.stderr and "git fetch --unshallow" in result.stderr


def test_a_watch_rebuild_with_the_network_denied(tmp_path):
    if subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -rn is not permitted here (user namespaces disabled)")
    import select
    import time

    root = copy_project(tmp_path)
    watch = subprocess.Popen(["unshare", "-rn", sys.executable, "-m", "pipeline", "watch"], cwd=root, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    lines: list[str] = []

    def wait_for(text: str, seconds: float = 120) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([watch.stdout], [], [], 1)
            if ready:
                line = watch.stdout.readline()
                lines.append(line)
                if text in line:
                    return True
        return False

    try:
        assert wait_for("première construction"), lines
        path = root / COURSE
        path.write_text(path.read_text(encoding="utf-8").replace("amount: 890", "amount: 950"), encoding="utf-8")
        assert wait_for("excel-perfectionnement.yaml →"), lines
        assert "reconstruit : " in lines[-1] and "programmes/excel-perfectionnement" in lines[-1], lines
        assert "ÉCHEC" not in lines[-1]
    finally:
        watch.terminate()
        watch.wait(10)
    assert "Traceback" not in "".join(lines)
