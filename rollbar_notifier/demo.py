"""``rollbar-notifier demo``: see every reporting path work end to end, with no account.

It starts a devserver on a free local port, points a notifier, a ``RollbarHandler`` and
the excepthooks at it, runs a short scripted program that fails in the usual ways, and
prints what the server stored. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from typing import Any, Dict, List, Sequence, TextIO

from .default import init
from .devserver import DevServer
from .handler import RollbarHandler
from .hooks import uninstall_excepthook
from .notifier import Notifier

EXPECTED_OCCURRENCES = 4
"""An error log, a logged chained exception, a warning report and a thread crash."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="SQLite file to keep what the demo stored "
                                     "(default: a temporary database)")
    parser.add_argument("--port", type=int, default=0, help="port for the devserver "
                                                             "(default: a free one)")
    parser.add_argument("--serve", action="store_true",
                        help="keep the devserver running afterwards and print its page URL")


def run(args: argparse.Namespace) -> int:
    out = sys.stdout
    server = DevServer(port=args.port, db=args.db).start()
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
        if args.serve:
            out.write(f"\nbrowse {server.base_url} (Ctrl-C to stop)\n")
            out.flush()
            _wait_for_interrupt()
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


def _wait_for_interrupt() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def _print_report(out: TextIO, items: List[Dict[str, Any]], deploys: List[Dict[str, Any]],
                  deploy_id: str, delivered: bool) -> None:
    out.write(f"\nitems stored ({len(items)}):\n")
    _table(out, ["id", "level", "occurrences", "title"],
           [[item.get("id"), item.get("level"), item.get("total_occurrences"),
             item.get("title")] for item in items])
    out.write(f"\ndeploys stored ({len(deploys)}), reported deploy id {deploy_id}:\n")
    _table(out, ["id", "environment", "revision", "status"],
           [[d.get("id"), d.get("environment"), d.get("revision"), d.get("status")]
            for d in deploys])
    out.write("\nall items delivered\n" if delivered else "\nsome items were NOT delivered\n")


def _table(out: TextIO, headers: Sequence[str], rows: List[List[Any]]) -> None:
    cells = [[str(value)[:70] for value in row] for row in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    for row in [list(headers), ["-" * w for w in widths], *cells]:
        out.write("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n")
