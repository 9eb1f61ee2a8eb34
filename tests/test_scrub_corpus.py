"""61 secrets planted wherever an item carries text, sent through a notifier to the devserver.

None may reach the server, and every field holding one must arrive exactly as written
with only the secret replaced: a message keeps its words, punctuation and non-ASCII text.
"""
# ruff: noqa: F841 - the locals of login() are what the test reports

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import sys
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest

from rollbar_notifier.devserver import DevServer
from rollbar_notifier.notifier import Notifier
from rollbar_notifier.scrub import SCRUBBED

try:
    import attr
except ImportError:  # attrs is not a test dependency; its repr has the dataclass shape
    attr = None


def planted(number: int) -> str:
    """A secret no other text in the item could contain."""
    return f"Zq{number:02d}vT8kWm"


S = {number: planted(number) for number in range(1, 62)}
JWT_HEADER = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
JWT_SECRET = "eyJzdWIiOiJadjEwIiwibmFtZSI6ImFubiJ9.x7RwE1Kd9HcLm2yqW0cP4sZbN8aV3tUoJ6gF5iQeY2k"
JWT_SECRET_2 = "eyJzdWIiOiJjYXJvbCIsImFkbWluIjp0cnVlfQ.Pq4Lm8Zx2Wc9Rv7Tn3Ks5Hb1Jd6Fg0Ya8Ue2Io4Mw"
PEM_BODY = "\nMIIEowIBAAKCAQEAq7ZqS1vT8kWmZq09\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n"
PEM_BODY_2 = "\nb3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0Zq33vT8kWm\n"
AWS_1 = "AKIAZQ12VT8KWMXEXAMP"
AWS_2 = "ASIAZQ34VT8KWMXEXAMP"
AWS_3 = "AKIAZQ52VT8KWMXEXAMP"
CARDS = ("4111 1111 1111 1111", "5555-5555-5555-4444", "378282246310005",
         "6011 1111 1111 1117", "4012888888881881")


@dataclasses.dataclass
class Credentials:
    user: str
    password: str


Creds = collections.namedtuple("Creds", "user password")

if attr is not None:
    @attr.s(auto_attribs=True)
    class ApiClient:
        base: str
        api_key: str
else:
    class ApiClient:  # type: ignore[no-redef]
        def __init__(self, base: str, api_key: str) -> None:
            self.base, self.api_key = base, api_key

        def __repr__(self) -> str:
            return f"ApiClient(base={self.base!r}, api_key={self.api_key!r})"


class DbConn:
    def __init__(self, host: str, user: str, pw: str) -> None:
        self.host, self.user, self.pw = host, user, pw

    def __repr__(self) -> str:
        return f"<DbConn host={self.host} user={self.user} pw={self.pw}>"


def deep(leaf: Any) -> Dict[str, Any]:
    """Deeper than capture copies containers, so ``leaf`` arrives as its repr."""
    return {"a": {"b": {"c": {"d": leaf}}}}


@dataclasses.dataclass
class Field:
    """Where one field of the stored item is, what was written there, and its secrets."""

    find: Callable[[Dict[str, Any]], Any]
    written: str
    secrets: Tuple[str, ...]
    whole: bool = False
    """Stored under a sensitive name: the whole value is replaced."""
    in_key: bool = False
    """The secret is the key the text is stored under: the text stays."""

    def expected(self) -> str:
        if self.whole:
            return SCRUBBED
        if self.in_key:
            return self.written
        text = self.written
        for secret in self.secrets:
            assert secret in text
            text = text.replace(secret, SCRUBBED)
        return text


def connect(user: str, password: str) -> None:
    raise ConnectionError(f"no match for {Creds(user, password)!r}; cannot reach "
                          f"postgres://app:{S[19]}@db:5432/main")


def login(token: str) -> None:
    creds = Credentials(user="ann", password=S[1])
    client = ApiClient(base="https://api.example", api_key=S[2])
    conn = DbConn(host="db", user="app", pw=S[3])
    settings = deep({"password": S[4]})
    nested = deep(Creds("bob", S[5]))
    err = PermissionError(f"token: {S[6]} rejected")
    pw = S[7]
    link = f"https://app.example/cb?code=1&access_token={S[8]}&state=x"
    pem = f"-----BEGIN RSA PRIVATE KEY-----{PEM_BODY}-----END RSA PRIVATE KEY-----\n"
    cached = f"{JWT_HEADER}.{JWT_SECRET}"
    note = f"card {CARDS[0]} on file"
    key_id = AWS_1
    header_line = f"Authorization: Bearer {S[13]}"
    reply = f"server said: invalid token {token} (403)"
    command = f"mysql -u root --password={S[15]} main"
    try:
        connect("carol", S[18])
    except ConnectionError as cause:
        raise PermissionError(f"Zürich: retry with token={S[16]} (attempt 2/3); login failed: "
                              f"password={S[17]} for ann") from cause


def exception_fields(token: str) -> List[Field]:
    def local(name: str) -> Callable[[Dict[str, Any]], Any]:
        return lambda data: data["body"]["trace_chain"][0]["frames"][-1]["locals"][name]

    def first(key: str) -> Callable[[Dict[str, Any]], Any]:
        return lambda data: data["body"]["trace_chain"][0]["exception"][key]

    chained = lambda data: data["body"]["trace_chain"][1]["exception"]["message"]  # noqa: E731
    creds = Creds("carol", S[18])
    return [
        Field(local("creds"), repr(Credentials("ann", S[1])), (S[1],)),
        Field(local("client"), repr(ApiClient("https://api.example", S[2])), (S[2],)),
        Field(local("conn"), repr(DbConn("db", "app", S[3])), (S[3],)),
        Field(lambda data: local("settings")(data)["a"]["b"]["c"]["d"],
              repr({"password": S[4]}), (S[4],)),
        Field(lambda data: local("nested")(data)["a"]["b"]["c"]["d"],
              repr(Creds("bob", S[5])), (S[5],)),
        Field(local("err"), repr(PermissionError(f"token: {S[6]} rejected")), (S[6],)),
        Field(local("pw"), S[7], (S[7],), whole=True),
        Field(local("link"), f"https://app.example/cb?code=1&access_token={S[8]}&state=x",
              (S[8],)),
        Field(local("pem"), f"-----BEGIN RSA PRIVATE KEY-----{PEM_BODY}-----END RSA PRIVATE "
              "KEY-----\n", (PEM_BODY,)),
        Field(local("cached"), f"{JWT_HEADER}.{JWT_SECRET}", (JWT_SECRET,)),
        Field(local("note"), f"card {CARDS[0]} on file", (CARDS[0],)),
        Field(local("key_id"), AWS_1, (AWS_1,)),
        Field(local("header_line"), f"Authorization: Bearer {S[13]}", (S[13],)),
        Field(local("reply"), f"server said: invalid token {token} (403)", (token,)),
        Field(local("command"), f"mysql -u root --password={S[15]} main", (S[15],)),
        Field(first("message"), f"Zürich: retry with token={S[16]} (attempt 2/3); login "
              f"failed: password={S[17]} for ann", (S[16], S[17])),
        Field(chained, f"no match for {creds!r}; cannot reach postgres://app:{S[19]}@db:5432"
              "/main", (S[18], S[19])),
        Field(first("description"), DESCRIPTION, (S[20], S[21])),
        Field(lambda data: data["title"], f"Login for ann failed (api_key={S[22]})", (S[22],)),
        Field(lambda data: data["context"], f"checkout?session={S[23]}", (S[23],)),
        *[Field(lambda data, key=key: data["custom"][key], value, secrets, whole)
          for key, (value, secrets, whole) in exception_extra(token).items()
          if key != token],
        Field(lambda data: data["custom"][SCRUBBED], "as a key", (token,), in_key=True),
        *[Field(lambda data, key=key: data["request"][key], value, secrets, whole)
          for key, (value, secrets, whole) in REQUEST_TEXT.items()],
        Field(lambda data: data["request"]["headers"]["Authorization"], f"Bearer {S[36]}",
              (S[36],), whole=True),
        Field(lambda data: data["request"]["headers"]["Referer"],
              f"https://shop.example/login?next=/cart&api_key={S[37]}", (S[37],)),
        Field(lambda data: data["request"]["GET"]["access_token"], S[40], (S[40],), whole=True),
        Field(lambda data: data["request"]["POST"]["passphrase"], S[41], (S[41],), whole=True),
        Field(lambda data: data["person"]["api_token"], S[42], (S[42],), whole=True),
        *[Field(lambda data, index=index: data["server"]["argv"][index], value, secrets, whole)
          for index, (value, secrets, whole) in enumerate(ARGV) if secrets],
    ]


DESCRIPTION = (f"called with Authorization: Bearer {S[20]} from the proxy; config was\n"
               f"db:\n  host: db\n  password: {S[21]}\n  port: 5432\n")


def exception_extra(token: str) -> Dict[str, Tuple[str, Tuple[str, ...], bool]]:
    """``extra`` of the exception report: value, its secrets, replaced whole or not."""
    return {
        "db_pass": (S[24], (S[24],), True),
        "redirect": (f"https://app.example/cb#id_token={S[25]}&state=1", (S[25],), False),
        "receipt": (f"paid with {CARDS[1]} today", (CARDS[1],), False),
        "amex": (CARDS[2], (CARDS[2],), False),
        "discover": (f"({CARDS[3]})", (CARDS[3],), False),
        token: ("as a key", (token,), False),
        "payload": (f'{{"user": "ann", "password": "{S[30]}"}}', (S[30],), False),
        "envelope": (f'{{"data": "{{\\"api_key\\": \\"{S[31]}\\", \\"n\\": 1}}"}}', (S[31],),
                     False),
        "log": (f"session {JWT_HEADER}.{JWT_SECRET_2} expired", (JWT_SECRET_2,), False),
        "attachment": (f"-----BEGIN OPENSSH PRIVATE KEY-----{PEM_BODY_2}-----END OPENSSH "
                       "PRIVATE KEY-----", (PEM_BODY_2,), False),
        "role": (f"role {AWS_2} assumed", (AWS_2,), False),
    }


REQUEST_TEXT = {
    "url": (f"https://shop.example/cart?item=7&token={S[35]}", (S[35],), False),
    "body": (f'{{"username": "ann", "password": "{S[38]}"}}', (S[38],), False),
    "query_string": (f"a=1&secret={S[39]}", (S[39],), False),
}
ARGV = [("app.py", (), False), ("-p", (), False), (S[43], (S[43],), True),
        (f"--passphrase={S[44]}", (S[44],), False), ("--token", (), False),
        (S[45], (S[45],), True), (f"DB_URL=postgres://u:{S[46]}@h/db", (S[46],), False)]

MESSAGE = (f"GET https://api.example/v1/items?limit=5&api_key={S[47]}&sort=asc failed\n"
           f"token: {S[48]} expired\n"
           f"GITHUB_PAT={S[49]} passphrase: {S[50]} X-Api-Key: {S[51]}\n"
           "role {aws} assumed with {token}; sessionid={sid}; theme=dark")
TELEMETRY = [f"corpus record 1: retrying with secret={S[55]} later",
             f"corpus record 2: auth header was 'Authorization': 'Basic {S[56]}'",
             f"corpus record 3: card {CARDS[4]} charged",
             "corpus record 4: notifier token {token} leaked",
             f"corpus record 5: pw: {S[59]}, retry"]


def message_fields(token: str) -> List[Field]:
    message = MESSAGE.format(aws=AWS_3, token=token, sid=S[54])
    telemetry = [text.format(token=token) for text in TELEMETRY]

    def logged(text: str) -> Callable[[Dict[str, Any]], Any]:
        start = text[:text.index(":")]
        return lambda data: next(entry["body"]["message"] for entry in data["body"]["telemetry"]
                                 if entry["body"]["message"].startswith(start))

    return [
        Field(lambda data: data["body"]["message"]["body"], message,
              (S[47], S[48], S[49], S[50], S[51], AWS_3, token, S[54])),
        *[Field(logged(text), text, secrets) for text, secrets in
          zip(telemetry, [(S[55],), (S[56],), (CARDS[4],), (token,), (S[59],)])],
        Field(lambda data: data["custom"]["note"], f"db_pass={S[60]} in config", (S[60],)),
        Field(lambda data: data["custom"]["creds"], repr(Credentials("dan", S[61])), (S[61],)),
    ]


@pytest.fixture
def notifier(devserver: DevServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Notifier]:
    monkeypatch.setattr(sys, "argv", [value for value, _, _ in ARGV])
    notifier = Notifier(access_token=devserver.tokens["post_server_item"],
                        endpoint=devserver.api_url, environment="test", install_hooks=False)
    yield notifier
    notifier.close(timeout=1)


def report(notifier: Notifier, token: str) -> Tuple[str, str]:
    try:
        login(token)
    except PermissionError:
        exception_uuid = notifier.report_exception(
            description=DESCRIPTION, title=f"Login for ann failed (api_key={S[22]})",
            context=f"checkout?session={S[23]}",
            extra={key: value for key, (value, _, _) in exception_extra(token).items()},
            request={**{key: value for key, (value, _, _) in REQUEST_TEXT.items()},
                     "headers": {"Authorization": f"Bearer {S[36]}", "Accept": "*/*",
                                 "Referer": f"https://shop.example/login?next=/cart&api_key="
                                            f"{S[37]}"},
                     "GET": {"q": "shoes", "access_token": S[40]},
                     "POST": {"passphrase": S[41], "remember": "1"}},
            person={"id": "7", "username": "ann", "api_token": S[42]})
    log = logging.getLogger("tests.scrub_corpus")
    for text in TELEMETRY:
        log.warning(text.format(token=token))
    message_uuid = notifier.report_message(
        MESSAGE.format(aws=AWS_3, token=token, sid=S[54]),
        extra={"note": f"db_pass={S[60]} in config", "creds": Credentials("dan", S[61])})
    assert exception_uuid and message_uuid
    return exception_uuid, message_uuid


def test_no_planted_secret_reaches_the_server_and_the_text_around_each_is_kept(
        notifier: Notifier, devserver: DevServer) -> None:
    token = devserver.tokens["post_server_item"]
    exception_uuid, message_uuid = report(notifier, token)
    assert notifier.flush(10)
    stored = {o["data"]["uuid"]: o["data"] for o in devserver.occurrences()}
    fields = [(stored[exception_uuid], field) for field in exception_fields(token)]
    fields += [(stored[message_uuid], field) for field in message_fields(token)]
    assert sum(len(field.secrets) for _, field in fields) == 61
    everything = json.dumps([stored[exception_uuid], stored[message_uuid]], ensure_ascii=False)
    secrets = {secret for _, field in fields for secret in field.secrets}
    assert sorted(secret for secret in secrets if secret in everything) == []
    for data, field in fields:
        assert field.find(data) == field.expected()


def test_a_namedtuple_held_in_a_local_is_scrubbed_by_its_field_names(
        notifier: Notifier, devserver: DevServer) -> None:
    def hold(creds: Creds) -> None:
        raise ValueError("held")

    try:
        hold(Creds("erin", S[1]))
    except ValueError:
        uuid = notifier.report_exception()
    assert notifier.flush(10)
    data = next(o["data"] for o in devserver.occurrences() if o["data"]["uuid"] == uuid)
    assert S[1] not in json.dumps(data)
