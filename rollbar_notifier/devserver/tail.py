"""`rollbar-notifier tail`: follow a running devserver's occurrences in the terminal,
with the lines `serve` prints, from its `GET feed` event stream.

It reconnects when the connection drops (a devserver restart, say), resuming after the
last occurrence it printed, so nothing is missed or printed twice.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import sys
import threading
import time
from typing import Any, Dict, Iterator, Optional, Tuple
from urllib.parse import urlencode, urlsplit

from ..contract import TOKEN_HEADER
from .command import DEFAULT_PORT, EXIT_FAILURE
from .handler import HEARTBEAT_SECONDS
from .terminal import Printer, add_output_arguments

DEFAULT_ENDPOINT = f"http://127.0.0.1:{DEFAULT_PORT}/api/1/"
RECONNECT_SECONDS = 1.0
READ_TIMEOUT = 3 * HEARTBEAT_SECONDS
"""A stream quiet for longer than this missed several heartbeats: it is dead."""
PROG = "rollbar-notifier tail"


class TailError(Exception):
    """The devserver cannot be followed: it refused, or is not a devserver."""


class _Stop(Exception):
    """SIGTERM: end like Ctrl-C does."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint", metavar="URL", default=DEFAULT_ENDPOINT,
                        help="the devserver's API URL, as serve prints it "
                             "(default: %(default)s)")
    parser.add_argument("--token", metavar="TOKEN", required=True,
                        help="a token with the read scope, as serve prints it")
    parser.add_argument("--last", type=int, default=10, metavar="N",
                        help="first show the last N occurrences stored (default: %(default)s)")
    add_output_arguments(parser)


def run(args: argparse.Namespace) -> int:
    printer = Printer(sys.stdout, args)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        _follow(args.endpoint, args.token, max(0, args.last), printer)
    except (KeyboardInterrupt, _Stop, BrokenPipeError):
        return 0
    except (TailError, OSError) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def _raise_stop(signum: int, frame: Any) -> None:
    raise _Stop()


def _follow(endpoint: str, token: str, last: int, printer: Printer) -> None:
    """Print events until interrupted. Failing to connect the first time is an error;
    after that, a lost connection is announced once and retried every second."""
    after: Optional[int] = None
    connected = False
    while True:
        try:
            connection, response = _open(endpoint, token, after, last)
        except (OSError, http.client.HTTPException) as error:
            if not connected:
                raise TailError(f"cannot follow {endpoint}: {error}") from None
            time.sleep(RECONNECT_SECONDS)
            continue
        if connected:
            print(f"{PROG}: reconnected", file=sys.stderr, flush=True)
        connected = True
        try:
            for event_id, event in _events(response):
                printer.show(event)
                after = event_id
            reason = "the devserver ended the stream"
        except (OSError, http.client.HTTPException) as error:
            reason = str(error) or type(error).__name__
        finally:
            connection.close()
        print(f"{PROG}: connection lost ({reason}); reconnecting", file=sys.stderr, flush=True)
        time.sleep(RECONNECT_SECONDS)


def _open(endpoint: str, token: str, after: Optional[int], last: int
          ) -> Tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    """A connection to the feed whose answer is an event stream; resumes after `after`
    (the last event printed), else starts with the `last` stored."""
    url = urlsplit(endpoint)
    kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    connection = kind(url.hostname or "127.0.0.1", url.port, timeout=READ_TIMEOUT)
    query = {"after": str(after)} if after is not None else {"last": str(last)}
    path = (url.path.rstrip("/") or "/api/1") + "/feed?" + urlencode(query)
    try:
        connection.request("GET", path, headers={TOKEN_HEADER: token,
                                                 "Accept": "text/event-stream"})
        response = connection.getresponse()
        if response.status != 200:
            raise TailError(f"{endpoint} answered HTTP {response.status}: "
                            f"{_message(response.read(4096))}")
        if not (response.getheader("Content-Type") or "").startswith("text/event-stream"):
            raise TailError(f"{endpoint} is not a devserver (no event stream at feed)")
    except BaseException:
        connection.close()
        raise
    return connection, response


def _events(response: http.client.HTTPResponse) -> Iterator[Tuple[int, Dict[str, Any]]]:
    """(id, event) pairs as they arrive, until the stream ends."""
    fields: Dict[str, str] = {}
    while True:
        raw = response.readline(1 << 20)
        if not raw:
            return
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if text:
            name, _, value = text.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
            continue
        event = _occurrence(fields)
        if event is not None:
            yield event
        fields = {}


def _occurrence(fields: Dict[str, str]) -> Optional[Tuple[int, Dict[str, Any]]]:
    """An `occurrence` event's id and data; other events and comments are skipped."""
    if fields.get("event") != "occurrence" or not fields.get("id", "").isdigit():
        return None
    try:
        data = json.loads(fields.get("data", ""))
    except ValueError:
        return None
    return (int(fields["id"]), data) if isinstance(data, dict) else None


def _message(body: bytes) -> str:
    """The `message` of Rollbar's error body, else the start of the body."""
    try:
        message = json.loads(body).get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message) if message else body[:200].decode("utf-8", "replace")
