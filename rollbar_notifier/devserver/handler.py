"""The socket side: one thread per connection, bounded reads, a response for every request.

Each connection gets a timeout so a slow or half-sent request only ever ties up its
own thread, and every exception becomes a 500 so one bad request cannot stop the server.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional, Set, Tuple
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from .body import declared_length, read_body
from .messages import ApiError, Request, Response

log = logging.getLogger(__name__)

_QUERY_PARAMETER = re.compile(r"(?P<name>[?&][^=&#\s\"']*)=[^&#\s\"']*")

App = Callable[[Request], Response]


class DevHTTPServer(ThreadingHTTPServer):
    """A threading server that knows its app and can cut its open connections on stop."""

    daemon_threads = True
    request_queue_size = 128  # the default 5 resets connections when many posters start at once
    allow_reuse_port = False  # a second devserver on a busy port must fail, not share it

    def __init__(self, address: Tuple[str, int], app: App, timeout: float) -> None:
        self.app = app
        self.request_timeout = timeout
        self._connections: Set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, RequestHandler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(request)

    def close_connections(self) -> None:
        """Wake threads blocked on idle keep-alive connections so they end now."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by its own thread


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "RollbarDevServer"
    disable_nagle_algorithm = True  # headers and body go out in two writes; don't wait 40 ms

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self._server.request_timeout)

    @property
    def _server(self) -> DevHTTPServer:
        assert isinstance(self.server, DevHTTPServer)
        return self.server

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def handle_expect_100(self) -> bool:
        """Refuse an oversized body before the client sends it."""
        try:
            declared_length(self._headers())
        except ApiError as error:
            self.close_connection = True
            self._send(error.response())
            return False
        return super().handle_expect_100()

    def send_error(self, code: int, message: Optional[str] = None,
                   explain: Optional[str] = None) -> None:
        """Requests the stdlib cannot parse also get Rollbar's JSON error, with a status line.

        Nothing speaks HTTP/0.9 to a Rollbar server, so the status line is always sent.
        """
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"
        self.close_connection = True
        self._send(ApiError(code, message or self.responses[code][0]).response())

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), redact(format % args))

    def _dispatch(self) -> None:
        try:
            response = self._respond()
        except Exception:
            log.exception("error handling %s %s", self.command, redact(self.path))
            self.close_connection = True
            response = ApiError(500, "internal server error").response()
        self._send(response)

    def _respond(self) -> Response:
        headers = self._headers()
        try:
            body = read_body(self.rfile, headers)
        except ApiError as error:
            self.close_connection = True
            return error.response()
        url = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=url.path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers=headers,
            body=body,
        )
        return self._server.app(request)

    def _headers(self) -> dict[str, str]:
        return {name.lower(): value for name, value in self.headers.items()}

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(response.body)
        except OSError as error:
            log.info("could not answer %s: %s", self.client_address, error)
            self.close_connection = True


def redact(text: str) -> str:
    """`text` with the deprecated query-string token hidden, so logs never hold a token.

    Names are compared decoded, as the API reads them: `access%5Ftoken=` is a token too.
    """
    return _QUERY_PARAMETER.sub(_redact_parameter, text)


def _redact_parameter(match: re.Match[str]) -> str:
    name = match["name"]
    if unquote_plus(name[1:]) != "access_token":
        return match[0]
    return f"{name}=[redacted]"
