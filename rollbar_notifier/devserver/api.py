"""The Rollbar API under `/api/1/`: routing, auth, rate limits and the JSON answers."""

from __future__ import annotations

import logging
import time
import uuid as uuid_module
from typing import Any, Callable, Collection, Dict, Iterable, Iterator, Mapping, Optional, Tuple

from ..contract import ITEM_STATUSES, READ_SCOPE, SERVER_SCOPE, WRITE_SCOPE
from . import grouping
from .auth import authorize, item_scopes, request_token
from .body import decode_fields
from .feed import Feed, event_stream
from .messages import (
    JSON_TYPE,
    ApiError,
    Request,
    Response,
    dispatch,
    encode_json,
    found,
    json_response,
    ok,
    routes,
)
from .query import Paging, item_filter, paging
from .ratelimit import RateLimiter
from .store import Store
from .validate import one_of, validate_deploy, validate_deploy_update, validate_item

log = logging.getLogger(__name__)

API_PREFIX = "/api/1/"
ITEMS_PER_PAGE = 100
INSTANCES_PER_PAGE = 20
"""Also the most one page of instances may hold: each can be a 128 KB body."""
DEPLOYS_PER_PAGE = 20


class Api:
    """Answers one API request; shared by all handler threads (all state is in the store)."""

    def __init__(
        self,
        store: Store,
        tokens: Mapping[str, Collection[str]],
        feed: Feed,
        limiter: Optional[RateLimiter] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._tokens = tokens
        self._feed = feed
        self._limiter = limiter
        self._clock = clock
        self._routes = routes(API_PREFIX, [
            ("GET", r"status/ping", self._ping),
            ("POST", r"item", self._post_item),
            ("GET", r"item", self._item_by_uuid),
            ("GET", r"item/(\d+)", self._get_item),
            ("PATCH", r"item/(\d+)", self._patch_item),
            ("GET", r"item/(\d+)/instances", self._instances),
            ("GET", r"items", self._items),
            ("POST", r"deploy", self._post_deploy),
            ("GET", r"deploy/(\d+)", self._get_deploy),
            ("PATCH", r"deploy/(\d+)", self._patch_deploy),
            ("GET", r"deploys", self._deploys),
            ("GET", r"feed", self._follow),
        ])

    def handle(self, request: Request) -> Response:
        return dispatch(self._routes, request)

    def _now(self) -> int:
        return int(self._clock())

    def _authorize(
        self, request: Request, needed: Collection[str], fields: Optional[Mapping[str, Any]] = None
    ) -> str:
        return authorize(self._tokens, request_token(request, fields), needed)

    def _ping(self, request: Request, args: Tuple[str, ...]) -> Response:
        return Response(200, b"pong", "text/plain; charset=utf-8")

    def _post_item(self, request: Request, args: Tuple[str, ...]) -> Response:
        fields = decode_fields(request)
        data = fields.get("data")
        platform = data.get("platform") if isinstance(data, dict) else None
        token = self._authorize(request, item_scopes(platform), fields)
        headers: Dict[str, str] = {}
        try:
            if self._limiter is not None:
                allowed, headers = self._limiter.take(token)
                if not allowed:
                    raise ApiError(429, f"rate limit reached: {self._limiter.count} items per "
                                        f"{self._limiter.seconds:g} seconds")
            occurrence_uuid = self._store_item(fields)
        except ApiError as error:
            return error.response().with_headers(headers)
        return ok({"id": None, "uuid": occurrence_uuid}, headers)

    def _store_item(self, fields: Dict[str, Any]) -> str:
        fields.pop("access_token", None)
        data = validate_item(fields)
        occurrence_uuid = data.get("uuid") or str(uuid_module.uuid4())
        timestamp = data.get("timestamp")
        stored = self._store.add_occurrence(
            fields,
            uuid=occurrence_uuid,
            environment=data["environment"],
            fingerprint=grouping.fingerprint(data),
            title=grouping.title(data),
            level=grouping.level(data),
            timestamp=self._now() if timestamp is None else int(timestamp),
        )
        if stored is None:
            log.info("occurrence %s was already stored", occurrence_uuid)
        else:
            self._feed.notify()
        return str(occurrence_uuid)

    def _item_by_uuid(self, request: Request, args: Tuple[str, ...]) -> Response:
        self._authorize(request, (READ_SCOPE,))
        text = request.query.get("uuid")
        if text is None:
            raise ApiError(400, "the uuid parameter is required")
        try:
            uuid_module.UUID(text)
        except ValueError:
            raise ApiError(400, f"malformed uuid: {text}") from None
        return ok(found(self._store.item_by_uuid(text), "occurrence"))

    def _get_item(self, request: Request, args: Tuple[str, ...]) -> Response:
        self._authorize(request, (READ_SCOPE,))
        return ok(found(self._store.item(int(args[0])), "item"))

    def _patch_item(self, request: Request, args: Tuple[str, ...]) -> Response:
        fields = decode_fields(request)
        self._authorize(request, ("write",), fields)
        status = one_of(fields, "status", "", ITEM_STATUSES, required=True)
        assert status is not None
        return ok(found(self._store.set_item_status(int(args[0]), status), "item"))

    def _instances(self, request: Request, args: Tuple[str, ...]) -> Response:
        """Read, decoded and encoded one occurrence at a time, so that beside the answer
        itself at most one payload is held, whatever their size."""
        self._authorize(request, (READ_SCOPE,))
        item_id = int(args[0])
        found(self._store.item(item_id), "item")
        page = paging(request.query, INSTANCES_PER_PAGE, INSTANCES_PER_PAGE)
        ids = self._store.occurrence_ids(item_id, offset=page.offset, limit=page.per_page)

        def instances() -> Iterator[bytes]:
            for occurrence_id in ids:
                row = self._store.occurrence(occurrence_id)
                if row is not None:
                    yield encode_json({
                        "id": row["id"], "item_id": row["item_id"], "uuid": row["uuid"],
                        "timestamp": row["timestamp"], "level": row["level"],
                        "data": row["payload"].get("data")})

        return _page_response("instances", instances(), page,
                              self._store.count_occurrences(item_id))

    def _items(self, request: Request, args: Tuple[str, ...]) -> Response:
        """Oldest first, filtered by `environment`, `level`, `status`, `framework` and
        the text `q` (in the title or message), a page at a time."""
        self._authorize(request, (READ_SCOPE,))
        where = item_filter(request.query)
        page = paging(request.query, ITEMS_PER_PAGE)
        items = self._store.items(where, offset=page.offset, limit=page.per_page)
        return _page_response("items", map(encode_json, items), page,
                              self._store.count_items(where))

    def _post_deploy(self, request: Request, args: Tuple[str, ...]) -> Response:
        fields = decode_fields(request)
        self._authorize(request, (SERVER_SCOPE,), fields)
        validate_deploy(fields)
        deploy_id = self._store.add_deploy(fields, self._now())
        return json_response(200, {"data": {"deploy_id": deploy_id}})

    def _get_deploy(self, request: Request, args: Tuple[str, ...]) -> Response:
        self._authorize(request, (READ_SCOPE,))
        return ok(found(self._store.deploy(int(args[0]), self._now()), "deploy"))

    def _patch_deploy(self, request: Request, args: Tuple[str, ...]) -> Response:
        fields = decode_fields(request)
        self._authorize(request, (SERVER_SCOPE, WRITE_SCOPE), fields)
        validate_deploy_update(fields)
        deploy = self._store.update_deploy(int(args[0]), fields, self._now())
        return ok(found(deploy, "deploy"))

    def _deploys(self, request: Request, args: Tuple[str, ...]) -> Response:
        """Newest first, a page at a time."""
        self._authorize(request, (READ_SCOPE,))
        page = paging(request.query, DEPLOYS_PER_PAGE)
        deploys = self._store.deploys(self._now(), offset=page.offset, limit=page.per_page)
        return _page_response("deploys", map(encode_json, deploys), page,
                              self._store.count_deploys())

    def _follow(self, request: Request, args: Tuple[str, ...]) -> Response:
        """Server-sent events, one per stored occurrence, for `tail` and the page.

        They start after the `Last-Event-ID` an EventSource sends when it reconnects,
        else after occurrence `after`, else with the `last` N stored, else with the next.
        """
        self._authorize(request, (READ_SCOPE,))
        resume = request.headers.get("last-event-id") or request.query.get("after")
        latest = self._store.last_occurrence_id()
        if resume is not None:
            after = _count(resume, "after")
        else:
            after = max(0, latest - _count(request.query.get("last") or "0", "last"))
        return event_stream(self._store, self._feed, after)


def _page_response(name: str, rows: Iterable[bytes], page: Paging, total: int) -> Response:
    """Rollbar's success envelope around one page of a list, its rows encoded one by one
    straight into the answer."""
    body = bytearray(b'{"err":0,"result":{"' + name.encode() + b'":[')
    for number, row in enumerate(rows):
        if number:
            body += b","
        body += row
    body += b"]," + encode_json({"page": page.page, "per_page": page.per_page,
                                 "total_count": total})[1:] + b"}"
    return Response(200, bytes(body), JSON_TYPE)


def _count(text: str, name: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise ApiError(400, f"{name} should be a whole number from 0")
    return int(text)

