"""Answering on an open connection: request after request read, handed to the app (on
the event loop for writes, on a worker thread for reads), answered, and logged.

The event loop's other job, accepting connections and counting them against the cap,
is in `handler`; this module sees one connection at a time.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Callable
from urllib.parse import unquote_plus

from ..contract import MAX_BODY_BYTES
from .messages import ApiError, Request, Response, Stream
from .request_reader import MAX_HEAD_BYTES, Progress, read_within_deadline

log = logging.getLogger(__name__)

App = Callable[[Request], Response]

INLINE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
"""Answered on the loop itself: writes are bounded by the 128 KB body limit and are the
hot path (every item a notifier sends), and a hand-off to a worker would cost them more
CPU than storing the item does."""
HEARTBEAT_SECONDS = 15.0
"""A comment line sent on a quiet event stream, so a vanished client is noticed."""
LINGER_SECONDS = 1.0
"""After an error answer, how long unread input is drained so the client can read the
answer instead of a connection reset."""

_QUERY_PARAMETER = re.compile(r"(?P<name>[?&][^=&#\s\"']*)=[^&#\s\"']*")


class Exchange:
    """Serves the connections of one event loop, one request at a time on each."""

    def __init__(self, app: App, pool: ThreadPoolExecutor, timeout: float) -> None:
        self._app = app
        self._pool = pool
        self._timeout = timeout
        self._date = (0, "")

    async def serve(self, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> None:
        """Request after request on one connection, until either side closes it."""
        loop = asyncio.get_running_loop()
        peer = str((writer.get_extra_info("peername") or ("-",))[0])
        while True:
            progress = Progress()
            try:
                read = await read_within_deadline(reader, writer, progress,
                                                  self._timeout)
            except asyncio.TimeoutError:
                if progress.started:
                    self._log(peer, progress.line, 408)
                    await self.finish(reader, writer,
                                      ApiError(408, "timed out reading the request").response())
                return
            except ApiError as error:
                self._log(peer, progress.line, error.status)
                await self.finish(reader, writer, error.response())
                return
            if read is None:
                return
            head, request = read
            if request.method in INLINE_METHODS:
                response = self._answer(request)
            else:
                response = await loop.run_in_executor(self._pool, self._answer, request)
            self._log(peer, head.line, response.status)
            if response.stream is not None:
                await self._stream(reader, writer, response, response.stream)
                return
            keep_alive = head.keep_alive and response.status != 500
            sent = await self._write(writer, self._encode(response, keep_alive,
                                                          head.method != "HEAD"))
            if not (sent and keep_alive):
                return

    def _answer(self, request: Request) -> Response:
        """Runs on a worker thread, or on the loop for `INLINE_METHODS`."""
        try:
            return self._app(request)
        except Exception:
            log.exception("error handling %s %s", request.method, redact(request.path))
            return ApiError(500, "internal server error").response()

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      response: Response, stream: Stream) -> None:
        """Headers and body, then whatever the stream has, until the client leaves."""
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()

        def wake() -> None:
            try:
                loop.call_soon_threadsafe(woken.set)
            except RuntimeError:
                pass  # the server stopped

        remove = stream.listen(wake)
        gone = loop.create_task(reader.read(MAX_HEAD_BYTES))  # EOF: the client left
        waiting = loop.create_task(woken.wait())
        try:
            if not await self._write(writer, self._encode(response, False, True, length=False)):
                return
            while not gone.done():
                woken.clear()
                chunk = await loop.run_in_executor(self._pool, stream.next)
                if chunk:
                    if not await self._write(writer, chunk):
                        return
                    continue
                if waiting.done():
                    waiting = loop.create_task(woken.wait())
                done, _ = await asyncio.wait({waiting, gone}, timeout=HEARTBEAT_SECONDS,
                                             return_when=asyncio.FIRST_COMPLETED)
                if not done and not await self._write(writer, b": keep-alive\n\n"):
                    return
        finally:
            remove()
            for task in (gone, waiting):
                task.cancel()
            await asyncio.gather(gone, waiting, return_exceptions=True)

    async def _write(self, writer: asyncio.StreamWriter, data: bytes) -> bool:
        """False when the client is gone or did not read it within the timeout."""
        if writer.is_closing():
            return False
        writer.write(data)
        if not writer.transport.get_write_buffer_size():
            return True  # all sent at once, the usual case: no need to wait
        try:
            await asyncio.wait_for(writer.drain(), self._timeout)
        except asyncio.TimeoutError:
            writer.transport.abort()
            return False
        except ConnectionError:
            return False
        return True

    async def finish(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     response: Response) -> None:
        """Send a last answer, then drain what the client still sends for a moment, so
        closing with unread input does not reset the connection before it reads it."""
        if not await self._write(writer, self._encode(response, False, True)):
            return
        if writer.can_write_eof():
            writer.write_eof()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LINGER_SECONDS
        drained = 0
        while drained <= 2 * MAX_BODY_BYTES:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                data = await asyncio.wait_for(reader.read(MAX_HEAD_BYTES), remaining)
            except (asyncio.TimeoutError, ConnectionError):
                return
            if not data:
                return
            drained += len(data)

    def _encode(self, response: Response, keep_alive: bool, with_body: bool,
                *, length: bool = True) -> bytes:
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = ""
        lines = [f"HTTP/1.1 {response.status} {reason}", "Server: RollbarDevServer",
                 f"Date: {self._http_date()}", f"Content-Type: {response.content_type}"]
        if length:
            lines.append(f"Content-Length: {len(response.body)}")
        lines += [f"{name}: {value}" for name, value in response.headers.items()]
        if not keep_alive:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        return head + response.body if with_body else head

    def _http_date(self) -> str:
        now = int(time.time())
        if self._date[0] != now:
            self._date = (now, email.utils.formatdate(now, usegmt=True))
        return self._date[1]

    @staticmethod
    def _log(peer: str, line: str, status: int) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info('%s "%s" %d', peer, redact(line), status)


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
