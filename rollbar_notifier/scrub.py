"""Replace secrets everywhere in a payload before it leaves the process.

Keys are compared the way people name them: ``user_password``, ``X-Api-Key`` and
``accessToken`` are all caught, while ``author`` is not mistaken for ``auth``. Long
names match anywhere inside a key; short ones (``auth``, ``pwd``) only as a whole word.
URL query strings, form and JSON bodies, and ``--flag=value`` arguments are scrubbed
by the same rule, and the notifier's own access token is never sent in any string.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Tuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SCRUBBED = "********"

DEFAULT_FIELDS: Tuple[str, ...] = (
    "password", "passwd", "pwd", "secret", "token", "access_token", "api_key", "apikey",
    "auth", "authorization", "cookie", "set-cookie", "session", "sessionid", "csrftoken",
    "csrf", "xsrf", "private_key", "privatekey", "credit_card", "creditcard", "card_number",
    "cvv", "ssn", "signature", "credentials", "bearer", "jwt", "dsn",
)

_SHORT = 5
"""Names shorter than this match whole words only: ``auth`` must not catch ``author``."""
_STRING_KEYS = frozenset({"query_string", "body", "referer", "path", "fragment"})
_USERINFO = re.compile(r"(?P<prefix>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)[^\s/@]+@")
"""The password in ``scheme://user:password@host``, wherever such a URL appears."""
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_CACHE_LIMIT = 4096


def _normalize(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


class Scrubber:
    """Decides which keys are sensitive (cached) and scrubs nested data with that rule."""

    def __init__(self, extra_fields: Iterable[str] = (), secrets: Iterable[str] = ()) -> None:
        names = {_normalize(name) for name in (*DEFAULT_FIELDS, *extra_fields)} - {""}
        self._long: FrozenSet[str] = frozenset(n for n in names if len(n) >= _SHORT)
        self._short: FrozenSet[str] = frozenset(n for n in names if len(n) < _SHORT)
        self._secrets = tuple(s for s in secrets if s and len(s) >= 8)
        self._cache: Dict[str, bool] = {}

    def is_sensitive(self, key: str) -> bool:
        cached = self._cache.get(key)
        if cached is None:
            cached = self._decide(key)
            if len(self._cache) < _CACHE_LIMIT:
                self._cache[key] = cached
        return cached

    def _decide(self, key: str) -> bool:
        normalized = _normalize(key)
        if any(name in normalized for name in self._long):
            return True
        words = {word.lower() for word in _WORDS.findall(key)}
        return not self._short.isdisjoint(words)

    def scrub(self, value: Any, key: Optional[str] = None) -> Any:
        """A scrubbed copy of ``value``; ``key`` is the name it is stored under, if any."""
        if isinstance(value, dict):
            return {self._string(k, None) if isinstance(k, str) else k:
                    SCRUBBED if self._sensitive_key(k) and v not in (None, "")
                    else self.scrub(v, k) for k, v in value.items()}
        if isinstance(value, list):
            if key == "argv":
                return self._argv(value)
            if key != "argspec" and self._is_secret_pair(value):
                return [value[0], SCRUBBED]
            return [self.scrub(item) for item in value]
        if isinstance(value, str):
            return self._string(value, key)
        return value

    def _sensitive_key(self, key: Any) -> bool:
        return isinstance(key, str) and self.is_sensitive(key)

    def _is_secret_pair(self, value: List[Any]) -> bool:
        """``["Authorization", "Bearer x"]``: headers as pairs, as ASGI and WSGI give them."""
        return (len(value) == 2 and isinstance(value[0], str) and value[1] not in (None, "")
                and self.is_sensitive(value[0]))

    def _string(self, value: str, key: Optional[str]) -> str:
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, SCRUBBED)
        if "://" in value and "@" in value:
            value = _USERINFO.sub(r"\g<prefix>" + SCRUBBED + "@", value)
        if key is not None and _holds_url(key):
            return self._structured_string(value)
        return value

    def _structured_string(self, value: str) -> str:
        """Scrub a URL, a query string, or a form / JSON body given as text."""
        stripped = value.strip()
        if stripped[:1] in ("{", "["):
            try:
                return json.dumps(self.scrub(json.loads(stripped)))
            except ValueError:
                return value
        if "=" not in value:
            return value
        if "://" in value or value.startswith("/"):
            try:
                parts = urlsplit(value)
            except ValueError:
                return value
            return urlunsplit(parts._replace(query=self._query(parts.query),
                                             fragment=self._query(parts.fragment)))
        return self._query(value)

    def _query(self, query: str) -> str:
        if "=" not in query:
            return query
        pairs = parse_qsl(query, keep_blank_values=True)
        if not any(self.is_sensitive(name) for name, _ in pairs):
            return query
        return urlencode([(name, SCRUBBED if self.is_sensitive(name) else val)
                          for name, val in pairs], safe="*")

    def _argv(self, argv: List[Any]) -> List[Any]:
        """``--password=x``, ``--password x`` and ``PASSWORD=x`` keep the name, lose the value."""
        result: List[Any] = []
        hide_next = False
        for arg in argv:
            if not isinstance(arg, str):
                result.append(arg)
                continue
            if hide_next:
                result.append(SCRUBBED)
                hide_next = False
                continue
            flag, equals, _ = arg.partition("=")
            sensitive = self.is_sensitive(flag.lstrip("-"))
            if sensitive and equals:
                result.append(flag + "=" + SCRUBBED)
            else:
                result.append(self._string(arg, None))
                hide_next = sensitive and arg.startswith("-")
        return result



def _holds_url(key: str) -> bool:
    """Keys whose text may carry a query string: ``url``, ``next_url``, ``redirect_uri``..."""
    name = key.lower()
    return name in _STRING_KEYS or name.endswith(("url", "uri"))
