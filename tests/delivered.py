"""Notifiers on a DevServer and the items they delivered, for the scope, telemetry,
exactly-once and compat tests."""

from __future__ import annotations

import logging
from typing import Any, Dict, List

from rollbar_notifier.devserver import DevServer
from rollbar_notifier.notifier import Notifier

WAIT = 10.0
APP_LOG = logging.getLogger("delivered.app")
APP_LOG.setLevel(logging.DEBUG)
"""A logger that lets INFO records be made (the root's WARNING would stop them)."""


def notifier_for(devserver: DevServer, **options: Any) -> Notifier:
    options.setdefault("access_token", devserver.tokens["post_server_item"])
    options.setdefault("endpoint", devserver.api_url)
    options.setdefault("environment", "test")
    options.setdefault("install_hooks", False)
    return Notifier(**options)


def delivered(notifier: Notifier, devserver: DevServer, count: int) -> Dict[str, Dict[str, Any]]:
    """Each delivered item's ``data`` by uuid, once exactly ``count`` were stored."""
    assert notifier.flush(WAIT), "an item is still on its way"
    occurrences = devserver.wait_for_occurrences(count, WAIT)
    assert len(occurrences) == count, [o["data"]["body"] for o in occurrences]
    return {o["data"]["uuid"]: o["data"] for o in occurrences}


def telemetry_messages(data: Dict[str, Any]) -> List[str]:
    return [event["body"]["message"] for event in data["body"].get("telemetry", [])]
