"""The socket side: a few event loops read requests and write answers; reads are answered
by a few worker threads.

A connection costs a socket and a little memory, not a thread, until its whole request
has arrived: slow or stalled clients cannot use up the server's threads. Each request
must arrive within a deadline (408 once it has started), open connections are capped
(503 beyond the cap), and every exception becomes a 500 so one bad request cannot stop
the server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import functools
import logging
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Callable, Dict, List, Optional, Set, Tuple
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from ..contract import MAX_BODY_BYTES
from .body import declared_length, read_body
from .messages import ApiError, Request, Response, Stream

log = logging.getLogger(__name__)

App = Callable[[Request], Response]

LOOPS = 4
"""Event loops reading and writing; connections cost no thread, whatever their number."""
WORKERS = 8
"""Threads answering reads, which may render large pages; the store serialises writes."""
INLINE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
"""Answered on the loop itself: writes are bounded by the 128 KB body limit and are the
hot path (every item a notifier sends), and a hand-off to a worker would cost them more
CPU than storing the item does."""
MAX_HEAD_BYTES = 65536
"""Request line plus headers."""
MAX_REQUEST_LINE = 8192
MAX_HEADERS = 100
HEARTBEAT_SECONDS = 15.0
"""A comment line sent on a quiet event stream, so a vanished client is noticed."""
LINGER_SECONDS = 1.0
"""After an error answer, how long unread input is drained so the client can read the
answer instead of a connection reset."""
ACCEPT_RETRY_SECONDS = 0.1
SETTLE_SECONDS = 2.0
"""How long a stopping loop waits for its connections to end."""
SETTLE_STEP_SECONDS = 0.05
BACKLOG = 128  # the default 5 resets connections when many posters start at once

_VERSION = re.compile(r"HTTP/(\d)\.(\d)")
_QUERY_PARAMETER = re.compile(r"(?P<name>[?&][^=&#\s\"']*)=[^&#\s\"']*")


@dataclasses.dataclass
class _Head:
    line: str
    method: str
    target: str
    version: Tuple[int, int]
    headers: Dict[str, str]

    @property
    def keep_alive(self) -> bool:
        tokens = {token.strip().lower()
                  for token in self.headers.get("connection", "").split(",")}
        if self.version >= (1, 1):
            return "close" not in tokens
        return "keep-alive" in tokens


class _Progress:
    """Whether any byte of the current request arrived: a deadline then gets a 408,
    while a connection idle between requests is just closed."""

    def __init__(self) -> None:
        self.started = False
        self.line = "-"


class _Slots:
    """The open-connection count shared by every loop, against its cap."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.used >= self.limit:
                return False
            self.used += 1
            return True

    def give(self) -> None:
        with self._lock:
            self.used -= 1


class HttpServer:
    """Serves `app` on `address` from `LOOPS` event loops, each on a thread of its own,
    all accepting from the one listening socket.

    Several loops rather than one: the app runs in Python, so a loop waits for the GIL
    after every system call; with one loop those waits would add up in series whenever
    other threads of the process (a test's notifier, say) are busy.
    """

    def __init__(self, address: Tuple[str, int], app: App, *, timeout: float,
                 max_connections: int) -> None:
        self.socket = socket.create_server(address, backlog=BACKLOG)
        pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="rollbar-devserver-worker")
        slots = _Slots(max_connections)
        self._pool = pool
        self._loops = [_Loop(self.socket.dup(), app, pool, slots, timeout)
                       for _ in range(LOOPS)]
        self._threads: List[threading.Thread] = []

    @property
    def server_address(self) -> Tuple[str, int]:
        name: Tuple[str, int] = self.socket.getsockname()[:2]
        return name

    def start(self) -> None:
        for number, loop in enumerate(self._loops):
            thread = threading.Thread(target=loop.serve_forever, daemon=True,
                                      name=f"rollbar-devserver-{number}")
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Close every connection, end the loops, then release the socket and the
        workers (after any answer in progress)."""
        for loop in self._loops:
            loop.stop()
        for thread in self._threads:
            thread.join(timeout)
        for loop in self._loops:
            loop.close()
        self.socket.close()
        self._pool.shutdown(wait=True)


class _Loop:
    """One event loop and the connections it accepted."""

    def __init__(self, listener: socket.socket, app: App, pool: ThreadPoolExecutor,
                 slots: _Slots, timeout: float) -> None:
        self._listener = listener
        self._app = app
        self._pool = pool
        self._slots = slots
        self._timeout = timeout
        self._loop = asyncio.SelectorEventLoop()  # `add_reader` everywhere, Windows too
        self._stop_requested = False
        self._stopped: Optional[asyncio.Event] = None
        self._writers: Set[asyncio.StreamWriter] = set()
        self._tasks: Set[asyncio.Task[None]] = set()
        self._date = (0, "")

    def serve_forever(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    def stop(self) -> None:
        """Ask the loop to close its connections and end; safe from any thread."""
        try:
            self._loop.call_soon_threadsafe(self._request_stop)
        except RuntimeError:
            pass  # the loop already ended

    def close(self) -> None:
        if not self._loop.is_running():
            self._loop.close()
        self._listener.close()

    def _request_stop(self) -> None:
        self._stop_requested = True
        if self._stopped is not None:
            self._stopped.set()

    async def _serve(self) -> None:
        self._stopped = asyncio.Event()
        if not self._stop_requested:
            await self._accept(self._stopped)
        self._listener.close()
        await self._settle()

    async def _accept(self, stopped: asyncio.Event) -> None:
        """Accept connections until `stopped` is set, each served by a task of its own.

        Accepted from a reader callback, not `asyncio.start_server` nor a cancellable
        `sock_accept`: closing or cancelling those can drop a connection that was already
        accepted, leaving its socket to the garbage collector.
        """
        loop = asyncio.get_running_loop()
        listener = self._listener
        listener.setblocking(False)

        def accept() -> None:
            for _ in range(BACKLOG):
                try:
                    connection, _ = listener.accept()
                except (BlockingIOError, InterruptedError):
                    return
                except OSError as error:  # out of file descriptors, say: pause a moment
                    log.warning("cannot accept a connection: %s", error)
                    loop.remove_reader(listener)
                    loop.call_later(ACCEPT_RETRY_SECONDS, listen)
                    return
                connection.setblocking(False)
                task = loop.create_task(self._open(connection))
                self._tasks.add(task)  # the loop itself keeps only a weak reference
                task.add_done_callback(self._tasks.discard)
                task.add_done_callback(functools.partial(_close_socket, connection))

        def listen() -> None:
            if not stopped.is_set():
                loop.add_reader(listener, accept)

        listen()
        await stopped.wait()
        loop.remove_reader(listener)

    async def _open(self, connection: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_connection(sock=connection,
                                                           limit=MAX_HEAD_BYTES)
        except OSError:
            connection.close()
            return
        await self._connection(reader, writer)

    async def _settle(self) -> None:
        """Let every connection end: shut down, each sees the end of its stream and its
        task ends, closing its socket; a task still waiting for a worker after
        `SETTLE_SECONDS` is cancelled (the worker finishes anyway)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_SECONDS
        while self._tasks and loop.time() < deadline:
            for writer in list(self._writers):
                _shutdown(writer)
            await asyncio.wait(list(self._tasks), timeout=SETTLE_STEP_SECONDS)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        if self._stop_requested:
            await _close(writer)
            return
        taken = self._slots.take()
        try:
            if not taken:
                log.warning("refused a connection: %d are open", self._slots.limit)
                error = ApiError(503, "too many open connections; try again later")
                await self._finish(reader, writer, error.response())
                return
            self._writers.add(writer)
            await self._exchanges(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # the server stops; ending quietly keeps asyncio from logging it as an error
        finally:
            if taken:
                self._slots.give()
            self._writers.discard(writer)
            await _close(writer)

    async def _exchanges(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        """Request after request on one connection, until either side closes it."""
        loop = asyncio.get_running_loop()
        peer = str((writer.get_extra_info("peername") or ("-",))[0])
        while True:
            progress = _Progress()
            try:
                read = await self._read_within_deadline(reader, writer, progress)
            except asyncio.TimeoutError:
                if progress.started:
                    self._log(peer, progress.line, 408)
                    await self._finish(reader, writer,
                                       ApiError(408, "timed out reading the request").response())
                return
            except ApiError as error:
                self._log(peer, progress.line, error.status)
                await self._finish(reader, writer, error.response())
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

    async def _read_within_deadline(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, progress: _Progress
    ) -> Optional[Tuple[_Head, Request]]:
        """`_read`, cancelled by a timer at the deadline: what `asyncio.wait_for` does,
        without a task per request (the server's hottest path)."""
        task = asyncio.current_task()
        assert task is not None
        expired: List[bool] = []

        def expire() -> None:
            expired.append(True)
            task.cancel()

        timer = asyncio.get_running_loop().call_later(self._timeout, expire)
        try:
            return await self._read(reader, writer, progress)
        except asyncio.CancelledError:
            if not expired:
                raise
            if hasattr(task, "uncancel"):  # Python 3.11+: this cancellation is handled
                task.uncancel()
            raise asyncio.TimeoutError() from None
        finally:
            timer.cancel()

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    progress: _Progress) -> Optional[Tuple[_Head, Request]]:
        """The next complete request, None at a clean end of the connection."""
        first = await reader.read(1)
        if not first:
            return None
        progress.started = True
        head = await _read_head(reader, first, progress)
        if head.headers.get("expect", "").lower() == "100-continue" and head.version >= (1, 1):
            declared_length(head.headers)  # an oversized body is refused before it is sent
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await read_body(reader, head.headers)
        url = urlsplit(head.target)
        return head, Request(
            method=head.method,
            path=url.path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers=head.headers,
            body=body,
        )

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

    async def _finish(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
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


async def _read_head(reader: asyncio.StreamReader, first: bytes, progress: _Progress) -> _Head:
    """Request line and headers; 400, 414, 431 or 505 when they are not acceptable."""
    line = first + await _line(reader, 414, "request line too long")
    while line in (b"\r\n", b"\n"):  # empty lines before a request are allowed
        line = await _line(reader, 414, "request line too long")
    if len(line) > MAX_REQUEST_LINE:
        raise ApiError(414, "request line too long")
    text = line.decode("latin-1").rstrip("\r\n")
    progress.line = text
    words = text.split()
    if len(words) != 3:
        raise ApiError(400, f"bad request line: {text[:100]!r}")
    method, target, version_text = words
    version = _VERSION.fullmatch(version_text)
    if version is None:
        raise ApiError(400, f"bad HTTP version: {version_text[:20]!r}")
    if version[1] != "1":
        raise ApiError(505, "only HTTP/1.0 and HTTP/1.1 are supported")
    headers: Dict[str, str] = {}
    lengths: List[str] = []
    size = len(line)
    for _ in range(MAX_HEADERS + 1):
        raw = await _line(reader, 431, "request headers too large")
        size += len(raw)
        if raw in (b"\r\n", b"\n"):
            _check_lengths(lengths)
            return _Head(text, method, target, (1, int(version[2])), headers)
        if size > MAX_HEAD_BYTES:
            break
        name, colon, value = raw.decode("latin-1").partition(":")
        if not colon or not name or name != name.strip() or name[0] in " \t":
            raise ApiError(400, "malformed header line")
        key, value = name.lower(), value.strip()
        if key == "content-length":
            lengths.append(value)
            headers[key] = value
        else:
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
    raise ApiError(431, "request headers too large")


def _check_lengths(lengths: List[str]) -> None:
    """Two different Content-Length headers make the body's end ambiguous (a classic
    request-smuggling trick): refuse rather than pick one."""
    if len(set(lengths)) > 1:
        raise ApiError(400, "conflicting Content-Length headers")


async def _line(reader: asyncio.StreamReader, status: int, message: str) -> bytes:
    try:
        return await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise ApiError(status, message) from None


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close and wait until the socket is closed: a loop that ends right after must not
    leave it to the garbage collector."""
    writer.close()
    try:
        await writer.wait_closed()
    except (OSError, asyncio.CancelledError):
        pass  # closed with an error (a reset), or the server is stopping: closed either way


def _close_socket(connection: socket.socket, task: asyncio.Task[None]) -> None:
    """Closed by its transport when the task served it; closed here when the task was
    cancelled before it began (a no-op otherwise)."""
    connection.close()


def _shutdown(writer: asyncio.StreamWriter) -> None:
    """Wake the client and the connection's task: both see the end of the stream."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed


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

