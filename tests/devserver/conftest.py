"""Fixtures for the devserver tests (raw HTTP, the command, the pages; no notifier involved).

``devserver`` -- a DevServer with default options and a fresh database -- comes from the
root ``tests/conftest.py`` and is used as is. Note that the root ``server`` fixture is a
*scripted* server (``tests/scripted_server.py``), not a DevServer: tests here never use it.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from rollbar_notifier.devserver import DevServer


@pytest.fixture
def devserver_1s() -> Iterator[DevServer]:
    """Like ``devserver``, but a connection is timed out after 1 s instead of 10 s."""
    with DevServer(timeout=1.0) as running:
        yield running
