"""`serve` as a real process: it prints where it listens and its tokens, then one line per
occurrence it stores, and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, Dict, List, Tuple

import pytest
import requests
from devserver_helpers import TIMEOUT, LineReader, message_payload, trace_payload

STARTUP_LINES = 20


def _read_banner(stdout: IO[str]) -> Tuple[str, str, Dict[str, str]]:
    """Base URL, API URL and scope -> token from the start-up output (bounded read)."""
    base = api = ""
    tokens: Dict[str, str] = {}
    for _ in range(STARTUP_LINES):
        line = stdout.readline()
        if line.startswith("Rollbar devserver:"):
            base = line.split()[-1]
        elif line.startswith("API endpoint:"):
            api = line.split()[-1]
        elif re.fullmatch(r"  \S+  \S+\n", line):
            token, scopes = line.split()
            for scope in scopes.split(","):
                tokens[scope] = token
        elif line.startswith("Press Ctrl-C") or not line:
            break
    return base, api, tokens


def _start(processes: List[subprocess.Popen[str]], *args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "rollbar_notifier.devserver", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    processes.append(process)
    return process


def test_serve_prints_urls_and_tokens_and_stops_on_sigterm(
    processes: List[subprocess.Popen[str]], tmp_path: Path
) -> None:
    db = tmp_path / "dev.sqlite3"
    process = _start(processes, "--db", str(db))
    assert process.stdout is not None
    base, api, tokens = _read_banner(process.stdout)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", base) and not base.endswith(":0/")
    assert api == base + "api/1/"
    assert sorted(tokens) == ["post_client_item", "post_server_item", "read", "write"]

    response = requests.post(api + "item/", json=trace_payload(), timeout=TIMEOUT,
                             headers={"X-Rollbar-Access-Token": tokens["post_server_item"]})
    assert response.status_code == 200
    items = requests.get(api + "items/", timeout=TIMEOUT,
                         headers={"X-Rollbar-Access-Token": tokens["read"]}).json()
    assert items["result"]["total_count"] == 1

    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(timeout=TIMEOUT) == 0
    assert "Stopped." in process.stdout.read()

    again = _start(processes, "--db", str(db))
    assert again.stdout is not None
    _, api, same_tokens = _read_banner(again.stdout)
    assert same_tokens == tokens, "a restart reuses the stored tokens"
    items = requests.get(api + "items/", timeout=TIMEOUT,
                         headers={"X-Rollbar-Access-Token": tokens["read"]}).json()
    assert items["result"]["total_count"] == 1
    os.kill(again.pid, signal.SIGINT)
    assert again.wait(timeout=TIMEOUT) == 0


def test_serve_with_given_tokens_and_rate_limit(processes: List[subprocess.Popen[str]]) -> None:
    process = _start(processes, "--token", "secret:post_server_item,read", "--token", "w:write",
                     "--rate-limit", "1/60")
    assert process.stdout is not None
    _, api, tokens = _read_banner(process.stdout)
    assert tokens == {"post_server_item": "secret", "read": "secret", "write": "w"}
    headers = {"X-Rollbar-Access-Token": "secret"}
    statuses = [requests.post(api + "item/", json=trace_payload(), headers=headers,
                              timeout=TIMEOUT).status_code for _ in range(2)]
    assert statuses == [200, 429]
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(timeout=TIMEOUT) == 0


@pytest.mark.parametrize(
    "args", [["--token", "nocolon"], ["--token", "t:admin"], ["--rate-limit", "5"],
             ["--rate-limit", "0/60"], ["--port", "x"]],
)
def test_serve_rejects_bad_arguments(args: List[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rollbar_notifier.devserver", *args],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert "error:" in result.stderr


def test_serve_reports_a_port_in_use(processes: List[subprocess.Popen[str]]) -> None:
    process = _start(processes)
    assert process.stdout is not None
    base, _, _ = _read_banner(process.stdout)
    port = base.rsplit(":", 1)[1].strip("/")
    result = subprocess.run(
        [sys.executable, "-m", "rollbar_notifier.devserver", "--port", port],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def _post(api: str, tokens: Dict[str, str], payload: object) -> None:
    response = requests.post(api + "item/", json=payload, timeout=TIMEOUT,
                             headers={"X-Rollbar-Access-Token": tokens["post_server_item"]})
    assert response.status_code == 200


def test_serve_prints_a_line_for_each_occurrence_as_it_is_stored(
    processes: List[subprocess.Popen[str]]
) -> None:
    process = _start(processes, "--color", "never")
    assert process.stdout is not None
    _, api, tokens = _read_banner(process.stdout)
    lines = LineReader(process.stdout)
    _post(api, tokens, trace_payload())
    assert re.fullmatch(r"\d\d:\d\d:\d\d  ERROR     test  ValueError: bad value  #1 x1  "
                        r"app/work\.py:42 in run\n", lines.next())
    _post(api, tokens, trace_payload(environment="staging", level="critical"))
    _post(api, tokens, trace_payload())
    _post(api, tokens, message_payload("disk full", level="warning"))
    assert [line[8:] for line in (lines.next(), lines.next(), lines.next())] == [
        "  CRITICAL  staging  ValueError: bad value  #2 x1  app/work.py:42 in run\n",
        "  ERROR     test  ValueError: bad value  #1 x2  app/work.py:42 in run\n",
        "  WARNING   test  disk full  #3 x1\n",
    ]
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(timeout=TIMEOUT) == 0
    assert lines.rest() == ["Stopped.\n"]


def test_serve_feed_as_json_in_colour_or_quiet(processes: List[subprocess.Popen[str]]) -> None:
    as_json = _start(processes, "--json")
    colour = _start(processes, "--color", "always")
    quiet = _start(processes, "--quiet")
    hostile = trace_payload(title="\x1b[2J\x1b]0;pwned\x07 cleared your screen")
    for process in (as_json, colour, quiet):
        assert process.stdout is not None
        _, api, tokens = _read_banner(process.stdout)
        _post(api, tokens, hostile)
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(timeout=TIMEOUT) == 0
    assert as_json.stdout is not None and colour.stdout is not None and quiet.stdout is not None
    event_line, stopped = as_json.stdout.read().splitlines()
    assert stopped == "Stopped."
    event = json.loads(event_line)
    assert (event["title"], event["counter"], event["location"]) == (
        "\x1b[2J\x1b]0;pwned\x07 cleared your screen", 1, "app/work.py:42 in run")
    assert "\x1b" not in event_line, "JSON lines escape control characters"
    coloured = colour.stdout.read()
    assert "\x1b[31mERROR" in coloured
    assert "?[2J?]0;pwned? cleared your screen" in coloured
    assert "\x1b[2J" not in coloured and "\x07" not in coloured, "no escape reaches the terminal"
    assert quiet.stdout.read() == "Stopped.\n"


def test_serve_with_an_unusable_database_says_why_in_one_line(tmp_path: Path) -> None:
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("my notes\n" * 200)
    for db, reason in ((tmp_path / "missing" / "x.sqlite3", "unable to open database file"),
                       (not_sqlite, "file is not a database")):
        result = subprocess.run(
            [sys.executable, "-m", "rollbar_notifier.devserver", "--port", "0", "--db", str(db)],
            capture_output=True, text=True, timeout=30,
        )
        assert result.returncode == 2
        assert result.stderr.splitlines() == [
            f"error: cannot {'open' if 'missing' in str(db) else 'use'} the database {db}: "
            f"{reason}"]


def test_serve_help_shows_the_defaults() -> None:
    result = subprocess.run([sys.executable, "-m", "rollbar_notifier", "serve", "--help"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    help_text = " ".join(result.stdout.split())
    assert "(default: 5005; 0 picks a free one)" in help_text
    assert "(default: 127.0.0.1)" in help_text
    for option in ("--quiet", "--json", "--color"):
        assert option in help_text
