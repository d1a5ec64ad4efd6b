"""A small client of Chromium's DevTools protocol, for the web catalogue's tests: the system's Chromium
(Debian's package, never a browser downloaded at run time), headless, driven over its websocket.

It records what a page does: console errors, uncaught exceptions, every request and every failed one, so
that a test can assert that a page loads cleanly and asks nothing of another site.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
WEB_TOOLS = Path(__file__).parent / ".web-tools" / "node_modules"  # npm packages installed by .ci/run
AXE = WEB_TOOLS / "axe-core" / "axe.min.js"
VNU = WEB_TOOLS / "vnu-jar" / "build" / "dist" / "vnu.jar"


class Browser:
    """One headless Chromium with one tab."""

    def __init__(self) -> None:
        assert CHROMIUM, "no Chromium"
        self.profile = tempfile.mkdtemp(prefix="qualidoc-chromium-")
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--metrics-recording-only", "--no-proxy-server", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile}", "about:blank"],
            # its temporary files (/tmp/org.chromium.Chromium.*, one a run) go with the profile
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": self.profile})
        try:
            self._connect()
        except BaseException:
            self.close()  # never leave a browser behind
            raise

    def _connect(self) -> None:
        import websocket  # websocket-client

        port = None
        deadline = time.monotonic() + 30
        assert self.process.stderr is not None
        while port is None and time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if "DevTools listening on ws://" in line:
                port = int(line.split("ws://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
        assert port, "Chromium did not start"
        # Chromium keeps writing to stderr (D-Bus complaints): read it to the end, so that it never blocks.
        threading.Thread(target=self.process.stderr.read, daemon=True).start()
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # qualidoc points proxies nowhere
        with direct.open(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            targets = json.load(response)
        page = next(t for t in targets if t["type"] == "page")
        # qualidoc points the process's proxies nowhere (no network for the PDF compiler): a local connection
        # goes direct, which websocket-client does only without those variables.
        saved = {k: os.environ.pop(k) for k in list(os.environ) if k.lower().endswith("_proxy")}
        try:
            self.socket = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
        finally:
            os.environ.update(saved)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        for domain in ("Page", "Runtime", "Log", "Network", "DOM", "CSS"):
            self.send(f"{domain}.enable")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a DevTools method and return its result; events that arrive meanwhile are kept."""
        self.next_id += 1
        ident = self.next_id
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, event: str, timeout: float = 30) -> dict[str, Any]:
        """Wait for an event (one already received counts)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.events:
                if message["method"] == event and not message.get("_seen"):
                    message["_seen"] = True
                    return message
            self.socket.settimeout(max(0.1, deadline - time.monotonic()))
            message = json.loads(self.socket.recv())
            if "method" in message:
                self.events.append(message)
        raise TimeoutError(event)

    def open(self, url: str, width: int = 1280, height: int = 900, mobile: bool = False,
             javascript: bool = True) -> None:
        """Load a page at a window size; the events of the previous page are forgotten."""
        self.events.clear()
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=mobile)
        self.send("Emulation.setScriptExecutionDisabled", value=not javascript)
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        time.sleep(0.2)  # late console messages
        self.send("Runtime.evaluate", expression="1")  # drain the events that came meanwhile

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions, failed requests and error responses of the current page."""
        found = []
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(f"console: {params.get('args')}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {params['exceptionDetails'].get('text')}")
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
            elif method == "Network.loadingFailed":
                found.append(f"failed request: {params.get('errorText')}")
            elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
                found.append(f"HTTP {params['response']['status']}: {params['response']['url']}")
        return found

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"]

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def screenshot(self, path: Path) -> None:
        """A PNG of the whole page at the current width."""
        metrics = self.send("Page.getLayoutMetrics")
        size = metrics["cssContentSize"]
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))

    def node(self, selector: str) -> int:
        root = self.send("DOM.getDocument", depth=0)["root"]["nodeId"]
        return self.send("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]

    def nodes(self, selector: str) -> list[int]:
        root = self.send("DOM.getDocument", depth=0)["root"]["nodeId"]
        return self.send("DOM.querySelectorAll", nodeId=root, selector=selector)["nodeIds"]

    def displayed(self, node: int) -> bool:
        style = self.send("CSS.getComputedStyleForNode", nodeId=node)["computedStyle"]
        return next(p["value"] for p in style if p["name"] == "display") != "none"

    def click(self, selector: str) -> None:
        """Click an element as a user does (mouse events at its centre): no script of the page involved."""
        quad = self.send("DOM.getBoxModel", nodeId=self.node(selector))["model"]["border"]
        x, y = (quad[0] + quad[4]) / 2, (quad[1] + quad[5]) / 2
        self.send("DOM.scrollIntoViewIfNeeded", nodeId=self.node(selector))
        quad = self.send("DOM.getBoxModel", nodeId=self.node(selector))["model"]["border"]
        x, y = (quad[0] + quad[4]) / 2, (quad[1] + quad[5]) / 2
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def close(self) -> None:
        try:
            if hasattr(self, "socket"):
                self.socket.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            # Chromium's helpers (crashpad) may still write in the profile for a moment after it ends: one
            # /tmp/qualidoc-chromium-* was left by a clean clone's run. Removed again until it is gone (2 s).
            for _ in range(20):
                shutil.rmtree(self.profile, ignore_errors=True)
                if not os.path.exists(self.profile):
                    break
                time.sleep(0.1)
