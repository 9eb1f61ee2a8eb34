"""The web page: served without a token, escaped, and readable in real headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Dict

import pytest
import requests
from devserver_helpers import TIMEOUT, message_payload, post_item, trace_payload

from rollbar_notifier.devserver import DevServer
from rollbar_notifier.devserver.store import Store

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def _rich_payload() -> Dict[str, Any]:
    payload = trace_payload(
        title="<script>alert(1)</script> broke",
        request={"url": "http://shop.example/cart?id=7", "method": "POST",
                 "headers": {"User-Agent": "pytest"}},
        person={"id": "u-42", "username": "alice", "email": "alice@example.com"},
    )
    cause = {"frames": [{"filename": "app/db.py", "lineno": 7, "method": "connect",
                         "code": "socket.connect()"}],
             "exception": {"class": "ConnectionRefusedError", "message": "refused"}}
    payload["data"]["body"] = {
        "trace_chain": [payload["data"]["body"]["trace"], cause],
        "telemetry": [{"level": "info", "type": "log", "source": "server",
                       "timestamp_ms": 1700000000000, "body": {"message": "loading cart 7"}}],
    }
    return payload


def _get(server: DevServer, path: str) -> requests.Response:
    response = requests.get(server.base_url + path.lstrip("/"), timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    return response


def test_pages_show_items_occurrences_and_deploys(devserver: DevServer) -> None:
    post_item(devserver, _rich_payload())
    post_item(devserver, message_payload("disk & memory low", level="warning"))
    requests.post(devserver.api_url + "deploy/", timeout=TIMEOUT,
                  json={"environment": "prod", "revision": "cafe123", "comment": "<b>x</b>"},
                  headers={"X-Rollbar-Access-Token": devserver.tokens["post_server_item"]})

    index = _get(devserver, "/").text
    assert 'data-after="2"' in index, "the list follows the feed from the last occurrence"
    assert "&lt;script&gt;alert(1)&lt;/script&gt; broke" in index
    assert "<script>" not in index
    assert "disk &amp; memory low" in index
    assert "warning" in index

    item_id = devserver.items()[0]["id"]
    item_page = _get(devserver, f"/items/{item_id}").text
    assert 'href="/occurrences/1"' in item_page

    occurrence = _get(devserver, "/occurrences/1").text
    for text in ('File "app/work.py", line 42, in run', "raise ValueError(&#x27;bad value&#x27;)",
                 "ValueError", "Caused by", "ConnectionRefusedError", "loading cart 7",
                 "http://shop.example/cart?id=7", "alice@example.com", "u-42",
                 "   41     x = 1", "locals"):
        assert text in occurrence, text
    assert "<script>" not in occurrence

    deploys = _get(devserver, "/deploys").text
    assert "cafe123" in deploys and "&lt;b&gt;x&lt;/b&gt;" in deploys


def test_page_with_no_items_and_unknown_pages(devserver: DevServer) -> None:
    assert "none yet" in _get(devserver, "/").text
    for path in ("items/999", "occurrences/999", "nothing"):
        response = requests.get(devserver.base_url + path, timeout=TIMEOUT)
        assert response.status_code == 404
        assert response.json()["err"] == 1


def test_times_no_date_can_show_are_shown_raw(tmp_path: Path) -> None:
    """A database from before times were range-checked may hold any number."""
    db = tmp_path / "old.sqlite3"
    store = Store(str(db))
    try:
        for number, timestamp in enumerate((10**17, -10**15)):
            payload = trace_payload()
            payload["data"]["body"]["telemetry"] = [
                {"level": "info", "type": "log", "source": "server", "timestamp_ms": 1e30,
                 "body": {"message": "far future"}}]
            store.add_occurrence(payload, uuid=payload["data"]["uuid"], environment="old",
                                 fingerprint=f"f{number}", title=f"stored at {timestamp}",
                                 level="error", timestamp=timestamp)
    finally:
        store.close()
    with DevServer(db=db) as server:
        index = _get(server, "/").text
        assert "100000000000000000" in index and "-1000000000000000" in index
        for item in server.items():
            page = _get(server, f"/items/{item['id']}").text
            assert str(item["last_occurrence_timestamp"]) in page
        occurrence = _get(server, "/occurrences/1").text
        assert "1e+30" in occurrence and "far future" in occurrence


@pytest.mark.browser
def test_headless_chromium_shows_the_item_and_its_traceback(devserver: DevServer) -> None:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    post_item(devserver, _rich_payload())
    profile = tempfile.mkdtemp(prefix="devserver-chromium-")
    try:
        def dom(path: str) -> str:
            result = subprocess.run(
                [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                 "--dump-dom", devserver.base_url + path],
                capture_output=True, text=True, timeout=60, check=True,
            )
            return result.stdout

        index = dom("")
        assert "&lt;script&gt;alert(1)&lt;/script&gt; broke" in index
        occurrence = dom("occurrences/1")
        assert "app/work.py" in occurrence and "in run" in occurrence
        assert "ValueError" in occurrence and "ConnectionRefusedError" in occurrence
    finally:
        shutil.rmtree(profile, ignore_errors=True)
