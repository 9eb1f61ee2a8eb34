"""Reading and decoding request bodies within Rollbar's 128 KB limit.

The size is decided from Content-Length before reading, so an oversized post costs
the server nothing; chunked bodies are counted while they are read.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import json
import math
from typing import Any, Dict, List, Mapping, Tuple
from urllib.parse import parse_qsl

from ..contract import MAX_BODY_BYTES
from .messages import ApiError, Request

_MAX_CHUNK_LINE = 1024
_MAX_TRAILERS = 64


def _too_large() -> ApiError:
    return ApiError(413, f"request body is larger than {MAX_BODY_BYTES} bytes")


def declared_length(headers: Mapping[str, str]) -> int:
    """Content-Length, refused (400/413) before any of the body is read or even sent."""
    text = headers.get("content-length")
    if text is None:
        return 0
    try:
        length = int(text)
    except ValueError:
        raise ApiError(400, "invalid Content-Length header") from None
    if length < 0:
        raise ApiError(400, "invalid Content-Length header")
    if length > MAX_BODY_BYTES:
        raise _too_large()
    return length


async def read_body(reader: asyncio.StreamReader, headers: Mapping[str, str]) -> bytes:
    """The whole body, or ApiError 400/413; the caller must close the connection on error."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _read_chunked(reader)
    return await _read_exactly(reader, declared_length(headers))


def decode_fields(request: Request) -> Dict[str, Any]:
    """The body as a JSON object; forms are accepted as SDKs and curl send them.

    A form's `payload` field holds the JSON (the deprecated item format); other form
    fields (a deploy's, or `access_token`) are taken as strings.
    """
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        return _from_form(parse_qsl(_text(request.body), keep_blank_values=True))
    if kind == "multipart/form-data":
        return _from_form(_multipart(request.body, content_type))
    return _json_object(_text(request.body))


def _from_form(pairs: List[Tuple[str, str]]) -> Dict[str, Any]:
    form: Dict[str, Any] = dict(pairs)
    if "payload" not in form:
        return form
    fields = _json_object(form.pop("payload"))
    if "access_token" in form:
        fields.setdefault("access_token", form["access_token"])
    return fields


def _multipart(raw: bytes, content_type: str) -> List[Tuple[str, str]]:
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    pairs = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(data, bytes):
            pairs.append((name, _text(data)))
    return pairs


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is not valid UTF-8") from None


def _json_object(text: str) -> Dict[str, Any]:
    value = _json(text)
    if not isinstance(value, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return value


def _json(text: str) -> Any:
    """Parse, replacing lone surrogate escapes (`"\\ud800"`) with `?`.

    Python notifiers send them for undecodable file names and argv (surrogateescape),
    and left in place they would fail every later UTF-8 encode: SQLite, hashing, the page.
    `NaN`, `Infinity` and numbers too large for a float are refused (422): no JSON
    reader could parse them back from the read API.
    """
    try:
        value = json.loads(text, parse_constant=_not_finite, parse_float=_finite_float)
    except ApiError:
        raise
    except (ValueError, RecursionError):
        raise ApiError(400, "the request body is not valid JSON") from None
    if "\\ud" in text or "\\uD" in text:  # only an escape can carry a lone surrogate
        value = json.loads(json.dumps(value, ensure_ascii=False).encode("utf-8", "replace"))
    return value


def _not_finite(text: str) -> float:
    raise ApiError(422, f"Invalid format. {text} is not a JSON number.")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ApiError(422, f"Invalid format. {text[:40]} is too large for a number.")
    return value


async def _read_exactly(reader: asyncio.StreamReader, length: int) -> bytes:
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise ApiError(400, "the request body ended before Content-Length bytes") from None


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    try:
        line = await reader.readuntil(b"\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        raise ApiError(400, "malformed chunked request body") from None
    if len(line) > _MAX_CHUNK_LINE:
        raise ApiError(400, "malformed chunked request body")
    return line


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """Each chunk has at least one byte, so the size limit also bounds the loop."""
    chunks: List[bytes] = []
    total = 0
    while True:
        line = await _read_line(reader)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ApiError(400, "malformed chunked request body") from None
        if size < 0:
            raise ApiError(400, "malformed chunked request body")
        if size == 0:
            break
        total += size
        if total > MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(await _read_exactly(reader, size))
        if (await _read_line(reader)).strip():
            raise ApiError(400, "malformed chunked request body")
    for _ in range(_MAX_TRAILERS):
        if not (await _read_line(reader)).strip():
            break
    return b"".join(chunks)
