"""Django through its test client (in this process), and the example project under
``runserver`` (in a subprocess)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Callable, Iterator, List

import pytest
import requests

import rollbar_notifier
from rollbar_notifier.devserver import DevServer
from rollbar_notifier.handler import RollbarHandler

from .served import EXAMPLES, WAIT, Served, environ, exception_class, free_port, python, stored
from .served import telemetry as telemetry_of

django = pytest.importorskip("django")
from django.conf import settings  # noqa: E402
from django.core.exceptions import PermissionDenied  # noqa: E402
from django.http import Http404, HttpRequest, HttpResponse  # noqa: E402
from django.test import AsyncClient, Client, override_settings  # noqa: E402
from django.urls import path  # noqa: E402

log = logging.getLogger("django_app")
log.setLevel(logging.INFO)


def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    log.info("loading order %s", order_id)
    raise LookupError(f"order {order_id}: customer missing")


def refund(request: HttpRequest) -> HttpResponse:
    log.info("refunding")
    try:
        raise ValueError("nothing to refund")
    except ValueError:
        log.exception("refund failed")
        raise


def missing(request: HttpRequest) -> HttpResponse:
    raise Http404("no such order")


def forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied("not yours")


urlpatterns = [
    path("orders/<int:order_id>/", order_detail),
    path("refund/", refund),
    path("missing/", missing),
    path("forbidden/", forbidden),
]


def signed_in(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[..., Any]:
    """Stands for ``AuthenticationMiddleware``: ``request.user`` from a header."""
    from django.contrib.auth.models import User

    def middleware(request: HttpRequest) -> HttpResponse:
        if request.path == "/broken-middleware/":
            raise OSError("session store unreachable")
        user_id = request.headers.get("X-User")
        if user_id:
            request.user = User(pk=int(user_id), username="ada", email="ada@example.org")
        return get_response(request)

    return middleware


@pytest.fixture(scope="module")
def django_devserver() -> Iterator[DevServer]:
    """One DevServer for the module: the default notifier is made once, from settings."""
    rollbar_notifier.close()
    with DevServer() as running:
        settings.configure(
            SECRET_KEY="test", ALLOWED_HOSTS=["testserver"], ROOT_URLCONF=__name__,
            INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"],
            MIDDLEWARE=["rollbar_notifier.integrations.django.RollbarMiddleware",
                        f"{__name__}.signed_in"],
            ROLLBAR={"access_token": running.tokens["post_server_item"],
                     "endpoint": running.api_url, "environment": "test",
                     "install_hooks": False, "include_request_body": True},
        )
        django.setup()
        yield running
        rollbar_notifier.close()


@pytest.fixture
def items(django_devserver: DevServer) -> Callable[[int], List[Any]]:
    """The items stored by the test using it: exactly ``count`` of them."""
    before = len(django_devserver.occurrences())

    def new(count: int) -> List[Any]:
        assert rollbar_notifier.flush(WAIT)
        occurrences = django_devserver.wait_for_occurrences(before + count, WAIT)
        assert len(occurrences) == before + count
        return [o["data"] for o in occurrences[before:]]

    return new


@pytest.fixture
def client(items: Any) -> Client:
    return Client(raise_request_exception=False)


def test_a_view_error_is_one_item_with_request_view_and_person_id(
        client: Client, items: Callable[[int], List[Any]]) -> None:
    client.cookies["sessionid"] = "abc123"
    answer = client.get("/orders/7/?expand=lines",
                        headers={"Authorization": "Bearer top-secret", "X-User": "42"})
    assert answer.status_code == 500
    (data,) = items(1)
    request = data["request"]
    assert request["url"] == "http://testserver/orders/7/?expand=lines"
    assert (request["method"], request["GET"]) == ("GET", {"expand": "lines"})
    assert request["headers"]["Authorization"] == request["headers"]["Cookie"] == "********"
    assert (request["route"], request["params"]) == ("orders/<int:order_id>/",
                                                     {"order_id": 7})
    assert (data["framework"], data["context"]) == ("django", f"{__name__}.order_detail")
    assert data["person"] == {"id": "42"}
    assert exception_class(data) == "LookupError"
    assert telemetry_of(data)[-1] == "loading order 7"


def test_logger_exception_then_raise_is_one_item(
        client: Client, items: Callable[[int], List[Any]]) -> None:
    handler = RollbarHandler()
    log.addHandler(handler)
    try:
        answer = client.post("/refund/", {"amount": 5, "password": "hunter2"},
                             content_type="application/json")
        assert answer.status_code == 500
        (data,) = items(1)
    finally:
        log.removeHandler(handler)
    assert data["body"]["trace"]["exception"]["description"] == "refund failed"
    assert (data["framework"], data["context"]) == ("django", f"{__name__}.refund")
    assert data["request"]["url"] == "http://testserver/refund/"
    assert json.loads(data["request"]["body"]) == {"amount": 5, "password": "********"}
    assert telemetry_of(data)[-1] == "refunding"


def test_the_middleware_in_an_async_chain(items: Callable[[int], List[Any]]) -> None:
    answer = asyncio.run(AsyncClient(raise_request_exception=False).get("/orders/8/"))
    assert answer.status_code == 500
    (data,) = items(1)
    assert (data["framework"], data["context"]) == ("django", f"{__name__}.order_detail")
    assert data["request"]["url"] == "http://testserver/orders/8/"
    assert telemetry_of(data)[-1] == "loading order 8"


def test_an_error_in_another_middleware_is_reported_from_the_signal(
        client: Client, items: Callable[[int], List[Any]]) -> None:
    assert client.get("/broken-middleware/").status_code == 500
    (data,) = items(1)
    assert exception_class(data) == "OSError"
    assert data["context"] == "GET /broken-middleware/"
    assert data["request"]["url"] == "http://testserver/broken-middleware/"


def test_not_found_and_permission_denied_are_answers_not_errors(
        client: Client, items: Callable[[int], List[Any]]) -> None:
    assert client.get("/missing/").status_code == 404
    assert client.get("/forbidden/").status_code == 403
    assert client.get("/orders/1/").status_code == 500
    (data,) = items(1)
    assert exception_class(data) == "LookupError"


def test_not_found_and_permission_denied_as_warnings_when_asked(
        django_devserver: DevServer, items: Callable[[int], List[Any]]) -> None:
    options = dict(settings.ROLLBAR, report_http404=True, report_permission_denied=True)
    with override_settings(ROLLBAR=options):
        client = Client(raise_request_exception=False)
        assert client.get("/missing/").status_code == 404
        assert client.get("/forbidden/").status_code == 403
    found = {exception_class(d): d["level"] for d in items(2)}
    assert found == {"Http404": "warning", "PermissionDenied": "warning"}


@pytest.mark.slow
def test_the_example_project_under_runserver(devserver: DevServer) -> None:
    port = free_port()
    with Served(python("manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"),
                cwd=EXAMPLES / "django_project", env=environ(devserver), port=port) as server:
        answer = requests.get(f"{server.url}/orders/7/?expand=lines", timeout=WAIT,
                              headers={"Authorization": "Bearer x", "Cookie": "sessionid=1"})
        assert answer.status_code == 500
        devserver.wait_for_occurrences(1, WAIT)
        server.stop()
    (data,) = stored(devserver, 1)
    request = data["request"]
    assert request["url"] == f"http://127.0.0.1:{port}/orders/7/?expand=lines"
    assert request["headers"]["Authorization"] == request["headers"]["Cookie"] == "********"
    assert (data["framework"], data["context"]) == ("django", "shop.views.order_detail")
    assert data["environment"] == "example"
    assert telemetry_of(data)[-1] == "loading order 7"
