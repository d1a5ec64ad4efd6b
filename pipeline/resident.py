"""The resident builder: a build command started from a terminal leaves a process ready for the next one.

A build in a fresh process pays, every time, for what watch pays once: Python's start and the imports
(0.17 s at N = 100), the content read and planned, and typst's compilers started cold, fonts and the long
documents' pieces (the log, the skills matrix) read again. The resident keeps all of that between two
commands, as watch keeps it between two saves: `qualidoc build` hands its work to it (its arguments,
folder and environment, and its terminal, passed over a Unix socket) and prints
what the resident's build prints, with the same exit code. `qualidoc check` is handed over too (`make build`
runs one after the build): the resident has its modules loaded and the content parsed (at N = 100, 0.1 s
instead of 0.27 s).

It is started by a build run from a terminal (never in CI, nor from a script or a test, unless
QUALIDOC_RESIDENT=1 asks for it; QUALIDOC_RESIDENT=0 turns it off), serves only the project folder it was
started in, and ends after 10 minutes without a build nor a save in the project's content or templates
(QUALIDOC_RESIDENT_SECONDS; a quality lead who writes a course for half an hour finds it at the next
build), when qualidoc or its installed packages change, when a build comes with an environment other than
its own (a check from another environment is refused, and runs by itself), or on SIGTERM. A resident
that cannot serve (busy elsewhere, gone, refusing) costs a fresh command, never a wrong one: its builds
are watch's (`build()`, which checks every recorded input), its checks read the content as it is. The
socket lives in the user's cache folder, which only its owner can enter.

The command's side (hand the command over, start a resident) is handover.py, which the command imports first.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import io
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.handover import code_key, environment, idle_seconds, is_build, is_served, socket_path

if TYPE_CHECKING:
    from pipeline.project import Project

CHECK_SECONDS = 2.0  # how often an idle resident looks whether its folder, socket and code are still there
STAMP_SECONDS = 10.0  # how often it looks whether the content or templates changed
REFUSALS = {"request": "demande illisible", "user": "commande d'un autre utilisateur",
            "folder": "autre dossier, ou commande autre que build et check",
            "code": "qualidoc ou ses paquets ont changé depuis son démarrage",
            "environment": "la commande n'a pas le même environnement"}


class Resident:
    """The process that builds for the commands of one folder, keeping what watch keeps between builds."""

    def __init__(self, argv: list[str], path: Path):
        self.argv, self.path = argv, path
        self.cwd, self.code, self.env = os.getcwd(), code_key(), environment()
        self.idle = idle_seconds()
        self.project: Project | None = None  # the project it builds, once warmed up
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    def run(self) -> None:
        """Listen, warm up, then serve builds until idle, stale or told to stop."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # left by a resident that was killed: this process holds the lock now
        self.listener.bind(str(self.path))
        self.listener.listen(8)
        started = time.monotonic()
        self._warm_up()  # a command arriving meanwhile waits in the listener's queue
        self.path.with_suffix(".pid").write_text(f"{os.getpid()}\n")  # ready: what `make bench` waits for
        seconds = f"{time.monotonic() - started:.1f}".replace(".", ",")
        print(f"{time.strftime('%H:%M:%S')} prêt (préparation : {seconds} s)", flush=True)
        last, sources = time.monotonic(), self._sources()
        looked, every = last, min(STAMP_SECONDS, self.idle / 3)
        self.listener.settimeout(CHECK_SECONDS)
        while not _SIGTERM.received and time.monotonic() - last < self.idle and self._still_here():
            _SIGTERM.waiting = True
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                if time.monotonic() - looked >= every:
                    looked, now = time.monotonic(), self._sources()
                    if now != sources:  # a file saved, added or removed: the user is at work
                        last, sources = looked, now
                continue
            finally:
                _SIGTERM.waiting = False
            with connection:
                if not self._serve(connection):
                    return
            last = time.monotonic()

    def _warm_up(self) -> None:
        """Lay out the long documents once, as the build after an edit will, with this process's compilers
        (fonts read, pieces kept); nothing is built or written: an edit saved meanwhile is the next command's
        to build, and to report. Unlike watch, no layout process is kept: at N = 100 a title edit takes about
        0.04 s longer without them, and the resident holds 230 MB instead of 490 with its two."""
        from pipeline.build import warm
        from pipeline.cli import _parser, _project
        from pipeline.errors import QualidocError
        from pipeline.yamlfile import ParseCache

        try:
            args = _parser().parse_args(self.argv)
            self.project = _project(args)
            warm(self.project, jobs=args.jobs, here=True)
        except (QualidocError, SystemExit) as e:  # the content has problems, or a build runs: the next one says
            print(f"préparation abandonnée : {e}", flush=True)
        ParseCache.held = True
        gc.collect()

    def _sources(self) -> dict:
        """Size and date of each file of the project's content and templates (what a no-op build compares:
        state.source_snapshot); empty if the project could not be read."""
        from pipeline.state import source_snapshot

        return source_snapshot(self.project, {}) if self.project is not None else {}

    def _still_here(self) -> bool:
        try:
            return os.path.samefile(self.cwd, ".") and self.path.exists() and code_key() == self.code
        except OSError:
            return False

    def _serve(self, connection: socket.socket) -> bool:
        """Run one command (a build or a check) on its terminal; whether to go on serving."""
        request, fds = _receive(connection)
        try:
            refusal = self._refusal(connection, request, fds)
            if refusal:
                # A stale resident ends: its code changed, or a build comes with another environment (that build
                # leaves a resident in its image). A stranger is refused, and so is a check from another
                # environment (a git hook's sets GIT_DIR…): the command runs by itself, the resident stays.
                ends = refusal == "code" or refusal == "environment" and is_build(request["argv"])
                print(f"{time.strftime('%H:%M:%S')} refusé : {REFUSALS[refusal]}{' ; fin' if ends else ''}",
                      flush=True)
                connection.sendall(json.dumps({"refused": refusal}).encode() + b"\n")
                return not ends
            code, interrupted = self._run(connection, request["argv"], fds)
        finally:
            for fd in fds:
                os.close(fd)
        print(f"{time.strftime('%H:%M:%S')} qualidoc {' '.join(request['argv'])} : code {code}", flush=True)
        with contextlib.suppress(OSError):
            connection.sendall(json.dumps({"code": code}).encode() + b"\n")
        gc.enable()
        gc.collect()
        return not interrupted

    def _refusal(self, connection: socket.socket, request: dict, fds: list[int]) -> str | None:
        """Why this request is not this resident's to serve (another user, folder, code or environment)."""
        if len(fds) != 3 or not isinstance(request, dict):
            return "request"
        if hasattr(socket, "SO_PEERCRED"):
            _, uid, _ = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
            if uid != os.getuid():
                return "user"
        if request.get("cwd") != self.cwd or not is_served(request.get("argv") or []):
            return "folder"
        if request.get("code") != self.code:
            return "code"
        if request.get("env") != self.env:
            other: dict = request["env"] if isinstance(request.get("env"), dict) else {}
            keys = sorted(k for k in {*other, *self.env} if other.get(k) != self.env.get(k))
            print(f"variables qui diffèrent : {', '.join(keys)}", flush=True)
            return "environment"
        return None

    def _run(self, connection: socket.socket, argv: list[str], fds: list[int]) -> tuple[int, bool]:
        """Run `qualidoc ARGV` here, its output on the command's terminal; (exit code, interrupted)."""
        from pipeline.cli import INTERRUPTED, main

        print(f"{time.strftime('%H:%M:%S')} qualidoc {' '.join(argv)} …", flush=True)
        saved = [os.dup(fd) for fd in (0, 1, 2)]
        for fd, target in zip(fds, (0, 1, 2), strict=True):
            os.dup2(fd, target)
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, io.TextIOWrapper):
                stream.reconfigure(line_buffering=stream.isatty())
        watcher = _Hangup(connection)
        gc.disable()
        try:
            try:
                _Hangup.armed = True
                if watcher.hung_up:  # the command went away before the build started
                    raise KeyboardInterrupt
                code = main(argv)
            finally:
                _Hangup.armed = False  # an interrupt on its way is raised no more (or just here, and caught)
        except SystemExit as e:  # argparse: --help, or a usage error it has printed
            code = e.code if isinstance(e.code, int) else 0 if e.code is None else 2
        except KeyboardInterrupt:  # before main or as it returned: main says it when it was in the build
            print(f"\n{INTERRUPTED}", file=sys.stderr)
            code = 130
        except BrokenPipeError:  # `qualidoc build | head -1`: the reader has what it wanted (cli.run)
            code = 0
        except Exception:  # -v asked for the details: main re-raised
            import traceback

            traceback.print_exc()
            code = 1
        finally:
            interrupted = watcher.stop()
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError):
                    stream.flush()
            for fd, target in zip(saved, (0, 1, 2), strict=True):
                os.dup2(fd, target)
                os.close(fd)
        return code, interrupted or code == 130

    def close(self) -> None:
        """Write what the builds kept in memory and remove the socket (every build ends its layout processes)."""
        for suffix in (".sock", ".pid"):
            with contextlib.suppress(OSError):
                self.path.with_suffix(suffix).unlink()
        self.listener.close()
        if "pipeline.yamlfile" in sys.modules:
            from pipeline.yamlfile import ParseCache, save_held

            ParseCache.held = False
            save_held()


class _Hangup:
    """Interrupt the build (as Ctrl-C would) when the command that asked for it goes away.

    The SIGINT sent to the main thread is raised there by `interrupt` only while the build runs (armed), once:
    the command can go away while the watching thread starts, or as the build ends, and a KeyboardInterrupt
    there would come out of the resident (seen: its traceback on the command's terminal)."""

    armed = False

    @classmethod
    def interrupt(cls, signum: int, frame: object) -> None:
        if cls.armed:
            cls.armed = False
            raise KeyboardInterrupt

    def __init__(self, connection: socket.socket):
        self.connection, self.lock, self.done, self.hung_up = connection, threading.Lock(), False, False
        self.main = threading.main_thread().ident
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        try:
            gone = not self.connection.recv(1)
        except OSError:
            gone = True
        with self.lock:
            if gone and not self.done and self.main is not None:
                self.hung_up = True
                signal.pthread_kill(self.main, signal.SIGINT)

    def stop(self) -> bool:
        """Stop watching; whether the command went away meanwhile."""
        with self.lock:
            self.done = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RD)
        self.thread.join(timeout=1)
        return self.hung_up


def _receive(connection: socket.socket) -> tuple[dict, list[int]]:
    """A command's request (length, JSON) and its standard input, output and error."""
    connection.settimeout(10)
    data, fds, _, _ = socket.recv_fds(connection, 1 << 16, 3)
    while len(data) < 4 or len(data) < 4 + struct.unpack("!I", data[:4])[0]:
        more = connection.recv(1 << 16)
        if not more:
            return {}, fds
        data += more
    connection.settimeout(None)
    try:
        return json.loads(data[4:4 + struct.unpack("!I", data[:4])[0]]), fds
    except ValueError:
        return {}, fds


class _Stopped(BaseException):
    """SIGTERM while waiting for a command."""


class _SIGTERM:
    """SIGTERM ends the wait for a command at once, and a build once it is done (its command gets its answer).

    Raised anywhere else, the exception could come out of a finaliser that the garbage collector runs,
    where Python prints it and goes on (seen: a resident that outlived its SIGTERM); the flag is looked
    at before each wait."""

    received = False
    waiting = False

    @classmethod
    def handle(cls, signum: int, frame: object) -> None:
        cls.received = True
        if cls.waiting:
            raise _Stopped


def main() -> None:
    """`python -m pipeline.resident BUILD-ARGUMENTS`: become this folder's resident, unless one is already."""
    path = socket_path()
    if path is None:
        return
    lock = open(path.with_suffix(".lock"), "w")  # noqa: SIM115 - held for the process's life
    for _ in range(40):  # a resident that refused a command and is ending: wait for it
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            time.sleep(0.05)
    else:
        return  # another resident serves this folder
    with contextlib.suppress(OSError):
        os.ftruncate(1, 0)  # its log: what the previous resident of this folder wrote goes
    signal.signal(signal.SIGTERM, _SIGTERM.handle)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, _Hangup.interrupt)
    resident = Resident(sys.argv[1:], path)
    try:
        resident.run()
    except _Stopped:
        pass
    except BaseException:  # noqa: BLE001 - in the resident's log; a command waiting builds by itself
        import traceback

        traceback.print_exc()
    finally:
        resident.close()
        sys.stdout.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
