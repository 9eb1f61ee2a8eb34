"""The FastAPI example served by uvicorn in a subprocess, with uvicorn's own logging."""

from __future__ import annotations

import signal

import pytest
import requests

from rollbar_notifier.devserver import DevServer

from .served import EXAMPLES, WAIT, Served, environ, free_port, python, stored, telemetry

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
websockets = pytest.importorskip("websockets")
from websockets.sync.client import connect  # noqa: E402


@pytest.mark.slow
def test_endpoint_and_websocket_errors_under_uvicorn(devserver: DevServer) -> None:
    port = free_port()
    command = python("-m", "uvicorn", "fastapi_app:app", "--host", "127.0.0.1",
                     "--port", str(port))
    with Served(command, cwd=EXAMPLES, env=environ(devserver), port=port) as server:
        answer = requests.get(f"{server.url}/orders/7?expand=lines", timeout=WAIT,
                              headers={"Authorization": "Bearer top-secret",
                                       "Cookie": "sessionid=abc123"})
        assert answer.status_code == 500
        devserver.wait_for_occurrences(1, WAIT)
        with connect(f"ws://127.0.0.1:{port}/live/blue", open_timeout=WAIT) as socket:
            with pytest.raises(websockets.ConnectionClosed):
                socket.recv(timeout=WAIT)
        devserver.wait_for_occurrences(2, WAIT)
        assert server.stop() in (0, -signal.SIGTERM), "a graceful stop"
        assert "Exception in ASGI application" in server.output()
    http, websocket = stored(devserver, 2)

    request = http["request"]
    assert request["url"] == f"http://127.0.0.1:{port}/orders/7?expand=lines"
    assert (request["method"], request["GET"]) == ("GET", {"expand": "lines"})
    assert request["headers"]["Authorization"] == request["headers"]["Cookie"] == "********"
    assert (http["framework"], http["context"]) == ("fastapi", "GET /orders/{order_id}")
    assert http["body"]["trace"]["exception"]["class"] == "LookupError"
    own = ["loading order 7", "order 7 has no customer"]
    messages = telemetry(http)
    assert [m for m in messages if m in own] == own
    assert messages.index(own[0]) == len(messages) - 3, "the request's records, then its 500"
    assert "watching room blue" not in messages

    assert websocket["request"]["url"] == f"ws://127.0.0.1:{port}/live/blue"
    assert (websocket["framework"], websocket["context"]) == ("fastapi",
                                                              "WEBSOCKET /live/{room}")
    assert websocket["body"]["trace"]["exception"]["class"] == "RuntimeError"
    assert telemetry(websocket)[-1] == "watching room blue"
    assert not set(own) & set(telemetry(websocket))
