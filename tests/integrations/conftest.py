"""Fixtures for the integration tests: notifiers on the ``devserver`` of the root conftest."""

from __future__ import annotations

from typing import Any, Callable, Iterator, List

import pytest

from rollbar_notifier.devserver import DevServer
from rollbar_notifier.notifier import Notifier


@pytest.fixture
def notifier_on(devserver: DevServer) -> Iterator[Callable[..., Notifier]]:
    """Notifiers reporting to ``devserver`` (no excepthooks), closed after the test."""
    made: List[Notifier] = []

    def make(**options: Any) -> Notifier:
        options.setdefault("access_token", devserver.tokens["post_server_item"])
        options.setdefault("endpoint", devserver.api_url)
        options.setdefault("environment", "test")
        options.setdefault("install_hooks", False)
        made.append(Notifier(**options))
        return made[-1]

    yield make
    for notifier in made:
        notifier.close(timeout=1.0)


@pytest.fixture
def notifier(notifier_on: Callable[..., Notifier]) -> Notifier:
    return notifier_on()
