"""One line per stored occurrence, for the terminal a developer keeps open beside their
program: what `serve` prints as items arrive and what `tail` prints from a running
devserver, so both read the same.

Titles and file names come from senders: control characters are replaced before they
reach the terminal, so a payload cannot move the cursor, retitle the window or hide
text with escape sequences.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from typing import IO, Any, Mapping

MAX_TITLE_SHOWN = 120
MAX_ENVIRONMENT_SHOWN = 24

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_RESET = "\033[0m"
_LEVEL_STYLES = {"critical": "\033[1;31m", "error": "\033[31m", "warning": "\033[33m",
                 "info": "\033[32m", "debug": "\033[2m"}
_BOLD, _DIM, _CYAN = "\033[1m", "\033[2m", "\033[36m"


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print each occurrence as one JSON object per line")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour the lines: auto (default) when the output is a "
                             "terminal and NO_COLOR is not set")


class Printer:
    """Writes feed events to `out` in the form the options asked for."""

    def __init__(self, out: IO[str], args: argparse.Namespace) -> None:
        self._out = out
        self._json = bool(args.json)
        if args.color == "auto":
            self._color = out.isatty() and not os.environ.get("NO_COLOR")
        else:
            self._color = args.color == "always"

    def show(self, event: Mapping[str, Any]) -> None:
        text = json.dumps(dict(event), sort_keys=True) if self._json else line(event, self._color)
        self._out.write(text + "\n")
        self._out.flush()


def line(event: Mapping[str, Any], color: bool = False) -> str:
    """`14:03:07 ERROR    production  ValueError: bad value  #3 x12  app/views.py:42 in cart`:
    local time, level, environment, title, item number and occurrence count, and where
    it was raised."""
    def styled(style: str, text: str) -> str:
        return f"{style}{text}{_RESET}" if color and text else text

    level = _clean(event.get("level"), 8)
    parts = [
        _clock(event.get("timestamp")),
        styled(_LEVEL_STYLES.get(level, ""), level.upper().ljust(8)),
        _clean(event.get("environment"), MAX_ENVIRONMENT_SHOWN),
        styled(_BOLD, _clean(event.get("title"), MAX_TITLE_SHOWN)),
        styled(_CYAN, f"#{event.get('counter', '?')} x{event.get('number') or '?'}"),
        styled(_DIM, _clean(event.get("location"), MAX_TITLE_SHOWN)),
    ]
    return "  ".join(part for part in parts if part)


def _clock(timestamp: Any) -> str:
    try:
        return time.strftime("%H:%M:%S", time.localtime(timestamp))
    except (TypeError, ValueError, OverflowError, OSError):
        return "--:--:--"


def _clean(value: Any, limit: int) -> str:
    text = _CONTROL.sub("?", "" if value is None else str(value))
    return text if len(text) <= limit else text[:limit - 3] + "..."
