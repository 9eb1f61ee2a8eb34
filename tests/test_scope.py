"""Scopes: nesting, the setters, the values items take from them, and isolation between
concurrent requests on threads and asyncio tasks (items on a DevServer)."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any, Dict, Iterator, Optional

import pytest
from delivered import APP_LOG, WAIT, delivered, notifier_for, telemetry_messages

from rollbar_notifier import scope, set_context, set_extra, set_person
from rollbar_notifier.devserver import DevServer
from rollbar_notifier.notifier import Notifier
from rollbar_notifier.scope import current_scope, set_framework, set_request


@pytest.fixture
def notifier(devserver: DevServer) -> Iterator[Notifier]:
    with notifier_for(devserver) as made:
        yield made


def in_fresh_context(function: Any) -> Any:
    """Run ``function`` in a copy of this context, so setters used outside any block do
    not stay with the test runner's thread."""
    return contextvars.copy_context().run(function)


def test_blocks_nest_merge_and_restore() -> None:
    def run() -> None:
        with scope(person={"id": 1}, extra={"a": 1, "b": 1}, context="outer") as outer:
            with scope(person={"id": 2}, extra={"b": 2}, framework="flask") as inner:
                assert current_scope() is inner
                assert inner.person == {"id": 2} and inner.context == "outer"
                assert dict(inner.extra) == {"a": 1, "b": 2} and inner.framework == "flask"
                assert inner.owner is outer.owner is not None
            assert current_scope() is outer
        assert current_scope().owner is None and current_scope().person is None

    in_fresh_context(run)


def test_setters_end_with_their_block_and_outside_stay_with_the_context() -> None:
    def run() -> None:
        set_person(7, username="ann", email="ann@example.com")
        with scope(context="GET /"):
            set_person(8)
            set_extra("cart", 3)
            set_context("GET /cart")
            set_request({"url": "http://shop.test/cart", "method": "GET"})
            set_framework("django")
            now = current_scope()
            assert (now.person, dict(now.extra), now.context, now.framework) == (
                {"id": 8}, {"cart": 3}, "GET /cart", "django")
            assert now.request == {"url": "http://shop.test/cart", "method": "GET"}
        after = current_scope()
        assert after.person == {"id": 7, "username": "ann", "email": "ann@example.com"}
        assert (after.context, dict(after.extra), after.request, after.owner) == (
            None, {}, None, None)
        set_person(None)
        assert current_scope().person is None

    in_fresh_context(run)
    assert current_scope().person is None


def test_a_report_takes_the_scope_under_its_own_fields(devserver: DevServer) -> None:
    with notifier_for(devserver, framework="static") as notifier:
        with scope(person={"id": "ann"}, request={"url": "http://shop.test/o/1", "method": "GET"},
                   context="GET /o/{id}", extra={"order": 1, "shared": "scope"},
                   framework="flask"):
            from_scope = notifier.report_message("in scope", extra={"shared": "report"})
            explicit = notifier.report_message("explicit", context="mine",
                                               person={"id": "bob"}, request={"url": "u"})
        outside = notifier.report_message("outside")
        items = delivered(notifier, devserver, 3)
    item = items[from_scope]
    assert item["person"] == {"id": "ann"} and item["context"] == "GET /o/{id}"
    assert item["request"] == {"url": "http://shop.test/o/1", "method": "GET"}
    assert (item["custom"]["order"], item["custom"]["shared"]) == (1, "report")
    assert item["framework"] == "flask"
    mine = items[explicit]
    assert (mine["context"], mine["person"], mine["request"]) == ("mine", {"id": "bob"},
                                                                  {"url": "u"})
    assert mine["custom"]["shared"] == "scope"
    plain = items[outside]
    assert plain["framework"] == "static"
    assert not {"person", "request", "context"} & set(plain)
    assert "order" not in plain["custom"]


def test_an_exception_reported_after_leaving_its_block_keeps_its_data(
        notifier: Notifier, devserver: DevServer) -> None:
    try:
        with scope(person={"id": "ann"}, context="POST /pay"):
            with scope(extra={"step": "charge"}):
                raise ValueError("card declined")
    except ValueError as exc:
        left = exc
    left_uuid = notifier.report_exception(left)
    assert current_scope().person is None
    reused = ValueError("reused")
    try:
        with scope(person={"id": "ann"}):
            raise reused
    except ValueError:
        pass
    with scope(person={"id": "bob"}):
        reused_uuid = notifier.report_exception(reused)
    items = delivered(notifier, devserver, 2)
    item = items[left_uuid]
    assert (item["person"], item["context"], item["custom"]["step"]) == (
        {"id": "ann"}, "POST /pay", "charge")
    assert items[reused_uuid]["person"] == {"id": "bob"}, "another request's data leaked"


def test_two_requests_on_threads_never_see_each_other(
        notifier: Notifier, devserver: DevServer) -> None:
    APP_LOG.info("before any request")
    both = threading.Barrier(2, timeout=WAIT)
    uuids: Dict[str, Optional[str]] = {}

    def request(name: str) -> None:
        with scope(person={"id": name}, request={"url": f"http://shop.test/{name}"},
                   context=f"GET /{name}"):
            APP_LOG.info("%s started", name)
            both.wait()
            set_extra("user", name)
            APP_LOG.info("%s working", name)
            both.wait()
            uuids[name] = notifier.report_message(f"{name} failed", level="error")

    threads = [threading.Thread(target=contextvars.copy_context().run, args=(request, name))
               for name in ("ann", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    items = delivered(notifier, devserver, 2)
    for name, other in (("ann", "bob"), ("bob", "ann")):
        item = items[uuids[name]]
        assert item["person"] == {"id": name}
        assert item["request"]["url"] == f"http://shop.test/{name}"
        assert (item["context"], item["custom"]["user"]) == (f"GET /{name}", name)
        messages = telemetry_messages(item)
        assert messages[-3:] == ["before any request", f"{name} started", f"{name} working"]
        assert not [m for m in messages if m.startswith(other)]


def test_two_requests_on_asyncio_tasks_never_see_each_other(
        notifier: Notifier, devserver: DevServer) -> None:
    uuids: Dict[str, Optional[str]] = {}

    async def request(name: str, mine: asyncio.Event, theirs: asyncio.Event) -> None:
        with scope(request={"url": f"http://shop.test/{name}"}):
            set_person(name)
            APP_LOG.info("%s started", name)
            mine.set()
            await asyncio.wait_for(theirs.wait(), WAIT)
            APP_LOG.info("%s working", name)
            await asyncio.sleep(0)
            uuids[name] = notifier.report_message(f"{name} failed", level="error")

    async def serve() -> None:
        ann, bob = asyncio.Event(), asyncio.Event()
        await asyncio.gather(request("ann", ann, bob), request("bob", bob, ann))

    asyncio.run(serve())
    items = delivered(notifier, devserver, 2)
    for name, other in (("ann", "bob"), ("bob", "ann")):
        item = items[uuids[name]]
        assert (item["person"], item["request"]["url"]) == ({"id": name},
                                                            f"http://shop.test/{name}")
        messages = telemetry_messages(item)
        assert messages[-2:] == [f"{name} started", f"{name} working"]
        assert not [m for m in messages if m.startswith(other)]
