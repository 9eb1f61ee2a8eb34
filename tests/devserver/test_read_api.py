"""The read API a page at a time: paging, filters, bounded pages, the feed, and JSON
that stays valid whatever was stored."""

from __future__ import annotations

import http.client
import json
import socket
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any, Dict, List

import pytest
import requests
from devserver_helpers import TIMEOUT, api_get, message_payload, post_item, trace_payload

from rollbar_notifier.devserver import DevServer
from rollbar_notifier.devserver.store import Store, StoreError


def _result(server: DevServer, path: str, **params: str) -> Dict[str, Any]:
    response = api_get(server, path, **params)
    assert response.status_code == 200, response.text
    result: Dict[str, Any] = response.json()["result"]
    return result


def _post_many(server: DevServer, count: int, **data: Any) -> None:
    with requests.Session() as session:
        for number in range(count):
            payload = message_payload(f"message {number}", fingerprint=f"m{number}", **data)
            assert post_item(server, payload, session=session).status_code == 200


def test_items_come_a_page_at_a_time_with_the_total(devserver: DevServer) -> None:
    _post_many(devserver, 130)
    first = _result(devserver, "items/")
    assert (len(first["items"]), first["page"], first["per_page"], first["total_count"]) == (
        100, 1, 100, 130)
    assert first["items"][0]["title"] == "message 0", "oldest first, as before paging"
    second = _result(devserver, "items/", page="2")
    assert [item["title"] for item in second["items"]] == [f"message {n}" for n in range(100, 130)]
    assert _result(devserver, "items/", page="3")["items"] == []
    small = _result(devserver, "items/", per_page="7", page="3")
    assert [item["id"] for item in small["items"]] == list(range(15, 22))
    assert _result(devserver, "items/", per_page="100000")["per_page"] == 100, "bounded"


@pytest.mark.parametrize("params", [{"page": "0"}, {"page": "x"}, {"per_page": "-1"},
                                    {"page": "²"}, {"level": "fatal"}, {"status": "open"}])
def test_bad_list_parameters_are_400(devserver: DevServer, params: Dict[str, str]) -> None:
    response = api_get(devserver, "items/", **params)
    assert response.status_code == 400
    assert response.json()["err"] == 1


def test_items_filtered_by_environment_level_status_framework_and_text(
    devserver: DevServer
) -> None:
    post_item(devserver, trace_payload(environment="production", framework="flask",
                                       fingerprint="a"))
    post_item(devserver, trace_payload(environment="staging", level="critical",
                                       framework="django", fingerprint="b"))
    post_item(devserver, message_payload("disk 100% full_ish", level="warning",
                                         fingerprint="c"))
    requests.patch(devserver.api_url + "item/2", json={"status": "muted"}, timeout=TIMEOUT,
                   headers={"X-Rollbar-Access-Token": devserver.tokens["write"]})

    def ids(**params: str) -> List[int]:
        result = _result(devserver, "items/", **params)
        assert result["total_count"] == len(result["items"])
        return [item["id"] for item in result["items"]]

    assert ids(environment="staging") == [2]
    assert ids(level="warning") == [3]
    assert ids(status="muted") == [2]
    assert ids(status="active") == [1, 3]
    assert ids(framework="flask") == [1]
    assert ids(q="BAD VALUE") == [1, 2], "case-insensitive, over title and message"
    assert ids(q="100%") == [3] and ids(q="l_ish") == [3], "% and _ are literal"
    assert ids(q="%") == [3]
    assert ids(environment="production", level="critical") == []
    assert ids(environment="", level="") == [1, 2, 3], "empty means no filter"


def test_instances_and_deploys_come_a_bounded_page_at_a_time(devserver: DevServer) -> None:
    for number in range(45):
        post_item(devserver, trace_payload(uuid=None, timestamp=1700000000 + number))
    first = _result(devserver, "item/1/instances/")
    assert (len(first["instances"]), first["page"], first["per_page"], first["total_count"]) \
        == (20, 1, 20, 45)
    assert _result(devserver, "item/1/instances/", per_page="500")["per_page"] == 20, (
        "a page of instances holds at most 20 bodies")
    last = _result(devserver, "item/1/instances/", page="3")
    assert [i["timestamp"] for i in last["instances"]] == [1700000040 + n for n in range(5)]
    assert last["instances"][0]["data"]["body"]["trace"]["exception"]["class"] == "ValueError"

    token = devserver.tokens["post_server_item"]
    for number in range(25):
        requests.post(devserver.api_url + "deploy/", timeout=TIMEOUT,
                      json={"environment": "p", "revision": f"r{number}"},
                      headers={"X-Rollbar-Access-Token": token})
    deploys = _result(devserver, "deploys/")
    assert (len(deploys["deploys"]), deploys["total_count"]) == (20, 25)
    assert deploys["deploys"][0]["revision"] == "r24", "newest first, as before paging"
    assert [d["revision"] for d in _result(devserver, "deploys/", page="2")["deploys"]] == [
        f"r{n}" for n in range(4, -1, -1)]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_refused_at_ingestion(devserver: DevServer, number: str) -> None:
    body = json.dumps(trace_payload(custom={"ratio": 0.5})).replace("0.5", number).encode()
    response = post_item(devserver, body)
    assert response.status_code == 422
    assert response.json()["err"] == 1 and "Invalid format." in response.json()["message"]
    assert devserver.occurrences() == []


def test_a_non_finite_number_stored_earlier_is_read_back_as_valid_json(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite3"
    payload = trace_payload(custom={"ratio": float("inf"), "missing": float("nan")})
    store = Store(str(db))
    try:
        store.add_occurrence(payload, uuid=payload["data"]["uuid"], environment="test",
                             fingerprint="f", title="t", level="error", timestamp=1700000000)
    finally:
        store.close()
    with DevServer(db=db) as server:
        response = api_get(server, "item/1/instances/")
        instances = json.loads(response.text, parse_constant=pytest.fail)["result"]["instances"]
        assert instances[0]["data"]["custom"] == {"ratio": "Infinity", "missing": "NaN"}
        page = requests.get(server.base_url + "occurrences/1", timeout=TIMEOUT)
        assert page.status_code == 200 and "Infinity" in page.text


def _raw(server: DevServer, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as raw:
        raw.sendall(request)
        raw.shutdown(socket.SHUT_WR)
        answer = b""
        for _ in range(100):
            chunk = raw.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def test_conflicting_content_length_headers_are_400(devserver: DevServer) -> None:
    token = devserver.tokens["post_server_item"].encode()
    body = json.dumps(trace_payload()).encode()
    head = (b"POST /api/1/item/ HTTP/1.1\r\nHost: x\r\nX-Rollbar-Access-Token: " + token
            + b"\r\nContent-Length: %d\r\nContent-Length: %d\r\n\r\n")
    answer = _raw(devserver, head % (len(body), len(body) - 1) + body)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"conflicting Content-Length headers" in answer
    assert devserver.occurrences() == []
    repeated = _raw(devserver, head % (len(body), len(body)) + body)
    assert repeated.startswith(b"HTTP/1.1 200 "), "the same length twice is unambiguous"


def _feed(server: DevServer, **params: str) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    headers = {"X-Rollbar-Access-Token": server.tokens["read"]}
    if "last_event_id" in params:
        headers["Last-Event-ID"] = params.pop("last_event_id")
    query = "&".join(f"{key}={value}" for key, value in params.items())
    connection.request("GET", "/api/1/feed?" + query, headers=headers)
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/event-stream; charset=utf-8"
    return response


def _next_events(response: http.client.HTTPResponse, count: int) -> List[Dict[str, Any]]:
    """The next `count` occurrence events (bounded by the socket timeout)."""
    events: List[Dict[str, Any]] = []
    fields: Dict[str, str] = {}
    for _ in range(1000):
        line = response.readline().decode().rstrip("\n")
        if line:
            name, _, value = line.partition(": ")
            fields[name] = value
            continue
        if fields.get("event") == "occurrence":
            event = json.loads(fields["data"])
            assert fields["id"] == str(event["id"])
            events.append(event)
            if len(events) == count:
                return events
        fields = {}
    raise AssertionError(f"only {len(events)} events")


def test_the_feed_streams_each_stored_occurrence(devserver: DevServer) -> None:
    post_item(devserver, trace_payload())
    post_item(devserver, trace_payload(uuid=None))
    post_item(devserver, message_payload("first message"))
    response = _feed(devserver, last="2")
    replayed = _next_events(response, 2)
    assert [(e["id"], e["counter"], e["number"]) for e in replayed] == [(2, 1, 2), (3, 2, 1)]
    generated = replayed[0]["uuid"]
    assert _result(devserver, "item/", uuid=generated)["id"] == 1
    assert replayed[0] == {
        "id": 2, "item_id": 1, "counter": 1, "number": 2, "total_occurrences": 2,
        "uuid": generated, "timestamp": 1700000000,
        "level": "error", "environment": "test", "title": "ValueError: bad value",
        "status": "active", "location": "app/work.py:42 in run"}
    post_item(devserver, trace_payload(uuid=None, environment="live"))
    (live,) = _next_events(response, 1)
    assert (live["id"], live["environment"], live["number"]) == (4, "live", 1)
    response.close()

    resumed = _feed(devserver, last_event_id="1")
    assert [e["id"] for e in _next_events(resumed, 3)] == [2, 3, 4]
    resumed.close()
    assert api_get(devserver, "feed", after="x").status_code == 400
    response = requests.get(devserver.api_url + "feed", timeout=TIMEOUT,
                            headers={"X-Rollbar-Access-Token": devserver.tokens["write"]})
    assert response.status_code == 403


def test_an_unusable_database_is_one_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "x.sqlite3"
    with pytest.raises(StoreError, match=r"cannot open the database .*x\.sqlite3: unable to open"):
        DevServer(db=missing).start()
    garbage = tmp_path / "notes.txt"
    garbage.write_bytes(b"these are my notes, not a database\n" * 100)
    with pytest.raises(StoreError, match="file is not a database"):
        DevServer(db=garbage).start()
    assert garbage.read_bytes().startswith(b"these are my notes"), "left untouched"


def test_a_database_from_before_the_summary_columns_is_upgraded(tmp_path: Path) -> None:
    """Filters, the item page and the feed read columns added after the first release."""
    db = tmp_path / "v1.sqlite3"
    with closing(sqlite3.connect(db)) as old:
        old.executescript("""
            CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, environment TEXT NOT NULL,
                fingerprint TEXT NOT NULL, title TEXT NOT NULL, level TEXT NOT NULL,
                status TEXT NOT NULL DEFAULT 'active', total_occurrences INTEGER NOT NULL,
                first_occurrence_timestamp INTEGER NOT NULL,
                last_occurrence_timestamp INTEGER NOT NULL, last_occurrence_id INTEGER,
                UNIQUE (environment, fingerprint));
            CREATE TABLE occurrences (id INTEGER PRIMARY KEY AUTOINCREMENT,
                item_id INTEGER NOT NULL, uuid TEXT NOT NULL UNIQUE,
                timestamp INTEGER NOT NULL, level TEXT NOT NULL, payload TEXT NOT NULL);
        """)
        payloads = [trace_payload(framework="flask"), trace_payload(framework="flask")]
        old.execute("INSERT INTO items VALUES (1, 'test', 'f', 'ValueError: bad value', "
                    "'error', 'active', 2, 1700000000, 1700000000, 2)")
        for number, payload in enumerate(payloads, 1):
            old.execute("INSERT INTO occurrences VALUES (?, 1, ?, 1700000000, 'error', ?)",
                        (number, payload["data"]["uuid"], json.dumps(payload)))
        old.commit()
    with DevServer(db=db) as server:
        assert [i["id"] for i in _result(server, "items/", framework="flask")["items"]] == [1]
        assert [i["id"] for i in _result(server, "items/", q="bad value")["items"]] == [1]
        page = requests.get(server.base_url + "items/1", timeout=TIMEOUT).text
        assert "app/work.py:42 in run" in page
        response = _feed(server, last="2")
        assert [e["number"] for e in _next_events(response, 2)] == [1, 2]
        response.close()
