"""The page's HTML without a browser: headers, times, paging, capped values and what is
hidden, checked on the markup a browser receives."""

from __future__ import annotations

import re
import time
from typing import Any, Dict

import requests
from devserver_helpers import TIMEOUT, message_payload, post_item, trace_payload

from rollbar_notifier.devserver import DevServer
from rollbar_notifier.devserver.markup import CONTENT_SECURITY_POLICY


def _get(server: DevServer, path: str, status: int = 200) -> requests.Response:
    response = requests.get(server.base_url + path.lstrip("/"), timeout=TIMEOUT)
    assert response.status_code == status, response.text[:300]
    return response


def test_every_page_and_asset_carries_the_security_headers(devserver: DevServer) -> None:
    post_item(devserver, trace_payload())
    paths = ["/", "/items/1", "/occurrences/1", "/occurrences/1/value?at=/data", "/deploys",
             "/assets/devserver.css", "/assets/devserver.js", "/?page=2", "/items/99"]
    for path in paths:
        response = requests.get(devserver.base_url + path.lstrip("/"), timeout=TIMEOUT)
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    head = requests.head(devserver.base_url, timeout=TIMEOUT)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    index = _get(devserver, "/").text
    assert "<style" not in index and re.search(r"<script(?! src=)", index) is None, (
        "nothing inline that the policy would block")


def test_first_and_last_seen_are_relative_with_the_exact_time_on_hover(
    devserver: DevServer
) -> None:
    now = int(time.time())
    post_item(devserver, trace_payload(timestamp=now - 3 * 3600))
    post_item(devserver, trace_payload(uuid=None, timestamp=now - 180))
    index = _get(devserver, "/").text
    exact = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now - 180))
    assert re.search(rf'<time data-ts="{now - 180}" title="{exact} [^"]*">3 min ago</time>',
                     index)
    assert ">3 h ago</time>" in index
    item = _get(devserver, "/items/1").text
    assert "first seen <time" in item and "last seen <time" in item


def test_item_page_pages_its_occurrences_newest_first(devserver: DevServer) -> None:
    for number in range(30):
        post_item(devserver, trace_payload(uuid=None, timestamp=1700000000 + number,
                                           code_version=f"v{number}"))
    first = _get(devserver, "/items/1").text
    assert "30 occurrences" in first
    assert first.count('href="/occurrences/') == 25
    assert first.index(">v29<") < first.index(">v5<"), "newest first"
    assert 'href="/items/1?page=2" rel="next"' in first
    second = _get(devserver, "/items/1?page=2").text
    assert second.count('href="/occurrences/') == 5 and ">v0<" in second
    assert 'rel="prev"' in second and 'rel="next"' not in second
    assert _get(devserver, "/items/1?page=zero", status=400).json()["err"] == 1


def test_filters_stay_in_the_links_and_are_escaped(devserver: DevServer) -> None:
    for number in range(60):
        post_item(devserver, message_payload(f"job {number}", fingerprint=f"j{number}",
                                             environment="prod"))
    page = _get(devserver, '/?environment=prod&q="><script>x</script>').text
    assert "<script>x" not in page
    assert 'value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;"' in page
    page = _get(devserver, "/?environment=prod&level=info").text
    assert 'href="/?environment=prod&amp;level=info&amp;page=2" rel="next"' in page
    assert '<option value="prod" selected>prod</option>' in page


def _payload_with_odd_keys() -> Dict[str, Any]:
    payload = trace_payload(custom={"a/b": "slash", "c~d": "tilde", "long": "z" * 1500})
    payload["data"]["body"]["telemetry"] = [
        {"level": "warning", "type": "log", "source": "server", "timestamp_ms": 1700000000042,
         "body": {"message": "retrying", "logger": "shop.payments"}}]
    return payload


def test_long_values_link_to_their_whole_text(devserver: DevServer) -> None:
    post_item(devserver, _payload_with_odd_keys())
    page = _get(devserver, "/occurrences/1").text
    link = re.search(r'<a class="more" href="(/occurrences/1/value\?at=[^"]+)">show all '
                     r"1,500 characters</a>", page)
    assert link is not None
    assert _get(devserver, link[1].replace("&amp;", "&")).text == "z" * 1500
    assert _get(devserver, "/occurrences/1/value?at=/data/custom/a~1b").text == "slash"
    assert _get(devserver, "/occurrences/1/value?at=/data/custom/c~0d").text == "tilde"
    assert _get(devserver, "/occurrences/1/value?at=/data/body/trace/frames/1/lineno").text \
        == "42"
    assert _get(devserver, "/occurrences/1/value?at=/data/nothing", status=404).json() == {
        "err": 1, "message": "no such value in this occurrence"}


def test_telemetry_shows_milliseconds_and_the_logger(devserver: DevServer) -> None:
    post_item(devserver, _payload_with_odd_keys())
    page = _get(devserver, "/occurrences/1").text
    clock = time.strftime("%H:%M:%S", time.localtime(1700000000)) + ".042"
    assert re.search(rf"<td><span title=\"[^\"]*\">{clock}</span></td><td><span "
                     r'class="warning">warning</span></td><td>shop.payments</td>', page)


def test_the_page_carries_the_read_and_write_tokens_only(devserver: DevServer) -> None:
    post_item(devserver, trace_payload())
    item = _get(devserver, "/items/1").text
    assert f'name="rollbar-read-token" content="{devserver.tokens["read"]}"' in item
    assert f'name="rollbar-write-token" content="{devserver.tokens["write"]}"' in item
    assert devserver.tokens["post_server_item"] not in item
    assert '<button type="button" data-item="1" data-status="resolved">Resolve</button>' in item


def test_without_a_write_token_the_buttons_say_why_they_are_off() -> None:
    with DevServer(tokens={"poster": ["post_server_item", "read"]}) as server:
        post_item(server, trace_payload(), token="poster")
        item = _get(server, "/items/1").text
        assert "rollbar-write-token" not in item
        assert ('data-status="resolved" disabled title="start the devserver with a token '
                'that has the write scope">Resolve</button>') in item
