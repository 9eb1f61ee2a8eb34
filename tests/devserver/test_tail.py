"""`rollbar-notifier tail` as a real process, following a running devserver."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import List

from devserver_helpers import TIMEOUT, LineReader, message_payload, post_item, trace_payload

from rollbar_notifier.devserver import DevServer
from rollbar_notifier.devserver.terminal import line


def _tail(processes: List[subprocess.Popen[str]], api_url: str, token: str,
          *args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "rollbar_notifier", "tail", "--endpoint", api_url,
         "--token", token, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    processes.append(process)
    return process


def _stop(process: subprocess.Popen[str]) -> None:
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(timeout=TIMEOUT) == 0


def test_tail_shows_the_last_stored_then_follows_with_serves_lines(
    devserver: DevServer, processes: List[subprocess.Popen[str]]
) -> None:
    for fingerprint in ("a", "b", "c"):
        post_item(devserver, trace_payload(fingerprint=fingerprint))
    process = _tail(processes, devserver.api_url, devserver.tokens["read"], "--last", "2",
                    "--color", "never")
    assert process.stdout is not None
    lines = LineReader(process.stdout)
    replayed = [lines.next(), lines.next()]
    post_item(devserver, message_payload("cache cold", level="info"))
    live = lines.next()
    stop = threading.Event()
    stop.set()
    stored = list(devserver.follow(stop, after=1))
    assert [*replayed, live] == [line(event) + "\n" for event in stored], "serve's lines"
    assert [re.findall(r"#\d+ x\d+", text) for text in (*replayed, live)] == [
        ["#2 x1"], ["#3 x1"], ["#4 x1"]]
    _stop(process)


def test_tail_json_lines_and_reconnects_after_a_restart(
    tmp_path: Path, processes: List[subprocess.Popen[str]]
) -> None:
    db = tmp_path / "dev.sqlite3"
    with DevServer(db=db) as first:
        port, api_url, token = first.port, first.api_url, first.tokens["read"]
        post_item(first, trace_payload())
        process = _tail(processes, api_url, token, "--json", "--last", "1")
        assert process.stdout is not None and process.stderr is not None
        lines = LineReader(process.stdout)
        assert json.loads(lines.next())["id"] == 1
    errors = LineReader(process.stderr)
    assert "connection lost (the devserver ended the stream)" in errors.next()
    with DevServer(port=port, db=db) as second:
        assert errors.next() == "rollbar-notifier tail: reconnected\n"
        post_item(second, message_payload("after the restart"))
        event = json.loads(lines.next())
        assert (event["id"], event["title"]) == (2, "after the restart"), "resumed after id 1"
    _stop(process)


def test_tail_explains_why_it_cannot_follow(
    devserver: DevServer, processes: List[subprocess.Popen[str]]
) -> None:
    refused = _tail(processes, devserver.api_url, devserver.tokens["post_server_item"])
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    unreachable = _tail(processes, f"http://127.0.0.1:{closed_port}/api/1/", "token")
    for process, message in (
        (refused, "answered HTTP 403: insufficient privileges: read scope is required"),
        (unreachable, f"cannot follow http://127.0.0.1:{closed_port}/api/1/"),
    ):
        assert process.wait(timeout=TIMEOUT) == 1
        assert process.stderr is not None
        (error,) = process.stderr.read().splitlines()
        assert error.startswith("rollbar-notifier tail: ") and message in error


def test_tail_help_names_its_defaults_and_needs_a_token() -> None:
    shown = subprocess.run([sys.executable, "-m", "rollbar_notifier", "tail", "--help"],
                           capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0
    text = " ".join(shown.stdout.split())
    assert "(default: http://127.0.0.1:5005/api/1/)" in text and "(default: 10)" in text
    missing = subprocess.run([sys.executable, "-m", "rollbar_notifier", "tail"],
                             capture_output=True, text=True, timeout=30)
    assert missing.returncode == 2 and "--token" in missing.stderr
