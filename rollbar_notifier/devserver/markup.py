"""HTML building blocks of the page: escaping, times, capped values, tables, paging and
the document around them.

Everything shown comes from senders, so every value goes through `e` (HTML escape),
and no value is ever shown whole when it is long: a page stays small and readable
whatever a sender stored, with a link to the full value.
"""

from __future__ import annotations

import html
import json
import time
from typing import Any, Iterable, Mapping, Optional, Sequence
from urllib.parse import urlencode

from .messages import Response

MAX_SHOWN = 1000
"""Characters of one value shown before its "show all" link."""
MAX_ROWS = 200
"""Rows of one key/value table shown; the rest stay in the payload."""

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_UNITS = (("day", 86400), ("h", 3600), ("min", 60), ("s", 1))


def e(value: Any) -> str:
    """HTML-escaped text; anything but a string is shown as JSON."""
    return html.escape(value if isinstance(value, str) else as_text(value))


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def exact(timestamp: Any, per_second: int = 1, *, milliseconds: bool = False) -> Optional[str]:
    """Local date and time, or None when `timestamp` is not one a date can show.

    Databases written before times were range-checked can hold any number, and one
    unrepresentable time must not take down every page that lists it.
    """
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)):
        return None
    try:
        seconds = timestamp / per_second
        moment = time.localtime(seconds)
        text = time.strftime("%Y-%m-%d %H:%M:%S", moment)
    except (ValueError, OverflowError, OSError):
        return None
    if milliseconds:
        text += f".{int(seconds * 1000) % 1000:03d}"
    return f"{text} {time.strftime('%Z', moment)}".strip()


def relative(timestamp: float, now: float) -> str:
    """"3 min ago", "in 2 h", "just now"; the page's script keeps it current."""
    ago = round(now - timestamp)
    if abs(ago) < 10:
        return "just now"
    for unit, size in _UNITS:
        count = abs(ago) // size
        if count >= 1:
            text = f"{count} day{'s' if count > 1 else ''}" if unit == "day" else f"{count} {unit}"
            return f"{text} ago" if ago > 0 else f"in {text}"
    return "just now"


def when(timestamp: Any, now: float) -> str:
    """A relative time with the exact one on hover; the raw value when it is no date."""
    full = exact(timestamp)
    if full is None:
        return e("" if timestamp is None else timestamp)
    return (f'<time data-ts="{int(timestamp)}" title="{e(full)}">'
            f"{relative(timestamp, now)}</time>")


def capped(value: Any, link: Optional[str], limit: int = MAX_SHOWN) -> str:
    """The value's text, escaped, cut at `limit` characters with a "show all" link."""
    text = as_text(value)
    if len(text) <= limit:
        return e(text)
    count = f"{len(text):,} characters"
    tail = f' <a class="more" href="{e(link)}">show all {count}</a>' if link else f" ({count})"
    return e(text[:limit]) + "…" + tail


def table(headings: Sequence[str], rows: Iterable[Sequence[str]], *,
          css: str = "", empty: str = "none yet") -> str:
    """Cells are already HTML; headings are fixed text."""
    head = "".join(f"<th>{heading}</th>" for heading in headings)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
                   for row in rows)
    if not body:
        body = f'<tr><td colspan="{len(headings)}" class="muted">{empty}</td></tr>'
    css_attribute = f' class="{css}"' if css else ""
    return f"<table{css_attribute}><tr>{head}</tr>{body}</table>"


def key_values(values: Mapping[str, Any], link: Any) -> str:
    """A two-column table of a JSON object, values capped; `link(key)` is the URL of a
    value's full text."""
    rows = [(f"<code>{e(key)}</code>", f"<code>{capped(value, link(key))}</code>")
            for key, value in list(values.items())[:MAX_ROWS]]
    more = len(values) - MAX_ROWS
    note = f'<p class="muted">{more} more in the payload</p>' if more > 0 else ""
    return table(("Key", "Value"), rows, css="kv") + note


def pager(path: str, query: Mapping[str, str], page: int, pages: int) -> str:
    """Previous/next links that keep the other parameters, so a filtered view pages too;
    nothing when everything fits on one page."""
    if pages <= 1 and page <= 1:
        return ""

    def link(number: int, text: str, rel: str) -> str:
        target = urlencode({**{k: v for k, v in query.items() if v and k != "page"},
                            **({"page": str(number)} if number > 1 else {})})
        href = path + (f"?{target}" if target else "")
        return f'<a href="{e(href)}" rel="{rel}">{text}</a>'

    parts = [link(page - 1, "&lsaquo; previous", "prev") if page > 1 else "",
             f'<span class="muted">page {page:,} of {pages:,}</span>',
             link(page + 1, "next &rsaquo;", "next") if page < pages else ""]
    return '<nav class="pager">' + "".join(parts) + "</nav>"


def document(title: str, content: str, *, tokens: Mapping[str, str],
             live_after: Optional[int] = None) -> Response:
    """The whole page. With `live_after`, the script reloads the `#live` part whenever
    an occurrence after that id is stored."""
    metas = "".join(f'<meta name="rollbar-{scope}-token" content="{e(token)}">'
                    for scope, token in sorted(tokens.items()))
    live = "" if live_after is None else f' data-after="{live_after}"'
    badge = '<span class="live">live</span>' if live_after is not None else ""
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'{metas}<title>{e(title)} · Rollbar devserver</title>'
        '<link rel="stylesheet" href="/assets/devserver.css">'
        '<script src="/assets/devserver.js" defer></script></head>'
        f'<body{live}><header><b>Rollbar devserver</b><a href="/">Items</a>'
        f'<a href="/deploys">Deploys</a>{badge}</header><main>{content}</main></body></html>'
    )
    return Response(200, page.encode("utf-8"), "text/html; charset=utf-8")
