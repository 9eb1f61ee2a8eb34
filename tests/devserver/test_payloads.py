"""What official SDKs send, posted raw and read back; wrong types never break the server."""

from __future__ import annotations

import json
import uuid
from typing import Any, Dict, List, Tuple

import pytest
import requests
from devserver_helpers import TIMEOUT, api_get, message_payload, post_item, replaced, trace_payload

from rollbar_notifier.devserver import DevServer


def _pyrollbar_trace(name: str, message: str, filename: str, method: str) -> Dict[str, Any]:
    """One trace as pyrollbar builds it, frames oldest call first."""
    return {
        "frames": [
            {"filename": "/srv/shop/manage.py", "lineno": 22, "method": "<module>",
             "code": "execute_from_command_line(sys.argv)",
             "context": {"pre": ["if __name__ == '__main__':"], "post": []},
             "argspec": [], "locals": {"sys": "<module 'sys' (built-in)>"}},
            {"filename": filename, "lineno": 57, "method": method,
             "code": "total = cart.total(currency)",
             "context": {"pre": ["def checkout(request, cart_id, *args, **kwargs):",
                                 "    cart = Cart.objects.get(id=cart_id)"],
                         "post": ["    return render(request, 'done.html')", ""]},
             "argspec": ["request", "cart_id"], "varargspec": "args",
             "keywordspec": "kwargs",
             "locals": {"request": "<WSGIRequest: POST '/cart/7/checkout'>", "cart_id": 7,
                        "args": [], "kwargs": {}, "cart": "<Cart: 7>", "currency": None}},
        ],
        "exception": {"class": name, "message": message},
    }


def _pyrollbar(body: Dict[str, Any]) -> Dict[str, Any]:
    """A whole pyrollbar item around `body`, as it posts it."""
    return {
        "access_token": "ignored-when-the-header-has-one",
        "data": {
            "environment": "production",
            "level": "error",
            "timestamp": 1700000000,
            "uuid": str(uuid.uuid4()),
            "language": "python",
            "framework": "django",
            "notifier": {"name": "pyrollbar", "version": "1.0.0"},
            "server": {"host": "web-1", "root": "/srv/shop", "branch": "main",
                       "argv": ["manage.py", "runserver"], "pid": 4242},
            "request": {"url": "https://shop.example/cart/7/checkout?coupon=X1",
                        "method": "POST", "user_ip": "203.0.113.9",
                        "headers": {"Host": "shop.example", "User-Agent": "Mozilla/5.0",
                                    "Cookie": "********"},
                        "GET": {"coupon": "X1"}, "POST": {"confirm": "yes"}},
            "person": {"id": "user-17", "username": "ann", "email": "ann@example.com"},
            "custom": {"cart_size": 3, "flags": ["beta"], "nested": {"a": None}},
            "body": body,
        },
    }


PYROLLBAR_TRACE = _pyrollbar(
    {"trace": _pyrollbar_trace("KeyError", "'EUR'", "/srv/shop/cart/views.py", "checkout")}
)
PYROLLBAR_CHAIN = _pyrollbar({"trace_chain": [
    _pyrollbar_trace("RuntimeError", "checkout failed", "/srv/shop/cart/views.py", "checkout"),
    _pyrollbar_trace("ConnectionError", "rates service down", "/srv/shop/rates.py", "fetch"),
]})
ROLLBAR_JS_BROWSER: Dict[str, Any] = {
    "data": {
        "environment": "production", "endpoint": "api.rollbar.com/api/1/item/",
        "platform": "browser", "framework": "browser-js", "language": "javascript",
        "level": "error", "timestamp": 1700000001, "uuid": str(uuid.uuid4()),
        "context": "#/cart",
        "body": {
            "trace": {
                "frames": [
                    {"url": "https://shop.example/static/vendor.js",
                     "filename": "https://shop.example/static/vendor.js",
                     "lineno": 1, "colno": 48213, "method": "HTMLButtonElement.dispatch"},
                    {"url": "https://shop.example/static/app.js",
                     "filename": "https://shop.example/static/app.js",
                     "lineno": 120, "colno": 17, "method": "onCheckout"},
                ],
                "exception": {"class": "TypeError",
                              "message": "Cannot read properties of undefined (reading 'id')",
                              "description": None},
            },
            "telemetry": [
                {"level": "info", "type": "navigation", "source": "client",
                 "timestamp_ms": 1700000000500, "body": {"from": "/", "to": "/#/cart"}},
                {"level": "info", "type": "network", "source": "client",
                 "timestamp_ms": 1700000000800.25,
                 "body": {"method": "GET", "url": "/api/cart", "status_code": 200}},
            ],
        },
        "request": {"url": "https://shop.example/#/cart", "query_string": "",
                    "user_ip": "$remote_ip"},
        "client": {"runtime_ms": 5123, "timestamp": 1700000001,
                   "javascript": {"browser": "Mozilla/5.0 (X11; Linux x86_64)",
                                  "language": "en-US", "cookie_enabled": True,
                                  "screen": {"width": 1920, "height": 1080}, "plugins": []}},
        "person": {"id": 17},
        "notifier": {"name": "rollbar-browser-js", "version": "2.26.4",
                     "diagnostic": {"original_arg_types": ["error"], "is_uncaught": True}},
    },
}


def _stored(server: DevServer, payload: Dict[str, Any]) -> Tuple[Dict[str, Any], Any]:
    """The item holding `payload`'s occurrence and that occurrence's data, via the read API."""
    found = api_get(server, "item/", uuid=payload["data"]["uuid"])
    assert found.status_code == 200, found.text
    item = found.json()["result"]
    instances = api_get(server, f"item/{item['id']}/instances/").json()["result"]["instances"]
    return item, instances[-1]["data"]


@pytest.mark.parametrize(
    ("payload", "token_scope", "title"),
    [
        (PYROLLBAR_TRACE, "post_server_item", "KeyError: 'EUR'"),
        (PYROLLBAR_CHAIN, "post_server_item", "RuntimeError: checkout failed"),
        (ROLLBAR_JS_BROWSER, "post_client_item",
         "TypeError: Cannot read properties of undefined (reading 'id')"),
    ],
    ids=["pyrollbar-trace", "pyrollbar-trace-chain", "rollbar-js-browser"],
)
def test_official_sdk_payloads_posted_raw_are_stored_as_sent(
    devserver: DevServer, payload: Dict[str, Any], token_scope: str, title: str
) -> None:
    response = post_item(devserver, payload, token=devserver.tokens[token_scope])
    assert response.status_code == 200, response.text
    assert response.json()["result"]["uuid"] == payload["data"]["uuid"]
    item, data = _stored(devserver, payload)
    assert data == payload["data"]
    assert (item["title"], item["level"], item["environment"]) == (title, "error", "production")
    occurrence = requests.get(devserver.base_url + f"occurrences/{item['last_occurrence_id']}",
                              timeout=TIMEOUT)
    assert occurrence.status_code == 200
    assert title.split(":")[0] in occurrence.text


def test_rollbar_php_empty_arrays_are_accepted_as_empty_objects(devserver: DevServer) -> None:
    payload = replaced(trace_payload(custom=[], server=[]), [], "data", "body", "trace",
                       "frames", "1", "locals")
    payload["data"]["request"] = {"url": "https://shop.example/", "method": "GET",
                                  "GET": [], "POST": [], "headers": []}
    payload["data"]["notifier"] = {"name": "rollbar-php", "version": "4.0.1"}
    response = post_item(devserver, payload)
    assert response.status_code == 200, response.text
    _, data = _stored(devserver, payload)
    assert data["custom"] == data["server"] == {}
    assert data["request"]["GET"] == data["request"]["POST"] == data["request"]["headers"] == {}
    assert data["body"]["trace"]["frames"][1]["locals"] == {}


def test_each_occurrence_keeps_its_own_level(devserver: DevServer) -> None:
    levels = ["critical", "info", "warning"]
    for level in levels:
        assert post_item(devserver, trace_payload(level=level)).status_code == 200
    [item] = devserver.items()
    assert item["level"] == "critical", "the item shows its most severe occurrence"
    instances = api_get(devserver, f"item/{item['id']}/instances/").json()["result"]["instances"]
    assert [instance["level"] for instance in instances] == levels


TRACE = ("data", "body", "trace")
FRAME = (*TRACE, "frames", "1")
WRONG_VALUES: List[Tuple[Tuple[str, ...], Any]] = [
    *((("data", "platform"), value) for value in (["browser"], {"name": "ios"}, 5, True)),
    *((("data", "timestamp"), value)
      for value in (float("inf"), float("-inf"), float("nan"), 1e20, 10**30, 10**17, -1e15,
                    "1700000000", [], {})),
    *((("data", key), value)
      for key in ("environment", "level", "uuid", "fingerprint", "title", "code_version",
                  "context", "language", "framework")
      for value in ([], {}, 5, 1.5)),
    (("data", "environment"), None), (("data", "context"), None),
    *((("data", key), value)
      for key in ("body", "request", "person", "server", "notifier", "custom", "client")
      for value in ("text", 5, [1], False)),
    (("data",), None), (("data",), [1]), (("data", "body"), {}),
    (("data", "body", "trace_chain"), {}), (("data", "body", "trace_chain"), [[1]]),
    (("data", "body", "telemetry"), [5]),
    (("data", "body", "telemetry"), [{"timestamp_ms": float("inf")}]),
    (("data", "body", "telemetry"), [{"timestamp_ms": 1e30}]),
    (("data", "body", "telemetry"), [{"level": ["info"], "type": {}, "body": "x"}]),
    ((*TRACE, "frames"), "x"), ((*TRACE, "frames"), [None]), ((*TRACE, "exception"), []),
    ((*TRACE, "exception", "class"), ["ValueError"]), ((*TRACE, "exception", "message"), {}),
    ((*FRAME, "filename"), None), ((*FRAME, "lineno"), float("inf")),
    ((*FRAME, "lineno"), "42"), ((*FRAME, "colno"), 1.5), ((*FRAME, "context"), "x"),
    ((*FRAME, "context"), {"pre": "x"}), ((*FRAME, "context"), {"post": [None]}),
    ((*FRAME, "argspec"), "x"), ((*FRAME, "locals"), [1]), ((*FRAME, "method"), 5),
    (("data", "person"), {"id": float("nan")}), (("data", "person"), {"id": []}),
    (("data", "request"), {"headers": "x"}), (("data", "server"), {"host": []}),
]


def test_wrong_types_at_many_paths_are_400_or_422_never_500(devserver: DevServer) -> None:
    """Python's json.dumps writes Infinity and NaN, which JSON does not have: sent raw."""
    answers = {}
    for path, value in WRONG_VALUES:
        payload = replaced(trace_payload(), value, *path)
        for scope in ("post_server_item", "post_client_item"):
            response = post_item(devserver, payload, token=devserver.tokens[scope])
            answers[(json.dumps(value), *path, scope)] = response.status_code
    allowed = {"post_server_item": {400, 422}, "post_client_item": {400, 403, 422}}
    wrong = {key: status for key, status in answers.items() if status not in allowed[key[-1]]}
    assert not wrong
    assert requests.get(devserver.base_url, timeout=TIMEOUT).status_code == 200
    assert api_get(devserver, "items/").json()["result"]["items"] == []
    assert post_item(devserver, message_payload()).status_code == 200


def test_lone_surrogates_are_replaced_not_a_500(devserver: DevServer) -> None:
    """pyrollbar sends them for undecodable file names (os.fsdecode's surrogateescape)."""
    payload = trace_payload(environment="prod-\udce9", title="caf\udce9 " + "x" * 60,
                            fingerprint="\ud800" * 41,
                            server={"host": "box", "argv": ["/tmp/caf\udce9.py"]})
    response = post_item(devserver, payload)
    assert response.status_code == 200, response.text
    [item] = devserver.items()
    assert (item["environment"], item["title"]) == ("prod-?", "caf? " + "x" * 60)
    assert len(item["fingerprint"]) == 40
    assert devserver.occurrences()[0]["data"]["server"]["argv"] == ["/tmp/caf?.py"]
    for path in ("", f"items/{item['id']}", f"occurrences/{item['last_occurrence_id']}"):
        assert requests.get(devserver.base_url + path, timeout=TIMEOUT).status_code == 200
    assert api_get(devserver, f"item/{item['id']}/instances/").status_code == 200
