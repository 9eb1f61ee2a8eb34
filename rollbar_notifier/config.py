"""One immutable, validated set of options shared by every stage of the notifier.

Options come from keyword arguments, then from ``ROLLBAR_*`` environment variables,
then from defaults. Everything is checked once, here, so that later stages can trust
the values and never have to raise into the host program. Strings are accepted
wherever a number or a flag is expected, because ``fileConfig`` and the environment
only have strings.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import math
import os
import signal
import socket
import sys
from typing import Any, Callable, Dict, Literal, Mapping, Optional, Tuple, Type, Union, get_args
from urllib.parse import urlsplit

from .codebase import detect_revision, project_root
from .contract import (
    CLIENT_PLATFORMS,
    CLIENT_SCOPE,
    MAX_BODY_BYTES,
    MAX_CODE_VERSION,
    MAX_ENVIRONMENT,
    SERVER_SCOPE,
)
from .last_resort import warn
from .levels import normalize_level
from .scrub import pattern_problem

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://api.rollbar.com/api/1/"
MIN_BODY_BYTES = 8192
"""The smallest limit the minimal item is guaranteed to fit, even with 255-character
identity fields made of 4-byte characters."""
Mode = Literal["thread", "blocking"]
"""``thread``: queued and sent by sender threads; ``blocking``: sent in the caller's thread."""
TokenScope = Literal["post_server_item", "post_client_item"]
CaptureIp = Union[bool, Literal["anonymize"]]
"""``anonymize``: the last IPv4 octet and the last 80 bits of an IPv6 address zeroed."""

BeforeSend = Callable[[Dict[str, Any]], Optional[Dict[str, Any]]]
Coerce = Callable[[str, Any], Any]
"""Checks one option: given its label (the keyword or the variable) and a raw value."""


def _text(max_length: int) -> Coerce:
    def coerce(label: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{label} must be a non-empty string, got {value!r}")
        if len(value) > max_length:
            raise ValueError(f"{label} must be at most {max_length} characters")
        return value
    return coerce


def _choice(*choices: str) -> Coerce:
    def coerce(label: str, value: Any) -> str:
        if value not in choices:
            raise ValueError(f"{label} must be one of {', '.join(map(repr, choices))}, "
                             f"got {value!r}")
        return str(value)
    return coerce


def _token(label: str, value: Any) -> Optional[str]:
    """Never echo the value: it is a secret, and error messages end up in logs.

    An empty token means none, as with an unset variable: the notifier then reports
    nothing and says so once, rather than crashing the program at start-up.
    """
    if not isinstance(value, str):
        raise ValueError(f"{label} must be a string")
    if not value:
        return None
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise ValueError(f"{label} contains white space or control characters (a trailing "
                         "newline from a file?); strip it")
    return value


def _path(label: str, value: Any) -> str:
    try:
        return os.fspath(value)  # type: ignore[no-any-return]
    except TypeError:
        raise ValueError(f"{label} must be a path, got {value!r}") from None


def _flag(label: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
    raise ValueError(f"{label} must be true or false, got {value!r}")


def _number(minimum: float, *, whole: bool = False, above: bool = False) -> Coerce:
    def coerce(label: str, value: Any) -> float:
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value.strip()) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{label} must be a number, got {value!r}") from None
        if not math.isfinite(number) or (whole and not number.is_integer()):
            raise ValueError(f"{label} must be a finite {'whole ' if whole else ''}number, "
                             f"got {value!r}")
        if number < minimum or (above and number == minimum):
            raise ValueError(f"{label} must be {'above' if above else 'at least'} {minimum:g}, "
                             f"got {value!r}")
        return int(number) if whole else number
    return coerce


def _capture_ip(label: str, value: Any) -> CaptureIp:
    if isinstance(value, str) and value.strip().lower() == "anonymize":
        return "anonymize"
    try:
        return _flag(label, value)
    except ValueError:
        raise ValueError(f"{label} must be true, false or 'anonymize', got {value!r}") from None


def _networks(label: str, value: Any) -> Tuple[str, ...]:
    """Addresses and CIDR blocks, checked and written as networks (``10.0.0.1/32``)."""
    items = value if isinstance(value, (list, tuple, set, frozenset)) else _strings(label, value)
    try:
        return tuple(str(ipaddress.ip_network(str(item).strip(), strict=False))
                     for item in items)
    except ValueError as exc:
        raise ValueError(f"{label} must list IP addresses or networks: {exc}") from None


def _body_limit(label: str, value: Any) -> int:
    limit: int = _number(MIN_BODY_BYTES, whole=True)(label, value)
    if limit > MAX_BODY_BYTES:
        raise ValueError(f"{label} must be at most {MAX_BODY_BYTES} (the API's 128 KB)")
    return limit


def _logging_level(label: str, value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        name = normalize_level(value)
    except ValueError as exc:
        raise ValueError(f"{label}: {exc}") from None
    return {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
            "error": logging.ERROR, "critical": logging.CRITICAL}[name]


def _strings(label: str, value: Any) -> Tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    try:
        items = tuple(value)
    except TypeError:
        raise ValueError(f"{label} must be a list of strings") from None
    if not all(isinstance(item, str) for item in items):
        raise ValueError(f"{label} must be a list of strings")
    return items


UNCATCHABLE_SIGNALS = ("SIGKILL", "SIGSTOP")
NO_SIGNALS = ("none", "off")
"""What ``ROLLBAR_FLUSH_ON_SIGNALS`` says for "no signal", as an empty variable means unset."""


def _signal_names(label: str, value: Any) -> Tuple[str, ...]:
    if isinstance(value, str) and value.strip().lower() in NO_SIGNALS:
        return ()
    names = tuple(name.upper() for name in _strings(label, value))
    for name in names:
        if name not in signal.Signals.__members__ or name in UNCATCHABLE_SIGNALS:
            raise ValueError(f"{label} must list catchable signal names such as SIGTERM, "
                             f"got {name!r}")
    return names


def _patterns(label: str, value: Any) -> Tuple[str, ...]:
    """Regular expressions; a string holds one per line, since commas belong to them."""
    items = (tuple(line for line in value.splitlines() if line) if isinstance(value, str)
             else _strings(label, value))
    problem = pattern_problem(items)
    if problem:
        raise ValueError(f"{label}: {problem}")
    return items


def _exception_classes(label: str, value: Any) -> Tuple[Type[BaseException], ...]:
    items = value if isinstance(value, (tuple, list, set, frozenset)) else (value,)
    for item in items:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise ValueError(f"{label} must list exception classes, got {item!r}")
    return tuple(items)


def _callable(label: str, value: Any) -> Any:
    if not callable(value):
        raise ValueError(f"{label} must be a callable taking and returning a payload dict")
    return value


def _endpoint(label: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{label} must be a URL string, got {value!r}")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError as exc:
        raise ValueError(f"{label} is not a valid URL: {value!r} ({exc})") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"{label} must be an http(s) URL with a host, got {value!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{label} must not carry a query, fragment or credentials "
                         "(the token goes in the access_token option)")
    return value if value.endswith("/") else value + "/"


def _option(default: Any, coerce: Optional[Coerce], *, env: bool = True,
            repr: bool = True) -> Any:
    """Declare an option: its default, how a given value is checked, and whether
    a ``ROLLBAR_<NAME>`` variable may supply it."""
    return dataclasses.field(default=default, repr=repr,
                             metadata={"coerce": coerce, "env": env})


_ignored_variables: Dict[str, str] = {}
"""Each ignored variable, with what was said about it."""


def _ignore_variable(label: str, problem: ValueError) -> None:
    """An invalid keyword is the program's bug and raises; an invalid variable comes from
    whoever runs the program, which must still start: its default is used, and that is
    said once (again only if the variable changes)."""
    if _ignored_variables.get(label) != str(problem):
        _ignored_variables[label] = str(problem)
        warn(log, "rollbar_notifier: %s; ignoring %s and using the default", problem, label)


@dataclasses.dataclass(frozen=True)
class Config:
    """The notifier's options. Build it with :meth:`Config.from_options`."""

    access_token: Optional[str] = _option(None, _token, repr=False)
    environment: str = _option("production", _text(MAX_ENVIRONMENT))
    endpoint: str = _option(DEFAULT_ENDPOINT, _endpoint)
    token_scope: TokenScope = _option(SERVER_SCOPE, _choice(*get_args(TokenScope)))  # noqa: RUF009
    platform: str = _option("", _text(255))
    """Resolved by :meth:`from_options`: ``sys.platform``, or ``client`` for a client token."""
    code_version: Optional[str] = _option(None, _text(MAX_CODE_VERSION))
    """Resolved by :meth:`from_options`: detected (CI variables, ``git``) unless given."""
    root: str = _option("", _path)
    """Resolved by :meth:`from_options`: the project root unless given (see
    :func:`.codebase.project_root`)."""
    branch: Optional[str] = _option(None, _text(255))
    host: str = _option("", _text(255))
    """Resolved by :meth:`from_options`: the host name unless given."""
    framework: Optional[str] = _option(None, _text(255))
    capture_locals: bool = _option(True, _flag)
    scrub_fields: Tuple[str, ...] = _option((), _strings)
    scrub_patterns: Tuple[str, ...] = _option((), _patterns)
    """Regular expressions whose matches are scrubbed from every string, as secrets are."""
    before_send: Optional[BeforeSend] = _option(None, _callable, env=False)  # noqa: RUF009
    ignore: Tuple[Type[BaseException], ...] = _option((), _exception_classes, env=False)
    mode: Mode = _option("thread", _choice(*get_args(Mode)))  # noqa: RUF009
    queue_size: int = _option(1000, _number(1, whole=True))
    queue_bytes: int = _option(32 * 1024 * 1024, _number(1, whole=True))
    """Estimated bytes the queued events may hold together (see :func:`.worker.footprint`);
    past it, like past ``queue_size``, the newest report is dropped."""
    senders: int = _option(4, _number(1, whole=True))
    timeout: float = _option(5.0, _number(0, above=True))
    retry_for: float = _option(300.0, _number(0))
    shutdown_timeout: float = _option(5.0, _number(0))
    spool_dir: Optional[str] = _option(None, _path)
    spool_max_items: int = _option(1000, _number(1, whole=True))
    spool_max_bytes: int = _option(64 * 1024 * 1024, _number(0, whole=True))
    max_body_bytes: int = _option(MAX_BODY_BYTES, _body_limit)
    telemetry_level: int = _option(logging.INFO, _logging_level)
    telemetry_size: int = _option(50, _number(0, whole=True))
    install_hooks: bool = _option(True, _flag)
    enabled: bool = _option(True, _flag)
    verify_tls: bool = _option(True, _flag)
    flush_on_signals: Tuple[str, ...] = _option(("SIGTERM",), _signal_names)
    """Signals that make ``init()`` flush (or spool) what is queued before the process
    ends, where the program left their default action (see :mod:`.signals`)."""
    include_request_body: bool = _option(False, _flag)
    """Integrations send form and JSON request bodies (bounded, never file uploads)."""
    capture_ip: CaptureIp = _option("anonymize", _capture_ip)  # noqa: RUF009
    trusted_proxies: Tuple[str, ...] = _option((), _networks)
    """Peers whose ``X-Forwarded-For`` / ``X-Real-Ip`` headers integrations believe."""
    capture_username: bool = _option(False, _flag)
    capture_email: bool = _option(False, _flag)

    @classmethod
    def from_options(
        cls,
        options: Optional[Mapping[str, Any]] = None,
        environ: Optional[Mapping[str, str]] = None,
    ) -> Config:
        """Merge keyword options over ``ROLLBAR_*`` variables over defaults, then validate."""
        options = dict(options or {})
        environ = os.environ if environ is None else environ
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - set(fields))
        if unknown:
            raise ValueError(f"unknown rollbar_notifier option(s): {', '.join(unknown)}")
        values: Dict[str, Any] = {}
        for name, field in fields.items():
            label, value = name, options.get(name)
            if value is None and field.metadata["env"]:
                label = "ROLLBAR_" + name.upper()
                value = environ.get(label) or None
            if value is not None:
                try:
                    values[name] = field.metadata["coerce"](label, value)
                except ValueError as exc:
                    if label == name:
                        raise
                    _ignore_variable(label, exc)
        return cls(**values)._completed(environ)

    def _completed(self, environ: Mapping[str, str]) -> Config:
        """Cross-option rules and the defaults that depend on the running process."""
        root = (self.root or project_root()).rstrip("/") or "/"
        return dataclasses.replace(
            self,
            platform=self._checked_platform(),
            root=root,
            host=self.host or socket.gethostname(),
            code_version=self.code_version or detect_revision(root, environ),
        )

    def _checked_platform(self) -> str:
        if self.token_scope == CLIENT_SCOPE:
            platform = self.platform or "client"
            if platform not in CLIENT_PLATFORMS:
                raise ValueError(
                    f"a {CLIENT_SCOPE} token only accepts a client-side platform "
                    f"({', '.join(sorted(CLIENT_PLATFORMS))}), got platform={platform!r}"
                )
            return platform
        return self.platform or sys.platform

    @property
    def is_client(self) -> bool:
        return self.token_scope == CLIENT_SCOPE
