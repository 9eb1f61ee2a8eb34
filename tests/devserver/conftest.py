"""Fixtures for the devserver tests (raw HTTP, the command, the pages; no notifier involved).

``devserver`` -- a DevServer with default options and a fresh database -- comes from the
root ``tests/conftest.py`` and is used as is. Note that the root ``server`` fixture is a
*scripted* server (``tests/scripted_server.py``), not a DevServer: tests here never use it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Iterator, List

import pytest
from browser import Screenshots
from devserver_helpers import TIMEOUT

from rollbar_notifier.devserver import DevServer


@pytest.fixture
def devserver_1s() -> Iterator[DevServer]:
    """Like ``devserver``, but a connection is timed out after 1 s instead of 10 s."""
    with DevServer(timeout=1.0) as running:
        yield running


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Screenshots:
    """``DEVSERVER_SCREENSHOTS`` names a directory to keep them in; otherwise they go to
    the run's temporary directory. Either way the paths are listed at the end of the run."""
    chosen = os.environ.get("DEVSERVER_SCREENSHOTS")
    if chosen:
        Path(chosen).mkdir(parents=True, exist_ok=True)
        return Screenshots(Path(chosen))
    return Screenshots(tmp_path_factory.mktemp("screenshots"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    saved = [path for path in Screenshots.saved if path.exists()]
    if saved:
        terminalreporter.section("devserver page screenshots (to look at)")
        for path in saved:
            terminalreporter.write_line(str(path))


@pytest.fixture
def processes() -> Iterator[List[subprocess.Popen[str]]]:
    """Commands a test starts; only these are killed, by their own handles, and reaped."""
    started: List[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=TIMEOUT)
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()
