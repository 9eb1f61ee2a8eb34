"""A real HTTP server on 127.0.0.1 whose answers the test scripts, request by request.

Each request gets the next :class:`Reply` of the script (then the default one): a
status with headers and a delay, a TCP reset after reading the request, or a close
without answering. Every request is recorded with its headers and body. ``stop()``
also cuts kept-alive connections so that "the server is down" really is, and
``start()`` brings it back on the same port.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Set

RESET = "reset"
CLOSE = "close"
REPLY = "reply"


@dataclasses.dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: Dict[str, str] = dataclasses.field(default_factory=dict)
    body: Optional[bytes] = None
    """``None``: a Rollbar-style success (echoing the uuid) or error body for ``status``."""
    delay: float = 0.0
    action: str = REPLY


@dataclasses.dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: Dict[str, str]
    body: bytes
    client: Any
    reply: Reply
    at: float

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    @property
    def uuid(self) -> Optional[str]:
        try:
            return str(self.json()["data"]["uuid"])
        except (ValueError, KeyError, TypeError):
            return None


Script = Callable[[Recorded], Reply]


class ScriptedServer:
    def __init__(self) -> None:
        self.port = 0
        self._lock = threading.Lock()
        self._replies: List[Reply] = []
        self._handler: Optional[Script] = None
        self.default = Reply()
        self.records: List[Recorded] = []
        self._connections: Set[socket.socket] = set()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # -- scripting ---------------------------------------------------------------------

    def script(self, *replies: Reply, default: Optional[Reply] = None) -> None:
        """Answer the next requests with ``replies``, then with ``default``."""
        with self._lock:
            self._replies = list(replies)
            if default is not None:
                self.default = default

    def handle_with(self, handler: Optional[Script]) -> None:
        """Decide every reply with ``handler`` (after any scripted replies are used up)."""
        with self._lock:
            self._handler = handler

    def _next_reply(self, request: Recorded) -> Reply:
        with self._lock:
            if self._replies:
                return self._replies.pop(0)
            handler = self._handler
        return handler(request) if handler is not None else self.default

    # -- results -----------------------------------------------------------------------

    def requests(self, path: str = "/api/1/item/") -> List[Recorded]:
        with self._lock:
            return [r for r in self.records if r.path == path]

    def delivered(self) -> List[str]:
        """uuids of the items this server answered with a 2xx."""
        return [r.uuid for r in self.requests()
                if r.reply.action == REPLY and 200 <= r.reply.status < 300 and r.uuid]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return predicate()

    # -- life cycle --------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/1/"

    def start(self) -> ScriptedServer:
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.owner = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="scripted-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            _shutdown(connection)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: ScriptedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Resets and closes are on purpose; their tracebacks are noise."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without this, Nagle plus delayed ACKs
    # add 40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.owner._lock:
            self.server.owner._connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        with self.server.owner._lock:
            self.server.owner._connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows what the assertions say."""

    def do_GET(self) -> None:
        self._respond()

    def do_POST(self) -> None:
        self._respond()

    def do_PATCH(self) -> None:
        self._respond()

    def _respond(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        placeholder = Recorded(self.command, self.path, dict(self.headers.items()), body,
                              self.client_address, owner.default, time.monotonic())
        reply = owner._next_reply(placeholder)
        record = dataclasses.replace(placeholder, reply=reply)
        with owner._lock:
            owner.records.append(record)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.action == RESET:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if reply.action == CLOSE:
            _shutdown(self.connection)
            self.close_connection = True
            return
        payload = reply.body if reply.body is not None else _default_body(record, reply.status)
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True


def _default_body(record: Recorded, status: int) -> bytes:
    if record.path.endswith("status/ping"):
        return b"pong"
    if 200 <= status < 300:
        return json.dumps({"err": 0, "result": {"id": None, "uuid": record.uuid}}).encode()
    return json.dumps({"err": 1, "message": f"scripted error {status}"}).encode()


def _shutdown(connection: socket.socket) -> None:
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
