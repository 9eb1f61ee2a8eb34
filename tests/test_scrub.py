import json

import pytest
from reports import capture_exception, capture_message

from rollbar_notifier.config import Config
from rollbar_notifier.item import ItemBuilder
from rollbar_notifier.scrub import SCRUBBED, Scrubber

TOKEN = "a1b2c3d4e5f6a7b8c9d0"


@pytest.mark.parametrize("key", [
    "password", "PASSWORD", "user_password", "passwd", "secret", "client_secret", "token",
    "access_token", "accessToken", "api_key", "apiKey", "X-Api-Key", "auth", "X-Auth-Token",
    "Authorization", "HTTP_AUTHORIZATION", "cookie", "Set-Cookie", "session", "sessionid",
    "csrftoken", "csrfmiddlewaretoken", "private_key", "credit_card", "creditCardNumber",
])
def test_sensitive_names_are_matched_like_people_write_them(key):
    assert Scrubber().is_sensitive(key)


@pytest.mark.parametrize("key", ["author", "username", "email", "id", "count", "path", "oauth"])
def test_ordinary_names_are_left_alone(key):
    assert not Scrubber().is_sensitive(key)


def test_user_additions():
    scrubber = Scrubber(["ssn_last4", "ip"])
    assert scrubber.is_sensitive("ssn_last4")
    assert scrubber.is_sensitive("client_ip")
    assert not scrubber.is_sensitive("zip")


def build(event, **options):
    cfg = Config.from_options({"access_token": TOKEN, **options}, environ={})
    return json.loads(ItemBuilder(cfg).build(event))["data"]


def test_every_part_of_the_payload_is_scrubbed():
    def login(username, password):
        headers = {"Authorization": "Bearer abc", "Accept": "text/html"}  # noqa: F841
        raise PermissionError(f"denied with {TOKEN}")

    try:
        login("ann", "hunter2")
    except PermissionError as exc:
        event = capture_exception(
            exc,
            extra={"api_key": "k1", "order": {"card_number": "4111", "total": 3}},
            request={
                "url": "http://127.0.0.1/login?next=/home&token=abc",
                "headers": {"Cookie": "sessionid=1", "User-Agent": "ua"},
                "GET": {"q": "shoes", "secret": "s"},
                "POST": {"password": "p", "remember": "1"},
                "body": '{"password": "p", "name": "ann"}',
                "query_string": "a=1&access_token=zzz",
            },
            person={"id": "7", "username": "ann", "password": "p"},
        )
    data = build(event, scrub_fields=["username"])
    frame = data["body"]["trace"]["frames"][-1]
    assert frame["locals"]["password"] == SCRUBBED
    assert frame["locals"]["username"] == SCRUBBED
    assert frame["locals"]["headers"] == {"Authorization": SCRUBBED, "Accept": "text/html"}
    assert data["body"]["trace"]["exception"]["message"] == f"denied with {SCRUBBED}"
    assert data["custom"]["api_key"] == SCRUBBED
    assert data["custom"]["order"] == {"card_number": SCRUBBED, "total": 3}
    request = data["request"]
    assert request["url"] == "http://127.0.0.1/login?next=%2Fhome&token=********"
    assert request["headers"] == {"Cookie": SCRUBBED, "User-Agent": "ua"}
    assert request["GET"] == {"q": "shoes", "secret": SCRUBBED}
    assert request["POST"] == {"password": SCRUBBED, "remember": "1"}
    assert json.loads(request["body"]) == {"password": SCRUBBED, "name": "ann"}
    assert request["query_string"] == "a=1&access_token=********"
    assert data["person"]["password"] == SCRUBBED
    assert data["person"]["id"] == "7"


def test_command_line_secrets_are_scrubbed():
    scrubbed = Scrubber().scrub(["app", "--password=x", "--token", "y", "--name", "z"], "argv")
    assert scrubbed == ["app", "--password=********", "--token", SCRUBBED, "--name", "z"]


def test_the_access_token_never_leaves_in_a_message():
    data = build(capture_message(f"call failed for {TOKEN}"))
    assert TOKEN not in json.dumps(data)


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("error", "connect to postgres://app:S3CRETPW@db:5432/main failed",
     f"connect to postgres://app:{SCRUBBED}@db:5432/main failed"),
    ("url", "https://bob:pw@example.com/x?q=1", f"https://bob:{SCRUBBED}@example.com/x?q=1"),
    ("redirect_uri", "https://app.example/cb#access_token=abc&state=1",
     "https://app.example/cb#access_token=********&state=1"),
    ("next_url", "/login?next=/home&api_key=k", "/login?next=%2Fhome&api_key=********"),
])
def test_secrets_inside_urls_are_scrubbed_wherever_the_url_is(key, value, expected):
    assert Scrubber().scrub({key: value}) == {key: expected}


def test_headers_given_as_pairs_are_scrubbed_but_argument_names_are_not():
    scrubbed = Scrubber().scrub({"headers": [["Authorization", "Bearer x"], ["Accept", "*/*"]],
                                 "argspec": ["password", "remember"]})
    assert scrubbed == {"headers": [["Authorization", SCRUBBED], ["Accept", "*/*"]],
                        "argspec": ["password", "remember"]}


def test_environment_style_arguments_and_secret_keys_are_scrubbed():
    scrubber = Scrubber(secrets=[TOKEN])
    assert scrubber.scrub(["app", "PASSWORD=x"], "argv") == ["app", f"PASSWORD={SCRUBBED}"]
    assert TOKEN not in json.dumps(scrubber.scrub({TOKEN: "value"}))
