"""The socket side: a few event loops accept connections, and a few worker threads
answer reads; reading and answering requests is `exchange`'s job.

A connection costs a socket and a little memory, not a thread, until its whole request
has arrived: slow or stalled clients cannot use up the server's threads. Each request
must arrive within a deadline (408 once it has started), open connections are capped
(503 beyond the cap), and every exception becomes a 500 so one bad request cannot stop
the server.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional, Set, Tuple

from .exchange import HEARTBEAT_SECONDS, App, Exchange
from .messages import ApiError
from .request_reader import MAX_HEAD_BYTES

__all__ = ["HEARTBEAT_SECONDS", "LOOPS", "WORKERS", "App", "HttpServer"]

log = logging.getLogger(__name__)

LOOPS = 4
"""Event loops reading and writing; connections cost no thread, whatever their number."""
WORKERS = 8
"""Threads answering reads, which may render large pages; the store serialises writes."""
ACCEPT_RETRY_SECONDS = 0.1
SETTLE_SECONDS = 2.0
"""How long a stopping loop waits for its connections to end."""
SETTLE_STEP_SECONDS = 0.05
BACKLOG = 128  # the default 5 resets connections when many posters start at once


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
        self._exchange = Exchange(app, pool, timeout)
        self._slots = slots
        self._loop = asyncio.SelectorEventLoop()  # `add_reader` everywhere, Windows too
        self._stop_requested = False
        self._stopped: Optional[asyncio.Event] = None
        self._writers: Set[asyncio.StreamWriter] = set()
        self._tasks: Set[asyncio.Task[None]] = set()

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
                await self._exchange.finish(reader, writer, error.response())
                return
            self._writers.add(writer)
            await self._exchange.serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # the server stops; ending quietly keeps asyncio from logging it as an error
        finally:
            if taken:
                self._slots.give()
            self._writers.discard(writer)
            await _close(writer)


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

