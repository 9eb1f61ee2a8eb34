"""`serve` as a real process: it prints where it listens and its tokens, and stops on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, Dict, Iterator, List, Tuple

import pytest
import requests
from devserver_helpers import TIMEOUT, trace_payload

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


@pytest.fixture
def serve() -> Iterator[List[subprocess.Popen[str]]]:
    processes: List[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=TIMEOUT)
        if process.stdout:
            process.stdout.close()


def _start(processes: List[subprocess.Popen[str]], *args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "rollbar_notifier.devserver", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    processes.append(process)
    return process


def test_serve_prints_urls_and_tokens_and_stops_on_sigterm(
    serve: List[subprocess.Popen[str]], tmp_path: Path
) -> None:
    db = tmp_path / "dev.sqlite3"
    process = _start(serve, "--db", str(db))
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

    again = _start(serve, "--db", str(db))
    assert again.stdout is not None
    _, api, same_tokens = _read_banner(again.stdout)
    assert same_tokens == tokens, "a restart reuses the stored tokens"
    items = requests.get(api + "items/", timeout=TIMEOUT,
                         headers={"X-Rollbar-Access-Token": tokens["read"]}).json()
    assert items["result"]["total_count"] == 1
    os.kill(again.pid, signal.SIGINT)
    assert again.wait(timeout=TIMEOUT) == 0


def test_serve_with_given_tokens_and_rate_limit(serve: List[subprocess.Popen[str]]) -> None:
    process = _start(serve, "--token", "secret:post_server_item,read", "--token", "w:write",
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


def test_serve_reports_a_port_in_use(serve: List[subprocess.Popen[str]]) -> None:
    process = _start(serve)
    assert process.stdout is not None
    base, _, _ = _read_banner(process.stdout)
    port = base.rsplit(":", 1)[1].strip("/")
    result = subprocess.run(
        [sys.executable, "-m", "rollbar_notifier.devserver", "--port", port],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
