"""Fixtures shared by the delivery tests: a scripted local server and closed-after notifiers."""

from __future__ import annotations

from typing import Any, Callable, Iterator, List

import pytest
from scripted_server import ScriptedServer

from rollbar_notifier.devserver import DevServer
from rollbar_notifier.notifier import Notifier

TOKEN = "test-token-0123456789abcdef"


@pytest.fixture
def devserver() -> Iterator[DevServer]:
    """A real Rollbar-compatible server on 127.0.0.1, with a fresh database."""
    with DevServer() as running:
        yield running


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


@pytest.fixture
def make_notifier(server: ScriptedServer) -> Iterator[Callable[..., Notifier]]:
    """Notifiers pointed at ``server``, without excepthooks, closed at the end of the test."""
    made: List[Notifier] = []

    def make(**options: Any) -> Notifier:
        options.setdefault("access_token", TOKEN)
        options.setdefault("endpoint", server.api_url)
        options.setdefault("install_hooks", False)
        notifier = Notifier(**options)
        made.append(notifier)
        return notifier

    yield make
    for notifier in made:
        notifier.close(timeout=0.5)
