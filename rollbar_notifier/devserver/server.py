"""`DevServer`: the in-process handle that tests, `serve` and `demo` start and stop."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from types import TracebackType
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Type, Union

from ..contract import SCOPES
from .api import API_PREFIX, Api
from .feed import Feed, follow
from .handler import HttpServer
from .messages import Request, Response
from .page import Page
from .ratelimit import RateLimiter
from .store import Store

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]


class DevServer:
    """A local Rollbar-compatible server on its own background thread.

    `db=None` uses a temporary database removed on `stop()`. `tokens` maps each token
    to its scopes; without it the database's tokens are used, and a new database gets
    one random token per scope, as Rollbar creates for a new project. `rate_limit` is
    `(count, seconds)` per token for `POST item/`. `timeout` is the time a client has to
    send a whole request; beyond `max_connections` open connections, new ones get 503.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        db: Optional[PathLike] = None,
        tokens: Optional[Mapping[str, Iterable[str]]] = None,
        rate_limit: Optional[Tuple[int, float]] = None,
        *,
        timeout: float = 10.0,
        max_connections: int = 512,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._db = None if db is None else os.fspath(db)
        self._given_tokens = None if tokens is None else checked_tokens(tokens)
        self._limiter = None if rate_limit is None else RateLimiter(*rate_limit)
        self._timeout = timeout
        self._max_connections = max_connections
        self._feed = Feed()
        self._temp_dir: Optional[str] = None
        self._store: Optional[Store] = None
        self._httpd: Optional[HttpServer] = None
        self._token_scopes: Dict[str, frozenset[str]] = {}
        self._api: Optional[Api] = None
        self._page: Optional[Page] = None

    def start(self) -> DevServer:
        if self._store is not None:
            raise RuntimeError("this DevServer was already started")
        path = self._db
        if path is None:
            self._temp_dir = tempfile.mkdtemp(prefix="rollbar-devserver-")
            path = os.path.join(self._temp_dir, "devserver.sqlite3")
        try:
            self._store = store = Store(path)
            self._token_scopes = self._load_tokens(store)
            self._api = Api(store, self._token_scopes, self._feed, self._limiter)
            self._page = Page(store, self.tokens)
            self._httpd = HttpServer((self.host, self._requested_port), self._app,
                                     timeout=self._timeout,
                                     max_connections=self._max_connections)
        except BaseException:
            self.stop()
            raise
        self._httpd.start()
        log.info("devserver listening on %s (database %s)", self.base_url, path)
        return self

    def stop(self) -> None:
        """Stop serving and close the database; safe to call more than once."""
        if self._httpd is not None:
            self._httpd.stop()
            self._httpd = None
        if self._store is not None:
            self._store.close()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        port: int = self._running().server_address[1]
        return port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def api_url(self) -> str:
        return self.base_url + API_PREFIX.lstrip("/")

    @property
    def db_path(self) -> str:
        return self._opened().path

    @property
    def tokens(self) -> Dict[str, str]:
        """One token per scope it has: `tokens["post_server_item"]` and so on."""
        by_scope: Dict[str, str] = {}
        for token, scopes in self._token_scopes.items():
            for scope in sorted(scopes):
                by_scope.setdefault(scope, token)
        return by_scope

    @property
    def token_scopes(self) -> Dict[str, frozenset[str]]:
        """Every valid token with all its scopes."""
        return dict(self._token_scopes)

    def items(self) -> List[Dict[str, Any]]:
        """Items as `GET items/` returns them, oldest first."""
        return self._opened().items()

    def occurrences(self, item_id: Optional[int] = None) -> List[Dict[str, Any]]:
        """Stored payloads (`{"data": {...}}`, without any `access_token`), oldest first."""
        return [row["payload"] for row in self._opened().occurrences(item_id)]

    def deploys(self) -> List[Dict[str, Any]]:
        """Deploys as `GET deploys/` returns them, newest first."""
        return self._opened().deploys(int(time.time()))

    def wait_for_occurrences(self, count: int, timeout: float = 5.0) -> List[Dict[str, Any]]:
        """Poll until at least `count` occurrences are stored; raises TimeoutError if not."""
        store = self._opened()
        deadline = time.monotonic() + timeout
        while store.count_occurrences() < count:
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{store.count_occurrences()} occurrences stored after {timeout} s, "
                    f"expected {count}"
                )
            time.sleep(0.02)
        return self.occurrences()

    def follow(self, stop: threading.Event, after: Optional[int] = None
               ) -> Iterator[Dict[str, Any]]:
        """Each occurrence stored from now on (or after occurrence id `after`), as the
        feed shows it, until `stop` is set; blocks between arrivals."""
        store = self._opened()
        start = store.last_occurrence_id() if after is None else after
        return follow(store, self._feed, stop, start)

    def _app(self, request: Request) -> Response:
        assert self._api is not None and self._page is not None
        if request.path.startswith(API_PREFIX):
            return self._api.handle(request)
        return self._page.handle(request)

    def _load_tokens(self, store: Store) -> Dict[str, frozenset[str]]:
        if self._given_tokens is not None:
            return self._given_tokens
        tokens = store.tokens()
        if not tokens:
            tokens = {secrets.token_hex(16): frozenset((scope,)) for scope in SCOPES}
            store.save_tokens(tokens)
        return tokens

    def _running(self) -> HttpServer:
        if self._httpd is None:
            raise RuntimeError("the DevServer is not running; call start() first")
        return self._httpd

    def _opened(self) -> Store:
        if self._store is None or self._httpd is None:
            raise RuntimeError("the DevServer is not running; call start() first")
        return self._store


def checked_tokens(tokens: Mapping[str, Iterable[str]]) -> Dict[str, frozenset[str]]:
    checked = {}
    for token, scopes in tokens.items():
        scope_set = frozenset([scopes] if isinstance(scopes, str) else scopes)
        unknown = scope_set.difference(SCOPES)
        if not token or not scope_set or unknown:
            raise ValueError(
                f"token {token!r} needs one or more of the scopes {', '.join(SCOPES)}"
            )
        checked[token] = scope_set
    return checked
