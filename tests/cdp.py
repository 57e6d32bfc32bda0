"""Headless Chromium driven over the DevTools protocol, for what a command line cannot do: grant
permissions (the clipboard), click, run script in the page and read what it returns, size the viewport
as a phone's, take a screenshot. The protocol runs over a pipe (`--remote-debugging-pipe`: JSON messages
ended by NUL on file descriptors 3 and 4), so no port and no websocket library are needed."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import selectors
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.test_browser import CHROMIUM

TIMEOUT = 60.0  # seconds any one answer may take on a busy machine (a hang, not a race)


class Chromium:
    def __init__(self, profile: Path) -> None:
        assert CHROMIUM is not None
        self._to_browser_r, self._to_browser = os.pipe()
        self._from_browser, self._from_browser_w = os.pipe()
        # the browser reads commands on fd 3 and writes answers on fd 4
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{self._to_browser_r} 4>&{self._from_browser_w}', CHROMIUM,
             "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}",
             "--remote-debugging-pipe", "about:blank"],
            pass_fds=(self._to_browser_r, self._from_browser_w), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(self._to_browser_r)
        os.close(self._from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Page.enable", session=True)
        self.send("Runtime.enable", session=True)
        # a headless page has no window focus, and the clipboard answers only a focused document
        self.send("Emulation.setFocusEmulationEnabled", enabled=True, session=True)

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError):  # already gone
            self.send("Browser.close")
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while b"\0" not in self._buffer:
            with selectors.DefaultSelector() as wait:
                wait.register(self._from_browser, selectors.EVENT_READ)
                if not wait.select(max(0.0, deadline - time.monotonic())):
                    raise RuntimeError("Chromium did not answer")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def send(self, method: str, *, session: bool = False, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read()
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def wait_for(self, event: str) -> dict[str, Any]:
        for index, seen in enumerate(self.events):
            if seen.get("method") == event:
                return self.events.pop(index)
        while True:
            seen = self._read()
            if seen.get("method") == event:
                return seen
            self.events.append(seen)

    def viewport(self, width: int, height: int = 1600, *, mobile: bool = False) -> None:
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=mobile, session=True)

    def open(self, url: str) -> None:
        self.events = [e for e in self.events if e.get("method") != "Page.loadEventFired"]
        self.send("Page.navigate", url=url, session=True)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str, *, gesture: bool = False) -> Any:
        """The value of a script run in the page (awaited if it is a promise); `gesture` runs it as if the
        reader had clicked, which the clipboard requires."""
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True,
                           userGesture=gesture, session=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def grant_clipboard(self, origin: str) -> None:
        self.send("Browser.grantPermissions", origin=origin,
                  permissions=["clipboardReadWrite", "clipboardSanitizedWrite"])

    def click_and_read_clipboard(self, selector: str) -> str:
        """Click the button `selector` as a reader would and return what is on the clipboard once the button
        has changed its text (the page's sign that the write finished)."""
        return str(self.evaluate(f"""new Promise((resolve) => {{
            const button = document.querySelector({json.dumps(selector)});
            new MutationObserver(() => resolve(navigator.clipboard.readText()))
                .observe(button, {{childList: true, characterData: true, subtree: true}});
            button.click();
        }})""", gesture=True))

    def screenshot(self, path: Path) -> bytes:
        """A PNG of the whole page (not only the viewport), saved to `path`."""
        data = base64.b64decode(self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                                          session=True)["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data
