"""The occurrence page: traceback with code and locals, telemetry, request, person and
the rest of the payload, in the order a developer reads them.

Locals are open for the innermost frame (where the error was raised) and closed
elsewhere; module-level clutter (dunders, imported modules) is listed by name only;
every long value is capped with a link to the whole of it.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Dict, Mapping, Optional
from urllib.parse import urlencode

from ..contract import body_traces
from .markup import MAX_ROWS, as_text, capped, e, exact, key_values, table, when

MAX_TEXT_SHOWN = 10000
"""Characters of a message, crash report or payload shown before "show all"."""

_DUNDER = re.compile(r"__\w+__")
_FRAMES_STEP = re.compile(r"frames_(\d+)_\d+")

Link = Callable[[str], str]


def pointer(*parts: Any) -> str:
    """A JSON pointer (RFC 6901) to a value of the payload."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def resolve(payload: Any, at: str) -> Any:
    """The value at JSON pointer `at`; KeyError when there is none."""
    value = payload
    for raw in at.split("/")[1:] if at else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise KeyError(at)
    return value


def occurrence_content(occurrence: Mapping[str, Any], item: Mapping[str, Any],
                       now: float) -> str:
    payload = occurrence["payload"]
    data: Dict[str, Any] = _object(payload.get("data"))
    base = f"/occurrences/{occurrence['id']}/value?"

    def link(at: str) -> str:
        return base + urlencode({"at": at})

    body = _object(data.get("body"))
    facts = [f'<a href="/items/{item["id"]}">item #{item["counter"]}</a>',
             f'<span class="{e(occurrence["level"])}">{e(occurrence["level"])}</span>',
             e(data.get("environment", "")), when(occurrence["timestamp"], now),
             f'<code>{e(occurrence["uuid"])}</code>']
    for label, key in (("code version", "code_version"), ("host", "host")):
        if occurrence.get(key):
            facts.append(f"{label} <code>{e(occurrence[key])}</code>")
    parts = [
        f'<h1>{e(item["title"])}</h1><p class="summary">{" · ".join(facts)}</p>',
        _body(body, _truncation_head(data), link),
        _telemetry(body.get("telemetry")),
        _request(data.get("request"), link),
        _panel("Person", data.get("person"), link, ("data", "person")),
        *(_panel(title, data.get(key), link, ("data", key))
          for title, key in (("Server", "server"), ("Custom", "custom"),
                             ("Client", "client"), ("Notifier", "notifier"))),
        "<h2>Payload</h2><details><summary>JSON</summary><pre>"
        + capped(json.dumps(payload, indent=2, ensure_ascii=False), link(""), MAX_TEXT_SHOWN)
        + "</pre></details>",
    ]
    return "".join(parts)


def _truncation_head(data: Mapping[str, Any]) -> Optional[int]:
    """How many outermost frames the notifier kept when it cut frames from the middle
    of a trace, from its diagnostic (`frames_10_40`: 10 outermost, 40 innermost)."""
    diagnostic = _object(_object(data.get("notifier")).get("diagnostic"))
    steps = _object(diagnostic.get("truncated")).get("steps")
    head = None
    for step in steps if isinstance(steps, list) else []:
        match = _FRAMES_STEP.fullmatch(str(step))
        if match:
            head = int(match[1])
    return head


def _body(body: Dict[str, Any], head: Optional[int], link: Link) -> str:
    chain = body_traces(body)
    if chain:
        return "".join(_trace(trace, _trace_pointer(body, trace), head, link,
                              first=index == 0)
                       for index, trace in enumerate(chain))
    message = body.get("message")
    if isinstance(message, dict):
        extra = {key: value for key, value in message.items() if key != "body"}
        text = capped(message.get("body", ""), link(pointer("data", "body", "message", "body")),
                      MAX_TEXT_SHOWN)
        return (f"<h2>Message</h2><pre>{text}</pre>"
                + _panel("Message data", extra, link, ("data", "body", "message")))
    report = _object(body.get("crash_report"))
    raw = capped(report.get("raw", ""), link(pointer("data", "body", "crash_report", "raw")),
                 MAX_TEXT_SHOWN)
    return f"<h2>Crash report</h2><pre>{raw}</pre>"


def _trace_pointer(body: Mapping[str, Any], trace: Mapping[str, Any]) -> str:
    """Where `contract.body_traces` found `trace` in the body."""
    if body.get("trace") is trace:
        return pointer("data", "body", "trace")
    index = next(i for i, t in enumerate(body["trace_chain"]) if t is trace)
    return pointer("data", "body", "trace_chain", index)


def _trace(trace: Mapping[str, Any], at: str, head: Optional[int], link: Link,
           *, first: bool) -> str:
    exception = _object(trace.get("exception"))
    frames = [frame for frame in trace.get("frames") or [] if isinstance(frame, dict)]
    rendered = [_frame(frame, f"{at}/frames/{index}", link,
                       innermost=first and index == len(frames) - 1)
                for index, frame in enumerate(frames)]
    omitted = trace.get("omitted_frames")
    if isinstance(omitted, int) and not isinstance(omitted, bool) and omitted > 0:
        # the notifier keeps the outermost `head` and the innermost frames
        where = min(head, len(rendered) - 1) if head is not None and rendered else 0
        rendered.insert(where, f'<div class="omitted">{omitted:,} frames omitted by the '
                               "notifier to fit the size limit</div>")
    description = exception.get("description")
    heading = "Traceback (most recent call last)" if first else "Caused by"
    return (
        f"<h2>{heading}</h2>{''.join(rendered)}"
        f'<p class="exc">{e(exception.get("class", ""))}: '
        f'{capped(exception.get("message") or "", None, MAX_TEXT_SHOWN)}</p>'
        + (f"<p>{capped(description, None, MAX_TEXT_SHOWN)}</p>" if description else "")
    )


def _frame(frame: Mapping[str, Any], at: str, link: Link, *, innermost: bool) -> str:
    method = str(frame.get("method") or "?")
    if frame.get("class_name"):
        method = f'{frame["class_name"]}.{method}'
    where = (f'File "{e(frame.get("filename", ""))}", line {e(frame.get("lineno", "?"))}, '
             f"in {e(method)}")
    css = "frame innermost" if innermost else "frame"
    return (f'<div class="{css}"><code>{where}</code>{_context(frame)}'
            f'{_locals(frame.get("locals"), at, link, innermost)}</div>')


def _context(frame: Mapping[str, Any]) -> str:
    code = frame.get("code")
    if not isinstance(code, str):
        return ""
    context = _object(frame.get("context"))
    pre, post = list(context.get("pre") or []), list(context.get("post") or [])
    lineno = frame.get("lineno")
    first = lineno - len(pre) if isinstance(lineno, int) else None
    lines = [*((line, False) for line in pre), (code, True), *((line, False) for line in post)]
    rendered = []
    for offset, (line, current) in enumerate(lines):
        number = f"{first + offset:>5} " if first is not None else ""
        css = ' class="cur"' if current else ""
        rendered.append(f"<span{css}>{capped(number + as_text(line), None)}</span>")
    return '<pre class="ctx">' + "\n".join(rendered) + "</pre>"


def _locals(values: Any, at: str, link: Link, innermost: bool) -> str:
    """Open where the error was raised. Dunders (`__builtins__`, `__loader__`...) and
    modules, which fill every module-level frame, are named but not shown."""
    if not isinstance(values, dict) or not values:
        return ""
    shown = {name: value for name, value in values.items() if not _clutter(name, value)}
    hidden = [name for name in values if name not in shown]
    note = (f'<p class="hidden-names">not shown: {e(", ".join(hidden))}</p>'
            if hidden else "")
    listing = key_values(shown, lambda name: link(f"{at}/locals{pointer(name)}")) \
        if shown else ""
    opened = " open" if innermost else ""
    return (f"<details{opened}><summary>locals ({len(shown)})</summary>"
            f"{listing}{note}</details>")


def _object(value: Any) -> Dict[str, Any]:
    """Payloads come from anywhere: a field that should be an object may not be one."""
    return value if isinstance(value, dict) else {}


def _clutter(name: str, value: Any) -> bool:
    return bool(_DUNDER.fullmatch(name)) or (
        isinstance(value, str) and value.startswith("<module '"))


def _telemetry(events: Any) -> str:
    if not isinstance(events, list) or not events:
        return ""
    rows = []
    for event in events[:MAX_ROWS]:
        if not isinstance(event, dict):
            continue
        event_body = _object(event.get("body"))
        text = event_body.get("message", event_body)
        stamp = exact(event.get("timestamp_ms"), 1000, milliseconds=True)
        moment = (f'<span title="{e(stamp)}">{e(stamp.split(" ")[1])}</span>' if stamp
                  else e(event.get("timestamp_ms", "")))
        rows.append((moment, f'<span class="{e(event.get("level", ""))}">'
                             f'{e(event.get("level", ""))}</span>',
                     e(event_body.get("logger", "")), e(event.get("type", "")),
                     f"<code>{capped(text, None)}</code>"))
    return "<h2>Telemetry</h2>" + table(("Time", "Level", "Logger", "Type", "Message"), rows)


def _request(request: Any, link: Link) -> str:
    if not isinstance(request, dict) or not request:
        return ""
    line = " ".join(capped(request[key], link(pointer("data", "request", key)))
                    for key in ("method", "url") if isinstance(request.get(key), str))
    parts = [f"<h2>Request</h2><div class=\"panel\"><p><code>{line}</code></p>"]
    simple = {key: value for key, value in request.items()
              if key not in ("method", "url") and not isinstance(value, dict)}
    if simple:
        parts.append(key_values(simple, lambda key: link(pointer("data", "request", key))))
    for key, value in request.items():
        if isinstance(value, dict) and value:
            parts.append(f"<h3>{e(key)}</h3>" + key_values(
                value, lambda name, key=key: link(pointer("data", "request", key, name))))
    return "".join(parts) + "</div>"


def _panel(title: str, value: Any, link: Link, at: Any) -> str:
    if not isinstance(value, dict) or not value:
        return ""
    listing = key_values(value, lambda key: link(pointer(*at, key)))
    return f'<h2>{title}</h2><div class="panel">{listing}</div>'
