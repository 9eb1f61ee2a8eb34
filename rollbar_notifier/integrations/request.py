"""A request as Rollbar shows it (``data.request``), from a WSGI environ or an ASGI scope.

The shape: ``url`` (with the query), ``method``, ``headers``, ``GET``, ``user_ip``, and
where the integration knows them ``route`` and ``params``; with ``include_request_body``
also the body of a form (``POST``) or JSON (``body``) request. Values are sent as they
came: the notifier scrubs secrets (``Authorization``, ``Cookie``, ``password`` fields, ...)
from the whole item before it leaves the process.

A body is taken only when it is whole and small (:data:`MAX_REQUEST_BODY`): part of a
JSON document could not be parsed, and so could not be scrubbed. Other bodies (file
uploads, multipart forms, binary data) are never taken.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple
from urllib.parse import parse_qs, quote

from ..config import Config
from .client_ip import hide_in_headers, user_ip

MAX_REQUEST_BODY = 8192
"""Bytes of a request body kept at most; a longer body is left out whole."""
FORM = "application/x-www-form-urlencoded"
JSON_TYPES = ("application/json",)
JSON_SUFFIX = "+json"
WSGI_PLAIN_HEADERS = {"CONTENT_TYPE": "Content-Type", "CONTENT_LENGTH": "Content-Length"}


def header_name(name: str) -> str:
    """``user-agent`` and ``HTTP_USER_AGENT`` both become ``User-Agent``."""
    return "-".join(part.capitalize() for part in name.replace("_", "-").split("-"))


def wsgi_headers(environ: Mapping[str, Any]) -> Dict[str, str]:
    headers: Dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[header_name(key[5:])] = str(value)
        elif key in WSGI_PLAIN_HEADERS and value:
            headers[WSGI_PLAIN_HEADERS[key]] = str(value)
    return headers


def asgi_headers(raw: Iterable[Tuple[bytes, bytes]]) -> Dict[str, str]:
    """Repeated headers are joined with ``, ``, as HTTP allows."""
    headers: Dict[str, str] = {}
    for name, value in raw:
        key = header_name(name.decode("latin-1"))
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def wsgi_url(environ: Mapping[str, Any]) -> str:
    """The request URL as PEP 3333 rebuilds it."""
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST") or _host_port(scheme, environ.get("SERVER_NAME", ""),
                                                   environ.get("SERVER_PORT"))
    path = _path(environ.get("SCRIPT_NAME", "")) + _path(environ.get("PATH_INFO", ""))
    return _with_query(f"{scheme}://{host}{path}", environ.get("QUERY_STRING", ""))


def asgi_url(scope: Mapping[str, Any], headers: Mapping[str, str]) -> str:
    default_scheme = "ws" if scope.get("type") == "websocket" else "http"
    scheme = scope.get("scheme") or default_scheme
    server = scope.get("server") or ("", None)
    host = headers.get("Host") or _host_port(scheme, str(server[0]), server[1])
    path = quote(full_path(scope), safe="/%:@!$&'()*+,;=~")
    query = scope.get("query_string", b"")
    return _with_query(f"{scheme}://{host}{path}",
                       query.decode("latin-1") if isinstance(query, bytes) else str(query))


def full_path(scope: Mapping[str, Any]) -> str:
    """Servers differ on whether ``path`` already starts with ``root_path``."""
    root, path = str(scope.get("root_path", "")), str(scope.get("path", ""))
    return path if path.startswith(root) else root + path


def _path(text: str) -> str:
    return quote(text.encode("latin-1", "replace"), safe="/%:@!$&'()*+,;=~")


def _host_port(scheme: str, host: str, port: Any) -> str:
    default = {"http": "80", "ws": "80", "https": "443", "wss": "443"}.get(scheme)
    return host if port is None or str(port) == default else f"{host}:{port}"


def _with_query(url: str, query: str) -> str:
    return f"{url}?{query}" if query else url


def query_params(query: str) -> Dict[str, Any]:
    """``a=1&a=2&b=3`` is ``{"a": ["1", "2"], "b": "3"}``."""
    return {name: values[0] if len(values) == 1 else values
            for name, values in parse_qs(query, keep_blank_values=True).items()}


def build(*, config: Config, url: str, method: str, headers: Dict[str, str], query: str,
          peer: Optional[str], body: Optional[bytes] = None, route: Optional[str] = None,
          params: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """``data.request`` from a request's parts; the one place the options are applied."""
    request: Dict[str, Any] = {
        "url": url, "method": method, "headers": headers, "GET": query_params(query),
        "user_ip": user_ip(peer, headers, config.trusted_proxies, config.capture_ip),
    }
    hide_in_headers(headers, config.capture_ip)
    if route:
        request["route"] = route
    if params:
        request["params"] = dict(params)
    if body is not None and config.include_request_body:
        request.update(body_fields(headers.get("Content-Type", ""), body))
    return {key: value for key, value in request.items() if value not in (None, {}, "")}


def from_wsgi(environ: Mapping[str, Any], config: Config, *, body: Optional[bytes] = None,
              url: Optional[str] = None, route: Optional[str] = None,
              params: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    return build(config=config, url=url or wsgi_url(environ),
                 method=str(environ.get("REQUEST_METHOD", "GET")),
                 headers=wsgi_headers(environ), query=str(environ.get("QUERY_STRING", "")),
                 peer=environ.get("REMOTE_ADDR"), body=body, route=route, params=params)


def from_asgi(scope: Mapping[str, Any], config: Config, *, body: Optional[bytes] = None,
              route: Optional[str] = None) -> Dict[str, Any]:
    headers = asgi_headers(scope.get("headers") or ())
    query = scope.get("query_string", b"")
    client = scope.get("client")
    return build(config=config, url=asgi_url(scope, headers),
                 method=str(scope.get("method", "GET")), headers=headers,
                 query=query.decode("latin-1") if isinstance(query, bytes) else str(query),
                 peer=str(client[0]) if client else None, body=body, route=route,
                 params=scope.get("path_params"))


def _media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


def takes_body(config: Config, content_type: Optional[str], length: Any) -> bool:
    """Whether a body of this type and declared length is one to keep, so integrations
    record or read only those (an unknown length is checked as the body is read)."""
    if not config.include_request_body:
        return False
    media = _media_type(content_type or "")
    if media != FORM and media not in JSON_TYPES and not media.endswith(JSON_SUFFIX):
        return False
    try:
        return length in (None, "") or 0 < int(length) <= MAX_REQUEST_BODY
    except (TypeError, ValueError):
        return False


def body_fields(content_type: str, body: bytes) -> Dict[str, Any]:
    """``{"POST": {...}}`` for a form, ``{"body": "<json>"}`` for JSON that parses, else
    nothing (too long, not text, not one of those types)."""
    if not body or len(body) > MAX_REQUEST_BODY:
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    media = _media_type(content_type)
    if media == FORM:
        return {"POST": query_params(text)}
    if media in JSON_TYPES or media.endswith(JSON_SUFFIX):
        try:
            json.loads(text)
        except ValueError:
            return {}
        return {"body": text}
    return {}
