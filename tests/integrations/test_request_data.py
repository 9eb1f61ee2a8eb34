"""``data.request`` and ``data.person`` as the integrations build them: the Rollbar
shape, the client address and how much of it is sent, and which bodies are kept."""

from __future__ import annotations

import io
from typing import Any, Dict

import pytest

from rollbar_notifier.config import Config
from rollbar_notifier.integrations.person import person
from rollbar_notifier.integrations.request import MAX_REQUEST_BODY, from_asgi, from_wsgi
from rollbar_notifier.integrations.wsgi import RecordingInput


def config(**options: Any) -> Config:
    return Config.from_options(options, environ={})


def environ(**extra: Any) -> Dict[str, Any]:
    base = {"REQUEST_METHOD": "POST", "SCRIPT_NAME": "/shop", "PATH_INFO": "/orders/7",
            "QUERY_STRING": "a=1&a=2&b=", "SERVER_NAME": "example.org", "SERVER_PORT": "8080",
            "wsgi.url_scheme": "http", "REMOTE_ADDR": "203.0.113.77",
            "HTTP_AUTHORIZATION": "Bearer x", "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": "13"}
    base.update(extra)
    return base


def test_a_wsgi_environ_in_the_rollbar_shape() -> None:
    request = from_wsgi(environ(), config())
    assert request == {
        "url": "http://example.org:8080/shop/orders/7?a=1&a=2&b=", "method": "POST",
        "headers": {"Authorization": "Bearer x", "Content-Type": "application/json",
                    "Content-Length": "13"},
        "GET": {"a": ["1", "2"], "b": ""}, "user_ip": "203.0.113.0"}


def test_an_asgi_scope_in_the_rollbar_shape() -> None:
    scope = {"type": "http", "method": "GET", "scheme": "https", "root_path": "/api",
             "path": "/api/orders/7", "query_string": b"x=%C3%A9",
             "headers": [(b"host", b"example.org"), (b"x-tag", b"a"), (b"x-tag", b"b")],
             "client": ("2001:db8:1:2:3:4:5:6", 5000), "path_params": {"order_id": 7}}
    request = from_asgi(scope, config(), route="/orders/{order_id}")
    assert request == {
        "url": "https://example.org/api/orders/7?x=%C3%A9", "method": "GET",
        "headers": {"Host": "example.org", "X-Tag": "a, b"}, "GET": {"x": "é"},
        "user_ip": "2001:db8:1::", "route": "/orders/{order_id}",
        "params": {"order_id": 7}}


@pytest.mark.parametrize(("capture_ip", "expected"), [
    (True, "203.0.113.77"), ("anonymize", "203.0.113.0"), (False, None)])
def test_capture_ip_decides_how_much_of_the_address_is_sent(capture_ip: Any,
                                                            expected: Any) -> None:
    request = from_wsgi(environ(HTTP_X_FORWARDED_FOR="198.51.100.9"),
                        config(capture_ip=capture_ip))
    assert request.get("user_ip") == expected
    forwarded = request["headers"].get("X-Forwarded-For")
    assert forwarded == {True: "198.51.100.9", "anonymize": "198.51.100.0",
                         False: None}[capture_ip]


def test_forwarding_headers_are_believed_only_from_trusted_proxies() -> None:
    spoofed = environ(HTTP_X_FORWARDED_FOR="198.51.100.9", HTTP_X_REAL_IP="198.51.100.10")
    assert from_wsgi(spoofed, config(capture_ip=True))["user_ip"] == "203.0.113.77"
    trusted = config(capture_ip=True, trusted_proxies="203.0.113.0/24, 10.0.0.1")
    chain = environ(HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.9, 10.0.0.1")
    assert from_wsgi(chain, trusted)["user_ip"] == "198.51.100.9", "the first untrusted hop"
    assert from_wsgi(environ(HTTP_X_REAL_IP="198.51.100.10"), trusted)["user_ip"] == \
        "198.51.100.10"
    assert from_wsgi(environ(HTTP_X_FORWARDED_FOR="[2001:db8::7]:443"),
                     config(trusted_proxies=("203.0.113.77",)))["user_ip"] == "2001:db8::"


def test_an_ipv4_mapped_address_is_anonymised_as_ipv4() -> None:
    request = from_asgi({"type": "http", "client": ("::ffff:192.0.2.33", 1)}, config())
    assert request["user_ip"] == "192.0.2.0"


@pytest.mark.parametrize(("content_type", "body", "field", "expected"), [
    ("application/json", b'{"password": "p", "n": 1}', "body", '{"password": "p", "n": 1}'),
    ("application/vnd.api+json; charset=utf-8", b"[1]", "body", "[1]"),
    ("application/x-www-form-urlencoded", b"card_number=4111&q=a", "POST",
     {"card_number": "4111", "q": "a"}),
    ("application/json", b'{"cut": "', None, None),
    ("application/json", b"\xff\xfe", None, None),
    ("multipart/form-data; boundary=x", b"--x--", None, None),
    ("application/octet-stream", b"data", None, None),
    ("application/json", b'"' + b"x" * MAX_REQUEST_BODY + b'"', None, None),
])
def test_only_whole_form_and_json_bodies_are_kept(content_type: str, body: bytes,
                                                  field: Any, expected: Any) -> None:
    request = from_wsgi(environ(CONTENT_TYPE=content_type), config(include_request_body=True),
                        body=body)
    kept = {key: request[key] for key in ("body", "POST") if key in request}
    assert kept == ({} if field is None else {field: expected})


def test_no_body_without_include_request_body() -> None:
    request = from_wsgi(environ(), config(), body=b'{"a": 1}')
    assert "body" not in request and "POST" not in request


def test_the_recording_input_keeps_what_the_application_read() -> None:
    stream = RecordingInput(io.BytesIO(b'{"a": 1}\n{"b": 2}'))
    assert stream.readline() == b'{"a": 1}\n'
    assert stream.body(17) is None, "half of the body is not the body"
    assert stream.read(100) == b'{"b": 2}'
    assert stream.body(17) == b'{"a": 1}\n{"b": 2}'
    assert stream.body(None) == b'{"a": 1}\n{"b": 2}', "a short read was the end"
    big = RecordingInput(io.BytesIO(b"x" * 100), limit=10)
    assert big.read() == b"x" * 100 and big.body(100) is None


@pytest.mark.parametrize(("options", "expected"), [
    ({}, {"id": "7"}),
    ({"capture_username": True}, {"id": "7", "username": "ada"}),
    ({"capture_username": True, "capture_email": True},
     {"id": "7", "username": "ada", "email": "ada@example.org"}),
])
def test_a_person_is_its_id_unless_more_is_asked_for(options: Dict[str, Any],
                                                     expected: Dict[str, str]) -> None:
    assert person(config(**options), 7, username="ada", email="ada@example.org") == expected
    assert person(config(**options), None, username="ada") is None
