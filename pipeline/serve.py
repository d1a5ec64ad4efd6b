"""`qualidoc serve`: the web catalogue on localhost, rebuilt on every save and reloaded in the browser.

The watcher of `qualidoc watch` rebuilds; this serves `build/site/` and tells the open pages to reload
after each rebuild, through server-sent events. The reload script is added to the HTML as it is sent: the
files on disk stay as they will be published, without it. Only this machine can connect (127.0.0.1).
"""

from __future__ import annotations

import functools
import http.server
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pipeline.project import Project
from pipeline.watch import Rebuild, Watcher

EVENTS = "/__qualidoc/evenements"
RELOAD = (f'<script>new EventSource("{EVENTS}").onmessage = function () {{ location.reload(); }};</script>\n'
          "</body>").encode()


class Changes:
    """A counter of rebuilds that the event streams wait on."""

    def __init__(self) -> None:
        self.version = 0
        self.condition = threading.Condition()

    def bump(self) -> None:
        with self.condition:
            self.version += 1
            self.condition.notify_all()

    def wait_beyond(self, seen: int, timeout: float) -> int:
        with self.condition:
            self.condition.wait_for(lambda: self.version > seen, timeout=timeout)
            return self.version


class _Handler(http.server.SimpleHTTPRequestHandler):
    changes: Changes
    stop: threading.Event

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == EVENTS:
            self._events()
            return
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if path.suffix == ".html" and path.is_file():
            body = path.read_bytes().replace(b"</body>", RELOAD, 1)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def _events(self) -> None:
        """A stream that says « reload » after each rebuild, and keeps itself alive meanwhile."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        seen = self.changes.version
        try:
            self.wfile.write(b"retry: 1000\n\n")
            self.wfile.flush()
            while not self.stop.is_set():
                version = self.changes.wait_beyond(seen, timeout=10)
                self.wfile.write(b"data: reload\n\n" if version > seen else b": en attente\n\n")
                self.wfile.flush()
                seen = version
        except (BrokenPipeError, ConnectionResetError):
            return

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
        pass


def serve(project: Project, port: int = 8000, poll: bool = False, jobs: int = 0,
          on_rebuild: Callable[[Rebuild], None] | None = None, on_ready: Callable[[str], None] | None = None,
          stop: threading.Event | None = None) -> None:
    """Build, serve build/site/ on localhost, rebuild on every save and reload the pages, until `stop`."""
    stop = stop or threading.Event()
    changes = Changes()

    def rebuilt(rebuild: Rebuild) -> None:
        if on_rebuild:
            on_rebuild(rebuild)
        changes.bump()

    site = project.out / "site"
    handler = type("Handler", (_Handler,), {"changes": changes, "stop": stop})
    # Bound first: a port already taken is said at once, before any build.
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(handler, directory=str(site)))
    server.daemon_threads = True
    watcher = Watcher(project, poll=poll, jobs=jobs, on_rebuild=rebuilt)
    watching = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    watching.start()
    while not watcher.ready.wait(timeout=0.2):
        if not watching.is_alive():
            server.server_close()
            return
    site.mkdir(parents=True, exist_ok=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    if on_ready:
        on_ready(f"http://127.0.0.1:{server.server_address[1]}/")
    try:
        while not stop.is_set():
            time.sleep(0.2)
    finally:
        stop.set()
        changes.bump()
        server.shutdown()
        server.server_close()
        watching.join(timeout=5)
