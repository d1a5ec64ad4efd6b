"""The resident builder: a build from a terminal leaves one behind, and the next build hands it its work."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline import handover
from tests.helpers import copy_project, docx_text, edit, edit_yaml, pdf_text

STARTED = "reste prêt"
COURSE = "content/courses/excel-perfectionnement.yaml"


def qualidoc(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the `qualidoc` command in a project, its output captured (not a terminal)."""
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=root, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def socket_path(root: Path) -> Path:
    path = handover.socket_path(root)
    assert path is not None, "the test cache folder's path is too long for a socket"
    return path


def resident_pid(root: Path, timeout: float = 30) -> int:
    """The pid of this project's resident, once it listens."""
    path = socket_path(root)
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.with_suffix(".pid").exists()):
        assert time.monotonic() < deadline, f"no resident listening at {path}; its log:\n{log(root)}"
        time.sleep(0.02)
    return int(path.with_suffix(".pid").read_text())


def log(root: Path) -> str:
    try:
        return socket_path(root).with_suffix(".log").read_text()
    except FileNotFoundError:
        return ""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()


def wait_gone(pid: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"resident {pid} still running"
        time.sleep(0.05)


def stop(root: Path) -> None:
    """End this project's resident, if any, and wait until it has."""
    pid_file = socket_path(root).with_suffix(".pid")
    if pid_file.exists():
        pid = int(pid_file.read_text())
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        wait_gone(pid)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the sample project whose builds leave a resident (QUALIDOC_RESIDENT=1), stopped at the end."""
    root = copy_project(tmp_path)
    monkeypatch.setenv("QUALIDOC_RESIDENT", "1")
    try:
        yield root
    finally:
        stop(root)


def test_the_next_build_is_done_by_the_resident_the_first_one_left(root: Path) -> None:
    first = qualidoc(root, "build")
    assert first.returncode == 0, first.stderr
    assert STARTED in first.stderr
    pid = resident_pid(root)
    edit_yaml(root / COURSE, title="Excel au quotidien – tableaux croisés")

    second = qualidoc(root, "build")

    assert second.returncode == 0, second.stderr
    assert "reconstruits" in second.stdout, second.stdout
    assert STARTED not in second.stderr  # handed over: no other resident started
    assert "qualidoc build : code 0" in log(root)
    assert alive(pid)
    # it keeps no layout process between builds (its own compilers lay out the long documents after an edit)
    assert Path(f"/proc/{pid}/task/{pid}/children").read_text().split() == []
    for suffix in ("pdf", "docx"):
        sheet = root / f"build/programmes/excel-perfectionnement.{suffix}"
        text = pdf_text(sheet) if suffix == "pdf" else docx_text(sheet)
        assert "Excel au quotidien – tableaux croisés" in text


def test_a_content_error_reads_and_ends_the_same_through_the_resident(root: Path) -> None:
    assert qualidoc(root, "build").returncode == 0
    resident_pid(root)
    edit(root / COURSE, "title:", "title: [unclosed\nsummary:")

    served = qualidoc(root, "build")
    fresh = qualidoc(root, "build", QUALIDOC_RESIDENT="0")

    assert served.returncode == fresh.returncode == 1
    assert served.stderr == fresh.stderr
    assert f"{COURSE}:" in served.stderr and "Traceback" not in served.stderr
    assert "qualidoc build : code 1" in log(root)


def test_a_resident_serves_no_other_environment_and_ends(root: Path) -> None:
    assert qualidoc(root, "build").returncode == 0
    pid = resident_pid(root)

    other = qualidoc(root, "build", QUALIDOC_TEST_OTHER="1")

    assert other.returncode == 0, other.stderr
    assert "0 reconstruit" in other.stdout
    wait_gone(pid)
    assert STARTED in other.stderr  # built by the command itself, which left a resident of its environment


def test_a_check_is_handed_over_too_and_reads_as_a_fresh_one(root: Path) -> None:
    """`make build` runs `qualidoc check --summary` after the build: the resident runs it, on the content as it
    is now, with a fresh process's output and exit code; a check from another environment (a git hook's) runs
    by itself and leaves the resident in place."""
    assert qualidoc(root, "build").returncode == 0
    pid = resident_pid(root)
    edit(root / COURSE, "title:", "titre:")  # unreadable: the check says so (exit 3)

    served = qualidoc(root, "check")
    fresh = qualidoc(root, "check", QUALIDOC_RESIDENT="0")

    assert served.returncode == fresh.returncode == 3
    assert (served.stdout, served.stderr) == (fresh.stdout, fresh.stderr)
    assert f"{COURSE}:1: titre: clé inconnue `titre`" in served.stderr
    assert "qualidoc check : code 3" in log(root)
    edit(root / COURSE, "titre:", "title:")
    summary = qualidoc(root, "check", "--summary")
    assert summary.stdout == qualidoc(root, "check", "--summary", QUALIDOC_RESIDENT="0").stdout
    assert summary.stdout.startswith("Contrôle RNQ V10 : ") and "qualidoc check --summary : code" in log(root)

    other = qualidoc(root, "check", "--summary", GIT_DIR=str(root / ".git"))

    assert other.stdout == summary.stdout
    assert "refusé : la commande n'a pas le même environnement\n" in log(root)
    assert alive(pid) and STARTED not in other.stderr  # a check leaves no resident of its own


def test_a_socket_left_by_a_killed_resident_costs_a_fresh_build(root: Path) -> None:
    path = socket_path(root)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(str(path))  # bound, never listening: what a killed resident leaves

    result = qualidoc(root, "build")

    assert result.returncode == 0, result.stderr
    assert "reconstruits" in result.stdout and "Traceback" not in result.stderr
    resident_pid(root)  # and the new resident took the socket's place


def test_ctrl_c_on_the_command_interrupts_the_residents_build(root: Path) -> None:
    assert qualidoc(root, "build").returncode == 0
    pid = resident_pid(root)
    command = subprocess.Popen([sys.executable, "-m", "pipeline", "build", "--force"], cwd=root,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while "qualidoc build --force …" not in log(root):  # the resident has started the build
        if time.monotonic() > deadline or command.poll() is not None:
            pytest.fail(f"the resident never started the build: {command.communicate()}; its log:\n{log(root)}")
        time.sleep(0.01)
    command.send_signal(signal.SIGINT)
    _, stderr = command.communicate(timeout=60)

    assert command.returncode == 130
    assert "interrompu : les documents déjà écrits sont complets" in stderr
    wait_gone(pid)  # an interrupted resident ends: the next build starts from a fresh one


def test_a_command_gone_before_the_build_starts_gets_no_traceback(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C as the resident starts the build (it had printed « qualidoc build … », the watching thread was
    starting): the interrupt used to come out of the resident, its traceback on the command's terminal."""
    assert qualidoc(root, "build").returncode == 0
    pid = resident_pid(root)
    monkeypatch.chdir(root)
    read, write = os.pipe()
    request = json.dumps({"argv": ["build", "--force"], "cwd": os.getcwd(), "code": handover.code_key(),
                          "env": handover.environment()}).encode()
    with socket.socket(socket.AF_UNIX) as command:
        command.connect(str(socket_path(root)))
        socket.send_fds(command, [struct.pack("!I", len(request)) + request], [0, write, write])
        command.shutdown(socket.SHUT_WR)  # what the command does on Ctrl-C
        answer = command.makefile("rb").readline()
    os.close(write)
    with os.fdopen(read, encoding="utf-8") as terminal:
        said = terminal.read()

    assert json.loads(answer) == {"code": 130}
    assert said.strip() == "interrompu : les documents déjà écrits sont complets ; relancez la construction pour finir"
    assert "qualidoc build --force : code 130" in log(root) and "Traceback" not in log(root)
    wait_gone(pid)


def test_an_idle_resident_ends_by_itself(root: Path) -> None:
    assert qualidoc(root, "build", QUALIDOC_RESIDENT_SECONDS="1").returncode == 0
    pid = resident_pid(root)

    wait_gone(pid, timeout=20)

    assert not socket_path(root).exists() and not socket_path(root).with_suffix(".pid").exists()


def test_a_resident_stays_while_the_content_is_edited_then_ends(root: Path) -> None:
    assert qualidoc(root, "build", QUALIDOC_RESIDENT_SECONDS="3").returncode == 0
    pid = resident_pid(root)
    course = root / COURSE
    text = course.read_text(encoding="utf-8")
    started = time.monotonic()
    k = 0
    while time.monotonic() - started < 10:  # more than three times its idle time, a save every second
        k += 1
        course.write_text(f"{text}# brouillon {k}\n", encoding="utf-8")
        time.sleep(1)
        assert alive(pid), f"the resident ended while the content was being edited; its log:\n{log(root)}"

    wait_gone(pid, timeout=20)  # the saves stopped: it ends after its idle time


def test_off_a_terminal_no_resident_is_left_unless_asked(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("QUALIDOC_RESIDENT", "CI")}
    result = subprocess.run([sys.executable, "-m", "pipeline", "build"], cwd=root, capture_output=True, text=True,
                            env=env, timeout=120)

    assert result.returncode == 0, result.stderr
    assert STARTED not in result.stderr and not socket_path(root).exists()


def test_on_a_terminal_a_build_leaves_a_resident_except_in_ci(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("QUALIDOC_RESIDENT", "CI")}
    try:
        ci = _on_a_terminal(root, {**env, "CI": "true"})
        assert "déjà à jour" in ci and STARTED not in ci and not socket_path(root).exists()

        said = _on_a_terminal(root, env)

        assert STARTED in said and "déjà à jour" in said
        resident_pid(root)
    finally:
        stop(root)


def _on_a_terminal(root: Path, env: dict[str, str]) -> str:
    """Run `qualidoc build` with a terminal as its output, as a user does; what it showed."""
    leader, follower = pty.openpty()
    command = subprocess.Popen([sys.executable, "-m", "pipeline", "build"], cwd=root, stdin=subprocess.DEVNULL,
                               stdout=follower, stderr=follower, env=env)
    os.close(follower)
    shown = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        try:
            chunk = os.read(leader, 4096) if ready else b""
        except OSError:  # the terminal's other end closed: the command has ended
            chunk = b""
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert command.wait(timeout=120) == 0, shown
    return shown.decode()


def test_the_code_key_changes_with_any_file_of_the_package(tmp_path: Path) -> None:
    package = tmp_path / "pipeline"
    package.mkdir()
    (package / "build.py").write_text("A = 1\n")
    before = handover.code_key(package)
    assert handover.code_key(package) == before
    (package / "build.py").write_text("A = 22\n")

    assert handover.code_key(package) != before


def test_builds_and_checks_are_handed_over_and_only_a_build_leaves_a_resident() -> None:
    assert handover.is_build(["build"]) and handover.is_build(["-v", "build", "--force"])
    assert not handover.is_build(["check"]) and not handover.is_build(["build", "--help"])
    assert not handover.is_build(["watch"]) and not handover.is_build([])
    assert handover.is_served(["build"]) and handover.is_served(["check", "--summary"])
    assert handover.is_served(["-v", "check"]) and not handover.is_served(["check", "-h"])
    assert not handover.is_served(["watch"]) and not handover.is_served(["diff"]) and not handover.is_served([])
    assert not handover.wanted({"QUALIDOC_RESIDENT": "0"}) and handover.wanted({"QUALIDOC_RESIDENT": "1"})
