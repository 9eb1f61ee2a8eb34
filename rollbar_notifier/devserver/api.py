"""The Rollbar API under `/api/1/`: routing, auth, rate limits and the JSON answers."""

from __future__ import annotations

import logging
import time
import uuid as uuid_module
from typing import Any, Callable, Collection, Dict, Mapping, Optional, Tuple

from ..contract import ITEM_STATUSES, SERVER_SCOPE, WRITE_SCOPE
from . import grouping
from .auth import authorize, item_scopes, request_token
from .body import decode_fields
from .messages import ApiError, Request, Response, dispatch, found, json_response, ok, routes
from .ratelimit import RateLimiter
from .store import Store
from .validate import one_of, validate_deploy, validate_deploy_update, validate_item

log = logging.getLogger(__name__)

API_PREFIX = "/api/1/"


class Api:
    """Answers one API request; shared by all handler threads (all state is in the store)."""

    def __init__(
        self,
        store: Store,
        tokens: Mapping[str, Collection[str]],
        limiter: Optional[RateLimiter] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._tokens = tokens
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
        if not stored:
            log.info("occurrence %s was already stored", occurrence_uuid)
        return str(occurrence_uuid)

    def _item_by_uuid(self, request: Request, args: Tuple[str, ...]) -> Response:
        self._authorize(request, ("read",))
        text = request.query.get("uuid")
        if text is None:
            raise ApiError(400, "the uuid parameter is required")
        try:
            uuid_module.UUID(text)
        except ValueError:
            raise ApiError(400, f"malformed uuid: {text}") from None
        return ok(found(self._store.item_by_uuid(text), "occurrence"))

    def _get_item(self, request: Request, args: Tuple[str, ...]) -> Response:
        self._authorize(request, ("read",))
        return ok(found(self._store.item(int(args[0])), "item"))

    def _patch_item(self, request: Request, args: Tuple[str, ...]) -> Response:
        fields = decode_fields(request)
        self._authorize(request, ("write",), fields)
        status = one_of(fields, "status", "", ITEM_STATUSES, required=True)
        assert status is not None
        return ok(found(self._store.set_item_status(int(args[0]), status), "item"))

    def _instances(self, request: Request, args: Tuple[str, ...]) -> Response:
        self._authorize(request, ("read",))
        item_id = int(args[0])
        found(self._store.item(item_id), "item")
        instances = [
            {"id": row["id"], "item_id": row["item_id"], "uuid": row["uuid"],
             "timestamp": row["timestamp"], "level": row["level"],
             "data": row["payload"].get("data")}
            for row in self._store.occurrences(item_id)
        ]
        return ok({"instances": instances, "page": 1})

    def _items(self, request: Request, args: Tuple[str, ...]) -> Response:
        self._authorize(request, ("read",))
        items = self._store.items()
        return ok({"items": items, "page": 1, "total_count": len(items)})

    def _post_deploy(self, request: Request, args: Tuple[str, ...]) -> Response:
        fields = decode_fields(request)
        self._authorize(request, (SERVER_SCOPE,), fields)
        validate_deploy(fields)
        deploy_id = self._store.add_deploy(fields, self._now())
        return json_response(200, {"data": {"deploy_id": deploy_id}})

    def _get_deploy(self, request: Request, args: Tuple[str, ...]) -> Response:
        self._authorize(request, ("read",))
        return ok(found(self._store.deploy(int(args[0]), self._now()), "deploy"))

    def _patch_deploy(self, request: Request, args: Tuple[str, ...]) -> Response:
        fields = decode_fields(request)
        self._authorize(request, (SERVER_SCOPE, WRITE_SCOPE), fields)
        validate_deploy_update(fields)
        deploy = self._store.update_deploy(int(args[0]), fields, self._now())
        return ok(found(deploy, "deploy"))

    def _deploys(self, request: Request, args: Tuple[str, ...]) -> Response:
        self._authorize(request, ("read",))
        return ok({"deploys": self._store.deploys(self._now()), "page": 1})

