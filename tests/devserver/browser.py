"""Headless Chromium driven over the DevTools protocol, with the standard library only.

Enough of a WebSocket client (RFC 6455: masked text frames out, any frames in) to send
protocol commands and read their answers, so the page tests can type, click, wait
for the DOM and take screenshots without a test dependency that downloads a browser.
Every wait is bounded.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional
from urllib.parse import urlsplit

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--mute-audio"]
NAVIGATING = ("navigated or closed", "context was destroyed", "Cannot find context")
"""What an evaluation that raced a navigation fails with."""
STARTUP_SECONDS = 30
COMMAND_SECONDS = 30


class BrowserError(Exception):
    pass


class Screenshots:
    """Names and records the screenshots the page tests save for a person to look at;
    they are never compared pixel by pixel."""

    saved: List[Path] = []

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, name: str) -> Path:
        path = self.directory / f"{name}.png"
        Screenshots.saved.append(path)
        return path


class Browser:
    """One headless Chromium with one page; `close()` kills it (by PID) and removes its profile."""

    def __init__(self, width: int = 1280, height: int = 900) -> None:
        self.width, self.height = width, height
        self._profile = tempfile.mkdtemp(prefix="devserver-chromium-")
        self._process = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={self._profile}", "--remote-debugging-port=0",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self._socket: Optional[socket.socket] = None
        self._next_id = 0
        try:
            self._socket = _connect(self._page_url(self._port()))
            self.call("Page.enable")
            self.call("Runtime.enable")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(timeout=COMMAND_SECONDS)
        shutil.rmtree(self._profile, ignore_errors=True)

    def call(self, method: str, **params: Any) -> Dict[str, Any]:
        """Send one command and return its result; events that arrive meanwhile are skipped."""
        assert self._socket is not None
        self._next_id += 1
        number = self._next_id
        _send(self._socket, json.dumps({"id": number, "method": method, "params": params}))
        deadline = time.monotonic() + COMMAND_SECONDS
        while time.monotonic() < deadline:
            message = json.loads(_receive(self._socket))
            if message.get("id") == number:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                result: Dict[str, Any] = message.get("result", {})
                return result
        raise BrowserError(f"{method}: no answer within {COMMAND_SECONDS} s")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 10.0) -> Any:
        """Poll until the expression is truthy; its last value in the error otherwise."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except BrowserError as error:
                if not any(text in str(error) for text in NAVIGATING):
                    raise
                value = None  # the page is being replaced: ask the next one
            if value:
                return value
            time.sleep(0.05)
        raise BrowserError(f"still false after {timeout} s: {expression} (last value {value!r})")

    def open(self, url: str) -> None:
        """Load `url` and wait until it and its deferred script are done."""
        self.call("Page.navigate", url=url)
        self.wait_for(f"location.href === {json.dumps(url)} && "
                      "document.readyState === 'complete'")

    def wait_for_load(self, url_part: str) -> None:
        """After a click that navigates: wait for the new page to be complete."""
        self.wait_for(f"location.href.includes({json.dumps(url_part)}) && "
                      "document.readyState === 'complete'")

    def type_text(self, selector: str, text: str) -> None:
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        self.call("Input.insertText", text=text)

    def press_enter(self) -> None:
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter",
                      windowsVirtualKeyCode=13, nativeVirtualKeyCode=13,
                      **({"text": "\r"} if kind == "keyDown" else {}))

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        params: Dict[str, Any] = {"format": "png"}
        if full_page:
            width, height = self.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": width, "height": min(height, 6000),
                                "scale": 1})
        data = self.call("Page.captureScreenshot", **params)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def _port(self) -> int:
        """Chromium writes its DevTools port to the profile once it listens."""
        marker = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrowserError(f"chromium exited with status {self._process.returncode}")
            if marker.exists():
                lines = marker.read_text().split()
                if lines and lines[0].isdigit():
                    return int(lines[0])
            time.sleep(0.05)
        raise BrowserError(f"chromium did not open its DevTools port in {STARTUP_SECONDS} s")

    @staticmethod
    def _page_url(port: int) -> str:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list",
                                        timeout=COMMAND_SECONDS) as answer:
                targets = json.load(answer)
            for target in targets:
                if target.get("type") == "page" and target.get("webSocketDebuggerUrl"):
                    return str(target["webSocketDebuggerUrl"])
            time.sleep(0.05)
        raise BrowserError("chromium has no page to drive")


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=COMMAND_SECONDS)
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    sock.sendall((f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise BrowserError("the DevTools socket closed during the handshake")
        head += chunk
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise BrowserError(f"websocket handshake refused: {head[:200]!r}")
    return sock


def _send(sock: socket.socket, text: str, opcode: int = 0x1) -> None:
    payload = text.encode()
    mask = secrets.token_bytes(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    sock.sendall(header + mask + masked)


def _receive(sock: socket.socket) -> str:
    """One whole text message (continuation frames joined, pings answered)."""
    parts = []
    while True:
        first, second = _exactly(sock, 2)
        opcode, length = first & 0x0F, second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", _exactly(sock, 2))
        elif length == 127:
            (length,) = struct.unpack("!Q", _exactly(sock, 8))
        mask = _exactly(sock, 4) if second & 0x80 else b""
        payload = _exactly(sock, length)
        if mask:
            payload = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        if opcode == 0x8:
            raise BrowserError("chromium closed the DevTools connection")
        if opcode == 0x9:
            _send(sock, payload.decode("latin-1"), opcode=0xA)
            continue
        if opcode in (0x0, 0x1, 0x2):
            parts.append(payload)
            if first & 0x80:
                return b"".join(parts).decode("utf-8")


def _exactly(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(min(count - len(data), 1 << 20))
        if not chunk:
            raise BrowserError("the DevTools connection closed")
        data += chunk
    return bytes(data)
