import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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
    "pw", "db_pass", "dbPass", "passphrase", "GPG_PASSPHRASE", "GITHUB_PAT",
])
def test_sensitive_names_are_matched_like_people_write_them(key):
    assert Scrubber().is_sensitive(key)


@pytest.mark.parametrize("key", ["author", "username", "email", "id", "count", "path", "oauth",
                                 "pattern", "passenger", "bypass", "compass", "pwm"])
def test_ordinary_names_are_left_alone(key):
    assert not Scrubber().is_sensitive(key)


def test_user_additions():
    scrubber = Scrubber(["ssn_last4", "ip"])
    assert scrubber.is_sensitive("ssn_last4")
    assert scrubber.is_sensitive("client_ip")
    assert not scrubber.is_sensitive("zip")
    assert scrubber.scrub_text("ssn_last4=1234 client_ip: 10.0.0.1 zip=90210") == \
        f"ssn_last4={SCRUBBED} client_ip: {SCRUBBED} zip=90210"


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
    assert request["url"] == f"http://127.0.0.1/login?next=/home&token={SCRUBBED}"
    assert request["headers"] == {"Cookie": SCRUBBED, "User-Agent": "ua"}
    assert request["GET"] == {"q": "shoes", "secret": SCRUBBED}
    assert request["POST"] == {"password": SCRUBBED, "remember": "1"}
    assert request["body"] == f'{{"password": "{SCRUBBED}", "name": "ann"}}'
    assert request["query_string"] == f"a=1&access_token={SCRUBBED}"
    assert data["person"]["password"] == SCRUBBED
    assert data["person"]["id"] == "7"


def test_command_line_secrets_are_scrubbed():
    argv = ["app", "--password=x", "--token", "y", "--name", "z", "-p", "w", "--passphrase=v",
            "PASSWORD=u", "DATABASE_URL=postgres://app:t@db/main", "-v"]
    assert Scrubber().scrub(argv, "argv") == [
        "app", f"--password={SCRUBBED}", "--token", SCRUBBED, "--name", "z", "-p", SCRUBBED,
        f"--passphrase={SCRUBBED}", f"PASSWORD={SCRUBBED}",
        f"DATABASE_URL=postgres://app:{SCRUBBED}@db/main", "-v"]


def test_the_access_token_never_leaves_in_a_message():
    data = build(capture_message(f"call failed for {TOKEN}"))
    assert TOKEN not in json.dumps(data)


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("error", "connect to postgres://app:S3CRETPW@db:5432/main failed",
     f"connect to postgres://app:{SCRUBBED}@db:5432/main failed"),
    ("url", "https://bob:pw@example.com/x?q=1", f"https://bob:{SCRUBBED}@example.com/x?q=1"),
    ("url", "redis://:p@ss@cache:6379/0", f"redis://:{SCRUBBED}@cache:6379/0"),
    ("redirect_uri", "https://app.example/cb#access_token=abc&state=1",
     f"https://app.example/cb#access_token={SCRUBBED}&state=1"),
    ("next_url", "/login?next=/home&api_key=k", f"/login?next=/home&api_key={SCRUBBED}"),
    ("link", "https://app.example/cb?code=1&id_token=abc&x=2",
     f"https://app.example/cb?code=1&id_token={SCRUBBED}&x=2"),
    ("link", "https://app.example/cb?id_token=abc#pw", f"https://app.example/cb?id_token={SCRUBBED}"),
    ("path", "/reset?next=/a%2Fb&token=t0k", f"/reset?next=/a%2Fb&token={SCRUBBED}"),
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


@pytest.mark.parametrize(("text", "secret"), [
    ("Zürich: retry with token=abc (attempt 2/3)", "abc"),
    ("Credentials(user='ann', password='hunter2')", "hunter2"),
    ("Creds(user='ann', password='it\\'s')", "it\\'s"),
    ("<DbConn host=db pw=hunter2>", "hunter2"),
    ("{'user': 'ann', 'password': 'hunter2', 'n': 2}", "hunter2"),
    ('{"user":"ann","password":"hunter2"}', "hunter2"),
    ('{"data": "{\\"api_key\\": \\"k-123\\", \\"n\\": 1}"}', "k-123"),
    ("db:\n  host: db\n  password: hunter2\n  port: 5432", "hunter2"),
    ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
    ("'Authorization': 'Basic dXNlcjpwYXNz'", "dXNlcjpwYXNz"),
    ("X-Api-Key: k9 was refused", "k9"),
    ("GET /items?limit=5&api_key=k9&sort=asc failed", "k9"),
    ("sessionid=s9; theme=dark", "s9"),
    ("PASSWORD=hunter2 ./run.sh", "hunter2"),
    ('d["password"] = "hunter2"', "hunter2"),
    ("os.environ['GITHUB_PAT'] = 'ghp_abc'", "ghp_abc"),
    ("auth=user:pass@word now", "user:pass@word"),
    ("the token=abc.", "abc"),
    ("password=hunt... (900 chars)", "hunt"),
    ("card_number: 4111 1111 1111 1111 on file", "4111 1111 1111 1111"),
    ("pay with 5555-5555-5555-4444 now", "5555-5555-5555-4444"),
    ("amex 378282246310005, 3 digits", "378282246310005"),
    ("discover 6011 1111 1111 1117.", "6011 1111 1111 1117"),
    ("role AKIAIOSFODNN7EXAMPLE assumed", "AKIAIOSFODNN7EXAMPLE"),
    ("session eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl expired",
     "eyJzdWIiOiIxIn0.c2lnbmF0dXJl"),
    ("key: -----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\nIDZv==\n-----END EC PRIVATE KEY-----\n",
     "\nMHcCAQEE\nIDZv==\n"),
    ("private_key=-----BEGIN PRIVATE KEY-----\nMHcC\n-----END PRIVATE KEY-----", "\nMHcC\n"),
    ("key = '-----BEGIN OPENSSH PRIVATE KEY-----\\nb3Blbn... (4000 chars)",
     "\\nb3Blbn... (4000 chars)"),
])
def test_in_text_only_the_secret_is_replaced(text, secret):
    assert Scrubber().scrub_text(text) == text.replace(secret, SCRUBBED, 1)


@pytest.mark.parametrize("text", [
    "if password == expected: return",
    "time 12:30:05 ratio=3 author: ann path=/a/b pattern: x*",
    "password=None token: null",
    "ids 4111111111111112 1700000000000 4111 1111 1111 1112 2024-01-15",
    "AKIAIOSFODNN7EXAMPLEX and xAKIAIOSFODNN7EXAMPLE",
    "version 1.2.3 -----BEGIN CERTIFICATE----- MIIB -----END CERTIFICATE-----",
    "Error: connection refused. Retry: in 5 s.",
    "",
])
def test_text_without_secrets_is_left_exactly_as_written(text):
    assert Scrubber().scrub_text(text) == text


def test_a_declined_match_hides_nothing_after_it():
    text = "path=/reset?token=abc&ids=4111111111111112 4111111111111111 x"
    assert Scrubber().scrub_text(text) == f"path=/reset?token={SCRUBBED}&ids=4111111111111112 " \
        f"{SCRUBBED} x"


def test_source_lines_lose_only_quoted_literals():
    frame = {"filename": "app.py", "lineno": 3, "code": 'password = "hunter2"',
             "context": {"pre": ["password = getpass()", "headers['X-Api-Key'] = 'k9'"],
                         "post": ["token = tokens[user]", f"check({TOKEN!r})"]}}
    scrubbed = Scrubber(secrets=[TOKEN]).scrub(frame)
    assert scrubbed["code"] == f'password = "{SCRUBBED}"'
    assert scrubbed["context"] == {
        "pre": ["password = getpass()", f"headers['X-Api-Key'] = '{SCRUBBED}'"],
        "post": ["token = tokens[user]", f"check('{SCRUBBED}')"]}


def test_messages_descriptions_and_telemetry_are_scrubbed_without_mangling():
    text = "Zürich: retry with token=abc (attempt 2/3)"
    telemetry = [{"level": "info", "type": "log", "source": "server", "timestamp_ms": 1,
                  "body": {"message": f"login ok; pw: hunter2, next={TOKEN}"}}]
    data = build(capture_message(text, telemetry=telemetry, title=f"Failed for {TOKEN}"))
    assert data["body"]["message"]["body"] == f"Zürich: retry with token={SCRUBBED} (attempt 2/3)"
    assert data["body"]["telemetry"][0]["body"]["message"] == \
        f"login ok; pw: {SCRUBBED}, next={SCRUBBED}"
    assert data["title"] == f"Failed for {SCRUBBED}"
    try:
        raise ValueError("bad password='x y' in 'Authorization: Bearer t' header")
    except ValueError as exc:
        event = capture_exception(exc, description="retry ?api_key=k9 later")
    exception = build(event)["body"]["trace"]["exception"]
    assert exception == {"class": "ValueError", "description": f"retry ?api_key={SCRUBBED} later",
                         "message": f"bad password='{SCRUBBED}' in 'Authorization: Bearer "
                                    f"{SCRUBBED}' header"}


def test_scrub_patterns_replace_what_they_match_and_nothing_more():
    patterns = [r"(?<=order-)[0-9]{6}", "(?i:internal-[a-z]+)"]
    data = build(capture_message("order-123456 for INTERNAL-Ref, order-12 ok",
                                 extra={"note": "internal-x"}), scrub_patterns=patterns)
    assert data["body"]["message"]["body"] == f"order-{SCRUBBED} for {SCRUBBED}, order-12 ok"
    assert data["custom"]["note"] == SCRUBBED
    environ = {"ROLLBAR_SCRUB_PATTERNS": "(?<=order-)[0-9]{6}\nemp-[0-9]{4,}"}
    assert Config.from_options({}, environ=environ).scrub_patterns == (
        "(?<=order-)[0-9]{6}", "emp-[0-9]{4,}")


def test_scrub_patterns_still_find_built_in_secrets_where_they_start_together():
    scrubber = Scrubber(patterns=[":x[0-9]+"])
    assert scrubber.scrub_text("token=abc id:x12 4111111111111111") == \
        f"token={SCRUBBED} id{SCRUBBED} {SCRUBBED}"


@pytest.mark.parametrize(("patterns", "message"), [
    (["(unclosed"], "pattern 0 .* is not a valid regular expression"),
    (["ok", "a*"], "pattern 1 .* matches the empty string"),
    ([r"(a)\1"], "refers to a group by number"),
    (["(?P<rn_x>a)"], "group name starting with 'rn_'"),
    (["(?P<n>a)", "(?P<n>b)"], "cannot be combined"),
    (["x(?i)abc"], "not a valid regular expression|cannot be combined"),
    ([7], "list of strings"),
])
def test_bad_scrub_patterns_are_refused_with_a_clear_message(patterns, message):
    with pytest.raises(ValueError, match=f"scrub_patterns.*({message})"):
        Config.from_options({"scrub_patterns": patterns}, environ={})


def test_a_global_flag_must_be_scoped():
    with pytest.raises(ValueError, match=r"scoped, \(\?i:\.\.\.\)"):
        Config.from_options({"scrub_patterns": ["(?i)secret-[a-z]+"]}, environ={})


@pytest.mark.parametrize("text", [
    "a=" * 8000, "password:" * 1800, "... " * 4000, TOKEN[:6] * 2700, "://a:" * 3200,
    "-----BEGIN PRIVATE KEY-----" * 600, "4111 1111 1111 1112 " * 800, "password='" * 1600,
    "eyJ" * 5000, ".eyJhbGci" * 1800,
])
def test_hostile_text_is_scrubbed_in_linear_time(text):
    scrubber = Scrubber(secrets=[TOKEN])
    started = time.perf_counter()
    scrubber.scrub_text(text)
    assert time.perf_counter() - started < 0.5


_PLAIN = st.text(alphabet="ghijklmnopqrsuvwxyz ,!?\n", max_size=60)
"""Text that cannot itself hold a secret: no separators, digits or hex letters."""


@settings(max_examples=200, deadline=None)
@given(_PLAIN, _PLAIN, st.sampled_from(["token={}", "pw: '{}'", "{}", "Bearer {}"]))
def test_only_the_secret_changes_whatever_surrounds_it(before, after, shape):
    scrubber = Scrubber(secrets=[TOKEN])
    text = before + shape.format(TOKEN) + " " + after
    assert scrubber.scrub_text(text) == before + shape.format(SCRUBBED) + " " + after


def test_the_minimal_item_sent_when_building_fails_is_scrubbed_too() -> None:
    """A payload that cannot be built falls back to a minimal item: still no secret in it."""
    event = capture_message("login failed password=hunter2")
    assert event is not None
    event.extra = ["not", "a", "mapping"]  # type: ignore[assignment]
    body = ItemBuilder(Config.from_options({"access_token": "tok-123456789"}, environ={})
                       ).build(event)
    assert body is not None
    data = json.loads(body)["data"]
    assert data["body"]["message"]["body"] == f"login failed password={SCRUBBED}"
