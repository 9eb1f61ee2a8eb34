"""Replace secrets everywhere in a payload before it leaves the process, and nothing else.

Secrets are found three ways, in every key and string of the item:

- **By name.** A value stored under a sensitive key is replaced. Keys are compared the
  way people name them: ``user_password``, ``X-Api-Key`` and ``accessToken`` are all
  caught, while ``author`` is not mistaken for ``auth``. Long names match anywhere inside
  a key; short ones (``auth``, ``pwd``, ``pat``) only as a whole word. The same rule finds
  names in text: ``password=x``, ``token: x``, ``"api_key": "x"``, ``?secret=x``,
  ``Credentials(password='x')``, ``Authorization: Bearer x``.
- **By shape.** Some values are secrets whatever their name: PEM private keys, JWTs,
  payment card numbers (Luhn-valid), AWS access key ids, the password of a URL, the
  notifier's own access token, and whatever the ``scrub_patterns`` option matches.
- **By position.** Header pairs (``["Authorization", "Bearer x"]``) and command-line
  flags followed by their value (``--token x``, ``-p x``).

In text only the secret itself becomes ``********``: the name, the quotes, the
``Bearer`` before a credential and every other character stay as written, so a message
reads the same minus its secrets.

Capture cuts long strings (``"..."`` or ``"... (N chars)"`` follows the cut), and the
scrub runs later, so a token cut in two would no longer match whole: a piece of it of
:data:`MIN_FRAGMENT` characters or more is also replaced where it ends a string or
touches a cut.

Each string is scanned once, by one compiled alternation. Every built-in branch starts
with one literal character (``:`` and ``=`` for names, ``-``, ``.``, ``A``, the digits 2
to 6, the token's first character), so the regular expression engine skips to the few
places where a secret can start; a name is looked up, with the same cached rule as
keys, only where a ``:`` or ``=`` follows it.
"""

from __future__ import annotations

import re
import warnings
from re import Match, Pattern
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Optional, Tuple

SCRUBBED = "********"

DEFAULT_FIELDS: Tuple[str, ...] = (
    "password", "passwd", "pwd", "pw", "pass", "passphrase", "secret", "token", "pat",
    "access_token", "api_key", "apikey", "auth", "authorization", "cookie", "set-cookie",
    "session", "sessionid", "csrftoken", "csrf", "xsrf", "private_key", "privatekey",
    "credit_card", "creditcard", "card_number", "cvv", "ssn", "signature", "credentials",
    "bearer", "jwt", "dsn",
)
SECRET_FLAGS = frozenset({"-p"})
"""Command-line flags whose next argument is a password whatever the flag's name
(``mysql -p``, ``sshpass -p``); long flags are judged by their name."""
MIN_FRAGMENT = 4
"""Characters of the access token, cut at capture, from which the piece is scrubbed."""
MAX_KEY = 64
"""Characters read back from a ``:`` or ``=`` to find the name before it."""
RESERVED_GROUP_PREFIX = "rn_"
"""Group names of the built-in branches; ``scrub_patterns`` may not use them."""

_SHORT = 5
"""Names shorter than this match whole words only: ``auth`` must not catch ``author``."""
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_CACHE_LIMIT = 4096
_SOURCE_KEYS = frozenset({"code", "context"})
"""Keys of a frame holding source lines: there a name's value is scrubbed only when it is
a quoted literal, so ``password = getpass()`` stays readable code."""
_NO_VALUE = frozenset({"None", "null"})
_ATOMS = frozenset({int, float, bool, type(None)})
"""Values that hold no text: passed through as they are."""
"""Kept in text, as ``None`` is kept under a sensitive key: the reader learns it was unset."""

_KEY_BEFORE = re.compile(r"[ \t]*\]?(?:[\"']\\?)?([A-Za-z0-9_.\-]{1," + str(MAX_KEY) + "})")
"""Applied to the reversed text before a separator: spaces, then ``]`` and a quote (as in
``d["password"] =``, ``"password":`` or ``\\"password\\":``), then the name."""
_SCHEME = r"(?:(?i:bearer|basic|digest|token|bot)[ \t]+)?"
_UNQUOTED = (r"(?!-----)(?:[0-9]{4}(?:[ -][0-9]{3,6}){2,4}(?![0-9])"
             r"|[^\s&,;'\"<>(){}\[\]:=][^\s&,;'\"<>(){}\[\]]*(?<!\.))")
"""A bare value ends at white space or punctuation that cannot be part of it, and never
with a full stop (``token=abc.`` ends a sentence). Card digits in groups stay together;
a PEM block is left to its own branch, which keeps its BEGIN and END lines."""
_QUOTED = r"(?s:(?:(?!(?P=q))(?:\\.|.))+)"
"""Up to the quote that opened the value, stepping over escaped characters, so
``\\"`` ends a value opened by ``\\"`` but not one opened by ``"``."""
_VALUE = re.compile(r"[ \t]*(?P<q>\\?[\"'])?" + _SCHEME + r"(?P<v>(?(q)" + _QUOTED + "|"
                    + _UNQUOTED + "))")
_QUOTED_VALUE = re.compile(r"[ \t]*(?P<q>\\?[\"'])" + _SCHEME + r"(?P<v>" + _QUOTED + ")")
_QUOTE_AHEAD = r"(?=[ \t]*\\?[\"'])"
_LUHN_DIGITS = range(13, 20)

Span = Tuple[int, int]
Handler = Callable[[str, Match[str], bool], Optional[Span]]
"""Given a string, a match in it and whether it is a source line: the span to replace,
or ``None`` to decline the match."""


def _normalize(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _charset(text: str) -> str:
    return "[" + "".join(re.escape(char) for char in sorted(set(text))) + "]"


def pattern_problem(patterns: Iterable[str]) -> Optional[str]:
    """Why ``scrub_patterns`` cannot be used, or ``None``: checked once, by the config, so
    that building a scrubber never fails later on a sender thread."""
    patterns = tuple(patterns)
    for index, pattern in enumerate(patterns):
        where = f"pattern {index} ({pattern!r})"
        try:
            compiled = _strict_compile(pattern)
        except (re.error, DeprecationWarning) as exc:
            return f"{where} is not a valid regular expression: {exc}"
        if compiled.match(""):
            return f"{where} matches the empty string"
        if re.search(r"(?<!\\)(?:\\\\)*\\[1-9]|\(\?\([0-9]", pattern):
            return (f"{where} refers to a group by number; name it, (?P<name>...) and "
                    "(?P=name), since the patterns are combined")
        if any(name.startswith(RESERVED_GROUP_PREFIX) for name in compiled.groupindex):
            return f"{where} uses a group name starting with {RESERVED_GROUP_PREFIX!r}"
    try:
        _strict_compile(_custom_branch(patterns))
    except (re.error, DeprecationWarning) as exc:
        return (f"the patterns cannot be combined into one ({exc}); flags such as (?i) "
                "must be scoped, (?i:...), and group names used once")
    return None


def _strict_compile(pattern: str) -> Pattern[str]:
    """Before Python 3.11 a flag such as ``(?i)`` in the middle of a pattern only warns,
    and then applies to the whole alternation: refuse it on every version."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        return re.compile(pattern)


def _custom_branch(patterns: Tuple[str, ...]) -> str:
    return ("(?P<" + RESERVED_GROUP_PREFIX + "custom>"
            + "|".join(f"(?:{pattern})" for pattern in patterns) + ")")


class Scrubbed(Dict[str, Any]):
    """A part of a payload that a scrubber has scrubbed already: that scrubber's walk
    takes it as it is. Source lines and telemetry events come again in item after item;
    they are scrubbed once each and shared. Nobody edits a shared part in place (the
    truncation ladder rebuilds what it shortens)."""

    __slots__ = ("by", "encoded")

    def __init__(self, value: Dict[str, Any], by: Scrubber) -> None:
        super().__init__(value)
        self.by = by
        self.encoded: Optional[str] = None
        """Its JSON, once an item has encoded it (see :func:`.truncate.encode_sharing`)."""


class Scrubber:
    """Decides which keys are sensitive (cached) and scrubs nested data with that rule."""

    def __init__(self, extra_fields: Iterable[str] = (), secrets: Iterable[str] = (),
                 patterns: Iterable[str] = ()) -> None:
        names = {_normalize(name) for name in (*DEFAULT_FIELDS, *extra_fields)} - {""}
        self._long: FrozenSet[str] = frozenset(n for n in names if len(n) >= _SHORT)
        self._short: FrozenSet[str] = frozenset(n for n in names if len(n) < _SHORT)
        self._secrets = tuple(s for s in secrets if s and len(s) >= 8)
        self._cache: Dict[str, bool] = {}
        self._keys: Dict[str, Tuple[str, bool]] = {}
        self._handlers: Dict[str, Handler] = {}
        self._pattern = self._compile(tuple(patterns), "")
        self._source_pattern = self._compile(tuple(patterns), _QUOTE_AHEAD)

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
        return self._walk(value, key, False)

    def scrubbed(self, value: Dict[str, Any], key: Optional[str] = None,
                 source: bool = False) -> Scrubbed:
        """``value`` scrubbed as if stored under ``key`` (in a frame's source lines when
        ``source``), marked so that this scrubber passes it by from now on."""
        return Scrubbed(self._walk(value, key, source), self)

    def scrub_text(self, text: str) -> str:
        """``text`` with every secret in it replaced, and every other character kept."""
        return self._text(text, False)

    def _walk(self, value: Any, key: Optional[str], source: bool) -> Any:
        kind = type(value)
        if kind is str:
            return self._text(value, source)
        if kind in _ATOMS or (kind is Scrubbed and value.by is self):
            return value
        if isinstance(value, dict):
            frame = "filename" in value and "lineno" in value
            keys = self._keys
            result = {}
            for k, v in value.items():
                if type(k) is str:
                    name, sensitive = keys.get(k) or self._key(k)  # most keys are known
                    if sensitive and v is not None and v != "":
                        result[name] = SCRUBBED
                        continue
                else:
                    name = k
                kind = type(v)
                if kind in _ATOMS:
                    result[name] = v
                    continue
                inner = source or (frame and k in _SOURCE_KEYS)
                result[name] = self._text(v, inner) if kind is str else self._walk(v, k, inner)
            return result
        if isinstance(value, str):
            return self._text(value, source)
        if isinstance(value, list):
            if key == "argv":
                return self._argv(value)
            if key != "argspec" and not source and self._is_secret_pair(value):
                return [value[0], SCRUBBED]
            return [self._text(item, source) if type(item) is str
                    else self._walk(item, None, source) for item in value]
        return value

    def _key(self, key: str) -> Tuple[str, bool]:
        """A key scrubbed like text, and whether its value is a secret: the same few keys
        come in every item, so cached."""
        known = self._keys.get(key)
        if known is None:
            known = (self._text(key, False), self.is_sensitive(key))
            if len(self._keys) < _CACHE_LIMIT:
                self._keys[key] = known
        return known

    def _is_secret_pair(self, value: List[Any]) -> bool:
        """``["Authorization", "Bearer x"]``: headers as pairs, as ASGI and WSGI give them."""
        return (len(value) == 2 and isinstance(value[0], str) and value[1] not in (None, "")
                and self.is_sensitive(value[0]))

    def _argv(self, argv: List[Any]) -> List[Any]:
        """``--password x`` and ``-p x`` keep the flag and lose the value; ``--password=x``
        and ``PASSWORD=x`` are found like any name in text."""
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
            result.append(self._text(arg, False))
            hide_next = arg.startswith("-") and "=" not in arg and (
                arg in SECRET_FLAGS or self.is_sensitive(arg.lstrip("-")))
        return result

    def _text(self, text: str, source: bool) -> str:
        """One scan: each match is either a secret's span, replaced, or declined, and then
        the scan goes on from the next character so a declined match hides nothing."""
        search = (self._source_pattern if source else self._pattern).search
        match = search(text)
        if match is None:
            return text
        pieces: List[str] = []
        done = 0
        while match is not None:
            span = self._handlers[match.lastgroup or ""](text, match, source)
            if span is None or span[0] >= span[1]:
                match = search(text, match.start() + 1)
                continue
            pieces.append(text[done:span[0]])
            pieces.append(SCRUBBED)
            done = span[1]
            match = search(text, done)
        if not pieces:
            return text
        pieces.append(text[done:])
        return "".join(pieces)

    def _compile(self, custom: Tuple[str, ...], value_ahead: str) -> Pattern[str]:
        """The one alternation; ``value_ahead`` is what must follow a name's separator
        for the name to be looked up (in source lines, a quote).

        Where several branches could start at one place they are tried in this order,
        since one that matches and then declines hides the later ones there: the
        token's, which decline only where text imitates the token; those that never
        decline; the user's; and last those that often decline (names, card numbers).
        """
        branches: List[str] = []

        def branch(first: str, name: str, body: str, handler: Handler) -> None:
            name = RESERVED_GROUP_PREFIX + name
            branches.append(re.escape(first) + f"(?P<{name}>{body})")
            self._handlers[name] = handler

        for index, secret in enumerate(self._secrets):
            branch(secret[0], f"token{index}",
                   re.escape(secret[1:]) + "|" + re.escape(secret[1:MIN_FRAGMENT])
                   + _charset(secret) + f"{{0,{len(secret) - MIN_FRAGMENT}}}?"
                   + r"(?=\.\.\.|\Z)", _token_prefix(secret))
            branch(".", f"cut{index}", r"\.\.(?=" + _charset(secret) + f"{{{MIN_FRAGMENT}}})",
                   _token_suffix(secret))
        branch(":", "userinfo", r"//[^\s:/?#@]*:(?P<rn_password>[^\s/?#]+)@",
               _group("rn_password"))
        branch("-", "pem", r"----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
               r"(?P<rn_pem_body>(?s:.+?))(?=-----END|\Z)", _group("rn_pem_body"))
        branch(".", "jwt", r"(?<=[A-Za-z0-9_-]\.)eyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*)?",
               _group(RESERVED_GROUP_PREFIX + "jwt"))
        branch("A", "aws", r"(?<![A-Za-z0-9]A)(?:KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|PKA|ROA|SCA)"
               r"[A-Z0-9]{16}(?![A-Z0-9])", _whole)
        if custom:
            branches.append(_custom_branch(custom))
            self._handlers[RESERVED_GROUP_PREFIX + "custom"] = _whole
        branch(":", "colon", "=?" + value_ahead, self._named_value)
        branch("=", "equals", ">?" + value_ahead, self._named_value)
        for digit in "23456":
            branch(digit, f"card{digit}",
                   rf"(?<![0-9]{digit})(?:[0-9]{{12,18}}|[0-9]{{3}}(?P<rn_sep{digit}>[ -])"
                   rf"[0-9]{{4,6}}(?P=rn_sep{digit})[0-9]{{4,5}}(?:(?P=rn_sep{digit})[0-9]{{4}})?"
                   rf"(?:(?P=rn_sep{digit})[0-9]{{3}})?)(?![0-9])", _card)
        return re.compile("|".join(branches))

    def _named_value(self, text: str, match: Match[str], source: bool) -> Optional[Span]:
        """The value after ``name:`` or ``name=`` when the name is sensitive."""
        start = match.start()
        key = _KEY_BEFORE.match(text[max(0, start - MAX_KEY - 8):start][::-1])
        if key is None or not self.is_sensitive(key.group(1)[::-1]):
            return None
        value = (_QUOTED_VALUE if source else _VALUE).match(text, match.end())
        if value is None or value.group("v") in _NO_VALUE:
            return None
        return value.span("v")


def _token_prefix(secret: str) -> Handler:
    """The whole token, or its start where a cut or the end of the string follows."""
    def handler(text: str, match: Match[str], source: bool) -> Optional[Span]:
        return match.span() if secret.startswith(match.group()) else None
    return handler


def _token_suffix(secret: str) -> Handler:
    """The longest end of the token right after a cut's ``...``."""
    def handler(text: str, match: Match[str], source: bool) -> Optional[Span]:
        at = match.end()
        for index in range(1, len(secret) - MIN_FRAGMENT + 1):
            if text.startswith(secret[index:], at):
                return at, at + len(secret) - index
        return None
    return handler


def _group(name: str) -> Handler:
    def handler(text: str, match: Match[str], source: bool) -> Optional[Span]:
        return match.span(name)
    return handler


def _whole(text: str, match: Match[str], source: bool) -> Optional[Span]:
    return match.span()


def _card(text: str, match: Match[str], source: bool) -> Optional[Span]:
    digits = match.group().replace(" ", "").replace("-", "")
    return match.span() if len(digits) in _LUHN_DIGITS and _luhn(digits) else None
