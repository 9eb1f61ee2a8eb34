"""``rollbar-notifier demo``: see every reporting path work end to end, with no account.

It starts a devserver on a free local port, points a notifier, a ``RollbarHandler`` and
the excepthooks at it, runs a short scripted program that fails in the usual ways, and
prints what the server stored, then what the notifier did with it: the chained cause,
a scrubbed secret, the log records sent along, and a huge item cut to fit. Nothing
leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence, TextIO, Tuple

from .contract import MAX_BODY_BYTES, body_traces
from .default import init
from .devserver import DevServer
from .devserver.store import StoreError
from .handler import RollbarHandler
from .hooks import uninstall_excepthook
from .notifier import Notifier
from .scrub import SCRUBBED

EXPECTED_OCCURRENCES = 5
"""An error log, a logged chained exception, a warning report, a thread crash and a huge
exception report."""
EXIT_USAGE = 2
CATALOG_ROWS = 3000
"""Rows of the huge report's extra data: with its deep stack, well over the body limit."""
TELEMETRY_SHOWN = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="SQLite file to keep what the demo stored "
                                     "(default: a temporary database)")
    parser.add_argument("--port", type=int, default=0, help="port for the devserver "
                                                             "(default: a free one)")
    parser.add_argument("--serve", action="store_true",
                        help="keep the devserver running afterwards and print its page URL")


def run(args: argparse.Namespace) -> int:
    out = sys.stdout
    try:
        server = DevServer(port=args.port, db=args.db).start()
    except StoreError as error:
        print(f"rollbar-notifier demo: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        out.write(f"devserver listening on {server.base_url}\n")
        # Everything the demo depends on is set here, so ROLLBAR_* variables meant for
        # the user's own programs cannot turn it off or send it elsewhere.
        notifier = init(access_token=server.tokens["post_server_item"],
                        endpoint=server.api_url, environment="demo", code_version="demo-1",
                        token_scope="post_server_item", mode="thread", enabled=True,
                        install_hooks=True, shutdown_timeout=10)
        try:
            deploy_id = _scripted_program(notifier)
            delivered = notifier.flush(10)
        finally:
            uninstall_excepthook()
            notifier.close()
        try:
            server.wait_for_occurrences(EXPECTED_OCCURRENCES, timeout=10)
        except TimeoutError:
            delivered = False
        _print_report(out, server.items(), server.deploys(), deploy_id, delivered)
        _print_highlights(out, server.occurrences())
        if args.serve:
            out.write(f"\nbrowse {server.base_url} (Ctrl-C to stop)\n")
            out.flush()
            _wait_for_interrupt()
        else:
            out.write("\nThe devserver stopped with the demo, so its page is gone. Run "
                      "`rollbar-notifier demo --serve` to keep it up and browse these items "
                      "(add --db FILE to keep them).\n")
    finally:
        server.stop()
    return 0 if delivered else 1


def _scripted_program(notifier: Notifier) -> str:
    """A tiny shop that fails the way real programs do, once through each path."""
    log = logging.getLogger("demo.shop")
    log.setLevel(logging.INFO)
    log.propagate = False
    handler = RollbarHandler(notifier=notifier)
    log.addHandler(handler)
    try:
        log.info("checkout started for order %s", 42)
        log.error("payment provider %s timed out after %d ms", "acme-pay", 3000)
        try:
            _charge({"id": 42, "total": "19.99", "card_token": "tok_visa_4242"})
        except RuntimeError:
            log.exception("checkout failed for order %s", 42)
        notifier.report_message("inventory low", level="warning",
                                extra={"sku": "TEA-001", "left": 3})
        sys.stderr.write("a worker thread crashes now; Python prints its traceback as usual:\n")
        worker = threading.Thread(target=_resize_images, name="image-worker")
        worker.start()
        worker.join(10)
        catalog = {f"sku-{row:05d}": f"Loose-leaf tea, blend {row}, 100 g tin"
                   for row in range(CATALOG_ROWS)}
        try:
            _walk_categories({"name": "tea"}, catalog)
        except RecursionError:
            notifier.report_exception(extra={"catalog": catalog})
        return notifier.report_deploy("demo-" + time.strftime("%Y%m%d%H%M%S"),
                                      comment="deployed by rollbar-notifier demo")
    finally:
        log.removeHandler(handler)


def _charge(order: Dict[str, Any]) -> None:
    try:
        _gateway_request(order)
    except KeyError as exc:
        raise RuntimeError(f"could not charge order {order['id']}") from exc


def _gateway_request(order: Dict[str, Any]) -> None:
    response: Dict[str, Any] = {"status": "declined"}
    print_receipt = response["receipt_url"]
    raise AssertionError(print_receipt)


def _resize_images() -> None:
    sizes = [640, 320, 0]
    for size in sizes:
        _ = 1024 // size


def _walk_categories(category: Dict[str, Any], catalog: Dict[str, str]) -> None:
    """A category that is its own parent: the walk never ends, as such bugs do."""
    category["parent"] = category
    _walk_categories(category["parent"], catalog)


def _wait_for_interrupt() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def _print_report(out: TextIO, items: List[Dict[str, Any]], deploys: List[Dict[str, Any]],
                  deploy_id: str, delivered: bool) -> None:
    """Items by title, so runs print the same table whatever order they arrived in."""
    out.write(f"\nitems stored ({len(items)}):\n")
    _table(out, ["id", "level", "occurrences", "title"],
           [[item.get("id"), item.get("level"), item.get("total_occurrences"),
             item.get("title")] for item in sorted(items, key=lambda i: str(i.get("title")))])
    out.write(f"\ndeploys stored ({len(deploys)}), reported deploy id {deploy_id}:\n")
    _table(out, ["id", "environment", "revision", "status"],
           [[d.get("id"), d.get("environment"), d.get("revision"), d.get("status")]
            for d in deploys])
    out.write("\nall items delivered\n" if delivered else "\nsome items were NOT delivered\n")


def _print_highlights(out: TextIO, payloads: List[Dict[str, Any]]) -> None:
    """What the notifier did with the reports, read back from what the server stored."""
    data = [payload.get("data") or {} for payload in payloads]
    sections = [_chained(data), _scrubbed(data), _telemetry(data), _fitted(data)]
    shown = [section for section in sections if section]
    if shown:
        out.write("\nwhat the notifier sent:\n")
        for title, lines in shown:
            out.write(f"  {title}\n")
            for line in lines:
                out.write(f"    {line[:110]}\n")


Section = Optional[Tuple[str, List[str]]]


def _chained(items: List[Dict[str, Any]]) -> Section:
    for data in items:
        chain = body_traces(data.get("body"))
        if len(chain) > 1:
            lines = [_exception(chain[0])]
            lines += [f"caused by {_exception(trace)}" for trace in chain[1:]]
            return "a chained exception, with its cause:", lines
    return None


def _exception(trace: Dict[str, Any]) -> str:
    exception = trace.get("exception") or {}
    frames = trace.get("frames") or [{}]
    where = f"{str(frames[-1].get('filename', '?')).rsplit('/', 1)[-1]}:" \
            f"{frames[-1].get('lineno', '?')} in {frames[-1].get('method', '?')}"
    return f"{exception.get('class')}: {exception.get('message')}  ({where})"


def _scrubbed(items: List[Dict[str, Any]]) -> Section:
    for data in items:
        for trace in body_traces(data.get("body")):
            for frame in trace.get("frames") or []:
                for path, value in _leaves(frame.get("locals") or {}, ""):
                    if value == SCRUBBED:
                        return ("a secret in the locals, scrubbed before it was sent:",
                                [f"{path} = {value!r}  (local of {frame.get('method')})"])
    return None


def _leaves(value: Any, path: str) -> Iterator[Tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}[{key!r}]" if path else str(key))
    else:
        yield path, value


def _telemetry(items: List[Dict[str, Any]]) -> Section:
    """The log records that led up to the chained exception (or any item that has some)."""
    for data in sorted(items, key=lambda d: len(body_traces(d.get("body"))) < 2):
        events = (data.get("body") or {}).get("telemetry") or []
        if events:
            lines = [_record(event) for event in events[-TELEMETRY_SHOWN:]]
            return (f"the last {len(lines)} log records before {_title(data)}:", lines)
    return None


def _record(event: Dict[str, Any]) -> str:
    body = event.get("body") or {}
    milliseconds = event.get("timestamp_ms") or 0
    clock = time.strftime("%H:%M:%S", time.localtime(milliseconds / 1000))
    return (f"{clock}.{int(milliseconds) % 1000:03d} {str(event.get('level')).upper():<8}"
            f"{body.get('logger', '')}  {body.get('message', '')}")


def _title(data: Dict[str, Any]) -> str:
    chain = body_traces(data.get("body"))
    if chain:
        return str((chain[0].get("exception") or {}).get("class"))
    return repr(str(((data.get("body") or {}).get("message") or {}).get("body", "")))


def _fitted(items: List[Dict[str, Any]]) -> Section:
    for data in items:
        diagnostic = (data.get("notifier") or {}).get("diagnostic") or {}
        truncated = diagnostic.get("truncated")
        if isinstance(truncated, dict):
            omitted = sum(trace.get("omitted_frames") or 0
                          for trace in body_traces(data.get("body")))
            sent = len(json.dumps({"data": data}, ensure_ascii=False,
                                  separators=(",", ":")).encode())
            return (f"a huge item ({_title(data)}), fitted under the {MAX_BODY_BYTES:,}-byte "
                    "limit:",
                    [f"{truncated.get('original_bytes', 0):,} bytes cut to {sent:,} by "
                     f"{', '.join(truncated.get('steps') or [])}",
                     f"{omitted:,} frames left out in all, marked where they were"])
    return None


def _table(out: TextIO, headers: Sequence[str], rows: List[List[Any]]) -> None:
    cells = [[str(value)[:70] for value in row] for row in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    for row in [list(headers), ["-" * w for w in widths], *cells]:
        out.write("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n")
