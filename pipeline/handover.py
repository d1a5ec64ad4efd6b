"""A command's side of the resident builder (resident.py): hand a build or a check over, or leave a resident.

`qualidoc` imports this module before anything else, so it imports only the standard library: a command
that a resident serves pays for Python's start, this module and one exchange on a Unix socket.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

RESIDENT_SECONDS = 600.0  # idle time before the resident ends
# Environment variables a shell or make changes from one command to the next (the terminal's size too),
# without meaning anything to a build
VOLATILE = {"_", "OLDPWD", "SHLVL", "MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES", "COLUMNS", "LINES"}
MAX_SOCKET_PATH = 100  # sun_path holds 104 to 108 bytes depending on the system


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this build should leave a resident behind: from a terminal, not in CI (QUALIDOC_RESIDENT decides)."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    if not _supported():
        return False
    setting = env.get("QUALIDOC_RESIDENT", "")
    if setting in ("0", "1"):
        return setting == "1"
    return not env.get("CI") and (_isatty(sys.stdout) or _isatty(sys.stderr))


def idle_seconds(environ: Mapping[str, str] | None = None) -> float:
    """How long a resident waits for a build or a save before it ends: QUALIDOC_RESIDENT_SECONDS, or 10 minutes."""
    try:
        return float((os.environ if environ is None else environ).get("QUALIDOC_RESIDENT_SECONDS", ""))
    except ValueError:
        return RESIDENT_SECONDS


SERVED = ("build", "check")  # the commands a resident runs; only a build leaves one


def is_build(argv: list[str]) -> bool:
    """Whether a command line is `qualidoc [-v] build …`, the command that leaves a resident behind."""
    return _command(argv) == "build"


def is_served(argv: list[str]) -> bool:
    """Whether a resident runs this command line: a build, or a check (`make build` ends with one)."""
    return _command(argv) in SERVED


def _command(argv: list[str]) -> str | None:
    words = [word for word in argv if word not in ("-v", "--verbose")]
    return words[0] if words and not {"-h", "--help"} & set(words) else None


def socket_path(cwd: Path | None = None, environ: Mapping[str, str] | None = None) -> Path | None:
    """Where the resident of this folder listens, in the user's cache folder; None where that path is too long."""
    folder = os.path.realpath(cwd or os.getcwd())
    base = Path((os.environ if environ is None else environ).get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base / "qualidoc" / "resident" / (hashlib.sha256(folder.encode()).hexdigest()[:16] + ".sock")
    return path if len(os.fsencode(path)) <= MAX_SOCKET_PATH else None


def code_key(package: Path | None = None) -> str:
    """What the running code is: the interpreter, qualidoc's files and the installed packages' folders.

    A resident started before `pip install`, `git pull` or an edit of qualidoc serves nothing after them."""
    package = package or Path(__file__).resolve().parent
    parts = [sys.executable, sys.version]
    for folder, subfolders, files in sorted(os.walk(package)):
        subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
        for name in sorted(files):
            with contextlib.suppress(OSError):
                stat = os.stat(os.path.join(folder, name))
                parts.append(f"{folder}/{name}:{stat.st_size}:{stat.st_mtime_ns}")
    for entry in sys.path:
        if entry.endswith(("site-packages", "dist-packages")):
            with contextlib.suppress(OSError):
                parts.append(f"{entry}:{os.stat(entry).st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a build depends on: all of it, but what shells and make change at every command."""
    return {k: v for k, v in (os.environ if environ is None else environ).items() if k not in VOLATILE}


# --- the command's side ---------------------------------------------------------------------------------------

def hand_over(argv: list[str]) -> int | None:
    """Have this folder's resident run the command; its exit code, or None when it is this process's to run."""
    path = socket_path()
    if path is None or not _supported() or os.environ.get("QUALIDOC_RESIDENT") == "0":
        return None
    try:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.connect(str(path))
    except OSError:
        return None  # none here, or a socket left by a resident that ended
    with connection:
        request = json.dumps({"argv": argv, "cwd": os.getcwd(), "code": code_key(), "env": environment()}).encode()
        try:
            socket.send_fds(connection, [struct.pack("!I", len(request)) + request], [0, 1, 2])
            return _answer(connection)
        except OSError:
            return None


def _answer(connection: socket.socket) -> int | None:
    """Wait for the resident's answer; Ctrl-C asks it to stop the build, and waits for it to say so."""
    reader = connection.makefile("rb")
    try:
        line = reader.readline()
    except KeyboardInterrupt:
        connection.shutdown(socket.SHUT_WR)  # the resident interrupts its build, and says so on the terminal
        try:
            line = reader.readline()
        except KeyboardInterrupt:
            return 130
        if not line:
            return 130
    if not line:
        return None  # the resident ended without an answer: the build is done again here (it is idempotent)
    try:
        answer = json.loads(line)
        return None if "refused" in answer else int(answer["code"])
    except (ValueError, KeyError, TypeError):
        return None


def start(argv: list[str], environ: dict[str, str]) -> bool:
    """Start this folder's resident in the background, detached from the terminal; whether one was started.

    `environ`: the command's environment as it started (qualidoc's modules change theirs as they load)."""
    path = socket_path()
    if path is None or not _private_folder(path.parent):
        return False
    if _listening(path):
        return False
    try:
        with open(path.with_suffix(".log"), "ab") as log:  # the resident empties it once it holds the lock
            subprocess.Popen([sys.executable, "-P", "-m", "pipeline.resident", *argv], stdin=subprocess.DEVNULL,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                             env=environ)
    except OSError:
        return False
    return True


def _listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _supported() -> bool:
    return hasattr(socket, "AF_UNIX") and hasattr(socket, "send_fds") and sys.platform != "win32"


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False


def _private_folder(folder: Path) -> bool:
    """Create the residents' folder, readable by its owner only; whether it is such a folder."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        stat = folder.stat()
    except OSError:
        return False
    return stat.st_uid == os.getuid() and not stat.st_mode & 0o077
