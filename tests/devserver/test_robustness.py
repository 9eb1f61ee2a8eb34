"""The devserver as a server: concurrency, slow clients, bad requests, restarts."""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import List

import pytest
import requests
from devserver_helpers import TIMEOUT, api_get, message_payload, post_item, trace_payload

from rollbar_notifier.devserver import DevServer
from rollbar_notifier.devserver.store import Store


def test_many_concurrent_posters_store_every_item_exactly_once(devserver_1s: DevServer) -> None:
    threads_count, per_thread = 16, 50
    sent: List[List[str]] = [[] for _ in range(threads_count)]
    failures: List[str] = []
    barrier = threading.Barrier(threads_count, timeout=TIMEOUT)

    def poster(index: int) -> None:
        with requests.Session() as session:
            barrier.wait()
            for number in range(per_thread):
                payload = message_payload(f"poster {index} item {number}")
                response = post_item(devserver_1s, payload, session=session)
                if response.status_code != 200:
                    failures.append(response.text)
                sent[index].append(payload["data"]["uuid"])
                if number % 10 == 0:  # a few duplicates, as retries after a timeout would be
                    post_item(devserver_1s, payload, session=session)

    threads = [threading.Thread(target=poster, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    stored = [payload["data"]["uuid"] for payload in devserver_1s.occurrences()]
    assert sorted(stored) == sorted(u for uuids in sent for u in uuids)
    items = devserver_1s.items()
    assert len(items) == 1, "digits are collapsed, so all messages group together"
    assert items[0]["total_occurrences"] == threads_count * per_thread


def test_half_sent_request_does_not_block_others(devserver_1s: DevServer) -> None:
    slow = socket.create_connection(("127.0.0.1", devserver_1s.port), timeout=TIMEOUT)
    try:
        slow.sendall(b"POST /api/1/item/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        started = time.monotonic()
        assert post_item(devserver_1s, trace_payload()).status_code == 200
        assert time.monotonic() - started < 0.5
        assert slow.recv(4096).startswith(b"HTTP/1.1 408"), "answered once its timeout passed"
        assert time.monotonic() - started < 3
    finally:
        slow.close()


def test_slow_headers_get_408_and_idle_connections_are_closed(devserver_1s: DevServer) -> None:
    stalled = socket.create_connection(("127.0.0.1", devserver_1s.port), timeout=TIMEOUT)
    idle = socket.create_connection(("127.0.0.1", devserver_1s.port), timeout=TIMEOUT)
    try:
        stalled.sendall(b"GET /api/1/status/ping HTTP/1.1\r\nHo")
        assert requests.get(devserver_1s.api_url + "status/ping", timeout=TIMEOUT).text == "pong"
        started = time.monotonic()
        assert stalled.recv(4096).startswith(b"HTTP/1.1 408 "), "a started request is answered"
        assert idle.recv(4096) == b"", "a connection that sent nothing is just closed"
        assert time.monotonic() - started < 3
    finally:
        stalled.close()
        idle.close()


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\xff garbage\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST /api/1/item/ HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"POST /api/1/item/ HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"POST /api/1/item/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /api/1/item/ HTTP/1.1\r\nContent-Length: 5\r\n\r\n{",
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
    ],
)
def test_bad_requests_never_kill_the_server(devserver_1s: DevServer, raw: bytes) -> None:
    with socket.create_connection(("127.0.0.1", devserver_1s.port), timeout=TIMEOUT) as bad:
        bad.sendall(raw)
        bad.shutdown(socket.SHUT_WR)
        answer = bad.recv(4096)
    assert answer.startswith(b"HTTP/1.")
    assert answer.split(b"\r\n")[0].split(b" ")[1] in (b"400", b"408", b"413", b"414", b"505")
    assert post_item(devserver_1s, trace_payload()).status_code == 200


def test_handler_exception_is_a_500_and_the_server_keeps_running(
    devserver_1s: DevServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Store) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Store, "items", broken)
    response = api_get(devserver_1s, "items/")
    assert response.status_code == 500
    assert response.json() == {"err": 1, "message": "internal server error"}
    monkeypatch.undo()
    assert api_get(devserver_1s, "items/").status_code == 200


def test_query_string_tokens_are_redacted_from_the_log(
    devserver_1s: DevServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rollbar_notifier.devserver")
    server_token, read_token = devserver_1s.tokens["post_server_item"], devserver_1s.tokens["read"]
    response = requests.post(devserver_1s.api_url + f"item/?x=1&access_token={server_token}",
                             json=trace_payload(), timeout=TIMEOUT)
    assert response.status_code == 200
    for line, status in ((f"GET /api/1/items/?access%5Ftoken={read_token} HTTP/1.1", b"200"),
                         (f"GET /?access_token={read_token} HTTP/1.1 junk", b"400")):
        with socket.create_connection(("127.0.0.1", devserver_1s.port), timeout=TIMEOUT) as raw:
            raw.sendall(f"{line}\r\nConnection: close\r\n\r\n".encode())
            assert raw.recv(4096).split(b" ")[1] == status

    def broken(self: Store) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Store, "items", broken)
    assert api_get(devserver_1s, "items/", access_token=read_token).status_code == 500
    monkeypatch.undo()
    assert len([message for message in caplog.messages if "[redacted]" in message]) >= 4
    assert server_token not in caplog.text and read_token not in caplog.text


def test_restart_on_the_same_database_keeps_everything(tmp_path: Path) -> None:
    db = tmp_path / "rollbar.sqlite3"
    payload = trace_payload()
    with DevServer(db=db) as first:
        tokens = first.tokens
        post_item(first, payload)
        requests.post(first.api_url + "deploy/", json={"environment": "p", "revision": "r"},
                      headers={"X-Rollbar-Access-Token": tokens["post_server_item"]},
                      timeout=TIMEOUT)
        items, deploys = first.items(), first.deploys()
    with DevServer(db=str(db)) as second:
        assert second.tokens == tokens, "tokens are stored with the data"
        assert second.items() == items
        assert second.deploys() == deploys
        assert second.occurrences() == [payload]
        assert post_item(second, payload).status_code == 200
        assert len(second.occurrences()) == 1, "deduplication survives a restart"
        post_item(second, trace_payload(uuid=str(uuid.uuid4())))
        assert second.items()[0]["total_occurrences"] == 2


def test_temporary_database_is_removed_and_stop_is_idempotent() -> None:
    server = DevServer().start()
    path = Path(server.db_path)
    assert path.exists()
    server.stop()
    server.stop()
    assert not path.parent.exists()
    with pytest.raises(RuntimeError):
        server.items()
    with pytest.raises(RuntimeError):
        server.start()


def test_stop_closes_keep_alive_connections() -> None:
    server = DevServer().start()
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as client:
        client.sendall(b"GET /api/1/status/ping HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        for _ in range(10):
            received += client.recv(4096)
            if received.endswith(b"pong"):
                break
        assert received.endswith(b"pong")
        started = time.monotonic()
        server.stop()
        assert client.recv(4096) == b""
        assert time.monotonic() - started < 2


def test_wait_for_occurrences(devserver_1s: DevServer) -> None:
    timer = threading.Timer(0.2, post_item, args=(devserver_1s, trace_payload()))
    timer.start()
    try:
        assert len(devserver_1s.wait_for_occurrences(1, timeout=5)) == 1
    finally:
        timer.join()
    with pytest.raises(TimeoutError, match=r"1 occurrences stored after 0\.1 s, expected 2"):
        devserver_1s.wait_for_occurrences(2, timeout=0.1)


def test_port_in_use_raises_and_cleans_up() -> None:
    with DevServer() as first:
        second = DevServer(port=first.port)
        with pytest.raises(OSError):
            second.start()
        with pytest.raises(RuntimeError):
            second.items()
