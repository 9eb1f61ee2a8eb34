"""A bare WSGI application under ``wsgiref``, wrapped in the WSGI middleware."""

from __future__ import annotations

import json
import logging
import threading
from socketserver import ThreadingMixIn
from typing import Any, Callable, Dict, Iterable, Iterator, List
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests

from rollbar_notifier.devserver import DevServer
from rollbar_notifier.handler import RollbarHandler
from rollbar_notifier.integrations.wsgi import RollbarMiddleware
from rollbar_notifier.notifier import Notifier

from .served import WAIT, exception_class, stored, telemetry

log = logging.getLogger("wsgi_app")
log.setLevel(logging.INFO)
SECRET_HEADERS = {"Authorization": "Bearer top-secret", "Cookie": "sessionid=abc123"}


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    if path.startswith("/orders/"):
        log.info("loading %s", path)
        log.warning("no customer for %s", path)
        raise LookupError(f"{path}: customer missing")
    if path == "/logged":
        try:
            {}["customer"]
        except KeyError:
            log.exception("lookup failed")
            raise
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return streamed()
    if path == "/echo":
        environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        raise ValueError("echo refused")
    start_response("204 No Content", [])
    return []


def streamed() -> Iterator[bytes]:
    yield b"first part"
    log.info("streaming failed half way")
    raise BrokenPipeError("upstream went away")


@pytest.fixture
def serve(notifier: Notifier) -> Iterator[Callable[..., str]]:
    servers: List[WSGIServer] = []

    def start(application: Any = app) -> str:
        server = make_server("127.0.0.1", 0, RollbarMiddleware(application, notifier),
                             server_class=ThreadingServer, handler_class=QuietHandler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_an_escaping_exception_is_one_item_with_its_request(
        serve: Callable[..., str], notifier: Notifier, devserver: DevServer) -> None:
    url = serve()
    answer = requests.get(f"{url}/orders/7?expand=lines", headers=SECRET_HEADERS, timeout=WAIT)
    assert answer.status_code == 500
    assert notifier.flush(WAIT)
    (data,) = stored(devserver, 1)
    request = data["request"]
    assert request["url"] == f"{url}/orders/7?expand=lines"
    assert request["method"] == "GET" and request["GET"] == {"expand": "lines"}
    assert request["headers"]["Authorization"] == request["headers"]["Cookie"] == "********"
    assert request["user_ip"] == "127.0.0.0"
    assert (data["framework"], data["context"]) == ("wsgi", "GET /orders/7")
    assert exception_class(data) == "LookupError"
    assert telemetry(data)[-2:] == ["loading /orders/7", "no customer for /orders/7"]


def test_logger_exception_then_raise_is_one_item(
        serve: Callable[..., str], notifier: Notifier, devserver: DevServer) -> None:
    handler = RollbarHandler(notifier=notifier)
    log.addHandler(handler)
    try:
        url = serve()
        assert requests.get(f"{url}/logged", timeout=WAIT).status_code == 500
        assert notifier.flush(WAIT)
    finally:
        log.removeHandler(handler)
    (data,) = stored(devserver, 1)
    assert data["body"]["trace"]["exception"]["description"] == "lookup failed"
    assert data["request"]["url"] == f"{url}/logged"
    assert data["framework"] == "wsgi"


def test_an_error_while_streaming_the_response_is_reported(
        serve: Callable[..., str], notifier: Notifier, devserver: DevServer) -> None:
    url = serve()
    assert requests.get(f"{url}/stream", timeout=WAIT).content == b"first part"
    assert notifier.flush(WAIT)
    (data,) = stored(devserver, 1)
    assert exception_class(data) == "BrokenPipeError"
    assert data["request"]["url"] == f"{url}/stream"
    assert "streaming failed half way" in telemetry(data)


def test_a_body_the_application_read_is_sent_with_include_request_body(
        notifier_on: Callable[..., Notifier], devserver: DevServer) -> None:
    notifier = notifier_on(include_request_body=True)
    server = make_server("127.0.0.1", 0, RollbarMiddleware(app, notifier),
                         handler_class=QuietHandler)
    with server:
        threading.Thread(target=server.handle_request, daemon=True).start()
        requests.post(f"http://127.0.0.1:{server.server_port}/echo",
                      json={"sku": "A-1", "password": "hunter2"}, timeout=WAIT)
        assert notifier.flush(WAIT)
    (data,) = stored(devserver, 1)
    assert json.loads(data["request"]["body"]) == {"sku": "A-1", "password": "********"}


def test_two_concurrent_requests_never_share_request_or_telemetry(
        serve: Callable[..., str], notifier: Notifier, devserver: DevServer) -> None:
    both_logged = threading.Barrier(2, timeout=WAIT)

    def overlapping(environ: Dict[str, Any], start_response: Callable[..., Any]) -> List[bytes]:
        name = environ["PATH_INFO"].strip("/")
        log.info("%s: started", name)
        both_logged.wait()
        log.info("%s: failing", name)
        raise RuntimeError(f"{name} failed")

    url = serve(overlapping)
    threads = [threading.Thread(target=requests.get, args=(f"{url}/{name}",),
                                kwargs={"timeout": WAIT}) for name in ("alpha", "beta")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert notifier.flush(WAIT)
    by_name = {d["request"]["url"].rsplit("/", 1)[1]: d for d in stored(devserver, 2)}
    for name, other in (("alpha", "beta"), ("beta", "alpha")):
        messages = telemetry(by_name[name])
        assert messages[-2:] == [f"{name}: started", f"{name}: failing"]
        assert not [m for m in messages if m.startswith(other)]
        assert by_name[name]["body"]["trace"]["exception"]["message"] == f"{name} failed"
