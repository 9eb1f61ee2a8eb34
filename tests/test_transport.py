"""Outcome classification (pure) and HttpTransport against a real local server."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from scripted_server import CLOSE, RESET, Recorded, Reply, ScriptedServer

from rollbar_notifier.decision import OutcomeKind, classify, rate_limit_pause
from rollbar_notifier.http_transport import HttpTransport
from rollbar_notifier.transport import PING, Request, Response, server_message

DELIVERED, DROP, RETRY, TOO_LARGE = (OutcomeKind.DELIVERED, OutcomeKind.DROP, OutcomeKind.RETRY,
                                     OutcomeKind.TOO_LARGE)

NOW = 1_700_000_000.0
TOKEN = "secret-token-abc"


def error(status: int, message: str = "nope", **headers: str) -> Response:
    return Response(status, headers, f'{{"err": 1, "message": "{message}"}}'.encode())


@pytest.mark.parametrize("status,kind", [
    (200, DELIVERED), (0, RETRY), (500, RETRY), (502, RETRY), (503, RETRY), (429, RETRY),
    (413, TOO_LARGE), (400, DROP), (403, DROP), (404, DROP), (422, DROP), (301, DROP),
])
def test_every_status_has_one_outcome(status: int, kind: str) -> None:
    assert classify(error(status), NOW).kind == kind


def test_refusals_carry_the_server_message() -> None:
    outcome = classify(error(422, "Invalid format. data.body is missing"), NOW)
    assert (outcome.reason, outcome.message) == ("http_422", "Invalid format. data.body is missing")
    assert classify(Response(403, body=b"<html>"), NOW).message is None
    network = classify(Response(0, error="ConnectionError: refused"), NOW)
    assert (network.reason, network.message) == ("network", "ConnectionError: refused")


def test_rate_limit_pause_comes_from_the_headers() -> None:
    reset = str(int(NOW) + 42)
    assert classify(error(429, **{"X-Rate-Limit-Reset": reset}), NOW).retry_after == 42
    assert rate_limit_pause({"x-rate-limit-remaining-seconds": "17"}, NOW) == 17
    assert rate_limit_pause({"X-Rate-Limit-Reset": reset,
                             "X-Rate-Limit-Remaining-Seconds": "5"}, NOW) == 5
    assert rate_limit_pause({}, NOW) == 60
    assert rate_limit_pause({"X-Rate-Limit-Reset": "soon"}, NOW) == 60
    assert rate_limit_pause({"X-Rate-Limit-Reset": str(int(NOW) - 100)}, NOW) == 1
    assert rate_limit_pause({"X-Rate-Limit-Remaining-Seconds": "1e12"}, NOW) == 30 * 24 * 3600
    assert classify(error(500), NOW).retry_after is None


def transport(server: ScriptedServer, timeout: float = 2.0) -> HttpTransport:
    return HttpTransport(server.api_url, TOKEN, timeout)


def test_token_only_in_the_header_and_connections_kept_alive(server: ScriptedServer) -> None:
    http = transport(server)
    for _ in range(5):
        assert http.send(Request("POST", "item/", b'{"data": {}}')).status == 200
    records = server.requests()
    assert len(records) == 5
    for record in records:
        assert record.headers["X-Rollbar-Access-Token"] == TOKEN
        assert record.headers["Content-Type"] == "application/json"
        assert record.headers["User-Agent"].startswith("rollbar_notifier/")
        assert TOKEN not in record.path and "access_token" not in record.path
    assert len({r.client for r in records}) == 1
    assert http.send(Request("GET", "status/ping", anonymous=True)).body == b"pong"
    assert "X-Rollbar-Access-Token" not in server.records[-1].headers
    http.close()


def test_remaining_seconds_is_immune_to_a_skewed_client_clock() -> None:
    """The server says 30 s; a client clock an hour behind must not turn the absolute
    reset into a one-hour pause, nor one an hour ahead into an immediate retry."""
    server_now = NOW
    headers = {"X-Rate-Limit-Reset": str(int(server_now) + 30),
               "X-Rate-Limit-Remaining-Seconds": "30"}
    for skew in (-3600.0, 0.0, 3600.0):
        assert rate_limit_pause(headers, server_now + skew) == 30


def test_a_request_timeout_is_cut_to_what_the_caller_can_afford(server: ScriptedServer) -> None:
    http = transport(server, timeout=5.0)
    server.script(Reply(delay=2.0))
    started = time.monotonic()
    response = http.send(Request("POST", "item/", b"{}", timeout=0.3))
    assert response.status == 0 and "Timeout" in (response.error or "")
    assert time.monotonic() - started < 1.5
    http.close()


def test_network_failures_are_status_zero(server: ScriptedServer) -> None:
    http = transport(server, timeout=0.3)
    server.script(Reply(action=RESET), Reply(action=CLOSE), Reply(delay=1.0))
    errors = [http.send(Request("POST", "item/", b"{}")) for _ in range(3)]
    assert [r.status for r in errors] == [0, 0, 0]
    assert "ConnectionError" in (errors[0].error or "")
    assert "ConnectionError" in (errors[1].error or "")
    assert "Timeout" in (errors[2].error or "")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    refused = HttpTransport(f"http://127.0.0.1:{port}/api/1/", TOKEN, 1.0)
    response = refused.send(Request("GET", "status/ping"))
    assert response.status == 0 and "ConnectionError" in (response.error or "")
    assert TOKEN not in (response.error or "")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                   "ALL_PROXY", "no_proxy", "NO_PROXY")


@pytest.fixture
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_a_proxy_from_the_environment_is_used_as_read_at_start(
        no_proxies: pytest.MonkeyPatch, server: ScriptedServer) -> None:
    """The server plays the proxy for a host that does not exist; changing the variable
    later changes nothing, since it is read once and never on a send."""
    no_proxies.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.port}")
    http = HttpTransport("http://rollbar.invalid/api/1/", TOKEN, 2.0)
    no_proxies.delenv("HTTP_PROXY")
    assert http.send(Request("POST", "item/", b'{"data": {}}')).status == 200
    (record,) = server.records
    assert record.path == "http://rollbar.invalid/api/1/item/"
    assert record.headers["X-Rollbar-Access-Token"] == TOKEN
    http.close()


def test_no_proxy_sends_straight_to_the_endpoint(no_proxies: pytest.MonkeyPatch,
                                                 server: ScriptedServer) -> None:
    with ScriptedServer() as proxy:
        no_proxies.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        no_proxies.setenv("NO_PROXY", "127.0.0.1")
        http = transport(server)
        assert http.send(PING).body == b"pong"
        assert proxy.records == [] and len(server.records) == 1
        http.close()


def test_the_ca_bundle_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    """A bundle that is not there fails the request naming it: so it was the one used."""
    missing = str(tmp_path / "no-such-bundle.pem")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", missing)
    endpoint = f"https://127.0.0.1:{free_port()}/api/1/"
    response = HttpTransport(endpoint, TOKEN, 1.0).send(PING)
    assert response.status == 0 and missing in (response.error or "")
    unverified = HttpTransport(endpoint, TOKEN, 1.0, verify=False)
    assert unverified.settings.verify is False
    assert "ConnectionError" in (unverified.send(PING).error or "")


@pytest.mark.parametrize("token", [TOKEN, TOKEN + '"quoted\\'])
def test_a_token_echoed_by_the_server_never_comes_back(server: ScriptedServer,
                                                       token: str) -> None:
    def echo(record: Recorded) -> Reply:
        sent = record.headers.get("X-Rollbar-Access-Token", "")
        return Reply(403, headers={"X-Echo": f"token={sent}"},
                     body=json.dumps({"err": 1, "message": f"invalid access token {sent}"}
                                     ).encode())

    server.handle_with(echo)
    http = HttpTransport(server.api_url, token, 2.0)
    response = http.send(Request("POST", "item/", b"{}"))
    assert response.status == 403
    assert server_message(response.body) == "invalid access token ********"
    assert response.headers["X-Echo"] == "token=********"
    assert token.encode() not in response.body
    http.close()
