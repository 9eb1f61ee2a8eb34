"""One immutable, validated set of options shared by every stage of the notifier.

Options come from keyword arguments, then from ``ROLLBAR_*`` environment variables,
then from defaults. Everything is checked once, here, so that later stages can trust
the values and never have to raise into the host program.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import sys
from typing import Any, Callable, Dict, FrozenSet, Mapping, Optional, Tuple, Type
from urllib.parse import urlsplit

from .levels import normalize_level

DEFAULT_ENDPOINT = "https://api.rollbar.com/api/1/"
MAX_BODY_BYTES = 131072
SERVER_SCOPE = "post_server_item"
CLIENT_SCOPE = "post_client_item"
CLIENT_PLATFORMS = frozenset({"browser", "android", "ios", "flash", "client"})
MODES = frozenset({"thread", "blocking"})

BeforeSend = Callable[[Dict[str, Any]], Optional[Dict[str, Any]]]


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected a boolean, got {text!r}")


def _parse_list(text: str) -> Tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


_ENV_PARSERS: Dict[type, Callable[[str], Any]] = {
    bool: _parse_bool,
    int: int,
    float: float,
    str: str,
    tuple: _parse_list,
}


def _option(default: Any, env_type: Optional[type] = str, **kwargs: Any) -> Any:
    """Declare an option; ``env_type=None`` means it cannot come from the environment."""
    metadata = {"env_type": env_type}
    if callable(default) and not isinstance(default, type):
        return dataclasses.field(default_factory=default, metadata=metadata, **kwargs)
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


@dataclasses.dataclass(frozen=True)
class Config:
    """The notifier's options. Build it with :meth:`Config.from_options`."""

    access_token: Optional[str] = _option(None, repr=False)
    environment: str = _option("production")
    endpoint: str = _option(DEFAULT_ENDPOINT)
    token_scope: str = _option(SERVER_SCOPE)
    platform: Optional[str] = _option(None)
    code_version: Optional[str] = _option(None)
    root: Optional[str] = _option(None)
    branch: Optional[str] = _option(None)
    host: Optional[str] = _option(None)
    framework: Optional[str] = _option(None)
    capture_locals: bool = _option(True, bool)
    scrub_fields: Tuple[str, ...] = _option((), tuple)
    before_send: Optional[BeforeSend] = _option(None, None)  # noqa: RUF009 - a field()
    ignore: Tuple[Type[BaseException], ...] = _option((), None)
    mode: str = _option("thread")
    queue_size: int = _option(1000, int)
    senders: int = _option(4, int)
    timeout: float = _option(5.0, float)
    retry_for: float = _option(300.0, float)
    shutdown_timeout: float = _option(5.0, float)
    spool_dir: Optional[str] = _option(None)
    spool_max_items: int = _option(1000, int)
    spool_max_bytes: int = _option(64 * 1024 * 1024, int)
    max_body_bytes: int = _option(MAX_BODY_BYTES, int)
    telemetry_level: int = _option(logging.INFO)
    telemetry_size: int = _option(50, int)
    install_hooks: bool = _option(True, bool)
    enabled: bool = _option(True, bool)
    verify_tls: bool = _option(True, bool)

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
            if name in options and options[name] is not None:
                values[name] = options[name]
                continue
            env_type = field.metadata.get("env_type")
            env_name = "ROLLBAR_" + name.upper()
            if env_type is not None and environ.get(env_name) not in (None, ""):
                try:
                    values[name] = _ENV_PARSERS[env_type](environ[env_name])
                except ValueError as exc:
                    raise ValueError(f"{env_name}: {exc}") from None
        return cls(**values)._validated()

    def _validated(self) -> Config:
        changes: Dict[str, Any] = {}
        if not isinstance(self.environment, str) or not 0 < len(self.environment) <= 255:
            raise ValueError("environment must be a non-empty string of at most 255 characters")
        changes["endpoint"] = _check_endpoint(self.endpoint)
        if self.token_scope not in (SERVER_SCOPE, CLIENT_SCOPE):
            raise ValueError(
                f"token_scope must be {SERVER_SCOPE!r} or {CLIENT_SCOPE!r}, "
                f"got {self.token_scope!r}"
            )
        changes["platform"] = self._checked_platform()
        if self.code_version is not None and len(str(self.code_version)) > 40:
            raise ValueError("code_version must be at most 40 characters (a full git SHA fits)")
        if self.mode not in MODES:
            raise ValueError(f"mode must be 'thread' or 'blocking', got {self.mode!r}")
        for name in ("queue_size", "senders", "spool_max_items"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
            changes[name] = int(getattr(self, name))
        for name in ("retry_for", "shutdown_timeout", "spool_max_bytes", "telemetry_size"):
            if float(getattr(self, name)) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)!r}")
        if float(self.timeout) <= 0:
            raise ValueError(f"timeout must be positive, got {self.timeout!r}")
        if not 1024 <= int(self.max_body_bytes) <= MAX_BODY_BYTES:
            raise ValueError(f"max_body_bytes must be between 1024 and {MAX_BODY_BYTES}")
        changes["telemetry_level"] = _logging_level(self.telemetry_level)
        changes["telemetry_size"] = int(self.telemetry_size)
        changes["scrub_fields"] = _string_tuple("scrub_fields", self.scrub_fields)
        changes["ignore"] = _exception_classes(self.ignore)
        if self.before_send is not None and not callable(self.before_send):
            raise ValueError("before_send must be a callable taking and returning a payload dict")
        changes["root"] = (self.root if self.root is not None else os.getcwd()).rstrip("/") or "/"
        changes["host"] = self.host or socket.gethostname()
        return dataclasses.replace(self, **changes)

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

    @property
    def sensitive_fields(self) -> FrozenSet[str]:
        return frozenset(self.scrub_fields)


def _check_endpoint(endpoint: str) -> str:
    try:
        parts = urlsplit(str(endpoint))
    except ValueError as exc:
        raise ValueError(f"endpoint is not a valid URL: {endpoint!r} ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"endpoint must be an http(s) URL with a host, got {endpoint!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"endpoint must not have a query or fragment, got {endpoint!r}")
    return str(endpoint) if str(endpoint).endswith("/") else str(endpoint) + "/"


def _logging_level(level: Any) -> int:
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    name = normalize_level(level)
    return {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
            "error": logging.ERROR, "critical": logging.CRITICAL}[name]


def _string_tuple(name: str, value: Any) -> Tuple[str, ...]:
    if isinstance(value, str):
        return _parse_list(value)
    try:
        items = tuple(value)
    except TypeError:
        raise ValueError(f"{name} must be a list of strings") from None
    if not all(isinstance(item, str) for item in items):
        raise ValueError(f"{name} must be a list of strings")
    return items


def _exception_classes(value: Any) -> Tuple[Type[BaseException], ...]:
    items = (value,) if isinstance(value, type) else tuple(value)
    for item in items:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise ValueError(f"ignore must list exception classes, got {item!r}")
    return items
