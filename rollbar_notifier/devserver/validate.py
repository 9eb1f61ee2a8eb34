"""422 checks for items and deploys, with Rollbar's `Invalid format.` path messages.

Only what ``docs/rollbar-api.md`` requires is enforced: unknown keys and null optional values pass,
because Rollbar's official SDKs (pyrollbar, rollbar.js, the mobile SDKs) send both,
and a devserver that rejected them would be useless for comparing notifiers.
"""

from __future__ import annotations

from typing import Any, Mapping, MutableMapping, Optional, Sequence, Tuple, Type

from ..contract import (
    BODY_KINDS,
    DEPLOY_STATUSES,
    LEVELS,
    MAX_DEPLOY_COMMENT,
    MAX_DEPLOY_FIELD,
    MAX_ENVIRONMENT,
    MAX_PERSON_FIELD,
    MAX_PERSON_ID,
    MAX_TIMESTAMP,
    MAX_TITLE,
    REQUEST_OBJECT_FIELDS,
    REQUEST_TEXT_FIELDS,
)
from .messages import ApiError

Fields = MutableMapping[str, Any]


STRING = "a string"
INTEGER = "an integer"
NUMBER = "a number"
OBJECT = "an object"
LIST = "a list"
STRING_OR_INTEGER = "a string or an integer"

_TYPES: Mapping[str, Tuple[Type[Any], ...]] = {
    STRING: (str,),
    INTEGER: (int,),
    NUMBER: (int, float),
    OBJECT: (dict,),
    LIST: (list,),
    STRING_OR_INTEGER: (str, int),
}

MAX_TIMESTAMP_MS = MAX_TIMESTAMP * 1000

_DATA_STRINGS = {"platform": None, "language": None, "framework": None, "code_version": 40,
                 "title": MAX_TITLE, "uuid": 36, "fingerprint": None}
_DATA_OBJECTS = ("client", "custom")
_REQUEST_FIELDS = {**dict.fromkeys(sorted(REQUEST_TEXT_FIELDS), STRING),
                   **dict.fromkeys(sorted(REQUEST_OBJECT_FIELDS), OBJECT)}
_SERVER_STRINGS = ("host", "root", "branch", "code_version", "cpu")
_FRAME_FIELDS = {"lineno": INTEGER, "colno": INTEGER, "method": STRING, "code": STRING,
                 "class_name": STRING, "argspec": LIST, "varargspec": STRING,
                 "keywordspec": STRING, "locals": OBJECT}
_TELEMETRY_FIELDS = {"type": STRING, "source": STRING, "body": OBJECT}


def invalid(path: str, problem: str) -> ApiError:
    return ApiError(422, f"Invalid format. {path} {problem}.")


def field(
    obj: Fields,
    key: str,
    path: str,
    kind: str,
    *,
    required: bool = False,
    max_length: Optional[int] = None,
    nullable: bool = True,
) -> Any:
    """Check one key of `obj`; returns its value, or None when absent (or null and nullable).

    An empty list stands for an empty object, and is stored as one: PHP cannot tell
    the two apart, so rollbar-php sends `[]` for every empty `custom`, `GET`, etc.
    """
    name = f"{path}.{key}" if path else key
    value = obj.get(key)
    if kind == OBJECT and value == []:
        value = obj[key] = {}
    if value is None and (key not in obj or nullable):
        if required:
            raise invalid(name, "is missing and it is required")
        return None
    if isinstance(value, bool) or not isinstance(value, _TYPES[kind]):
        raise invalid(name, f"should be {kind}")
    if max_length is not None and isinstance(value, str) and len(value) > max_length:
        raise invalid(name, f"is longer than {max_length} characters")
    return value


def one_of(obj: Fields, key: str, path: str, choices: Sequence[str],
           *, required: bool = False) -> Optional[str]:
    value: Optional[str] = field(obj, key, path, STRING, required=required)
    if value is not None and value not in choices:
        raise invalid(f"{path}.{key}" if path else key, "should be one of " + ", ".join(choices))
    return value


def _time_field(obj: Fields, key: str, path: str, upper: int) -> None:
    """A number from 0 up to (not including) `upper`; NaN and infinities fail the range too."""
    value = field(obj, key, path, NUMBER)
    if value is not None and not 0 <= value < upper:
        raise invalid(f"{path}.{key}", f"should be a number from 0 to below {upper}")


def validate_item(payload: Fields) -> Fields:
    """Check a `POST item/` body; returns its `data` object."""
    data: Fields = field(payload, "data", "", OBJECT, required=True)
    field(data, "environment", "data", STRING, required=True, max_length=MAX_ENVIRONMENT)
    _body(field(data, "body", "data", OBJECT, required=True), "data.body")
    one_of(data, "level", "data", LEVELS)
    _time_field(data, "timestamp", "data", MAX_TIMESTAMP)
    field(data, "context", "data", STRING, nullable=False)
    for key, limit in _DATA_STRINGS.items():
        field(data, key, "data", STRING, max_length=limit)
    for key in _DATA_OBJECTS:
        field(data, key, "data", OBJECT)
    _fields(field(data, "request", "data", OBJECT), "data.request", _REQUEST_FIELDS)
    server = field(data, "server", "data", OBJECT)
    if server is not None:
        for key in _SERVER_STRINGS:
            field(server, key, "data.server", STRING)
    _person(field(data, "person", "data", OBJECT))
    _notifier(field(data, "notifier", "data", OBJECT))
    return data


def validate_deploy(fields: Fields) -> None:
    field(fields, "environment", "", STRING, required=True, max_length=MAX_DEPLOY_FIELD)
    field(fields, "revision", "", STRING, required=True, max_length=MAX_DEPLOY_FIELD)
    for key in ("rollbar_username", "local_username"):
        field(fields, key, "", STRING, max_length=MAX_DEPLOY_FIELD)
    validate_deploy_update(fields)


def validate_deploy_update(fields: Fields) -> None:
    field(fields, "comment", "", STRING, max_length=MAX_DEPLOY_COMMENT)
    one_of(fields, "status", "", DEPLOY_STATUSES)


def _body(body: Fields, path: str) -> None:
    kinds = [kind for kind in BODY_KINDS if body.get(kind) is not None]
    if len(kinds) != 1:
        raise invalid(path, "should contain exactly one of " + ", ".join(BODY_KINDS))
    kind = kinds[0]
    if kind == "trace":
        _trace(field(body, kind, path, OBJECT), f"{path}.trace")
    elif kind == "trace_chain":
        chain = field(body, kind, path, LIST)
        if not chain:
            raise invalid(f"{path}.trace_chain", "should not be empty")
        for index, trace in enumerate(chain):
            _trace(_element(trace, f"{path}.trace_chain.{index}"), f"{path}.trace_chain.{index}")
    elif kind == "message":
        field(field(body, kind, path, OBJECT), "body", f"{path}.message", STRING, required=True)
    else:
        report = field(body, kind, path, OBJECT)
        field(report, "raw", f"{path}.crash_report", STRING, required=True)
    for index, event in enumerate(field(body, "telemetry", path, LIST) or []):
        event_path = f"{path}.telemetry.{index}"
        _fields(_element(event, event_path), event_path, _TELEMETRY_FIELDS)
        one_of(event, "level", event_path, LEVELS)
        _time_field(event, "timestamp_ms", event_path, MAX_TIMESTAMP_MS)


def _trace(trace: Fields, path: str) -> None:
    frames = field(trace, "frames", path, LIST, required=True)
    for index, frame in enumerate(frames):
        frame_path = f"{path}.frames.{index}"
        _element(frame, frame_path)
        field(frame, "filename", frame_path, STRING, required=True)
        _fields(frame, frame_path, _FRAME_FIELDS)
        context = field(frame, "context", frame_path, OBJECT)
        if context is not None:
            for key in ("pre", "post"):
                _strings(field(context, key, f"{frame_path}.context", LIST),
                         f"{frame_path}.context.{key}")
    exception = field(trace, "exception", path, OBJECT)
    if exception is not None:
        field(exception, "class", f"{path}.exception", STRING, required=True)
        field(exception, "message", f"{path}.exception", STRING)
        field(exception, "description", f"{path}.exception", STRING)


def _person(person: Optional[Fields]) -> None:
    if person is not None:
        field(person, "id", "data.person", STRING_OR_INTEGER, required=True,
              max_length=MAX_PERSON_ID)
        field(person, "username", "data.person", STRING, max_length=MAX_PERSON_FIELD)
        field(person, "email", "data.person", STRING, max_length=MAX_PERSON_FIELD)


def _notifier(notifier: Optional[Fields]) -> None:
    if notifier is not None:
        _fields(notifier, "data.notifier",
                {"name": STRING, "version": STRING, "diagnostic": OBJECT})


def _fields(obj: Optional[Fields], path: str, kinds: Mapping[str, str]) -> None:
    if obj is not None:
        for key, kind in kinds.items():
            field(obj, key, path, kind)


def _element(value: Any, path: str) -> Fields:
    if not isinstance(value, dict):
        raise invalid(path, f"should be {OBJECT}")
    return value


def _strings(values: Optional[Sequence[Any]], path: str) -> None:
    for index, value in enumerate(values or []):
        if not isinstance(value, str):
            raise invalid(f"{path}.{index}", f"should be {STRING}")
