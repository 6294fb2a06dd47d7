"""A tiny Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (stdlib only).

Used by the browser test (tests/search/test_browser.py) and bench/report_scale.py to open a
report in real headless Chromium, collect console errors and network requests, read values
from the page and save a screenshot. No websocket library needed: with
``--remote-debugging-pipe`` Chromium reads NUL-terminated JSON commands on fd 3 and writes
responses and events on fd 4.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["Chromium", "PageReport", "find_chromium", "open_report"]

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
    # Software WebGL (SwiftShader) so scattergl traces render without a GPU.
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
)


def find_chromium() -> str | None:
    """The Chromium executable on PATH (``chromium``, ``chromium-browser``, ``google-chrome``)."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Chromium:
    """One headless Chromium process driven through the DevTools pipe.

    Args:
        executable: Path of the browser.
        width: Viewport width in CSS pixels.
        height: Viewport height in CSS pixels.
        timeout: Seconds to wait for any single reply.
    """

    def __init__(
        self, executable: str, *, width: int = 1280, height: int = 900, timeout: float = 60.0
    ) -> None:
        self.timeout = timeout
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        self._buffer = b""
        self._profile = tempfile.mkdtemp(prefix="paretune-chromium-")
        cmd_read, self._cmd_write = os.pipe()
        self._res_read, res_write = os.pipe()

        def wire_fds() -> None:  # runs in the child: commands on fd 3, replies on fd 4
            a, b = os.dup(cmd_read), os.dup(res_write)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.process = subprocess.Popen(
            [
                executable,
                *FLAGS,
                f"--user-data-dir={self._profile}",
                f"--window-size={width},{height}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # os.pipe() descriptors are close-on-exec; only the two dup2 copies survive exec.
            close_fds=False,
            preexec_fn=wire_fds,
        )
        os.close(cmd_read)
        os.close(res_write)
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.call(f"{domain}.enable", session=True)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=True,
        )

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._res_read], [], [], left)
            if ready:
                chunk = os.read(self._res_read, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def call(
        self, method: str, params: dict[str, Any] | None = None, *, session: bool = False
    ) -> dict[str, Any]:
        """Send one command and return its result (events met meanwhile are kept)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._cmd_write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method} failed: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method: str, *, timeout: float | None = None) -> dict[str, Any]:
        """Wait for the next event named ``method`` (events already received count)."""
        for event in self.events:
            if event["method"] == method and not event.get("_seen"):
                event["_seen"] = True
                return event
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            event = self._read_message(deadline)
            if "method" in event:
                self.events.append(event)
                if event["method"] == method:
                    event["_seen"] = True
                    return event

    def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page and return its JSON value."""
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        """Stop the browser and remove its profile."""
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._cmd_write, self._res_read):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PageReport:
    """What happened while a report page loaded.

    Attributes:
        console_errors: Console errors, uncaught exceptions and error log entries.
        requests: URLs of every request except the report file itself.
        load_ms: Milliseconds from navigation start to the report's plots being drawn.
        values: Results of the ``probes`` expressions, by name.
        screenshot: Path of the saved PNG (or None).
    """

    def __init__(self) -> None:
        self.console_errors: list[str] = []
        self.requests: list[str] = []
        self.load_ms = float("nan")
        self.values: dict[str, Any] = {}
        self.screenshot: Path | None = None


def _collect(browser: Chromium, page_url: str, report: PageReport) -> None:
    for event in browser.events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            report.console_errors.append(f"console.{params['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            description = details.get("exception", {}).get("description", details.get("text"))
            report.console_errors.append(f"exception: {description}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            report.console_errors.append(f"log: {params['entry'].get('text')}")
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if url != page_url:
                report.requests.append(url)


def open_report(
    path: str | Path,
    *,
    executable: str,
    probes: dict[str, str] | None = None,
    screenshot: str | Path | None = None,
    element_shots: dict[str, str] | None = None,
    width: int = 1280,
    height: int = 8000,
    wait_s: float = 120.0,
) -> PageReport:
    """Open a report in headless Chromium and record what happened.

    Args:
        path: The HTML file.
        executable: The browser.
        probes: Name -> JavaScript expression evaluated once the plots are drawn.
        screenshot: Where to save a PNG of the page (at most ``height`` pixels tall).
        element_shots: PNG path -> CSS selector: also save a PNG of each element.
        width: Viewport width.
        height: Viewport height; the page is laid out in a viewport this tall from the
            start, so a full-page screenshot needs no resize (which would re-draw plots).
        wait_s: Seconds to wait for the page to draw its plots.

    Returns:
        The :class:`PageReport`.
    """
    page_url = Path(path).resolve().as_uri()
    report = PageReport()
    with Chromium(executable, width=width, height=height, timeout=wait_s) as browser:
        browser.call("Page.navigate", {"url": page_url}, session=True)
        browser.wait_event("Page.loadEventFired", timeout=wait_s)
        deadline = time.monotonic() + wait_s
        while not browser.evaluate("!!(window.paretuneReport && window.paretuneReport.ready)"):
            if time.monotonic() > deadline:
                raise TimeoutError("the report never finished drawing its plots")
            time.sleep(0.1)
        report.load_ms = float(browser.evaluate("window.paretuneReport.readyAt"))
        time.sleep(0.5)  # let WebGL traces paint
        for name, expression in (probes or {}).items():
            report.values[name] = browser.evaluate(expression)
        if screenshot is not None:
            # the page's own height (the layout viewport is at least ``height`` tall)
            bottom = browser.evaluate(
                "Math.ceil(Math.max.apply(null, Array.from(document.body.children).map("
                "function(e){return e.getBoundingClientRect().bottom + window.scrollY;})))"
            )
            full = min(int(bottom) + 16, height)
            shot = browser.call(
                "Page.captureScreenshot",
                {"format": "png", "clip": {"x": 0, "y": 0, "width": width, "height": full,
                                           "scale": 1}},
                session=True,
            )  # fmt: skip
            report.screenshot = Path(screenshot)
            report.screenshot.write_bytes(base64.b64decode(shot["data"]))
        for name, selector in (element_shots or {}).items():
            box = browser.evaluate(
                f"(function(){{var r=document.querySelector({json.dumps(selector)})"
                ".getBoundingClientRect();return [r.left+window.scrollX,r.top+window.scrollY,"
                "r.width,r.height];})()"
            )
            shot = browser.call(
                "Page.captureScreenshot",
                {"format": "png", "clip": {"x": box[0], "y": box[1], "width": box[2],
                                           "height": box[3], "scale": 1}},
                session=True,
            )  # fmt: skip
            Path(name).write_bytes(base64.b64decode(shot["data"]))
        browser.call("Runtime.evaluate", {"expression": "1"}, session=True)  # flush events
        _collect(browser, page_url, report)
    return report


def _main(argv: Sequence[str]) -> None:  # pragma: no cover - manual use
    executable = find_chromium()
    if executable is None:
        raise SystemExit("no chromium on PATH")
    shots = dict(arg.split("=", 1) for arg in argv[2:])  # out.png=CSS-selector
    result = open_report(
        argv[0], executable=executable, screenshot=argv[1] if len(argv) > 1 else None,
        element_shots=shots,
    )  # fmt: skip
    print(json.dumps(vars(result), default=str, indent=1))


if __name__ == "__main__":  # pragma: no cover
    import sys

    _main(sys.argv[1:])
