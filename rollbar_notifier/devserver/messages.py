"""The request and response values passed between the socket layer and the API/page.

Keeping them plain data lets the API and the page be written (and tested) without
sockets, and lets any layer stop processing by raising `ApiError`.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping, Optional


@dataclasses.dataclass(frozen=True)
class Request:
    """One parsed HTTP request: header names lower-cased (HTTP's are case-insensitive),
    `body` raw and already size-checked."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    content_type: str


@dataclasses.dataclass(frozen=True)
class Response:
    """A complete answer, built before anything is written to the socket.

    Building it whole first is what lets an exception anywhere become a clean 500.
    """

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)

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


def json_response(
    status: int, value: Any, headers: Optional[Mapping[str, str]] = None
) -> Response:
    body = json.dumps(value, ensure_ascii=False).encode("utf-8")
    return Response(status, body, "application/json; charset=utf-8", dict(headers or {}))


def ok(result: Any) -> Response:
    """Rollbar's success envelope."""
    return json_response(200, {"err": 0, "result": result})
