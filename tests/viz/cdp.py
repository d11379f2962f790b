"""A small driver of headless Chromium over the Chrome DevTools Protocol, for the explorer's
browser test: open a page, press keys, click elements, read the DOM, take a screenshot.

Chromium is Debian's `chromium` package (`.ci/run` installs it); the protocol goes over a
websocket (`websocket-client`, in the dev extra).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from typing import Any

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
    "--window-size=1280,800",
]
#: What a key press sends: the DOM key, its code and its Windows virtual key code.
KEYS = {
    "ArrowRight": ("ArrowRight", 39),
    "ArrowLeft": ("ArrowLeft", 37),
    "Home": ("Home", 36),
    "End": ("End", 35),
}


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One headless Chromium with one page; `with Browser(exe) as b: b.open(url) ...`."""

    def __init__(self, exe: str, timeout: float = 20.0) -> None:
        self.exe = exe
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="minigrad-chromium-")
        self._id = 0

    def __enter__(self) -> Browser:
        import websocket  # the dev extra's websocket-client

        self.proc = subprocess.Popen(
            [self.exe, *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            port = self._devtools_port()
            page = self._page_target(port)
            self.ws = websocket.create_connection(page, timeout=self.timeout, suppress_origin=True)
            self.call("Page.enable")
            self.call("Runtime.enable")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def _devtools_port(self) -> int:
        # Chromium writes the port it chose into its profile folder.
        path = os.path.join(self._profile, "DevToolsActivePort")
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if os.path.exists(path):
                with open(path) as fh:
                    first = fh.readline().strip()
                if first.isdigit():
                    return int(first)
            if self.proc.poll() is not None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise RuntimeError(f"chromium exited with status {self.proc.returncode}: {err}")
            time.sleep(0.05)
        raise TimeoutError("chromium did not open its DevTools port")

    def _page_target(self, port: int) -> str:
        import urllib.request

        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                targets = json.load(r)
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
            time.sleep(0.05)
        raise TimeoutError("chromium has no page target")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events met on the way are dropped)."""
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def js(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def open(self, url: str) -> None:
        """Load `url` and wait until its scripts have run (the step counter is filled)."""
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete' && !!window.__explorerReady")

    def wait_for(self, expression: str) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.js(expression):
                return
            time.sleep(0.02)
        raise TimeoutError(f"waited in vain for {expression}")

    def press(self, key: str) -> None:
        """A key press as a person makes one (keyDown, keyUp) on the focused element."""
        code, vk = KEYS[key]
        for kind in ("keyDown", "keyUp"):
            self.call(
                "Input.dispatchKeyEvent",
                type=kind,
                key=key,
                code=code,
                windowsVirtualKeyCode=vk,
                nativeVirtualKeyCode=vk,
            )

    def click(self, selector: str, where: float = 0.5) -> None:
        """A mouse click on the element `selector`, at `where` of its width (the middle, or
        0.0 for its left end) and half its height."""
        x, y = self.js(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
            f".getBoundingClientRect(); return [r.x + Math.max(2, r.width * {where}), "
            "r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def blank(self) -> None:
        """Leave the page for an empty one."""
        self.call("Page.navigate", url="about:blank")
        self.wait_for("location.href === 'about:blank' && document.readyState === 'complete'")

    def screenshot(self, path: str) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as fh:
            fh.write(base64.b64decode(data))
