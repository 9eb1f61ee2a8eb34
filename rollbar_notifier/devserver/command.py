"""`rollbar-notifier serve`: run the devserver in the foreground until Ctrl-C or SIGTERM,
printing one line per occurrence it stores."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Dict, FrozenSet, List, Optional, Tuple

from ..contract import SCOPES
from .ratelimit import RateLimiter
from .server import DevServer, checked_tokens
from .store import StoreError
from .terminal import Printer, add_output_arguments

log = logging.getLogger(__name__)

DEFAULT_PORT = 5005
EXIT_FAILURE = 1
EXIT_USAGE = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="port (default: %(default)s; 0 picks a free one)")
    parser.add_argument("--db", metavar="PATH",
                        help="SQLite database file, kept across restarts (default: temporary)")
    parser.add_argument("--token", metavar="TOKEN:SCOPE[,SCOPE]", action="append",
                        type=_token, default=[],
                        help="accept this token with these scopes (repeatable; "
                             f"scopes: {', '.join(SCOPES)})")
    parser.add_argument("--rate-limit", metavar="COUNT/SECONDS", type=_rate_limit,
                        help="items each token may post per window")
    parser.add_argument("--quiet", action="store_true",
                        help="do not print a line for each occurrence stored")
    add_output_arguments(parser)
    parser.add_argument("--verbose", action="store_true",
                        help="also log every HTTP request to stderr")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(message)s")
    tokens: Dict[str, FrozenSet[str]] = {}
    for token, scopes in args.token:
        tokens[token] = tokens.get(token, frozenset()) | scopes
    server = DevServer(args.host, args.port, args.db, tokens or None, args.rate_limit)
    try:
        server.start()
    except StoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        print(f"error: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return EXIT_FAILURE
    stop = threading.Event()
    events = server.follow(stop)  # from now: what arrives while the banner prints is shown
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        print(f"Rollbar devserver: {server.base_url}")
        print(f"API endpoint:      {server.api_url}")
        print("Tokens:")
        for token, scopes in server.token_scopes.items():
            print(f"  {token}  {','.join(sorted(scopes))}")
        print("Press Ctrl-C to stop.", flush=True)
        printer = None if args.quiet else Printer(sys.stdout, args)
        for event in events:  # until SIGTERM sets `stop`; Ctrl-C raises KeyboardInterrupt
            if printer is not None:
                printer.show(event)
    except KeyboardInterrupt:
        log.info("interrupted")
    except BrokenPipeError:
        log.info("the output was closed")
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        server.stop()
    print("Stopped.", flush=True)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rollbar_notifier.devserver",
        description="Run a local Rollbar-compatible server with a web page of what it stored.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


def _token(text: str) -> Tuple[str, FrozenSet[str]]:
    """DevServer's own check, run here so a bad option is an argparse usage error."""
    token, _, scope_text = text.partition(":")
    scopes = [scope.strip() for scope in scope_text.split(",") if scope.strip()]
    try:
        return token, checked_tokens({token: scopes})[token]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected TOKEN:SCOPE[,SCOPE] with scopes from {', '.join(SCOPES)}, got {text!r}"
        ) from None


def _rate_limit(text: str) -> Tuple[int, float]:
    """The limiter's own check, run here so a bad option is an argparse usage error."""
    count, _, seconds = text.partition("/")
    try:
        limit = int(count), float(seconds)
        RateLimiter(*limit)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected COUNT/SECONDS such as 60/60, got {text!r}"
        ) from None
    return limit
