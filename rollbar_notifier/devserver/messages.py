"""The request and response values passed between the socket layer and the API/page,
and the routing the API and the page share.

Keeping them plain data lets the API and the page be written (and tested) without
sockets, and lets any layer stop processing by raising `ApiError`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Pattern, Tuple


@dataclasses.dataclass(frozen=True)
class Request:
    """One parsed HTTP request: header names lower-cased (HTTP's are case-insensitive),
    `body` raw and already size-checked."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes


JSON_TYPE = "application/json; charset=utf-8"


@dataclasses.dataclass(frozen=True)
class Stream:
    """What follows the headers of an answer that stays open (server-sent events).

    `next` runs on a worker thread and returns the bytes to send now, `b""` when there
    is nothing new; `listen(wake)` asks for `wake()` to be called, from any thread, when
    there may be more, and returns the function that cancels that.
    """

    next: Callable[[], bytes]
    listen: Callable[[Callable[[], None]], Callable[[], None]]


@dataclasses.dataclass(frozen=True)
class Response:
    """A complete answer, built before anything is written to the socket.

    Building it whole first is what lets an exception anywhere become a clean 500. A
    `stream`, when set, is written after `body` until the client leaves.
    """

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    stream: Optional[Stream] = None

    def with_headers(self, headers: Mapping[str, str]) -> Response:
        return dataclasses.replace(self, headers={**self.headers, **headers})


class ApiError(Exception):
    """Raised anywhere below the handler to answer with Rollbar's error shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> Response:
        return json_response(self.status, {"err": 1, "message": self.message})


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON; `NaN` and infinities raise, as they would make it invalid."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")


def json_response(
    status: int, value: Any, headers: Optional[Mapping[str, str]] = None
) -> Response:
    return Response(status, encode_json(value), JSON_TYPE, dict(headers or {}))


def ok(result: Any, headers: Optional[Mapping[str, str]] = None) -> Response:
    """Rollbar's success envelope."""
    return json_response(200, {"err": 0, "result": result}, headers)


def found(value: Optional[Dict[str, Any]], what: str) -> Dict[str, Any]:
    """Lets a handler turn a missing row into Rollbar's 404 inside one expression."""
    if value is None:
        raise ApiError(404, f"{what} not found")
    return value


Handler = Callable[[Request, Tuple[str, ...]], Response]
Routes = List[Tuple[str, Pattern[str], Handler]]


def routes(prefix: str, table: Iterable[Tuple[str, str, Handler]]) -> Routes:
    """The trailing slash is optional on every route: senders differ on it."""
    return [(method, re.compile(re.escape(prefix) + pattern + "/?"), handler)
            for method, pattern, handler in table]


def dispatch(table: Routes, request: Request) -> Response:
    """Answer with the first matching route; its ApiError becomes the response here,
    so a handler can stop at any depth."""
    asked = "GET" if request.method == "HEAD" else request.method  # the socket drops the body
    for method, pattern, handler in table:
        match = pattern.fullmatch(request.path)
        if match and method == asked:
            try:
                return handler(request, match.groups())
            except ApiError as error:
                return error.response()
    return ApiError(404, "Not found").response()
