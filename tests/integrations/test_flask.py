"""Flask through its test client, with ``init_app`` and Flask-Login."""

from __future__ import annotations

import json
import logging
from typing import Any, Iterator, Optional

import pytest
import requests

from rollbar_notifier.devserver import DevServer
from rollbar_notifier.handler import RollbarHandler
from rollbar_notifier.notifier import Notifier

from .served import (
    EXAMPLES,
    WAIT,
    Served,
    environ,
    exception_class,
    free_port,
    python,
    stored,
    telemetry,
)

flask = pytest.importorskip("flask")
flask_login = pytest.importorskip("flask_login")
log = logging.getLogger("flask_app")
log.setLevel(logging.INFO)


class User(flask_login.UserMixin):  # type: ignore[misc]
    def __init__(self, user_id: str) -> None:
        self.id = user_id
        self.username = "ada"
        self.email = "ada@example.org"


def make_app(notifier: Notifier) -> Any:
    app = flask.Flask("shop")
    app.secret_key = "test"
    login = flask_login.LoginManager(app)

    @login.request_loader  # type: ignore[misc]
    def from_header(request: Any) -> Optional[User]:
        user_id = request.headers.get("X-User")
        return User(user_id) if user_id else None

    @app.get("/orders/<int:order_id>")
    def order(order_id: int) -> str:
        log.info("loading order %s", order_id)
        raise LookupError(f"order {order_id}: customer missing")

    @app.post("/orders")
    def create() -> str:
        flask.request.get_json()
        log.info("creating an order")
        try:
            raise ValueError("no lines")
        except ValueError:
            log.exception("order refused")
            raise

    from rollbar_notifier.integrations.flask import init_app

    init_app(app, notifier)
    init_app(app, notifier)  # a second call changes nothing
    return app


@pytest.fixture
def client(notifier: Notifier) -> Iterator[Any]:
    yield make_app(notifier).test_client()


def test_a_view_error_is_one_item_with_request_rule_and_person(
        client: Any, notifier: Notifier, devserver: DevServer) -> None:
    client.set_cookie("sessionid", "abc123")
    answer = client.get("/orders/7?expand=lines",
                        headers={"Authorization": "Bearer top-secret", "X-User": "42"})
    assert answer.status_code == 500
    assert notifier.flush(WAIT)
    (data,) = stored(devserver, 1)
    request = data["request"]
    assert request["url"] == "http://localhost/orders/7?expand=lines"
    assert (request["method"], request["GET"]) == ("GET", {"expand": "lines"})
    assert request["headers"]["Authorization"] == request["headers"]["Cookie"] == "********"
    assert (request["route"], request["params"]) == ("/orders/<int:order_id>", {"order_id": 7})
    assert (data["framework"], data["context"]) == ("flask", "/orders/<int:order_id>")
    assert data["person"] == {"id": "42"}
    assert exception_class(data) == "LookupError"
    assert telemetry(data)[-1] == "loading order 7"


def test_logger_exception_then_raise_is_one_item_with_the_rule(
        notifier_on: Any, devserver: DevServer) -> None:
    notifier = notifier_on(include_request_body=True, capture_username=True)
    handler = RollbarHandler(notifier=notifier)
    log.addHandler(handler)
    try:
        answer = make_app(notifier).test_client().post(
            "/orders", json={"card_number": "4111", "lines": []}, headers={"X-User": "42"})
        assert answer.status_code == 500
        assert notifier.flush(WAIT)
    finally:
        log.removeHandler(handler)
    (data,) = stored(devserver, 1)
    assert data["body"]["trace"]["exception"]["description"] == "order refused"
    assert data["context"] == "/orders"
    assert json.loads(data["request"]["body"]) == {"card_number": "********", "lines": []}
    assert data["person"] == {"id": "42", "username": "ada"}
    assert telemetry(data)[-1] == "creating an order"


@pytest.mark.slow
def test_the_example_under_flask_run(devserver: DevServer) -> None:
    port = free_port()
    command = python("-m", "flask", "--app", "flask_app", "run", "--port", str(port))
    with Served(command, cwd=EXAMPLES, env=environ(devserver), port=port) as server:
        answer = requests.get(f"{server.url}/orders/7?expand=lines", timeout=WAIT,
                              headers={"Authorization": "Bearer x", "Cookie": "sessionid=1"})
        assert answer.status_code == 500
        devserver.wait_for_occurrences(1, WAIT)
        server.stop()
    (data,) = stored(devserver, 1)
    assert data["request"]["url"] == f"http://127.0.0.1:{port}/orders/7?expand=lines"
    assert data["request"]["headers"]["Authorization"] == "********"
    assert (data["framework"], data["context"]) == ("flask", "/orders/<int:order_id>")
    assert telemetry(data)[-1] == "loading order 7"
