"""Git-based review: semantic diff, version stamps from history, diff drivers and the pre-commit check."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import docx
import pytest

from pipeline.build import build
from pipeline.cli import main
from pipeline.project import Project
from tests.helpers import REPO, W, copy_project, edit, paragraph_text

COURSE = "content/courses/rgpd-essentiel.yaml"
ENV = {**os.environ, "GIT_AUTHOR_DATE": "2026-11-20T10:00:00+00:00", "GIT_COMMITTER_DATE": "2026-11-20T10:00:00+00:00",
       "GIT_AUTHOR_NAME": "Nadia Roussel", "GIT_AUTHOR_EMAIL": "qualite@example.org",
       "GIT_COMMITTER_NAME": "Nadia Roussel", "GIT_COMMITTER_EMAIL": "qualite@example.org"}


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, env=ENV, capture_output=True, text=True, check=check)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy_project(tmp_path)
    (tmp_path / ".gitignore").write_text("build/\n")
    shutil.copy(REPO / ".gitattributes", tmp_path / ".gitattributes")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "Catalogue 2026")
    git(tmp_path, "tag", "v1")
    monkeypatch.chdir(tmp_path)
    return tmp_path



def run(capsys, *args: str) -> str:
    assert main(list(args)) == 0
    return capsys.readouterr().out


def test_price_change(repo, capsys):
    edit(repo / COURSE, "amount: 390", "amount: 420")
    text = run(capsys, "diff")
    assert "Modifications du contenu : HEAD → copie de travail" in text
    assert "courses/rgpd-essentiel – « RGPD : les essentiels pour les équipes » (modifié)" in text
    assert "  ~ prices[Inter-entreprises].amount : 390 → 420" in text
    assert "  programmes/rgpd-essentiel (.docx, .pdf)" in text
    assert "intervenants/matrice-competences" not in text
    markdown = run(capsys, "diff", "--format", "markdown")
    assert "**`courses/rgpd-essentiel`** – RGPD \\: les essentiels pour les équipes *(modifié)*" in markdown
    assert "- prices\\[Inter-entreprises\\].amount \\: 390 → 420" in markdown
    data = json.loads(run(capsys, "diff", "--format", "json"))
    [obj] = data["objects"]
    assert obj["key"] == "courses/rgpd-essentiel" and obj["status"] == "modified"
    assert obj["changes"] == [{"kind": "changed", "field": "prices[Inter-entreprises].amount",
                               "old": "390", "new": "420"}]
    assert "programmes/rgpd-essentiel" in data["documents"]


def test_reordered_objectives_are_a_reorder(repo, capsys):
    path = repo / COURSE
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith("  - Identifier, dans une situation"))
    lines[first], lines[first + 1] = lines[first + 1], lines[first]
    path.write_text("".join(lines), encoding="utf-8")
    data = json.loads(run(capsys, "diff", "--format", "json"))
    [obj] = data["objects"]
    assert obj["changes"] == [{"kind": "reordered", "field": "objectives", "old": [1, 2, 3, 4, 5],
                               "new": [2, 1, 3, 4, 5]}]
    assert "objectives : ordre modifié (2, 1, 3, 4, 5 au lieu de 1, 2, 3, 4, 5)" in run(capsys, "diff")


def test_reworded_item_is_a_change(repo, capsys):
    edit(repo / COURSE, "  - Signaler une violation de données selon la procédure interne",
         "  - Signaler une violation de données selon la procédure de l'entreprise")
    [change] = json.loads(run(capsys, "diff", "--format", "json"))["objects"][0]["changes"]
    assert change["kind"] == "changed" and change["field"].startswith("objectives[Signaler une violation")


def test_added_trainer_and_deleted_entry_between_commits(repo, capsys):
    source = (repo / "content/trainers/claire-martin.yaml").read_text(encoding="utf-8")
    (repo / "content/trainers/lucie-morel.yaml").write_text(source.replace("Claire Martin", "Lucie Morel"),
                                                             encoding="utf-8")
    (repo / "content/improvements/2026-03-ecrans-salle-2.yaml").unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Nouvelle formatrice, entrée supprimée")
    for args in (["HEAD~1", "HEAD"], ["HEAD~1..HEAD"], ["v1", "main"]):
        text = run(capsys, "diff", *args)
        assert "trainers/lucie-morel – « Lucie Morel » (ajouté)" in text
        assert "improvements/2026-03-ecrans-salle-2" in text and "(supprimé)" in text
        assert "  amelioration/registre-amelioration (.docx, .pdf)" in text
        assert "  intervenants/matrice-competences (.docx, .pdf)" in text
    assert "Aucune modification du contenu." in run(capsys, "diff")


def test_outside_git_is_a_clear_error(tmp_path, capsys, monkeypatch):
    copy_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["diff"]) == 1
    assert "n'est pas dans un dépôt git" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)


def test_unknown_revision(repo, capsys):
    assert main(["diff", "nope"]) == 1
    assert "révision « nope » inconnue de git" in capsys.readouterr().err


def header(repo: Path, name: str) -> str:
    element = docx.Document(str(repo / "build" / name)).sections[0].header._element
    return " ".join(filter(None, (paragraph_text(p) for p in element.iter(W + "p"))))


def test_version_stamp_from_history(repo):
    project = Project.at(repo)
    build(project)
    commit = git(repo, "rev-parse", "--short", "HEAD").stdout.strip()
    assert header(repo, "programmes/rgpd-essentiel.docx").endswith(f"JUR-RGPD-01 – version du 20/11/2026 ({commit})")
    edit(repo / COURSE, "amount: 390", "amount: 420")
    build(project)
    assert header(repo, "programmes/rgpd-essentiel.docx").endswith("version de travail, non validée")
    assert header(repo, "programmes/excel-perfectionnement.docx").endswith(f"({commit})")
    git(repo, "commit", "-q", "-am", "Prix 2027")
    second = git(repo, "rev-parse", "--short", "HEAD").stdout.strip()
    report = build(project)  # the content did not change, the stamp did
    assert "programmes/rgpd-essentiel" in report.rebuilt
    assert header(repo, "programmes/rgpd-essentiel.docx").endswith(f"({second})")
    first = (repo / "build/programmes/rgpd-essentiel.pdf").read_bytes()
    build(project, force=True)
    assert (repo / "build/programmes/rgpd-essentiel.pdf").read_bytes() == first  # deterministic per commit


def test_the_log_of_a_commit_is_read_once_and_kept_for_the_next_process(repo, monkeypatch):
    """`git log` reads every commit's objects (0.19 s at every build in a repository of 1,000 commits whose
    objects are not packed yet): a build keeps the log of the HEAD commit in the user cache, and the next one,
    in this process or a new one, runs only `git status`; a new commit, or a damaged file, has it read again."""
    import pipeline.history as history
    from pipeline.build import GIT_LOG

    project = Project.at(repo)
    assert not build(project).failed
    kept = project.cache_dir / GIT_LOG
    assert json.loads(kept.read_text())["key"][2] == git(repo, "rev-parse", "HEAD").stdout.strip()
    commands: list[str] = []
    real = history.git
    monkeypatch.setattr(history, "git", lambda args, *rest, **options: commands.append(args[0]) or real(args, *rest,
                                                                                                         **options))
    monkeypatch.setattr(history, "_LOGS", {})  # as in a new process
    edit(repo / COURSE, "amount: 390", "amount: 420")
    assert not build(project).failed
    assert commands == ["status"]
    first = git(repo, "rev-parse", "--short", "HEAD").stdout.strip()
    assert header(repo, "programmes/rgpd-essentiel.docx").endswith("version de travail, non validée")
    assert header(repo, "programmes/excel-perfectionnement.docx").endswith(f"version du 20/11/2026 ({first})")
    key = json.loads(kept.read_text())["key"]
    for price, damaged in ((421, "{"), (422, json.dumps({"key": key, "log": "\0pas un commit\nx.yaml\n"}))):
        kept.write_text(damaged, encoding="utf-8")
        history._LOGS.clear()
        commands.clear()
        edit(repo / COURSE, f"amount: {price - 1}", f"amount: {price}")
        assert not build(project).failed
        assert commands == ["log", "status"]
        assert header(repo, "programmes/excel-perfectionnement.docx").endswith(f"({first})")
    git(repo, "commit", "-q", "-am", "Prix 2027")
    second = git(repo, "rev-parse", "--short", "HEAD").stdout.strip()
    commands.clear()
    assert "programmes/rgpd-essentiel" in build(project).rebuilt
    assert commands == ["log", "status"]
    assert header(repo, "programmes/rgpd-essentiel.docx").endswith(f"({second})")
    assert header(repo, "programmes/excel-perfectionnement.docx").endswith(f"({first})")


def test_history_names_files_as_resolve_does_each_folder_resolved_once(tmp_path):
    """History.canonical is Path.resolve(), a folder resolved once for all its files: through a linked
    folder, a linked file (resolved whole: its target's name), `..`, a relative path, a missing file."""
    from pipeline.history import History

    (tmp_path / "real/courses").mkdir(parents=True)
    (tmp_path / "real/courses/a.yaml").write_text("a")
    (tmp_path / "real/elsewhere.yaml").write_text("b")
    (tmp_path / "linked").symlink_to(tmp_path / "real")
    (tmp_path / "real/courses/b.yaml").symlink_to(tmp_path / "real/elsewhere.yaml")
    history = History(tmp_path)
    paths = [tmp_path / "linked/courses/a.yaml", tmp_path / "linked/courses/b.yaml", tmp_path / "linked/courses/..",
             tmp_path / "linked/courses/missing.yaml", Path(os.path.relpath(tmp_path / "linked/courses/a.yaml"))]
    for path in paths * 2:
        assert history.canonical(path) == path.resolve()
    assert history.canonical(paths[1]) == tmp_path.resolve() / "real/elsewhere.yaml"
    assert set(history.folders) == {tmp_path / "linked/courses", paths[-1].parent}


def test_a_content_file_reached_through_a_link_is_stamped_by_its_commit(repo):
    """The project's content seen through a linked folder: documents still carry their file's commit."""
    (repo.parent / "via").symlink_to(repo)
    build(Project.at(repo.parent / "via"))
    commit = git(repo, "rev-parse", "--short", "HEAD").stdout.strip()
    assert header(repo, "programmes/rgpd-essentiel.docx").endswith(f"({commit})")


def test_textconv_and_git_diff_of_documents(repo, capsys):
    assert main(["git-setup"]) == 0
    assert "crochet pre-commit" in capsys.readouterr().out
    build(Project.at(repo))
    text = run(capsys, "textconv", "build/programmes/rgpd-essentiel.docx")
    assert "RGPD : les essentiels pour les équipes" in text and "390\u00a0€ HT par personne" in text
    assert "--- page 1 ---" in run(capsys, "textconv", "build/programmes/rgpd-essentiel.pdf")
    git(repo, "add", "-f", "build/programmes/rgpd-essentiel.docx", "build/programmes/rgpd-essentiel.pdf")
    git(repo, "commit", "-q", "--no-verify", "-m", "Documents publiés")
    edit(repo / COURSE, "amount: 390", "amount: 420")
    build(Project.at(repo))
    diff = git(repo, "diff", "--", "build/programmes/rgpd-essentiel.docx").stdout
    lines = diff.splitlines()
    assert any(line.startswith("-") and "Inter-entreprises : 390\u00a0€ HT par personne" in line for line in lines)
    assert any(line.startswith("+") and "Inter-entreprises : 420\u00a0€ HT par personne" in line for line in lines)
    assert "Binary files" not in git(repo, "diff", "--", "build/programmes/rgpd-essentiel.pdf").stdout


def test_pre_commit_hook_refuses_new_errors(repo, capsys):
    assert main(["git-setup"]) == 0
    edit(repo / COURSE, "  - Identifier, dans une situation", "  - Connaître, dans une situation")
    git(repo, "add", COURSE)
    refused = git(repo, "commit", "-m", "Objectif vague", check=False)
    assert refused.returncode != 0
    assert "ce commit ajoute des erreurs au regard du RNQ" in refused.stderr
    assert "« connaître » n'est ni observable ni évaluable" in refused.stderr
    assert git(repo, "commit", "-q", "--no-verify", "-m", "Objectif vague").returncode == 0
    edit(repo / COURSE, "amount: 390", "amount: 420")
    git(repo, "add", COURSE)
    accepted = git(repo, "commit", "-m", "Prix", check=False)  # the vague verb is known: not added by this commit
    assert accepted.returncode == 0, accepted.stderr
