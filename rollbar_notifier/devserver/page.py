"""The web page: items with search, filters and paging, an item's occurrences, one
occurrence in full, and deploys.

Filters and the page number live in the URL, so a filtered view can be shared and
reloaded. Lists update live over the feed and items can be resolved, muted and reopened
through the API's `PATCH item/`, using tokens the page carries: it is a local viewer
that already shows everything stored, to whoever can reach it.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, List, Mapping, Tuple

from ..contract import ITEM_STATUSES, LEVELS, READ_SCOPE, WRITE_SCOPE
from .assets import SCRIPT, STYLE
from .markup import (
    SECURITY_HEADERS,
    as_text,
    capped,
    document,
    e,
    pager,
    table,
    when,
)
from .messages import ApiError, Request, Response, dispatch, found, routes
from .occurrence_page import occurrence_content, resolve
from .query import item_filter, paging
from .store import Store

ITEMS_PER_PAGE = 50
OCCURRENCES_PER_PAGE = 25
DEPLOYS_PER_PAGE = 25
PAGE_SCOPES = (READ_SCOPE, WRITE_SCOPE)
"""Scopes whose tokens the page carries: read for the live feed, write for the buttons."""

_ACTIONS: Mapping[str, Tuple[Tuple[str, str], ...]] = {
    "active": (("resolved", "Resolve"), ("muted", "Mute")),
    "resolved": (("active", "Reopen"), ("muted", "Mute")),
    "muted": (("active", "Unmute"), ("resolved", "Resolve")),
}


class Page:
    """Renders the pages and their assets from the store; every answer carries the
    security headers."""

    def __init__(self, store: Store, tokens: Mapping[str, str],
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._tokens = {scope: token for scope, token in tokens.items() if scope in PAGE_SCOPES}
        self._clock = clock
        self._routes = routes("", [
            ("GET", r"/", self._items),
            ("GET", r"/items/(\d+)", self._item),
            ("GET", r"/occurrences/(\d+)", self._occurrence),
            ("GET", r"/occurrences/(\d+)/value", self._value),
            ("GET", r"/deploys", self._deploys),
            ("GET", r"/assets/devserver\.css", self._asset(STYLE, "text/css")),
            ("GET", r"/assets/devserver\.js", self._asset(SCRIPT, "text/javascript")),
        ])

    def handle(self, request: Request) -> Response:
        return dispatch(self._routes, request).with_headers(SECURITY_HEADERS)

    def _document(self, title: str, content: str, *, live: bool) -> Response:
        after = self._store.last_occurrence_id() if live else None
        return document(title, content, tokens=self._tokens, live_after=after)

    def _items(self, request: Request, args: Tuple[str, ...]) -> Response:
        where = item_filter(request.query)
        page = paging(request.query, ITEMS_PER_PAGE)
        total = self._store.count_items(where)
        everything = self._store.count_items()
        items = self._store.items(where, offset=page.offset, limit=page.per_page,
                                  newest_first=True)
        now = self._clock()
        rows = [
            (f'<a href="/items/{item["id"]}">{e(item["title"])}</a>',
             f'<span class="{e(item["level"])}">{e(item["level"])}</span>',
             e(item["environment"]), f'{item["total_occurrences"]:,}',
             when(item["first_occurrence_timestamp"], now),
             when(item["last_occurrence_timestamp"], now), _status(item["status"]))
            for item in items
        ]
        if total != everything:
            count = f"{total:,} of {everything:,} items match"
        else:
            count = f"{total:,} item{'' if total == 1 else 's'}"
        shown = (f" · showing {page.offset + 1:,}&ndash;{page.offset + len(items):,}"
                 if items and total > len(items) else "")
        listing = table(("Title", "Level", "Environment", "Occurrences", "First seen",
                         "Last seen", "Status"), rows,
                        empty="no items match" if everything else "none yet")
        content = (
            f"<h1>Items</h1>{self._filters(request.query)}"
            f'<div id="live"><p class="summary" id="count">{count}{shown}</p>{listing}'
            f'{pager("/", request.query, page.page, page.pages(total))}</div>'
        )
        return self._document("Items", content, live=True)

    def _filters(self, query: Mapping[str, str]) -> str:
        choices = self._store.item_choices()
        selects = [
            _select("environment", "any environment", choices["environment"], query),
            _select("level", "any level", LEVELS, query),
            _select("status", "any status", ITEM_STATUSES, query),
            _select("framework", "any framework", choices["framework"], query),
        ]
        filtered = any(query.get(name) for name in ("q", "environment", "level", "status",
                                                    "framework"))
        clear = '<a href="/">clear</a>' if filtered else ""
        return (
            '<form class="filters" method="get" action="/" role="search">'
            f'<input type="search" name="q" id="q" value="{e(query.get("q", ""))}" '
            'placeholder="Search titles and messages" aria-label="Search">'
            f'{"".join(selects)}<button type="submit">Search</button>{clear}</form>'
        )

    def _item(self, request: Request, args: Tuple[str, ...]) -> Response:
        item = found(self._store.item(int(args[0])), "item")
        page = paging(request.query, OCCURRENCES_PER_PAGE)
        total = item["total_occurrences"]
        now = self._clock()
        rows = [
            (f'<a href="/occurrences/{row["id"]}">{when(row["timestamp"], now)}</a>',
             f'<span class="{e(row["level"])}">{e(row["level"])}</span>',
             f'<code>{e(row["location"] or "")}</code>', e(row["code_version"] or ""),
             e(row["host"] or ""), f'<code>{e(row["uuid"])}</code>')
            for row in self._store.occurrence_list(item["id"], offset=page.offset,
                                                   limit=page.per_page)
        ]
        summary = (f'#{item["counter"]} · <span class="{e(item["level"])}">{e(item["level"])}'
                   f'</span> · {e(item["environment"])} · {total:,} '
                   f'occurrence{"" if total == 1 else "s"} · first seen '
                   f'{when(item["first_occurrence_timestamp"], now)} · last seen '
                   f'{when(item["last_occurrence_timestamp"], now)}')
        listing = table(("When", "Level", "Where", "Code version", "Host", "UUID"), rows)
        pages = pager(request.path, request.query, page.page, page.pages(total))
        content = (
            f'<h1>{e(item["title"])}</h1><div id="live"><p class="summary">{summary}</p>'
            f'<p>Status {_status(item["status"])}{self._actions(item)}</p>'
            f"<h2>Occurrences</h2>{listing}{pages}</div>"
        )
        return self._document(item["title"], content, live=True)

    def _actions(self, item: Mapping[str, Any]) -> str:
        writable = WRITE_SCOPE in self._tokens
        disabled = "" if writable else (
            ' disabled title="start the devserver with a token that has the write scope"')
        buttons = "".join(
            f'<button type="button" data-item="{item["id"]}" data-status="{status}"'
            f"{disabled}>{label}</button>"
            for status, label in _ACTIONS.get(item["status"], ()))
        return f'<span class="actions">{buttons}</span>'

    def _occurrence(self, request: Request, args: Tuple[str, ...]) -> Response:
        occurrence = found(self._store.occurrence(int(args[0])), "occurrence")
        item = found(self._store.item(occurrence["item_id"]), "item")
        content = occurrence_content(occurrence, item, self._clock())
        return self._document(item["title"], content, live=False)

    def _value(self, request: Request, args: Tuple[str, ...]) -> Response:
        """One value of a payload in full: what a capped value's "show all" opens."""
        occurrence = found(self._store.occurrence(int(args[0])), "occurrence")
        try:
            value = resolve(occurrence["payload"], request.query.get("at", ""))
        except KeyError:
            raise ApiError(404, "no such value in this occurrence") from None
        return Response(200, as_text(value).encode("utf-8", "replace"),
                        "text/plain; charset=utf-8")

    def _deploys(self, request: Request, args: Tuple[str, ...]) -> Response:
        page = paging(request.query, DEPLOYS_PER_PAGE)
        total = self._store.count_deploys()
        now = self._clock()
        rows = [
            (str(deploy["id"]), e(deploy["environment"]),
             f'<code>{e(deploy["revision"])}</code>', e(deploy["status"]),
             e(deploy["local_username"] or deploy["rollbar_username"] or ""),
             when(deploy["start_time"], now), when(deploy["finish_time"], now),
             capped(deploy["comment"] or "", None))
            for deploy in self._store.deploys(int(now), offset=page.offset,
                                              limit=page.per_page)
        ]
        listing = table(("ID", "Environment", "Revision", "Status", "User", "Started",
                         "Finished", "Comment"), rows)
        pages = pager(request.path, request.query, page.page, page.pages(total))
        content = (f'<h1>Deploys</h1><p class="summary">{total:,} deploy'
                   f'{"" if total == 1 else "s"}</p>{listing}{pages}')
        return self._document("Deploys", content, live=False)

    @staticmethod
    def _asset(text: str, kind: str) -> Callable[[Request, Tuple[str, ...]], Response]:
        body = text.encode("utf-8")

        def serve(request: Request, args: Tuple[str, ...]) -> Response:
            return Response(200, body, f"{kind}; charset=utf-8")
        return serve


def _status(status: str) -> str:
    return f'<span class="status {e(status)}">{e(status)}</span>'


def _select(name: str, any_label: str, choices: Iterable[str],
            query: Mapping[str, str]) -> str:
    chosen = query.get(name, "")
    options: List[str] = [f'<option value="">{any_label}</option>']
    for choice in choices:
        selected = " selected" if choice == chosen else ""
        options.append(f'<option value="{e(choice)}"{selected}>{e(choice)}</option>')
    return f'<select name="{name}" id="{name}" aria-label="{name}">{"".join(options)}</select>'
