"""The page as a developer uses it, in real headless Chromium: search, filters, paging,
status buttons, live updates and long values, with screenshots saved to look at."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import requests
from browser import CHROMIUM, Browser, Screenshots
from devserver_helpers import TIMEOUT, message_payload, post_item, trace_payload

from rollbar_notifier.devserver import DevServer
from rollbar_notifier.devserver.store import Store

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason=f"chromium is not installed at {CHROMIUM} "
                              "(apt-get install chromium)"),
]

TITLES = ("[...document.querySelectorAll('#live table a[href^=\"/items/\"]')]"
          ".map(a => a.textContent)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    running = Browser()
    try:
        yield running
    finally:
        running.close()


def _titles(browser: Browser) -> List[str]:
    titles: List[str] = browser.evaluate(TITLES)
    return titles


def _patch(server: DevServer, item_id: int, status: str) -> None:
    response = requests.patch(f"{server.api_url}item/{item_id}", json={"status": status},
                              headers={"X-Rollbar-Access-Token": server.tokens["write"]},
                              timeout=TIMEOUT)
    assert response.status_code == 200


def _choose(browser: Browser, name: str, value: str) -> None:
    """Pick an option as a person does; the page applies a filter on change."""
    browser.evaluate(f"(() => {{ const s = document.getElementById({json.dumps(name)});"
                     f"s.value = {json.dumps(value)};"
                     "s.dispatchEvent(new Event('change', {bubbles: true})); })()")
    browser.wait_for_load(f"{name}={value}")


def test_search_and_each_filter_narrow_the_list(
    devserver: DevServer, browser: Browser, screenshots: Screenshots
) -> None:
    checkout = trace_payload(environment="production", framework="flask", fingerprint="a",
                             title="Checkout broke")
    checkout["data"]["body"]["trace"]["exception"]["message"] = "card declined by the bank"
    post_item(devserver, checkout)
    post_item(devserver, trace_payload(environment="staging", level="critical",
                                       framework="django", fingerprint="b",
                                       title="KeyError: user id"))
    post_item(devserver, message_payload("disk almost full", level="warning",
                                         environment="production", fingerprint="c"))
    post_item(devserver, trace_payload(environment="production", fingerprint="d",
                                       title="Old timeout"))
    _patch(devserver, 4, "resolved")

    browser.open(devserver.base_url)
    assert sorted(_titles(browser)) == ["Checkout broke", "KeyError: user id", "Old timeout",
                                        "disk almost full"]
    assert browser.evaluate("document.getElementById('count').textContent") == "4 items"
    browser.type_text("#q", "declined")
    browser.press_enter()
    browser.wait_for_load("q=declined")
    assert _titles(browser) == ["Checkout broke"], "the message matches, not just the title"
    assert "1 of 4 items match" in browser.evaluate("document.getElementById('count').textContent")
    screenshots_path = screenshots.path("items-searched")
    browser.screenshot(screenshots_path)

    for name, value, expected in [
        ("environment", "staging", ["KeyError: user id"]),
        ("level", "warning", ["disk almost full"]),
        ("status", "resolved", ["Old timeout"]),
        ("framework", "django", ["KeyError: user id"]),
    ]:
        browser.open(devserver.base_url)
        _choose(browser, name, value)
        assert _titles(browser) == expected, (name, value)
        assert browser.evaluate(f"document.getElementById({json.dumps(name)}).value") == value

    browser.open(devserver.base_url + "?environment=production&level=error")
    assert sorted(_titles(browser)) == ["Checkout broke", "Old timeout"], "filters combine"


def test_paging_walks_250_items(
    devserver: DevServer, browser: Browser, screenshots: Screenshots
) -> None:
    with requests.Session() as session:
        for number in range(250):
            payload = message_payload(f"job {number:03d} of the nightly batch",
                                      fingerprint=f"job-{number}", timestamp=1700000000 + number)
            assert post_item(devserver, payload, session=session).status_code == 200
    browser.open(devserver.base_url)
    assert browser.evaluate("document.getElementById('count').textContent") == (
        "250 items · showing 1\N{EN DASH}50")
    browser.screenshot(screenshots.path("items-page-1"))
    seen: List[str] = []
    pages = 0
    for pages in range(1, 11):
        seen += _titles(browser)
        if not browser.evaluate("!!document.querySelector('a[rel=next]')"):
            break
        browser.evaluate("document.querySelector('a[rel=next]').click()")
        browser.wait_for_load(f"page={pages + 1}")
    assert pages == 5
    assert len(seen) == len(set(seen)) == 250
    assert seen[0] == "job 249 of the nightly batch", "most recently seen first"
    assert seen[-1] == "job 000 of the nightly batch"


def test_resolve_then_a_new_occurrence_reopens_it_live(
    devserver: DevServer, browser: Browser
) -> None:
    payload = trace_payload()
    post_item(devserver, payload)
    browser.open(devserver.base_url + "items/1")
    browser.wait_for("document.querySelector('header .live').classList.contains('on')")
    status = "document.querySelector('#live .status').textContent"
    assert browser.evaluate(status) == "active"
    browser.evaluate("document.querySelector('button[data-status=resolved]').click()")
    browser.wait_for(f"{status} === 'resolved'")
    assert devserver.items()[0]["status"] == "resolved"

    post_item(devserver, trace_payload(uuid=None))
    browser.wait_for(f"{status} === 'active'")  # no reload: the page follows the feed
    assert "2 occurrences" in browser.evaluate("document.querySelector('#live').textContent")
    assert browser.evaluate("document.querySelectorAll('#live table tr').length") == 3


def _occurrence_with_a_huge_local(db: Path) -> Dict[str, Any]:
    """Only another tool could store this: the API refuses bodies over 128 KB."""
    payload = trace_payload(
        request={"url": "http://shop.example/cart/" + "x" * 3000, "method": "GET",
                 "headers": {"User-Agent": "pytest"}},
        person={"id": "u-42", "username": "alice", "email": "alice@example.com"})
    frames = payload["data"]["body"]["trace"]["frames"]
    frames[0]["locals"] = {"__name__": "__main__", "__builtins__": "<module 'builtins'>",
                           "os": "<module 'os' (frozen)>", "settings": {"debug": True}}
    frames[1]["locals"] = {"x": "1", "blob": "ab" * 2_500_000}
    payload["data"]["body"]["trace"]["omitted_frames"] = 988
    payload["data"]["notifier"]["diagnostic"] = {
        "truncated": {"original_bytes": 900000, "steps": ["frames_10_40", "frames_2_10"]}}
    payload["data"]["body"]["telemetry"] = [
        {"level": "info", "type": "log", "source": "server", "timestamp_ms": 1700000000123,
         "body": {"message": "loading cart 7", "logger": "shop.cart"}}]
    store = Store(str(db))
    try:
        store.add_occurrence(payload, uuid=payload["data"]["uuid"], environment="test",
                             fingerprint="huge", title="ValueError: bad value", level="error",
                             timestamp=int(time.time()) - 120)
    finally:
        store.close()
    return payload


def test_a_5_mb_local_is_wrapped_and_capped_within_the_viewport(
    tmp_path: Path, browser: Browser, screenshots: Screenshots
) -> None:
    db = tmp_path / "huge.sqlite3"
    _occurrence_with_a_huge_local(db)
    with DevServer(db=db) as server:
        browser.open(server.base_url + "occurrences/1")
        assert browser.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert browser.evaluate(
            "getComputedStyle(document.querySelector('header')).backgroundColor"
        ) == "rgb(29, 36, 48)", "the stylesheet loads under the Content-Security-Policy"
        assert browser.evaluate("document.querySelector('.frame.innermost details').open")
        assert not browser.evaluate("document.querySelector('.frame details').open")
        cell = browser.evaluate(
            "[...document.querySelectorAll('.frame.innermost td')]"
            ".find(td => td.textContent.startsWith('abab')).textContent")
        assert len(cell) < 1200 and cell.endswith("show all 5,000,000 characters")
        link = browser.evaluate("document.querySelector('.frame.innermost a.more').href")
        assert len(requests.get(link, timeout=TIMEOUT).text) == 5_000_000
        assert browser.evaluate("document.querySelector('.omitted').textContent").startswith(
            "988 frames omitted")
        hidden = browser.evaluate("document.querySelector('.hidden-names').textContent")
        assert hidden == "not shown: __name__, __builtins__, os"
        assert browser.evaluate("document.body.textContent").count("loading cart 7") == 1
        browser.screenshot(screenshots.path("occurrence-with-5mb-local"), full_page=True)
