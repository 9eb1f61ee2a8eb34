"""The web page: what was stored, readable in a browser, with no assets or scripts.

Everything shown comes from senders, so every value goes through `_e` (HTML escape);
list pages refresh themselves so the page can stay open while a program reports.
"""

from __future__ import annotations

import html
import json
import time
from typing import Any, Dict, Iterable, Mapping, Sequence, Tuple

from ..contract import body_traces
from .messages import Request, Response, dispatch, found, routes
from .store import Store

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2430;background:#f5f6f8}
header{background:#1d2430;color:#fff;padding:10px 24px}header a{color:#fff;margin-right:16px}
main{padding:16px 24px;max-width:1200px}h1{font-size:20px}h2{font-size:16px;margin-top:24px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #dde1e6;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eceef2}a{color:#1558b0}
pre,code{font:12px/1.4 ui-monospace,Menlo,Consolas,monospace}
pre{background:#fff;border:1px solid #dde1e6;padding:8px;overflow-x:auto;white-space:pre-wrap}
.frame{background:#fff;border:1px solid #dde1e6;margin:8px 0;padding:6px 10px}
.ctx{margin:4px 0;border:0;padding:0}.cur{background:#fff3c4;font-weight:bold}
.critical,.error{color:#b00020}.warning{color:#a35a00}.info,.debug{color:#2d6a2d}
.muted{color:#6b7280}.exc{font-size:15px;font-weight:bold}
"""


def _e(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return html.escape(text)


def _when(timestamp: Any, per_second: int = 1) -> str:
    """A date, or the raw value when it is not one.

    Databases written before times were range-checked can hold any number, and one
    unrepresentable time must not take down every page that lists it.
    """
    if timestamp is None:
        return ""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp / per_second))
    except (TypeError, ValueError, OverflowError, OSError):
        return _e(timestamp)


def _table(headings: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Cells are already HTML; headings are fixed text."""
    head = "".join(f"<th>{heading}</th>" for heading in headings)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body or '<tr><td>none yet</td></tr>'}</table>"


def _fields(title: str, value: Any) -> str:
    """A key/value table for an object from the payload, or nothing when absent."""
    if not isinstance(value, dict) or not value:
        return ""
    rows = [(f"<code>{_e(key)}</code>", f"<code>{_e(item)}</code>") for key, item in value.items()]
    return f"<h2>{title}</h2>" + _table(("Key", "Value"), rows)


class Page:
    """Renders `/`, `/items/{id}`, `/occurrences/{id}` and `/deploys` from the store."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._routes = routes("", [
            ("GET", r"/", self._items),
            ("GET", r"/items/(\d+)", self._item),
            ("GET", r"/occurrences/(\d+)", self._occurrence),
            ("GET", r"/deploys", self._deploys),
        ])

    def handle(self, request: Request) -> Response:
        return dispatch(self._routes, request)

    def _items(self, request: Request, args: Tuple[str, ...]) -> Response:
        items = sorted(self._store.items(),
                       key=lambda item: (item["last_occurrence_timestamp"], item["id"]),
                       reverse=True)
        rows = [
            (f'<a href="/items/{item["id"]}">{_e(item["title"])}</a>',
             f'<span class="{_e(item["level"])}">{_e(item["level"])}</span>',
             _e(item["environment"]), str(item["total_occurrences"]),
             _when(item["last_occurrence_timestamp"]), _e(item["status"]))
            for item in items
        ]
        table = _table(("Title", "Level", "Environment", "Occurrences", "Last seen", "Status"),
                       rows)
        return _document("Items", f"<h1>Items</h1>{table}", refresh=True)

    def _item(self, request: Request, args: Tuple[str, ...]) -> Response:
        item = found(self._store.item(int(args[0])), "item")
        rows = []
        for occurrence in reversed(self._store.occurrences(item["id"])):
            data = occurrence["payload"].get("data", {})
            link = f'/occurrences/{occurrence["id"]}'
            rows.append((f'<a href="{link}">{_when(occurrence["timestamp"])}</a>',
                         _e(occurrence["level"]), f'<code>{_e(occurrence["uuid"])}</code>',
                         _e(data.get("code_version") or ""),
                         _e((data.get("server") or {}).get("host") or "")))
        summary = (f'<p>#{item["counter"]} · <span class="{_e(item["level"])}">'
                   f'{_e(item["level"])}</span> · {_e(item["environment"])} · '
                   f'{item["total_occurrences"]} occurrences · first seen '
                   f'{_when(item["first_occurrence_timestamp"])} · status {_e(item["status"])}</p>')
        table = _table(("Time", "Level", "UUID", "Code version", "Host"), rows)
        return _document(item["title"], f"<h1>{_e(item['title'])}</h1>{summary}"
                         f"<h2>Occurrences</h2>{table}", refresh=True)

    def _occurrence(self, request: Request, args: Tuple[str, ...]) -> Response:
        occurrence = found(self._store.occurrence(int(args[0])), "occurrence")
        data: Dict[str, Any] = occurrence["payload"].get("data", {})
        item = found(self._store.item(occurrence["item_id"]), "item")
        body = data.get("body", {})
        parts = [
            f'<h1>{_e(item["title"])}</h1>',
            f'<p><a href="/items/{item["id"]}">item #{item["counter"]}</a> · '
            f'<span class="{_e(occurrence["level"])}">{_e(occurrence["level"])}</span> · '
            f'{_e(data.get("environment", ""))} · {_when(occurrence["timestamp"])} · '
            f'<code>{_e(occurrence["uuid"])}</code></p>',
            _body(body),
            _telemetry(body.get("telemetry")),
            _fields("Request", data.get("request")),
            _fields("Person", data.get("person")),
            _fields("Server", data.get("server")),
            _fields("Custom", data.get("custom")),
            _fields("Client", data.get("client")),
            _fields("Notifier", data.get("notifier")),
            "<h2>Payload</h2><details><summary>JSON</summary><pre>"
            + html.escape(json.dumps(occurrence["payload"], indent=2, ensure_ascii=False))
            + "</pre></details>",
        ]
        return _document(item["title"], "".join(parts), refresh=False)

    def _deploys(self, request: Request, args: Tuple[str, ...]) -> Response:
        rows = [
            (str(deploy["id"]), _e(deploy["environment"]), f'<code>{_e(deploy["revision"])}</code>',
             _e(deploy["status"]), _e(deploy["local_username"] or deploy["rollbar_username"] or ""),
             _when(deploy["start_time"]), _when(deploy["finish_time"]), _e(deploy["comment"] or ""))
            for deploy in self._store.deploys(int(time.time()))
        ]
        table = _table(("ID", "Environment", "Revision", "Status", "User", "Started",
                        "Finished", "Comment"), rows)
        return _document("Deploys", f"<h1>Deploys</h1>{table}", refresh=True)


def _document(title: str, content: str, *, refresh: bool) -> Response:
    meta = '<meta http-equiv="refresh" content="5">' if refresh else ""
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{meta}<title>{_e(title)} · Rollbar devserver</title><style>{_STYLE}</style></head>"
        '<body><header><b>Rollbar devserver</b> &nbsp; <a href="/">Items</a>'
        f'<a href="/deploys">Deploys</a></header><main>{content}</main></body></html>'
    )
    return Response(200, page.encode("utf-8"), "text/html; charset=utf-8")


def _body(body: Mapping[str, Any]) -> str:
    chain = body_traces(body)
    if chain:
        return "".join(_trace(trace, cause=index > 0) for index, trace in enumerate(chain))
    if body.get("message"):
        message = dict(body["message"])
        text = message.pop("body", "")
        return f"<h2>Message</h2><pre>{_e(text)}</pre>" + _fields("Message data", message)
    report = body.get("crash_report") or {}
    return f"<h2>Crash report</h2><pre>{_e(report.get('raw', ''))}</pre>"


def _trace(trace: Mapping[str, Any], *, cause: bool) -> str:
    exception = trace.get("exception") or {}
    heading = "Caused by" if cause else "Traceback (most recent call last)"
    frames = "".join(_frame(frame) for frame in trace.get("frames") or [])
    description = exception.get("description")
    return (
        f"<h2>{heading}</h2>{frames}"
        f'<p class="exc">{_e(exception.get("class", ""))}: {_e(exception.get("message") or "")}</p>'
        + (f"<p>{_e(description)}</p>" if description else "")
    )


def _frame(frame: Mapping[str, Any]) -> str:
    method = frame.get("method") or "?"
    if frame.get("class_name"):
        method = f'{frame["class_name"]}.{method}'
    lineno = frame.get("lineno")
    where = f'File "{_e(frame.get("filename", ""))}", line {_e(lineno)}, in {_e(method)}'
    return (f'<div class="frame"><code>{where}</code>{_context(frame)}'
            f'{_locals(frame.get("locals"))}</div>')


def _context(frame: Mapping[str, Any]) -> str:
    code = frame.get("code")
    if not isinstance(code, str):
        return ""
    context = frame.get("context") or {}
    pre, post = list(context.get("pre") or []), list(context.get("post") or [])
    lineno = frame.get("lineno")
    first = lineno - len(pre) if isinstance(lineno, int) else None
    lines = [*((line, False) for line in pre), (code, True), *((line, False) for line in post)]
    rendered = []
    for offset, (line, current) in enumerate(lines):
        number = f"{first + offset:>5} " if first is not None else ""
        css = ' class="cur"' if current else ""
        rendered.append(f"<span{css}>{_e(number + str(line))}</span>")
    return '<pre class="ctx">' + "\n".join(rendered) + "</pre>"


def _locals(values: Any) -> str:
    if not isinstance(values, dict) or not values:
        return ""
    rows = [(f"<code>{_e(name)}</code>", f"<code>{_e(value)}</code>")
            for name, value in values.items()]
    return "<details><summary>locals</summary>" + _table(("Name", "Value"), rows) + "</details>"


def _telemetry(events: Any) -> str:
    if not isinstance(events, list) or not events:
        return ""
    rows = []
    for event in events:
        if isinstance(event, dict):
            event_body = event.get("body") or {}
            if isinstance(event_body, dict):
                event_body = event_body.get("message", event_body)
            rows.append((_when(event.get("timestamp_ms"), per_second=1000),
                         _e(event.get("level", "")), _e(event.get("type", "")),
                         _e(event.get("source", "")), f"<code>{_e(event_body)}</code>"))
    return "<h2>Telemetry</h2>" + _table(("Time", "Level", "Type", "Source", "Body"), rows)
