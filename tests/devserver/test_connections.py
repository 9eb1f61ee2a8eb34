"""Slow and numerous clients: they cost sockets, not threads, and cannot starve others."""

from __future__ import annotations

import socket
import threading
import time
from typing import List

import requests
from devserver_helpers import TIMEOUT, post_item, trace_payload

from rollbar_notifier.devserver import DevServer
from rollbar_notifier.devserver.handler import WORKERS

SLOW_CLIENTS = 150
DEADLINE = 2.0


def _ping(server: DevServer, connection: socket.socket) -> bytes:
    connection.sendall(b"GET /api/1/status/ping HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = b""
    for _ in range(20):
        answer += connection.recv(4096)
        if answer.endswith(b"pong"):
            break
    return answer


def test_150_slow_connections_hold_no_thread_and_are_cut_at_the_deadline() -> None:
    request = (b"POST /api/1/item/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: 2\r\n\r\n{}")
    with DevServer(timeout=DEADLINE) as server:
        requests.get(server.base_url, timeout=TIMEOUT)  # the worker threads are started
        threads_before = threading.active_count()
        slow: List[socket.socket] = []
        try:
            for _ in range(SLOW_CLIENTS):
                slow.append(socket.create_connection(("127.0.0.1", server.port),
                                                     timeout=TIMEOUT))
            started = time.monotonic()
            sent = 0
            while time.monotonic() - started < DEADLINE + 0.5 and sent < len(request):
                for connection in slow:  # a byte every 0.2 s each: always "making progress"
                    try:
                        connection.send(request[sent:sent + 1])
                    except OSError:
                        pass  # already answered and closed
                sent += 1
                if sent == 3:
                    assert threading.active_count() - threads_before <= 1
                    served = time.monotonic()
                    assert post_item(server, trace_payload()).status_code == 200
                    assert requests.get(server.base_url, timeout=TIMEOUT).status_code == 200
                    assert time.monotonic() - served < 1.0, "other clients stay served"
                time.sleep(0.2)
            answers = [connection.recv(64) for connection in slow]
        finally:
            for connection in slow:
                connection.close()
        cut = time.monotonic() - started
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers), set(answers)
    assert cut < DEADLINE + 2, "cut at the deadline however steadily bytes arrive"


def test_beyond_the_connection_cap_new_connections_get_503_until_one_closes() -> None:
    with DevServer(max_connections=3) as server:
        held = [socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
                for _ in range(3)]
        try:
            for connection in held:
                assert _ping(server, connection).endswith(b"pong")
            refused = requests.get(server.api_url + "status/ping", timeout=TIMEOUT)
            assert refused.status_code == 503
            assert refused.json() == {"err": 1,
                                      "message": "too many open connections; try again later"}
            held.pop().close()
            deadline = time.monotonic() + TIMEOUT
            while requests.get(server.api_url + "status/ping",
                               timeout=TIMEOUT).status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            for connection in held:
                connection.close()


def test_the_server_has_a_fixed_number_of_threads() -> None:
    with DevServer() as server:
        before = threading.active_count()
        connections = [socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
                       for _ in range(40)]
        try:
            for connection in connections:
                assert _ping(server, connection).endswith(b"pong")
            assert threading.active_count() - before <= WORKERS
        finally:
            for connection in connections:
                connection.close()
