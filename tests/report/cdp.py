"""A small Chrome DevTools Protocol client: headless Debian Chromium driven over one websocket.

Only what the report tests need: open a page, evaluate JavaScript, click and type like a person (real
mouse and keyboard events at screen coordinates), read the network requests the page made, take a
screenshot. Every wait has a timeout.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Self

import websocket  # websocket-client

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--no-default-browser-check", "--hide-scrollbars",
         "--mute-audio", "--remote-debugging-port=0"]


class BrowserError(RuntimeError):
    pass


class Browser:
    """One Chromium process and one page (target) in it, attached with a flat session."""

    def __init__(self, width: int = 1400, height: int = 900, timeout: float = 30) -> None:
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="cf-chromium-")
        # Chromium's log goes to a file, not a pipe: a pipe nobody drains would fill and stall the browser.
        self.log = Path(self.profile) / "chromium.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([str(CHROMIUM), *FLAGS, f"--user-data-dir={self.profile}/profile",
                                          "about:blank"], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.events: list[dict[str, Any]] = []
        self._id = 0
        try:
            url = self._devtools_url()
            self.ws = websocket.create_connection(url, timeout=timeout, suppress_origin=True)
            target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Network", "Log"):
                self.page(f"{domain}.enable")
            self.page("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        except BaseException:
            self.close()
            raise

    def _devtools_url(self) -> str:
        end = time.monotonic() + self.timeout
        text = ""
        while time.monotonic() < end:
            text = self.log.read_text(errors="replace")
            m = re.search(r"DevTools listening on (ws://\S+)", text)
            if m:
                return m.group(1)
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise BrowserError(f"chromium gave no DevTools URL: {text[-2000:]}")

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        end = time.monotonic() + self.timeout
        while time.monotonic() < end:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)
        raise BrowserError(f"{method}: no answer within {self.timeout} s")

    def page(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.call(method, params, self.session)

    def wait_event(self, method: str, timeout: float | None = None) -> dict[str, Any]:
        end = time.monotonic() + (timeout or self.timeout)
        start = len(self.events)
        for ev in self.events[:start]:
            if ev["method"] == method:
                self.events.remove(ev)
                return ev
        self.ws.settimeout(1)
        try:
            while time.monotonic() < end:
                try:
                    msg = json.loads(self.ws.recv())
                except websocket.WebSocketTimeoutException:
                    continue
                if msg.get("method") == method:
                    return msg
                if "method" in msg:
                    self.events.append(msg)
        finally:
            self.ws.settimeout(self.timeout)
        raise BrowserError(f"no {method} within the timeout")

    def open(self, url: str) -> None:
        self.events.clear()
        self.page("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def js(self, expression: str) -> Any:
        r = self.page("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise BrowserError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def settle(self, seconds: float = 0.3) -> None:
        """Let the page handle queued events (and collect any the browser sends meanwhile)."""
        end = time.monotonic() + seconds
        self.ws.settimeout(0.05)
        try:
            while time.monotonic() < end:
                try:
                    msg = json.loads(self.ws.recv())
                    if "method" in msg:
                        self.events.append(msg)
                except websocket.WebSocketTimeoutException:
                    pass
        finally:
            self.ws.settimeout(self.timeout)

    def box(self, selector: str) -> dict[str, float]:
        """Where an element is on screen (after scrolling it into view)."""
        got = self.js(f"""(() => {{ const e = document.querySelector({json.dumps(selector)});
            if (!e) return null; e.scrollIntoView({{block: "center"}});
            const r = e.getBoundingClientRect(); return {{x: r.x, y: r.y, w: r.width, h: r.height}}; }})()""")
        if got is None:
            raise BrowserError(f"no element {selector}")
        return got

    def click(self, selector: str, dx: float | None = None, dy: float | None = None) -> None:
        """A real left click, by default at the element's centre; (dx, dy) from its top-left corner."""
        b = self.box(selector)
        x = b["x"] + (b["w"] / 2 if dx is None else dx)
        y = b["y"] + (b["h"] / 2 if dy is None else dy)
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.page("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})
        self.settle()

    def type(self, text: str) -> None:
        """Keystrokes into the focused element, one character at a time."""
        for ch in text:
            self.page("Input.dispatchKeyEvent", {"type": "keyDown", "text": ch, "key": ch, "unmodifiedText": ch})
            self.page("Input.dispatchKeyEvent", {"type": "keyUp", "key": ch})
        self.settle()

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"]

    def screenshot(self, path: Path, full_page: bool = False) -> None:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = self.page("Page.captureScreenshot", params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            if getattr(self, "ws", None) is not None:
                try:
                    self.call("Browser.close")
                except (BrowserError, OSError, websocket.WebSocketException):
                    pass
                self.ws.close()
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
