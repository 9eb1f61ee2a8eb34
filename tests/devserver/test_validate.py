"""422 rules: what official SDKs send is accepted, each required field and type is named."""

from __future__ import annotations

from typing import Any, Dict

import pytest
from devserver_helpers import trace_payload, without

from rollbar_notifier.devserver.grouping import fingerprint, level, title
from rollbar_notifier.devserver.messages import ApiError
from rollbar_notifier.devserver.validate import validate_deploy, validate_item

ROLLBAR_JS: Dict[str, Any] = {
    "access_token": "x",
    "data": {
        "environment": "production", "endpoint": "api.rollbar.com/api/1/item/",
        "uuid": "d4c7acef-55bf-4907-8a33-1d4b4d3b5e3a", "level": "error",
        "platform": "browser", "framework": "browser-js", "language": "javascript",
        "timestamp": 1700000000,
        "body": {
            "trace": {
                "frames": [{"url": "http://x/app.js", "filename": "http://x/app.js",
                            "lineno": 3, "colno": 11, "method": "onClick", "code": None,
                            "context": None}],
                "exception": {"class": "TypeError", "message": "x is undefined",
                              "description": None},
            },
            "telemetry": [
                {"level": "info", "type": "network", "source": "client",
                 "timestamp_ms": 1700000000123, "uuid": "u",
                 "body": {"method": "GET", "url": "/x", "status_code": 200}},
                {"level": "error", "type": "error", "source": "client",
                 "timestamp_ms": 1700000000200.5, "body": {"message": "boom"}},
            ],
        },
        "request": {"url": "http://x/", "query_string": "", "user_ip": "$remote_ip"},
        "client": {"javascript": {"browser": "Mozilla", "language": "en"}, "runtime_ms": 5},
        "person": {"id": 42},
        "context": "",
        "notifier": {"name": "rollbar-browser-js", "version": "2.26.1",
                     "diagnostic": {"original_arg_types": ["object"]}},
        "custom": {"anything": [1, 2]},
        "unknown_future_key": True,
    },
}

PYROLLBAR_MESSAGE: Dict[str, Any] = {
    "access_token": "x",
    "data": {
        "environment": "development", "level": "warning", "timestamp": 1700000000,
        "body": {"message": {"body": "disk almost full", "extra_key": {"percent": 97}}},
        "uuid": "6ee73a18-0f57-4b4f-b2ed-1b98d7e3c0e5", "language": "python 3.11.7",
        "framework": "unknown", "notifier": {"name": "pyrollbar", "version": "1.0.0"},
        "server": {"host": "box", "pid": 1, "argv": ["manage.py"], "root": "/srv/app",
                   "branch": "main"},
        "request": {"url": "http://x/?a=1", "method": "POST", "GET": {"a": ["1"]},
                    "POST": {}, "body": "raw", "headers": {"Host": "x"}, "user_ip": "1.2.3.4"},
        "person": {"id": "7", "username": "ann", "email": "ann@example.com"},
    },
}

IOS_CRASH: Dict[str, Any] = {
    "data": {"environment": "production", "platform": "ios",
             "body": {"crash_report": {"raw": "Incident Identifier: 1\nCrashed Thread: 0"}}},
}


@pytest.mark.parametrize("payload", [trace_payload(), ROLLBAR_JS, PYROLLBAR_MESSAGE, IOS_CRASH])
def test_official_sdk_payloads_are_accepted(payload: Dict[str, Any]) -> None:
    assert validate_item(payload) is payload["data"]


def test_trace_chain_is_accepted_and_grouped_by_its_head() -> None:
    chain = {"trace_chain": [trace_payload()["data"]["body"]["trace"],
                             {"frames": [], "exception": {"class": "OSError"}}]}
    payload = trace_payload(body=chain)
    data = validate_item(payload)
    assert title(data) == "ValueError: bad value"
    assert fingerprint(data) == fingerprint(trace_payload()["data"])


def _message(payload: Dict[str, Any]) -> str:
    with pytest.raises(ApiError) as raised:
        validate_item(payload)
    assert raised.value.status == 422
    return raised.value.message


FRAME = ("data", "body", "trace", "frames", "0")
TIME_RANGE = "should be a number from 0 to below 137438953472"
TIME_MS_RANGE = "should be a number from 0 to below 137438953472000"


@pytest.mark.parametrize(
    ("path", "missing"),
    [
        (("data",), "data"),
        (("data", "environment"), "data.environment"),
        (("data", "body"), "data.body"),
        (("data", "body", "trace", "frames"), "data.body.trace.frames"),
        ((*FRAME, "filename"), "data.body.trace.frames.0.filename"),
        (("data", "body", "trace", "exception", "class"), "data.body.trace.exception.class"),
    ],
)
def test_missing_required_fields(path: tuple, missing: str) -> None:
    assert _message(without(trace_payload(), *path)) == (
        f"Invalid format. {missing} is missing and it is required."
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"environment": 5}, "data.environment should be a string"),
        ({"environment": "e" * 256}, "data.environment is longer than 255 characters"),
        ({"level": "fatal"}, "data.level should be one of debug, info, warning, error, critical"),
        ({"timestamp": "now"}, "data.timestamp should be a number"),
        ({"timestamp": True}, "data.timestamp should be a number"),
        ({"timestamp": float("inf")}, f"data.timestamp {TIME_RANGE}"),
        ({"timestamp": float("nan")}, f"data.timestamp {TIME_RANGE}"),
        ({"timestamp": 1e20}, f"data.timestamp {TIME_RANGE}"),
        ({"timestamp": 10**30}, f"data.timestamp {TIME_RANGE}"),
        ({"timestamp": 2**37}, f"data.timestamp {TIME_RANGE}"),
        ({"timestamp": -1}, f"data.timestamp {TIME_RANGE}"),
        ({"platform": ["browser"]}, "data.platform should be a string"),
        ({"platform": {"name": "browser"}}, "data.platform should be a string"),
        ({"context": None}, "data.context should be a string"),
        ({"code_version": "v" * 41}, "data.code_version is longer than 40 characters"),
        ({"title": "t" * 256}, "data.title is longer than 255 characters"),
        ({"uuid": "u" * 37}, "data.uuid is longer than 36 characters"),
        ({"custom": [1]}, "data.custom should be an object"),
        ({"request": {"headers": "x"}}, "data.request.headers should be an object"),
        ({"server": {"host": 1}}, "data.server.host should be a string"),
        ({"person": {"username": "x"}}, "data.person.id is missing and it is required"),
        ({"person": {"id": "1" * 41}}, "data.person.id is longer than 40 characters"),
        ({"person": {"id": "1", "email": 3}}, "data.person.email should be a string"),
        ({"notifier": {"diagnostic": 1}}, "data.notifier.diagnostic should be an object"),
        ({"body": {}}, "data.body should contain exactly one of trace, trace_chain, message, "
                       "crash_report"),
        ({"body": {"message": {"body": "a"}, "crash_report": {"raw": "b"}}},
         "data.body should contain exactly one of trace, trace_chain, message, crash_report"),
        ({"body": {"message": {}}}, "data.body.message.body is missing and it is required"),
        ({"body": {"crash_report": {"raw": 1}}}, "data.body.crash_report.raw should be a string"),
        ({"body": {"trace_chain": []}}, "data.body.trace_chain should not be empty"),
        ({"body": {"trace_chain": [{"frames": [1]}]}},
         "data.body.trace_chain.0.frames.0 should be an object"),
        ({"body": {"trace": {"frames": {}}}}, "data.body.trace.frames should be a list"),
        ({"body": {"trace": {"frames": [{"filename": "a", "lineno": "3"}]}}},
         "data.body.trace.frames.0.lineno should be an integer"),
        ({"body": {"trace": {"frames": [{"filename": "a", "context": {"pre": [1]}}]}}},
         "data.body.trace.frames.0.context.pre.0 should be a string"),
        ({"body": {"trace": {"frames": [{"filename": "a", "locals": ["x"]}]}}},
         "data.body.trace.frames.0.locals should be an object"),
        ({"body": {"message": {"body": "a"}, "telemetry": {}}},
         "data.body.telemetry should be a list"),
        ({"body": {"message": {"body": "a"}, "telemetry": [{"timestamp_ms": "x"}]}},
         "data.body.telemetry.0.timestamp_ms should be a number"),
        ({"body": {"message": {"body": "a"}, "telemetry": [{"timestamp_ms": 1e30}]}},
         f"data.body.telemetry.0.timestamp_ms {TIME_MS_RANGE}"),
        ({"body": {"message": {"body": "a"}, "telemetry": [{"timestamp_ms": float("-inf")}]}},
         f"data.body.telemetry.0.timestamp_ms {TIME_MS_RANGE}"),
        ({"body": {"message": {"body": "a"}, "telemetry": [{"level": "loud"}]}},
         "data.body.telemetry.0.level should be one of debug, info, warning, error, critical"),
    ],
)
def test_wrong_types_and_lengths(data: Dict[str, Any], message: str) -> None:
    assert _message(trace_payload(**data)) == f"Invalid format. {message}."


def test_data_must_be_an_object() -> None:
    assert _message({"data": [1]}) == "Invalid format. data should be an object."
    assert _message({"data": []}) == (
        "Invalid format. data.environment is missing and it is required."
    ), "an empty list is an empty object"


def test_times_at_the_edges_of_the_range_are_accepted() -> None:
    validate_item(trace_payload(timestamp=0))
    validate_item(trace_payload(timestamp=2**37 - 1))
    validate_item(trace_payload(timestamp=1700000000.75))
    event = {"level": "info", "type": "log", "timestamp_ms": 1700000000123.5, "body": {}}
    validate_item(trace_payload(body={"message": {"body": "a"}, "telemetry": [event]}))


def test_rollbar_php_empty_arrays_are_stored_as_empty_objects() -> None:
    payload = trace_payload(custom=[], client=[], server=[],
                            request={"url": "http://x/", "GET": [], "POST": [], "headers": [],
                                     "params": []},
                            notifier={"name": "rollbar-php", "version": "4.0.0",
                                      "diagnostic": []})
    frame = payload["data"]["body"]["trace"]["frames"][0]
    frame.update(locals=[], context=[])
    data = validate_item(payload)
    assert data["custom"] == data["client"] == data["server"] == {}
    assert all(data["request"][key] == {} for key in ("GET", "POST", "headers", "params"))
    assert data["notifier"]["diagnostic"] == {}
    assert frame["locals"] == frame["context"] == {}
    assert _message(trace_payload(custom=[1])) == "Invalid format. data.custom should be an object."


def test_deploy_rules() -> None:
    validate_deploy({"environment": "p", "revision": "r", "status": "started",
                     "comment": "c" * 65536, "local_username": "me"})
    for fields, message in [
        ({"revision": "r"}, "environment is missing and it is required"),
        ({"environment": "p", "revision": 1}, "revision should be a string"),
        ({"environment": "p", "revision": "r", "comment": "c" * 65537},
         "comment is longer than 65536 characters"),
        ({"environment": "p", "revision": "r", "status": "ok"},
         "status should be one of started, succeeded, failed, timed_out"),
    ]:
        with pytest.raises(ApiError, match=message):
            validate_deploy(fields)


def test_grouping_rules() -> None:
    def message(text: str) -> Dict[str, Any]:
        return {"body": {"message": {"body": text}}}

    assert fingerprint(message("job 17 took 3s")) == fingerprint(message("job 9 took 12s"))
    assert fingerprint(message("job 17")) != fingerprint(message("task 17"))
    other_frame = trace_payload()["data"]
    other_frame["body"]["trace"]["frames"][-1]["method"] = "other"
    assert fingerprint(other_frame) != fingerprint(trace_payload()["data"])
    assert fingerprint({"fingerprint": "abc", "body": {}}) == "abc"
    assert level(message("x")) == "info"
    assert level(trace_payload()["data"] | {"level": None}) == "error"
    assert title(message("first line\nsecond")) == "first line"
    assert title({"title": "mine", "body": {}}) == "mine"
    assert title(IOS_CRASH["data"]) == "Incident Identifier: 1"
