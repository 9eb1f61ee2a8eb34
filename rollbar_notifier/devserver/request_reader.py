"""Reading one HTTP/1.x request off a connection: request line, headers and body, within
a deadline, refused with the matching status when they are not acceptable.

Kept apart from the connection handling so that the parsing rules, and the limits that
keep a client from making the server hold unbounded input, read in one place.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from typing import Dict, List, Optional, Tuple
from urllib.parse import parse_qsl, urlsplit

from .body import declared_length, read_body
from .messages import ApiError, Request

MAX_HEAD_BYTES = 65536
"""Request line plus headers."""
MAX_REQUEST_LINE = 8192
MAX_HEADERS = 100

_VERSION = re.compile(r"HTTP/(\d)\.(\d)")


@dataclasses.dataclass
class Head:
    line: str
    method: str
    target: str
    version: Tuple[int, int]
    headers: Dict[str, str]

    @property
    def keep_alive(self) -> bool:
        tokens = {token.strip().lower()
                  for token in self.headers.get("connection", "").split(",")}
        if self.version >= (1, 1):
            return "close" not in tokens
        return "keep-alive" in tokens


class Progress:
    """Whether any byte of the current request arrived: a deadline then gets a 408,
    while a connection idle between requests is just closed."""

    def __init__(self) -> None:
        self.started = False
        self.line = "-"


async def read_within_deadline(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, progress: Progress,
    timeout: float,
) -> Optional[Tuple[Head, Request]]:
    """`read_request`, cancelled by a timer at the deadline: what `asyncio.wait_for`
    does, without a task per request (the server's hottest path)."""
    task = asyncio.current_task()
    assert task is not None
    expired: List[bool] = []

    def expire() -> None:
        expired.append(True)
        task.cancel()

    timer = asyncio.get_running_loop().call_later(timeout, expire)
    try:
        return await read_request(reader, writer, progress)
    except asyncio.CancelledError:
        if not expired:
            raise
        if hasattr(task, "uncancel"):  # Python 3.11+: this cancellation is handled
            task.uncancel()
        raise asyncio.TimeoutError() from None
    finally:
        timer.cancel()


async def read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       progress: Progress) -> Optional[Tuple[Head, Request]]:
    """The next complete request, None at a clean end of the connection."""
    first = await reader.read(1)
    if not first:
        return None
    progress.started = True
    head = await _read_head(reader, first, progress)
    if head.headers.get("expect", "").lower() == "100-continue" and head.version >= (1, 1):
        declared_length(head.headers)  # an oversized body is refused before it is sent
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = await read_body(reader, head.headers)
    url = urlsplit(head.target)
    return head, Request(
        method=head.method,
        path=url.path,
        query=dict(parse_qsl(url.query, keep_blank_values=True)),
        headers=head.headers,
        body=body,
    )


async def _read_head(reader: asyncio.StreamReader, first: bytes, progress: Progress) -> Head:
    """Request line and headers; 400, 414, 431 or 505 when they are not acceptable."""
    line = first + await _line(reader, 414, "request line too long")
    while line in (b"\r\n", b"\n"):  # empty lines before a request are allowed
        line = await _line(reader, 414, "request line too long")
    if len(line) > MAX_REQUEST_LINE:
        raise ApiError(414, "request line too long")
    text = line.decode("latin-1").rstrip("\r\n")
    progress.line = text
    words = text.split()
    if len(words) != 3:
        raise ApiError(400, f"bad request line: {text[:100]!r}")
    method, target, version_text = words
    version = _VERSION.fullmatch(version_text)
    if version is None:
        raise ApiError(400, f"bad HTTP version: {version_text[:20]!r}")
    if version[1] != "1":
        raise ApiError(505, "only HTTP/1.0 and HTTP/1.1 are supported")
    headers: Dict[str, str] = {}
    lengths: List[str] = []
    size = len(line)
    for _ in range(MAX_HEADERS + 1):
        raw = await _line(reader, 431, "request headers too large")
        size += len(raw)
        if raw in (b"\r\n", b"\n"):
            _check_lengths(lengths)
            return Head(text, method, target, (1, int(version[2])), headers)
        if size > MAX_HEAD_BYTES:
            break
        name, colon, value = raw.decode("latin-1").partition(":")
        if not colon or not name or name != name.strip() or name[0] in " \t":
            raise ApiError(400, "malformed header line")
        key, value = name.lower(), value.strip()
        if key == "content-length":
            lengths.append(value)
            headers[key] = value
        else:
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
    raise ApiError(431, "request headers too large")


def _check_lengths(lengths: List[str]) -> None:
    """Two different Content-Length headers make the body's end ambiguous (a classic
    request-smuggling trick): refuse rather than pick one."""
    if len(set(lengths)) > 1:
        raise ApiError(400, "conflicting Content-Length headers")


async def _line(reader: asyncio.StreamReader, status: int, message: str) -> bytes:
    try:
        return await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise ApiError(status, message) from None

