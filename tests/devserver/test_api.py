"""The devserver's API over raw HTTP: every status code, header and read endpoint of
docs/rollbar-api.md."""

from __future__ import annotations

import http.client
import json
import time
import uuid

import pytest
import requests
from devserver_helpers import TIMEOUT, api_get, message_payload, post_item, trace_payload

from rollbar_notifier.devserver import DevServer


def test_ping_needs_no_token_and_answers_pong(devserver: DevServer) -> None:
    response = requests.get(devserver.api_url + "status/ping", timeout=TIMEOUT)
    assert (response.status_code, response.text) == (200, "pong")


def test_urls_and_four_tokens(devserver: DevServer) -> None:
    assert devserver.base_url == f"http://127.0.0.1:{devserver.port}/"
    assert devserver.api_url == devserver.base_url + "api/1/"
    assert sorted(devserver.tokens) == ["post_client_item", "post_server_item", "read", "write"]
    assert len(set(devserver.tokens.values())) == 4


def test_post_item_stores_it_and_echoes_the_uuid(devserver: DevServer) -> None:
    payload = trace_payload()
    response = post_item(devserver, payload)
    assert response.status_code == 200
    assert response.json() == {"err": 0, "result": {"id": None, "uuid": payload["data"]["uuid"]}}
    assert devserver.occurrences() == [payload]


def test_post_without_uuid_gets_a_new_one(devserver: DevServer) -> None:
    payload = message_payload()
    del payload["data"]["uuid"]
    response = post_item(devserver, payload)
    assert uuid.UUID(response.json()["result"]["uuid"])
    item = api_get(devserver, "item/", uuid=response.json()["result"]["uuid"]).json()["result"]
    assert item["title"] == "hello"


def test_same_uuid_is_stored_once(devserver: DevServer) -> None:
    payload = trace_payload()
    for _ in range(3):
        response = post_item(devserver, payload)
        assert response.json()["result"]["uuid"] == payload["data"]["uuid"]
    assert len(devserver.occurrences()) == 1
    assert devserver.items()[0]["total_occurrences"] == 1


@pytest.mark.parametrize("where", ["query", "json", "form"])
def test_deprecated_access_token_parameter(devserver: DevServer, where: str) -> None:
    token = devserver.tokens["post_server_item"]
    payload = trace_payload()
    url = devserver.api_url + "item/"
    if where == "query":
        response = requests.post(url, params={"access_token": token}, json=payload,
                                 timeout=TIMEOUT)
    elif where == "json":
        response = requests.post(url, json={**payload, "access_token": token}, timeout=TIMEOUT)
    else:
        response = requests.post(url, data={"payload": json.dumps(payload),
                                            "access_token": token}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert devserver.occurrences() == [payload]


def test_missing_and_unknown_tokens_are_403(devserver: DevServer) -> None:
    response = requests.post(devserver.api_url + "item/", json=trace_payload(), timeout=TIMEOUT)
    assert response.status_code == 403
    assert response.json() == {"err": 1, "message": "access token required"}
    response = post_item(devserver, trace_payload(), token="nope")
    assert (response.status_code, response.json()["message"]) == (403, "invalid access token")


def test_client_token_only_posts_client_side_platforms(devserver: DevServer) -> None:
    client = devserver.tokens["post_client_item"]
    response = post_item(devserver, trace_payload(platform="linux"), token=client)
    assert response.status_code == 403
    assert response.json()["message"] == (
        "insufficient privileges: post_server_item scope is required "
        "but the access token only has post_client_item."
    )
    for platform in ("browser", "android", "ios", "flash", "client"):
        assert post_item(devserver, trace_payload(platform=platform), token=client).ok
    assert len(devserver.occurrences()) == 5


def test_scopes_of_reading_and_writing(devserver: DevServer) -> None:
    assert post_item(devserver, trace_payload(), token=devserver.tokens["read"]).status_code == 403
    response = requests.get(devserver.api_url + "items/", timeout=TIMEOUT,
                            headers={"X-Rollbar-Access-Token": devserver.tokens["write"]})
    assert response.status_code == 403
    assert "read scope is required but the access token only has write." in response.text
    response = requests.get(devserver.api_url + "items/", timeout=TIMEOUT,
                            params={"access_token": devserver.tokens["read"]})
    assert response.status_code == 200


def test_body_over_128_kb_is_413_before_reading(devserver: DevServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", devserver.port, timeout=TIMEOUT)
    try:
        connection.putrequest("POST", "/api/1/item/")
        connection.putheader("X-Rollbar-Access-Token", devserver.tokens["post_server_item"])
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", "131073")
        connection.endheaders()  # no body sent: the answer must not wait for it
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["err"] == 1
    finally:
        connection.close()


def test_body_of_exactly_128_kb_is_read(devserver: DevServer) -> None:
    payload = message_payload("x")
    body = json.dumps(payload).encode()
    payload["data"]["body"]["message"]["body"] = "x" * (131072 - len(body) + 1)
    body = json.dumps(payload).encode()
    assert len(body) == 131072
    assert post_item(devserver, body).status_code == 200
    assert post_item(devserver, body + b" ").status_code == 413


def test_chunked_body_is_read_and_limited(devserver: DevServer) -> None:
    url = devserver.api_url + "item/"
    headers = {"X-Rollbar-Access-Token": devserver.tokens["post_server_item"]}
    body = json.dumps(trace_payload()).encode()
    response = requests.post(url, data=iter([body[:100], body[100:]]), headers=headers,
                             timeout=TIMEOUT)
    assert response.status_code == 200
    big = iter([b" " * 65536] * 3)
    assert requests.post(url, data=big, headers=headers, timeout=TIMEOUT).status_code == 413


def test_expect_100_continue_with_a_large_body_is_refused(devserver: DevServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", devserver.port, timeout=TIMEOUT)
    try:
        connection.putrequest("POST", "/api/1/item/")
        connection.putheader("Content-Length", "500000")
        connection.putheader("Expect", "100-continue")
        connection.endheaders()
        assert connection.getresponse().status == 413
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "the request body is not valid JSON"),
        (b'{"data": "\xff\xfe"}', "the request body is not valid UTF-8"),
        (b"[1, 2]", "the request body must be a JSON object"),
        (b"", "the request body is not valid JSON"),
    ],
)
def test_unparseable_bodies_are_400(devserver: DevServer, body: bytes, message: str) -> None:
    response = post_item(devserver, body)
    assert response.status_code == 400
    assert response.json() == {"err": 1, "message": message}


def test_invalid_item_is_422_with_the_path(devserver: DevServer) -> None:
    payload = trace_payload()
    del payload["data"]["body"]["trace"]["frames"]
    response = post_item(devserver, payload)
    assert response.status_code == 422
    assert response.json() == {
        "err": 1,
        "message": "Invalid format. data.body.trace.frames is missing and it is required.",
    }
    assert devserver.occurrences() == []


def test_rate_limit_429_and_headers_on_every_item_response() -> None:
    with DevServer(rate_limit=(2, 60)) as server:
        before = int(time.time())
        responses = [post_item(server, trace_payload()) for _ in range(3)]
        bad = post_item(server, {"data": {}})
        assert [r.status_code for r in responses] == [200, 200, 429]
        assert bad.status_code == 429
        assert [r.headers["X-Rate-Limit-Remaining"] for r in responses] == ["1", "0", "0"]
        for response in responses:
            assert response.headers["X-Rate-Limit-Limit"] == "2"
            assert 0 < int(response.headers["X-Rate-Limit-Remaining-Seconds"]) <= 60
            assert before + 59 <= int(response.headers["X-Rate-Limit-Reset"]) <= before + 62
        assert responses[2].json()["err"] == 1
        assert len(server.occurrences()) == 2
        other = post_item(server, trace_payload(platform="client"),
                          token=server.tokens["post_client_item"])
        assert other.status_code == 200, "the limit is per token"


def test_rate_limit_window_ends() -> None:
    with DevServer(rate_limit=(1, 1.0)) as server:
        assert post_item(server, trace_payload()).status_code == 200
        assert post_item(server, trace_payload()).status_code == 429
        time.sleep(1.1)
        assert post_item(server, trace_payload()).status_code == 200


def test_no_rate_limit_headers_without_a_limit(devserver: DevServer) -> None:
    assert "X-Rate-Limit-Limit" not in post_item(devserver, trace_payload()).headers


def test_grouping_and_counters_through_the_read_api(devserver: DevServer) -> None:
    for timestamp in (1700000100, 1700000000, 1700000200):
        post_item(devserver, trace_payload(timestamp=timestamp, uuid=str(uuid.uuid4())))
    post_item(devserver, message_payload("job 17 failed"))
    post_item(devserver, message_payload("job 18 failed"))
    post_item(devserver, message_payload("another"))
    post_item(devserver, trace_payload(environment="staging"))
    post_item(devserver, trace_payload(fingerprint="custom"))
    post_item(devserver, trace_payload(fingerprint="custom", level="critical"))
    response = api_get(devserver, "items/")
    assert response.status_code == 200
    items = response.json()["result"]["items"]
    assert [(i["title"], i["environment"], i["total_occurrences"]) for i in items] == [
        ("ValueError: bad value", "test", 3),
        ("job 17 failed", "test", 2),
        ("another", "test", 1),
        ("ValueError: bad value", "staging", 1),
        ("ValueError: bad value", "test", 2),
    ]
    first = items[0]
    assert first["first_occurrence_timestamp"] == 1700000000
    assert first["last_occurrence_timestamp"] == 1700000200
    assert (first["counter"], first["status"], first["level"]) == (1, "active", "error")
    assert items[1]["level"] == "info"
    assert items[4]["level"] == "critical"
    assert items[4]["fingerprint"] == "custom"


def test_long_fingerprint_becomes_its_sha1(devserver: DevServer) -> None:
    post_item(devserver, trace_payload(fingerprint="f" * 41))
    assert len(devserver.items()[0]["fingerprint"]) == 40


def test_item_by_id_uuid_and_instances(devserver: DevServer) -> None:
    payload = trace_payload()
    post_item(devserver, payload)
    item = devserver.items()[0]
    assert api_get(devserver, f"item/{item['id']}").json() == {"err": 0, "result": item}
    assert api_get(devserver, f"item/{item['id']}/").json()["result"] == item
    by_uuid = api_get(devserver, "item/", uuid=payload["data"]["uuid"])
    assert by_uuid.json()["result"] == item
    instances = api_get(devserver, f"item/{item['id']}/instances/").json()["result"]["instances"]
    assert [instance["data"] for instance in instances] == [payload["data"]]
    assert instances[0]["uuid"] == payload["data"]["uuid"]


def test_item_lookup_errors(devserver: DevServer) -> None:
    assert api_get(devserver, "item/12345").status_code == 404
    assert api_get(devserver, "item/12345/instances/").status_code == 404
    assert api_get(devserver, "item/", uuid="not-a-uuid").status_code == 400
    assert api_get(devserver, "item/").status_code == 400
    response = api_get(devserver, "item/", uuid=str(uuid.uuid4()))
    assert response.status_code == 404
    assert response.json()["err"] == 1


def test_patch_item_status_needs_write(devserver: DevServer) -> None:
    post_item(devserver, trace_payload())
    item_id = devserver.items()[0]["id"]
    url = f"{devserver.api_url}item/{item_id}"

    def patch(token: str, body: object) -> requests.Response:
        return requests.patch(url, json=body, timeout=TIMEOUT,
                              headers={"X-Rollbar-Access-Token": token})

    assert patch(devserver.tokens["read"], {"status": "resolved"}).status_code == 403
    assert patch(devserver.tokens["write"], {"status": "nope"}).status_code == 422
    response = patch(devserver.tokens["write"], {"status": "resolved"})
    assert response.status_code == 200
    assert response.json()["result"]["status"] == "resolved"
    post_item(devserver, trace_payload())
    assert devserver.items()[0]["status"] == "active", "a new occurrence reactivates it"
    assert requests.patch(devserver.api_url + "item/999", json={"status": "muted"}, timeout=TIMEOUT,
                          headers={"X-Rollbar-Access-Token": devserver.tokens["write"]}
                          ).status_code == 404


def _deploy(server: DevServer, token: str, **fields: object) -> requests.Response:
    return requests.post(server.api_url + "deploy/", json=fields, timeout=TIMEOUT,
                         headers={"X-Rollbar-Access-Token": token})


def test_deploys(devserver: DevServer) -> None:
    token = devserver.tokens["post_server_item"]
    response = _deploy(devserver, token, environment="production", revision="abc123",
                       local_username="dev", comment="first")
    assert response.status_code == 200
    deploy_id = response.json()["data"]["deploy_id"]
    assert isinstance(deploy_id, int)
    deploy = api_get(devserver, f"deploy/{deploy_id}").json()["result"]
    assert deploy["status"] == "succeeded"
    assert (deploy["environment"], deploy["revision"], deploy["comment"]) == (
        "production", "abc123", "first")
    assert deploy["finish_time"] is not None

    started = _deploy(devserver, token, environment="production", revision="def",
                      status="started").json()["data"]["deploy_id"]
    response = requests.patch(f"{devserver.api_url}deploy/{started}", timeout=TIMEOUT,
                              json={"status": "failed", "comment": "oops"},
                              headers={"X-Rollbar-Access-Token": devserver.tokens["write"]})
    assert response.status_code == 200
    assert response.json()["result"]["status"] == "failed"
    assert response.json()["result"]["finish_time"] is not None
    deploys = api_get(devserver, "deploys/").json()["result"]["deploys"]
    assert [d["id"] for d in deploys] == [started, deploy_id]
    assert devserver.deploys() == deploys


def test_deploy_errors(devserver: DevServer) -> None:
    token = devserver.tokens["post_server_item"]
    response = _deploy(devserver, token, environment="production")
    assert response.status_code == 422
    assert response.json()["message"] == "Invalid format. revision is missing and it is required."
    response = _deploy(devserver, token, environment="p", revision="r", status="done")
    assert response.status_code == 422
    response = _deploy(devserver, devserver.tokens["post_client_item"], environment="p",
                       revision="r")
    assert response.status_code == 403
    assert api_get(devserver, "deploy/999").status_code == 404
    response = requests.patch(devserver.api_url + "deploy/1", json={"status": "failed"},
                              timeout=TIMEOUT,
                              headers={"X-Rollbar-Access-Token": devserver.tokens["read"]})
    assert response.status_code == 403
    assert "post_server_item or write scope is required" in response.json()["message"]


def test_deploy_as_form_fields_like_curl(devserver: DevServer) -> None:
    fields = {"access_token": devserver.tokens["post_server_item"], "environment": "prod",
              "revision": "r1"}
    assert requests.post(devserver.api_url + "deploy/", data=fields, timeout=TIMEOUT).ok
    multipart = {key: (None, value) for key, value in fields.items()}
    assert requests.post(devserver.api_url + "deploy/", files=multipart, timeout=TIMEOUT).ok
    assert [d["revision"] for d in devserver.deploys()] == ["r1", "r1"]


def test_started_deploy_times_out_after_an_hour(
    devserver: DevServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = devserver.tokens["post_server_item"]
    _deploy(devserver, token, environment="p", revision="r", status="started")
    assert devserver.deploys()[0]["status"] == "started"
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 3601)
    deploy = devserver.deploys()[0]
    assert deploy["status"] == "timed_out"
    assert deploy["finish_time"] == deploy["start_time"] + 3600


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "nothing"), ("GET", "item/abc"), ("DELETE", "item/1"), ("GET", "status/pong"),
     ("PUT", "items/"), ("POST", "items/")],
)
def test_unknown_paths_are_404_json(devserver: DevServer, method: str, path: str) -> None:
    response = requests.request(method, devserver.api_url + path, timeout=TIMEOUT,
                                headers={"X-Rollbar-Access-Token": devserver.tokens["read"]})
    assert response.status_code == 404
    assert response.json() == {"err": 1, "message": "Not found"}


def test_given_tokens_replace_generated_ones() -> None:
    with DevServer(tokens={"abc": ["post_server_item", "read"]}) as server:
        assert server.tokens == {"post_server_item": "abc", "read": "abc"}
        assert post_item(server, trace_payload(), token="abc").ok
    with pytest.raises(ValueError, match="scopes"):
        DevServer(tokens={"abc": ["admin"]})
