"""What the worker needs of HTTP: one ``send`` method, and the values it takes and gives.

The worker, blocking mode and deploys depend on :class:`Transport`, not on ``requests``,
so their logic is tested with a recording transport; :class:`~.http_transport.HttpTransport`
is the real one, tested against real servers. A transport never raises: a request that
got no answer is a :class:`Response` with status 0 and an ``error``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping, Optional, Protocol


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    path: str
    """Relative to the endpoint, e.g. ``item/`` or ``deploy/12``."""
    body: Optional[bytes] = None
    timeout: Optional[float] = None
    """Seconds, when the caller can afford less than the configured timeout (at exit)."""
    anonymous: bool = False
    """Sent without the token: ``GET status/ping`` needs none, so it is not exposed there."""


PING = Request("GET", "status/ping", anonymous=True)
"""``GET status/ping`` needs no token, so none is sent."""


@dataclasses.dataclass(frozen=True)
class Response:
    status: int
    """The HTTP status, or 0 when no response arrived (see ``error``)."""
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    body: bytes = b""
    error: Optional[str] = None
    """Why no response arrived: connection refused, reset, timeout..."""


def answers_pong(response: Response) -> bool:
    """What a live Rollbar API (or devserver) answers to :data:`PING`."""
    return response.status == 200 and response.body.strip() == b"pong"


class Transport(Protocol):
    def send(self, request: Request) -> Response:
        """Perform ``request``; never raise, report network failures as status 0."""


def server_message(body: bytes) -> Optional[str]:
    """The ``message`` of a Rollbar JSON response, bounded; ``None`` if there is none."""
    try:
        data: Any = json.loads(body.decode("utf-8")) if body else None
    except (ValueError, UnicodeDecodeError):
        return None
    message = data.get("message") if isinstance(data, dict) else None
    return str(message)[:500] if message is not None else None
